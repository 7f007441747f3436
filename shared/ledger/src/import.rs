//! Importing events exactly as another ledger stored them (`cairn-scheduler rebuild
//! --from-stream`): same event ids, sequences, global sequences, times and actors. Each
//! event must continue its job's log and the global log without a gap, and be a valid
//! transition of the job's state, as in an append.

use crate::codec::{self, corrupt, u64_from};
use crate::config::{meta, Trees};
use crate::store::{put_event, put_job_state, put_last_global_seq, read_job_state, Appended};
use crate::undo::{TreeId, Undo};
use crate::LedgerError;
use cairn_domain::{ConfigState, EventEnvelope, JobState, StreamKind};
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};

fn abort<T>(e: LedgerError) -> Result<T, ConflictableTransactionError<LedgerError>> {
    Err(ConflictableTransactionError::Abort(e))
}

/// `event` must come right after `stream_seq`, its stream's last event, and after the
/// ledger's last global sequence.
fn follows(
    meta_tree: &sled::transaction::TransactionalTree,
    path: &str,
    stream_seq: u64,
    event: &EventEnvelope,
) -> Result<(), ConflictableTransactionError<LedgerError>> {
    let conflict = |expected: u64, actual: u64| LedgerError::Conflict {
        job_id: event.job_id,
        expected: expected.saturating_sub(1),
        actual,
    };
    if stream_seq + 1 != event.seq {
        return abort(conflict(event.seq, stream_seq));
    }
    let global = match meta_tree.get(meta::LAST_GLOBAL_SEQ)? {
        Some(bytes) => match u64_from(&bytes) {
            Some(n) => n,
            None => return abort(corrupt(path, "the last global sequence is unreadable")),
        },
        None => 0,
    };
    if global + 1 != event.global_seq {
        return abort(conflict(event.global_seq, global));
    }
    Ok(())
}

/// Stores `event` as it is, if it is the next of its job and of the ledger.
pub fn import(trees: &Trees, path: &str, event: &EventEnvelope) -> Result<Appended, LedgerError> {
    if event.kind == StreamKind::Config {
        return import_config(trees, path, event);
    }
    let all = (
        &trees.events,
        &trees.log,
        &trees.jobs,
        &trees.by_time,
        &trees.by_target,
        &trees.by_kind_status,
        &trees.meta,
    );
    let job_id = event.job_id;
    let result = all.transaction(|(ev, log, jobs, by_time, by_target, by_ks, meta_tree)| {
        let before = read_job_state(jobs, path, job_id)?;
        follows(meta_tree, path, before.as_ref().map_or(0, |s| s.seq), event)?;
        let after = match JobState::next(before.as_ref(), job_id, event.at, &event.payload) {
            Ok(next) => next,
            Err(e) => return abort(LedgerError::Transition(e)),
        };
        let mut undo = Undo::new(event.global_seq);
        let last_checksum = put_event(ev, log, event, &mut undo)?;
        let indexes = [by_time, by_target, by_ks];
        put_job_state(jobs, indexes, before.as_ref(), &after, &mut undo)?;
        put_last_global_seq(meta_tree, event.global_seq, &mut undo)?;
        Ok(Appended {
            stored: vec![event.clone()],
            last_checksum,
            undo,
        })
    });
    result.map_err(|e| match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => LedgerError::Sled(e),
    })
}

/// A configuration event: its stream's folded state (`configs`) follows it. The target's
/// own entry is not in the stream (it holds a sealed credential), so a rebuilt ledger has
/// the history of changes but the targets must be added again (docs/services.md).
fn import_config(
    trees: &Trees,
    path: &str,
    event: &EventEnvelope,
) -> Result<Appended, LedgerError> {
    let all = (&trees.events, &trees.log, &trees.configs, &trees.meta);
    let stream = event.job_id;
    let result = all.transaction(|(ev, log, configs, meta_tree)| {
        let before: Option<ConfigState> = match configs.get(stream.as_bytes())? {
            Some(bytes) => Some(codec::decode(&bytes).or_else(|e| {
                abort(corrupt(
                    path,
                    format!("the configuration state of {}: {e}", event.target),
                ))
            })?),
            None => None,
        };
        follows(meta_tree, path, before.as_ref().map_or(0, |s| s.seq), event)?;
        let after = match ConfigState::next(
            before.as_ref(),
            &event.target,
            event.at,
            event.actor.token.as_ref(),
            &event.payload,
        ) {
            Ok(next) => next,
            Err(e) => return abort(LedgerError::Transition(e)),
        };
        let mut undo = Undo::new(event.global_seq);
        let last_checksum = put_event(ev, log, event, &mut undo)?;
        let old = configs.insert(stream.as_bytes(), codec::encode(&after))?;
        undo.record(TreeId::Configs, stream.as_bytes(), old.as_deref());
        put_last_global_seq(meta_tree, event.global_seq, &mut undo)?;
        Ok(Appended {
            stored: vec![event.clone()],
            last_checksum,
            undo,
        })
    });
    result.map_err(|e| match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => LedgerError::Sled(e),
    })
}
