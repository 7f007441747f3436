//! The ledger: cairn's source of truth, an append-only event store on sled.
//!
//! Every job's life is a log of events keyed `job_id (16 B) ++ seq (u64 BE)`; a ledger-wide
//! `global_seq` orders all events for the outbox; secondary indexes answer history queries
//! (by target, kind, status and time). Appends are compare-and-swap on the job's sequence
//! and are acknowledged only after the data is flushed (group commit). Each stored event
//! carries a checksum that is verified on read; a corrupt ledger refuses to open.
//!
//! Targets and storages (configuration), API tokens and the audit of denied requests live
//! in their own trees of the same database.
//!
//! The ledger needs no tokio runtime to open: its flusher is a dedicated thread, and
//! `append` only awaits a watch channel, so it works on any executor.

mod ack;
mod catalog;
mod codec;
mod config;
mod config_stream;
mod group_commit;
mod import;
mod indexes;
mod notifiers;
mod open;
mod policies;
mod record;
mod reserve;
mod store;
mod tokens;
mod undo;
mod verify;

use cairn_domain::{
    EventEnvelope, EventPayload, JobId, JobKind, JobState, JobStatus, NewEvent, StorageConfig,
    StorageName, Target, TargetName, TargetSettings, TokenName, TransitionError,
};
use chrono::{DateTime, Utc};
use config::Trees;
use config_stream::{ConfigChange, TargetWrite};
use group_commit::{GroupCommit, Written};
use std::path::Path;
use std::sync::Arc;
use undo::{TreeId, Undo};

pub use indexes::DEFAULT_LIMIT;
pub use notifiers::DELIVERIES_KEEP;
pub use policies::{record_of, ScheduleCursor};
pub use store::JobAppend;
pub use tokens::{Revocation, TokenRecord, AUDIT_KEEP};

/// How many jobs one transaction of [`Ledger::append_batch`] takes.
pub const BATCH_JOBS: usize = 512;

