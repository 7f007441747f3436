//! The append transaction: compare-and-swap on a job's sequence, fold, write everything.
//!
//! One sled transaction over every tree an append touches, so the events, the global log,
//! the folded job state, the indexes and the global counter never disagree. sled runs
//! transactions under a process-wide lock, which also makes the global counter hand out
//! contiguous numbers in commit order.

use crate::codec::{self, corrupt, event_key, u64_from, u64_key};
use crate::config::{meta, Trees};
use crate::indexes::IndexKeys;
use crate::record;
use crate::LedgerError;
use cairn_domain::{EventEnvelope, EventId, JobId, JobState, NewEvent};
use chrono::Utc;
use sled::transaction::{
    ConflictableTransactionError, TransactionError, Transactional, TransactionalTree,
};

type TxResult<T> = Result<T, ConflictableTransactionError<LedgerError>>;

fn abort<T>(e: LedgerError) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(e))
}

/// Appends `events` to `job_id`'s log if it ends at `expected_seq`. Returns the stored
/// envelopes; they are in memory only until the caller waits for a flush.
pub fn append(
    trees: &Trees,
    path: &str,
    job_id: JobId,
    expected_seq: u64,
    events: &[NewEvent],
) -> Result<Vec<EventEnvelope>, LedgerError> {
    let all = (
        &trees.events,
        &trees.log,
        &trees.jobs,
        &trees.by_time,
        &trees.by_target,
        &trees.by_kind_status,
        &trees.meta,
    );
    let result = all.transaction(|(ev, log, jobs, by_time, by_target, by_ks, meta_tree)| {
        let before: Option<JobState> = match jobs.get(job_id.as_bytes())? {
            Some(bytes) => Some(
                codec::decode(&bytes)
                    .or_else(|e| abort(corrupt(path, format!("the state of job {job_id}: {e}"))))?,
            ),
            None => None,
        };
        let actual = before.as_ref().map_or(0, |s| s.seq);
        if actual != expected_seq {
            return abort(LedgerError::Conflict {
                job_id,
                expected: expected_seq,
                actual,
            });
        }
        let mut global = match meta_tree.get(meta::LAST_GLOBAL_SEQ)? {
            Some(bytes) => match u64_from(&bytes) {
                Some(n) => n,
                None => return abort(corrupt(path, "the last global sequence is unreadable")),
            },
            None => 0,
        };
        let at = Utc::now();
        let mut state = before.clone();
        let mut stored = Vec::with_capacity(events.len());
        for event in events {
            let next = match JobState::next(state.as_ref(), job_id, at, &event.payload) {
                Ok(next) => next,
                Err(e) => return abort(LedgerError::Transition(e)),
            };
            global += 1;
            let envelope = EventEnvelope {
                event_id: EventId::new(),
                job_id,
                seq: next.seq,
                global_seq: global,
                at,
                kind: next.kind(),
                target: next.spec.target().clone(),
                attempt: event.payload.attempt(),
                actor: event.actor.clone(),
                payload: event.payload.clone(),
            };
            let key = event_key(job_id, envelope.seq);
            ev.insert(&key[..], record::encode_event(&envelope))?;
            log.insert(&u64_key(global)[..], &key[..])?;
            stored.push(envelope);
            state = Some(next);
        }
        let after = state.expect("at least one event was folded");
        jobs.insert(job_id.as_bytes(), codec::encode(&after))?;
        write_indexes(before.as_ref(), &after, by_time, by_target, by_ks)?;
        meta_tree.insert(meta::LAST_GLOBAL_SEQ, &u64_key(global)[..])?;
        Ok(stored)
    });
    result.map_err(|e| match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => LedgerError::Sled(e),
    })
}

/// A new job gets all three index entries; a status change moves its kind+status entry.
fn write_indexes(
    before: Option<&JobState>,
    after: &JobState,
    by_time: &TransactionalTree,
    by_target: &TransactionalTree,
    by_kind_status: &TransactionalTree,
) -> TxResult<()> {
    let new = IndexKeys::of(after);
    match before {
        None => {
            by_time.insert(new.time, &[][..])?;
            by_target.insert(new.target, &[][..])?;
            by_kind_status.insert(new.kind_status, &[][..])?;
        }
        Some(old) if old.status != after.status => {
            by_kind_status.remove(IndexKeys::of(old).kind_status)?;
            by_kind_status.insert(new.kind_status, &[][..])?;
        }
        Some(_) => {}
    }
    Ok(())
}
