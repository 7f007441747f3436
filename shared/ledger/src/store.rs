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
use crate::undo::{TreeId, Undo};
use crate::LedgerError;
use cairn_domain::{EventEnvelope, EventId, JobId, JobState, NewEvent};
use chrono::Utc;
use sled::transaction::{
    ConflictableTransactionError, TransactionError, Transactional, TransactionalTree,
    UnabortableTransactionError,
};

type TxResult<T> = Result<T, ConflictableTransactionError<LedgerError>>;

fn abort<T>(e: LedgerError) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(e))
}

/// What one append wrote to sled's memory.
pub struct Appended {
    pub stored: Vec<EventEnvelope>,
    /// The stored checksum of the last event (for the acknowledgement record).
    pub last_checksum: u32,
    /// How to take the append back if it is never acknowledged.
    pub undo: Undo,
}

/// Appends `events` (not empty) to `job_id`'s log if it ends at `expected_seq`. The
/// stored envelopes are in memory only until the caller waits for a flush.
pub fn append(
    trees: &Trees,
    path: &str,
    job_id: JobId,
    expected_seq: u64,
    events: &[NewEvent],
) -> Result<Appended, LedgerError> {
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
        let mut undo = Undo::new(global + 1);
        let mut last_checksum = 0;
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
                kind: next.kind().into(),
                target: next.spec.target().clone(),
                attempt: event.payload.attempt(),
                actor: event.actor.clone(),
                payload: event.payload.clone(),
            };
            last_checksum = put_event(ev, log, &envelope, &mut undo)?;
            stored.push(envelope);
            state = Some(next);
        }
        let after = state.expect("at least one event was folded");
        let old = jobs.insert(job_id.as_bytes(), codec::encode(&after))?;
        undo.record(TreeId::Jobs, job_id.as_bytes(), old.as_deref());
        write_indexes(
            before.as_ref(),
            &after,
            by_time,
            by_target,
            by_ks,
            &mut undo,
        )?;
        put_last_global_seq(meta_tree, global, &mut undo)?;
        Ok(Appended {
            stored,
            last_checksum,
            undo,
        })
    });
    result.map_err(|e| match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => LedgerError::Sled(e),
    })
}

/// A new job gets all three index entries; a status change moves its kind+status entry.
/// Writes one event and its global log entry, with their undo values; the event's stored
/// checksum (what the acknowledgement record keeps for the newest event).
pub(crate) fn put_event(
    events: &TransactionalTree,
    log: &TransactionalTree,
    event: &EventEnvelope,
    undo: &mut Undo,
) -> Result<u32, UnabortableTransactionError> {
    let key = event_key(event.job_id, event.seq);
    let value = record::encode_event(event);
    let checksum = codec::stored_checksum(&value);
    let old = events.insert(&key[..], value)?;
    undo.record(TreeId::Events, &key, old.as_deref());
    let global = u64_key(event.global_seq);
    let old = log.insert(&global[..], &key[..])?;
    undo.record(TreeId::Log, &global, old.as_deref());
    Ok(checksum)
}

/// Moves the ledger's last global sequence to `global`, with its undo value.
pub(crate) fn put_last_global_seq(
    meta_tree: &TransactionalTree,
    global: u64,
    undo: &mut Undo,
) -> Result<(), UnabortableTransactionError> {
    let old = meta_tree.insert(meta::LAST_GLOBAL_SEQ, &u64_key(global)[..])?;
    undo.record(TreeId::Meta, meta::LAST_GLOBAL_SEQ, old.as_deref());
    Ok(())
}

pub(crate) fn write_indexes(
    before: Option<&JobState>,
    after: &JobState,
    by_time: &TransactionalTree,
    by_target: &TransactionalTree,
    by_kind_status: &TransactionalTree,
    undo: &mut Undo,
) -> TxResult<()> {
    let new = IndexKeys::of(after);
    fn put(tree: &TransactionalTree, id: TreeId, key: Vec<u8>, undo: &mut Undo) -> TxResult<()> {
        let old = tree.insert(key.as_slice(), &[][..])?;
        undo.record(id, &key, old.as_deref());
        Ok(())
    }
    match before {
        None => {
            put(by_time, TreeId::ByTime, new.time, undo)?;
            put(by_target, TreeId::ByTarget, new.target, undo)?;
            put(by_kind_status, TreeId::ByKindStatus, new.kind_status, undo)?;
        }
        Some(old) if old.status != after.status => {
            let gone = IndexKeys::of(old).kind_status;
            let was = by_kind_status.remove(gone.as_slice())?;
            undo.record(TreeId::ByKindStatus, &gone, was.as_deref());
            put(by_kind_status, TreeId::ByKindStatus, new.kind_status, undo)?;
        }
        Some(_) => {}
    }
    Ok(())
}
