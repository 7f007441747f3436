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

/// One job's part of a batch: `events` (not empty) go on `job_id`'s log if it ends at
/// `expected_seq` (0 for a new job).
#[derive(Debug, Clone)]
pub struct JobAppend {
    pub job_id: JobId,
    pub expected_seq: u64,
    pub events: Vec<NewEvent>,
}

/// What a batch append wrote to sled's memory.
pub struct BatchAppended {
    /// Per job, in the batch's order: the stored envelopes, or why that job's append was
    /// refused (it then wrote nothing; the others are not affected).
    pub results: Vec<Result<Vec<EventEnvelope>, LedgerError>>,
    /// The stored checksum of the last event written (for the acknowledgement record) and
    /// its global sequence; `None` when every job was refused.
    pub head: Option<(u64, u32)>,
    /// How to take the whole batch back if it is never acknowledged.
    pub undo: Undo,
}

/// Appends one job's events (not empty), a batch of one. The stored envelopes are in
/// memory only until the caller waits for a flush.
pub fn append(trees: &Trees, path: &str, job: &JobAppend) -> Result<Appended, LedgerError> {
    let mut done = append_batch(trees, path, std::slice::from_ref(job))?;
    let stored = done
        .results
        .pop()
        .expect("one result per job in the batch")?;
    Ok(Appended {
        stored,
        last_checksum: done.head.map_or(0, |(_, checksum)| checksum),
        undo: done.undo,
    })
}

/// Appends every job of `batch` in one sled transaction: one job's refusal (a sequence
/// conflict, a transition its state does not allow) writes nothing for that job and does
/// not affect the others. Jobs may repeat: each sees what the ones before it wrote. A job
/// with no events appends nothing and checks nothing.
pub fn append_batch(
    trees: &Trees,
    path: &str,
    batch: &[JobAppend],
) -> Result<BatchAppended, LedgerError> {
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
        let mut global = match meta_tree.get(meta::LAST_GLOBAL_SEQ)? {
            Some(bytes) => match u64_from(&bytes) {
                Some(n) => n,
                None => return abort(corrupt(path, "the last global sequence is unreadable")),
            },
            None => 0,
        };
        let at = Utc::now();
        let mut undo = Undo::new(global + 1);
        let mut head = None;
        let mut results = Vec::with_capacity(batch.len());
        for job in batch {
            if job.events.is_empty() {
                // Appends nothing and checks nothing.
                results.push(Ok(Vec::new()));
                continue;
            }
            let before = read_job_state(jobs, path, job.job_id)?;
            // Fold first: a refused job writes nothing.
            let folded = fold(before.as_ref(), job, at, global);
            let (stored, after) = match folded {
                Ok(folded) => folded,
                Err(refused) => {
                    results.push(Err(refused));
                    continue;
                }
            };
            for envelope in &stored {
                let checksum = put_event(ev, log, envelope, &mut undo)?;
                head = Some((envelope.global_seq, checksum));
            }
            global += stored.len() as u64;
            let indexes = [by_time, by_target, by_ks];
            put_job_state(jobs, indexes, before.as_ref(), &after, &mut undo)?;
            results.push(Ok(stored));
        }
        if head.is_some() {
            put_last_global_seq(meta_tree, global, &mut undo)?;
        }
        Ok(BatchAppended {
            results,
            head,
            undo,
        })
    });
    result.map_err(|e| match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => LedgerError::Sled(e),
    })
}

/// Checks `job`'s events against its state machine and numbers them after `global`: the
/// envelopes to store and the job's state after them, or why the job is refused.
fn fold(
    before: Option<&JobState>,
    job: &JobAppend,
    at: chrono::DateTime<Utc>,
    mut global: u64,
) -> Result<(Vec<EventEnvelope>, JobState), LedgerError> {
    let job_id = job.job_id;
    let actual = before.map_or(0, |s| s.seq);
    if actual != job.expected_seq {
        return Err(LedgerError::Conflict {
            job_id,
            expected: job.expected_seq,
            actual,
        });
    }
    let mut state = before.cloned();
    let mut stored = Vec::with_capacity(job.events.len());
    for event in &job.events {
        let next = JobState::next(state.as_ref(), job_id, at, &event.payload)
            .map_err(LedgerError::Transition)?;
        global += 1;
        stored.push(EventEnvelope {
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
        });
        state = Some(next);
    }
    let after = state.expect("a job's part of a batch has events");
    Ok((stored, after))
}

/// A job's folded state as stored, if it has one.
pub(crate) fn read_job_state(
    jobs: &TransactionalTree,
    path: &str,
    job_id: JobId,
) -> TxResult<Option<JobState>> {
    match jobs.get(job_id.as_bytes())? {
        Some(bytes) => Ok(Some(codec::decode(&bytes).or_else(|e| {
            abort(corrupt(path, format!("the state of job {job_id}: {e}")))
        })?)),
        None => Ok(None),
    }
}

/// Stores a job's state after `before` and moves its index entries (`indexes`: by time,
/// by target, by kind and status), with their undo values.
pub(crate) fn put_job_state(
    jobs: &TransactionalTree,
    indexes: [&TransactionalTree; 3],
    before: Option<&JobState>,
    after: &JobState,
    undo: &mut Undo,
) -> TxResult<()> {
    let key = after.job_id.as_bytes();
    let old = jobs.insert(key, codec::encode(after))?;
    undo.record(TreeId::Jobs, key, old.as_deref());
    let [by_time, by_target, by_kind_status] = indexes;
    write_indexes(before, after, by_time, by_target, by_kind_status, undo)
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