/// Why a ledger operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error(
        "append conflict on job {job_id}: expected sequence {expected}, ledger is at {actual}"
    )]
    Conflict {
        job_id: JobId,
        expected: u64,
        actual: u64,
    },
    #[error("event refused: {0}")]
    Transition(#[from] TransitionError),
    #[error("the ledger at {path} is corrupt: {detail}. cairn will not start on it, so no acknowledged event is silently lost; restore the data directory from a copy, or rebuild the ledger from the event stream")]
    Corrupt { path: String, detail: String },
    #[error("the ledger at {path} holds less than cairn acknowledged: {detail}. cairn will not start on it, so no acknowledged event is silently lost. Recover by restoring the ledger directory from a copy that holds every acknowledged event (or rebuilding it); only if you accept losing those events, move {record} aside and start again")]
    Lost {
        path: String,
        record: String,
        detail: String,
    },
    #[error("the ledger cannot write: {cause}")]
    Unavailable { cause: String },
    #[error("ledger storage error: {0}")]
    Sled(#[from] sled::Error),
    #[error("{0} already exists")]
    Exists(String),
}

/// Filters of a history query; results are newest first.
#[derive(Debug, Clone, Default)]
pub struct HistoryQuery {
    pub target: Option<TargetName>,
    pub kind: Option<JobKind>,
    pub status: Option<JobStatus>,
    /// Only jobs queued at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// At most this many jobs; 0 means [`DEFAULT_LIMIT`].
    pub limit: usize,
}

/// A handle on the ledger; cheap to clone, shareable across tasks.
///
/// The database closes (after a last flush) when the last clone is dropped.
#[derive(Clone)]
pub struct Ledger {
    inner: Arc<Inner>,
}

struct Inner {
    /// Owns the trees: every read and write goes through it.
    commit: GroupCommit,
    path: String,
    /// Bumped after every change of policies or cursors made from outside the firing loop
    /// (see [`Ledger::schedule_generation`]).
    schedule_generation: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl Ledger {
    /// Opens (or creates) the ledger in `dir`, verifying every stored checksum, the
    /// gaplessness of every log and the agreement of states and indexes with the events.
    /// Refuses with [`LedgerError::Corrupt`] if anything is off. Needs no async runtime.
    ///
    /// Then it compares the ledger with its acknowledgement record (`<dir>.ack`, beside
    /// the directory) and refuses with [`LedgerError::Lost`] if the ledger holds less than
    /// was acknowledged.
    pub fn open(dir: &Path) -> Result<Ledger, LedgerError> {
        let path = dir.display().to_string();
        let opened = open::open(dir)?;
        let commit =
            GroupCommit::start(dir.to_path_buf(), opened.trees, opened.record, opened.head)
                .map_err(|e| LedgerError::Sled(e.into()))?;
        Ok(Ledger {
            inner: Arc::new(Inner {
                commit,
                path,
                schedule_generation: Default::default(),
            }),
        })
    }

    /// Why the ledger cannot write, while it cannot (a full disk, for example). It retries
    /// by itself and writes again once the cause is gone.
    pub fn write_problem(&self) -> Option<String> {
        self.inner.commit.problem()
    }

    fn read<T>(&self, f: impl FnOnce(&Trees) -> Result<T, LedgerError>) -> Result<T, LedgerError> {
        self.inner.commit.read(f)
    }

    /// Appends `events` to a job's log if its last sequence is `expected_seq` (0 for a new
    /// job), after checking each against the job's state machine. Returns the stored
    /// envelopes once they are flushed to disk. An empty `events` appends nothing and
    /// checks nothing.
    ///
    /// The transaction itself runs inline: it touches only sled's memory (under sled's
    /// short process-wide transaction lock); the flush happens on the flusher thread,
    /// shared with every append committed meanwhile.
    pub async fn append(
        &self,
        job_id: JobId,
        expected_seq: u64,
        events: Vec<NewEvent>,
    ) -> Result<Vec<EventEnvelope>, LedgerError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let path = &self.inner.path;
        let job = JobAppend {
            job_id,
            expected_seq,
            events,
        };
        self.inner
            .commit
            .write(|trees| {
                let appended = store::append(trees, path, &job)?;
                let head = appended.stored.last().map(|e| ack::Acked {
                    global_seq: e.global_seq,
                    checksum: appended.last_checksum,
                });
                Ok(Written {
                    value: appended.stored,
                    undo: appended.undo,
                    head,
                })
            })
            .await
    }

    /// Appends many jobs' events at once, in transactions of [`BATCH_JOBS`] jobs whose
    /// flushes are shared: per job, in `batch`'s order, the stored envelopes once they are
    /// durable, or why that job was refused ([`LedgerError::Conflict`], a transition), which
    /// leaves it untouched and the others unaffected. The outer error is a ledger that
    /// could not write: then no job of the failed transactions is stored.
    ///
    /// For many small appends at once (a minute's scheduled slots): one transaction per
    /// job costs far more than the events themselves.
    pub async fn append_batch(
        &self,
        batch: Vec<JobAppend>,
    ) -> Result<Vec<Result<Vec<EventEnvelope>, LedgerError>>, LedgerError> {
        let path = &self.inner.path;
        let chunks = batch.chunks(BATCH_JOBS).map(|chunk| {
            self.inner.commit.write(move |trees| {
                let appended = store::append_batch(trees, path, chunk)?;
                let head = appended.head.map(|(global_seq, checksum)| ack::Acked {
                    global_seq,
                    checksum,
                });
                Ok(Written {
                    value: appended.results,
                    undo: appended.undo,
                    head,
                })
            })
        });
        // Each chunk's transaction runs as it is polled; the flusher covers those written
        // while it flushes with its next flush.
        let done = futures::future::join_all(chunks).await;
        let mut results = Vec::with_capacity(batch.len());
        for chunk in done {
            results.extend(chunk?);
        }
        Ok(results)
    }

    /// Stores an event exactly as another ledger stored it (rebuilding a lost ledger from
    /// `CAIRN_EVENTS`): it must be the next of its job and of this ledger
    /// ([`LedgerError::Conflict`] otherwise) and a valid transition.
    pub async fn import(&self, event: &EventEnvelope) -> Result<(), LedgerError> {
        let path = &self.inner.path;
        self.inner
            .commit
            .write(|trees| {
                let appended = import::import(trees, path, event)?;
                let head = Some(ack::Acked {
                    global_seq: event.global_seq,
                    checksum: appended.last_checksum,
                });
                Ok(Written {
                    value: (),
                    undo: appended.undo,
                    head,
                })
            })
            .await
    }

    /// A job's whole log, in order.
    pub fn events(&self, job_id: JobId) -> Result<Vec<EventEnvelope>, LedgerError> {
        self.read(|trees| {
            trees
                .events
                .scan_prefix(job_id.as_bytes())
                .map(|item| {
                    let (key, value) = item?;
                    self.decode_event(&key, &value)
                })
                .collect()
        })
    }

    /// A job's events with `seq > after_seq`, in order (what a waiting client has not seen).
    pub fn events_since(
        &self,
        job_id: JobId,
        after_seq: u64,
    ) -> Result<Vec<EventEnvelope>, LedgerError> {
        let Some(from) = after_seq.checked_add(1) else {
            return Ok(Vec::new());
        };
        let range = codec::event_key(job_id, from)..=codec::event_key(job_id, u64::MAX);
        self.read(|trees| {
            trees
                .events
                .range(range)
                .map(|item| {
                    let (key, value) = item?;
                    self.decode_event(&key, &value)
                })
                .collect()
        })
    }

    /// A job's current state (kept folded beside the log).
    pub fn job(&self, job_id: JobId) -> Result<Option<JobState>, LedgerError> {
        self.read(|trees| indexes::load_job(trees, &self.inner.path, job_id))
    }

    /// Jobs matching the query, newest first.
    pub fn history(&self, query: &HistoryQuery) -> Result<Vec<JobState>, LedgerError> {
        self.read(|trees| indexes::history(trees, &self.inner.path, query))
    }

    /// All jobs currently in one of these statuses (reconciliation, exclusivity), newest
    /// first.
    pub fn jobs_in(&self, statuses: &[JobStatus]) -> Result<Vec<JobState>, LedgerError> {
        self.read(|trees| indexes::jobs_in(trees, &self.inner.path, statuses))
    }

    /// Events with `global_seq > after`, in order, at most `limit` (the outbox). Only
    /// acknowledged (flushed) events are returned, so a relay never publishes an event a
    /// crash could still take back.
    pub fn events_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<EventEnvelope>, LedgerError> {
        let acknowledged = self.last_global_seq();
        if after >= acknowledged || limit == 0 {
            return Ok(Vec::new());
        }
        let range = codec::u64_key(after + 1)..=codec::u64_key(acknowledged);
        self.read(|trees| {
            trees
                .log
                .range(range)
                .take(limit)
                .map(|item| {
                    let (global, key) = item?;
                    let value = trees.events.get(&key)?.ok_or_else(|| {
                        codec::corrupt(
                            &self.inner.path,
                            format!(
                                "global log entry {:?} points at a missing event",
                                codec::u64_from(&global)
                            ),
                        )
                    })?;
                    self.decode_event(&key, &value)
                })
                .collect()
        })
    }

    /// The last global sequence acknowledged.
    pub fn last_global_seq(&self) -> u64 {
        self.inner.commit.acknowledged()
    }

    /// Wakes on every acknowledged append with the new last global sequence.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.commit.subscribe()
    }

    /// Stores a new target; [`LedgerError::Exists`] if the name is taken. Recorded as
    /// `TargetAdded` in the target's configuration stream, naming `by`.
    pub async fn put_target(
        &self,
        target: &Target,
        by: Option<&TokenName>,
    ) -> Result<(), LedgerError> {
        let json = serde_json::to_vec(target).expect("configuration serializes to JSON");
        let actor = policies::config_actor(by);
        self.append_config(&target.name, &|_, current| {
            if current.is_some() {
                return Err(LedgerError::Exists(format!(
                    "target {:?}",
                    target.name.as_str()
                )));
            }
            let settings = TargetSettings::from(target);
            Ok(ConfigChange {
                events: vec![NewEvent::new(
                    actor.clone(),
                    EventPayload::TargetAdded { settings },
                )],
                target: Some(TargetWrite::Put(json.clone())),
            })
        })
        .await?;
        Ok(())
    }
    pub fn target(&self, name: &TargetName) -> Result<Option<Target>, LedgerError> {
        self.read(|trees| catalog::get(&trees.targets, &self.inner.path, "target", name.as_str()))
    }
    /// Every target, in name order.
    pub fn targets(&self) -> Result<Vec<Target>, LedgerError> {
        self.read(|trees| catalog::list(&trees.targets, &self.inner.path, "target"))
    }
    /// Replaces an existing target in one write, recorded as `TargetUpdated` (which names
    /// the `changed` settings, never the password); returns whether it existed (nothing is
    /// written when it did not).
    pub async fn replace_target(
        &self,
        target: &Target,
        changed: &[&str],
        by: Option<&TokenName>,
    ) -> Result<bool, LedgerError> {
        let json = serde_json::to_vec(target).expect("configuration serializes to JSON");
        let actor = policies::config_actor(by);
        let changed: Vec<String> = changed.iter().map(|c| c.to_string()).collect();
        let stored = self
            .append_config(&target.name, &|_, current| {
                if current.is_none() {
                    return Ok(ConfigChange::none());
                }
                let settings = TargetSettings::from(target);
                Ok(ConfigChange {
                    events: vec![NewEvent::new(
                        actor.clone(),
                        EventPayload::TargetUpdated {
                            changed: changed.clone(),
                            settings,
                        },
                    )],
                    target: Some(TargetWrite::Put(json.clone())),
                })
            })
            .await?;
        Ok(!stored.is_empty())
    }
    /// Removes a target, recorded as `TargetRemoved`; a schedule in force is cleared in
    /// the same write (`ScheduleCleared`), so it never fires again, even if a target of
    /// the same name comes later. Returns whether it existed.
    pub async fn remove_target(
        &self,
        name: &TargetName,
        by: Option<&TokenName>,
    ) -> Result<bool, LedgerError> {
        let actor = policies::config_actor(by);
        let at = chrono::Utc::now();
        let stored = self
            .append_config(name, &|state, current| {
                if current.is_none() {
                    return Ok(ConfigChange::none());
                }
                let mut events = Vec::new();
                let in_force = state
                    .and_then(|s| s.policy.as_ref())
                    .is_some_and(|p| p.policy.is_some());
                if in_force {
                    let (policy_id, version) =
                        cairn_domain::ConfigState::next_policy_version(state);
                    events.push(NewEvent::new(
                        actor.clone(),
                        EventPayload::ScheduleCleared {
                            policy_id,
                            version,
                            effective: at,
                        },
                    ));
                }
                events.push(NewEvent::new(actor.clone(), EventPayload::TargetRemoved {}));
                Ok(ConfigChange {
                    events,
                    target: Some(TargetWrite::Remove),
                })
            })
            .await?;
        Ok(!stored.is_empty())
    }

    /// Runs one configuration change of `target` (see `config_stream.rs`) and returns the
    /// events it stored, once they are flushed.
    async fn append_config(
        &self,
        target: &TargetName,
        build: &config_stream::Build<'_>,
    ) -> Result<Vec<EventEnvelope>, LedgerError> {
        let path = &self.inner.path;
        let at = chrono::Utc::now();
        let stored = self
            .inner
            .commit
            .write(|trees| config_stream::append(trees, path, target, at, build))
            .await?;
        self.bump_schedule_generation();
        Ok(stored)
    }
    /// Stores a new storage; [`LedgerError::Exists`] if the name is taken.
    pub async fn put_storage(&self, storage: &StorageConfig) -> Result<(), LedgerError> {
        let name = storage.name.as_str();
        self.write_config(TreeId::Storages, |trees| {
            catalog::create(&trees.storages, "storage", name, storage)?;
            Ok(name.as_bytes().to_vec())
        })
        .await
    }
    pub fn storage(&self, name: &StorageName) -> Result<Option<StorageConfig>, LedgerError> {
        self.read(|trees| catalog::get(&trees.storages, &self.inner.path, "storage", name.as_str()))
    }
    /// Every storage, in name order.
    pub fn storages(&self) -> Result<Vec<StorageConfig>, LedgerError> {
        self.read(|trees| catalog::list(&trees.storages, &self.inner.path, "storage"))
    }

    /// Creates one configuration entry (the key `create` returns, absent before).
    async fn write_config(
        &self,
        tree: TreeId,
        create: impl FnOnce(&Trees) -> Result<Vec<u8>, LedgerError>,
    ) -> Result<(), LedgerError> {
        self.inner
            .commit
            .write(|trees| {
                let key = create(trees)?;
                let mut undo = Undo::new(0);
                undo.record(tree, &key, None);
                Ok(Written {
                    value: (),
                    undo,
                    head: None,
                })
            })
            .await
    }

    fn decode_event(&self, key: &[u8], value: &[u8]) -> Result<EventEnvelope, LedgerError> {
        record::decode_event(value).map_err(|e| {
            let what = match codec::split_event_key(key) {
                Some((job, seq)) => format!("event {seq} of job {job}"),
                None => "an event".to_string(),
            };
            codec::corrupt(&self.inner.path, format!("{what}: {e}"))
        })
    }
}
