//! Configuration events: a target's stream of changes, written with what they change.
//!
//! A change of a target (added, updated, removed, schedule set or cleared) appends events
//! to the target's configuration stream (`config_stream_id`, kind `config`) in the same
//! `events`/`log` trees as job events, so each takes the next global sequence and the
//! outbox relays it like any other. The same transaction writes the stream's folded state
//! (`configs`: the newest policy record, whether the target exists) and, for target
//! changes, the target's entry in `targets`: the projections never disagree with the log.
//!
//! Unlike a job append, the caller does not name an expected sequence: the events are built
//! inside the transaction from the stream's current state (the next policy version is the
//! last one plus one), and sled runs such transactions one at a time, so two concurrent
//! changes get consecutive versions instead of a conflict.

use crate::codec::{self, corrupt, u64_from};
use crate::config::{meta, Trees};
use crate::group_commit::Written;
use crate::store::{put_event, put_last_global_seq};
use crate::undo::{TreeId, Undo};
use crate::{ack, LedgerError};
use cairn_domain::{
    config_stream_id, ConfigState, EventEnvelope, EventId, NewEvent, StreamKind, TargetName,
};
use chrono::{DateTime, Utc};
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};

/// What a configuration change writes besides its events.
pub enum TargetWrite {
    /// The target's new JSON value.
    Put(Vec<u8>),
    Remove,
}

/// The events of one change and the target entry it writes (nothing when `events` is
/// empty: the change had nothing to do).
pub struct ConfigChange {
    pub events: Vec<NewEvent>,
    pub target: Option<TargetWrite>,
}

impl ConfigChange {
    pub fn none() -> Self {
        Self {
            events: Vec::new(),
            target: None,
        }
    }
}

/// Builds a change from the stream's state and the target's stored JSON value; it may run
/// more than once (sled retries conflicting transactions).
pub type Build<'a> =
    dyn Fn(Option<&ConfigState>, Option<&[u8]>) -> Result<ConfigChange, LedgerError> + Sync + 'a;

/// Runs one configuration change of `target` as a single transaction (see the module doc).
pub fn append(
    trees: &Trees,
    path: &str,
    target: &TargetName,
    at: DateTime<Utc>,
    build: &Build<'_>,
) -> Result<Written<Vec<EventEnvelope>>, LedgerError> {
    let stream = config_stream_id(target);
    let name = target.as_str().as_bytes();
    let all = (
        &trees.events,
        &trees.log,
        &trees.meta,
        &trees.configs,
        &trees.targets,
    );
    let abort = |e: LedgerError| ConflictableTransactionError::Abort(e);
    let result = all.transaction(|(ev, log, meta_tree, configs, targets)| {
        let state: Option<ConfigState> = match configs.get(stream.as_bytes())? {
            Some(bytes) => Some(codec::decode(&bytes).map_err(|e| {
                abort(corrupt(
                    path,
                    format!("the configuration state of {target}: {e}"),
                ))
            })?),
            None => None,
        };
        let current = targets.get(name)?;
        let change = build(state.as_ref(), current.as_deref()).map_err(abort)?;
        if change.events.is_empty() {
            return Ok(Written {
                value: Vec::new(),
                undo: Undo::new(0),
                head: None,
            });
        }
        let mut global = match meta_tree.get(meta::LAST_GLOBAL_SEQ)? {
            Some(bytes) => u64_from(&bytes)
                .ok_or_else(|| abort(corrupt(path, "the last global sequence is unreadable")))?,
            None => 0,
        };
        let mut undo = Undo::new(global + 1);
        let mut folded = state;
        let mut stored = Vec::with_capacity(change.events.len());
        let mut last_checksum = 0;
        for event in &change.events {
            let next = ConfigState::next(
                folded.as_ref(),
                target,
                at,
                event.actor.token.as_ref(),
                &event.payload,
            )
            .map_err(|e| abort(LedgerError::Transition(e)))?;
            global += 1;
            let envelope = EventEnvelope {
                event_id: EventId::new(),
                job_id: stream,
                seq: next.seq,
                global_seq: global,
                at,
                kind: StreamKind::Config,
                target: target.clone(),
                attempt: None,
                actor: event.actor.clone(),
                payload: event.payload.clone(),
            };
            last_checksum = put_event(ev, log, &envelope, &mut undo)?;
            stored.push(envelope);
            folded = Some(next);
        }
        let after = folded.expect("at least one event was folded");
        let old = configs.insert(stream.as_bytes(), codec::encode(&after))?;
        undo.record(TreeId::Configs, stream.as_bytes(), old.as_deref());
        match &change.target {
            Some(TargetWrite::Put(json)) => {
                targets.insert(name, json.as_slice())?;
                undo.record(TreeId::Targets, name, current.as_deref());
            }
            Some(TargetWrite::Remove) => {
                targets.remove(name)?;
                undo.record(TreeId::Targets, name, current.as_deref());
            }
            None => {}
        }
        put_last_global_seq(meta_tree, global, &mut undo)?;
        Ok(Written {
            head: Some(ack::Acked {
                global_seq: global,
                checksum: last_checksum,
            }),
            value: stored,
            undo,
        })
    });
    result.map_err(|e| match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => LedgerError::Sled(e),
    })
}
