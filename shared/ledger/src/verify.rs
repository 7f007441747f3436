//! The check `Ledger::open` runs before it accepts a ledger.
//!
//! sled 0.34 has open reports of corruption after abrupt kills, so the ledger does not
//! trust it: every event's checksum is verified, every job's log must be gapless and fold
//! through the state machine to exactly its cached state, the global log must run from 1
//! to the recorded last sequence with each entry pointing at the matching event, and the
//! indexes must hold each job once. Targets' configuration streams fold the same way,
//! through `ConfigState`, to their cached state in `configs`. Anything off refuses the open; nothing is repaired or
//! dropped silently.

use crate::codec::{corrupt, split_event_key, u64_from, EVENT_KEY_LEN};
use crate::config::{meta, Trees};
use crate::indexes::IndexKeys;
use crate::record;
use crate::LedgerError;
use cairn_domain::{ConfigState, EventEnvelope, JobId, JobState, StreamKind};

/// A stream folded so far: a job's, or a target's configuration (one at a time, so the
/// size difference does not matter).
#[allow(clippy::large_enum_variant)]
enum Folded {
    Job(JobState),
    Config(ConfigState),
}

impl Folded {
    fn seq(&self) -> u64 {
        match self {
            Folded::Job(s) => s.seq,
            Folded::Config(s) => s.seq,
        }
    }
}

type EventKey = [u8; EVENT_KEY_LEN];

fn describe(key: &EventKey) -> String {
    let (job, seq) = split_event_key(key).expect("event key length");
    format!("event {seq} of job {job}")
}

/// What a sound ledger holds, as far as `open` needs to know.
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    pub events: u64,
    pub jobs: u64,
    /// Targets' configuration streams.
    pub configs: u64,
    pub last_global_seq: u64,
}

/// Verifies the whole ledger; returns its summary or the first problem found.
pub fn verify(trees: &Trees, path: &str) -> Result<Summary, LedgerError> {
    let bad = |detail: String| corrupt(path, detail);
    check_format(trees, path)?;
    let last_global = match trees.meta.get(meta::LAST_GLOBAL_SEQ)? {
        None => 0,
        Some(v) => {
            u64_from(&v).ok_or_else(|| bad("the last global sequence is unreadable".into()))?
        }
    };

    // Events, job by job (keys sort by job id, then seq).
    let mut summary = Summary {
        last_global_seq: last_global,
        ..Summary::default()
    };
    let mut current: Option<(JobId, Folded)> = None;
    // Which event holds each global sequence, so the log is checked without reading the
    // events a second time. Sized by checksummed event data, never by `meta` alone.
    let mut holders: Vec<Option<EventKey>> = Vec::new();
    for item in trees.events.iter() {
        let (key, value) = item?;
        let (job_id, seq) = split_event_key(&key)
            .ok_or_else(|| bad(format!("an event key is {} bytes", key.len())))?;
        let event: EventEnvelope = record::decode_event(&value)
            .map_err(|e| bad(format!("event {seq} of job {job_id}: {e}")))?;
        if event.job_id != job_id || event.seq != seq {
            return Err(bad(format!(
                "the event stored as {seq} of job {job_id} says it is {} of job {}",
                event.seq, event.job_id
            )));
        }
        if event.global_seq == 0 || event.global_seq > last_global {
            return Err(bad(format!(
                "event {seq} of job {job_id} has global sequence {} beyond the recorded last {last_global}",
                event.global_seq
            )));
        }
        let slot = event.global_seq as usize - 1;
        if holders.len() <= slot {
            holders.resize(slot + 1, None);
        }
        let key: EventKey = key.as_ref().try_into().expect("checked length");
        if let Some(other) = holders[slot].replace(key) {
            return Err(bad(format!(
                "event {seq} of job {job_id} and {} both hold global sequence {}",
                describe(&other),
                event.global_seq
            )));
        }
        let previous = match current.take() {
            Some((id, state)) if id == job_id => Some(state),
            Some((id, state)) => {
                check_stream(trees, path, id, &state, &mut summary)?;
                None
            }
            None => None,
        };
        let expected = previous.as_ref().map_or(1, |s| s.seq() + 1);
        if seq != expected {
            return Err(bad(format!(
                "job {job_id} jumps from event {} to {seq}: events are missing",
                expected - 1
            )));
        }
        let does_not_fold = |e: cairn_domain::TransitionError| {
            bad(format!("event {seq} of job {job_id} does not fold: {e}"))
        };
        let state = match (previous, event.kind) {
            (None, StreamKind::Config) => Folded::Config(
                ConfigState::next(
                    None,
                    &event.target,
                    event.at,
                    event.actor.token.as_ref(),
                    &event.payload,
                )
                .map_err(does_not_fold)?,
            ),
            (Some(Folded::Config(s)), StreamKind::Config) => Folded::Config(
                ConfigState::next(
                    Some(&s),
                    &event.target,
                    event.at,
                    event.actor.token.as_ref(),
                    &event.payload,
                )
                .map_err(does_not_fold)?,
            ),
            (None, _) => Folded::Job(
                JobState::next(None, job_id, event.at, &event.payload).map_err(does_not_fold)?,
            ),
            (Some(Folded::Job(s)), kind) if kind != StreamKind::Config => Folded::Job(
                JobState::next(Some(&s), job_id, event.at, &event.payload)
                    .map_err(does_not_fold)?,
            ),
            (Some(_), kind) => {
                return Err(bad(format!(
                    "event {seq} of job {job_id} is of kind {kind}, unlike the events before it"
                )))
            }
        };
        current = Some((job_id, state));
        summary.events += 1;
    }
    if let Some((id, state)) = current {
        check_stream(trees, path, id, &state, &mut summary)?;
    }
    let cached_jobs = trees.jobs.len() as u64;
    if cached_jobs != summary.jobs {
        return Err(bad(format!(
            "{cached_jobs} job states are stored for {} jobs with events",
            summary.jobs
        )));
    }

    let cached_configs = trees.configs.len() as u64;
    if cached_configs != summary.configs {
        return Err(bad(format!(
            "{cached_configs} configuration states are stored for {} targets with configuration events",
            summary.configs
        )));
    }

    check_log(trees, path, summary, &holders)?;
    check_index_sizes(trees, path, summary.jobs)?;
    Ok(summary)
}

fn check_format(trees: &Trees, path: &str) -> Result<(), LedgerError> {
    match trees.meta.get(meta::FORMAT)? {
        Some(v) if u64_from(&v) == Some(meta::FORMAT_VERSION) => Ok(()),
        Some(v) => Err(corrupt(
            path,
            format!(
                "its format marker is {:?}, this cairn reads format {}",
                u64_from(&v),
                meta::FORMAT_VERSION
            ),
        )),
        None if trees.events.is_empty() && trees.meta.is_empty() => {
            trees
                .meta
                .insert(meta::FORMAT, &meta::FORMAT_VERSION.to_be_bytes()[..])?;
            trees.db.flush()?;
            Ok(())
        }
        None => Err(corrupt(path, "it holds ledger data but no format marker")),
    }
}

fn check_stream(
    trees: &Trees,
    path: &str,
    id: JobId,
    folded: &Folded,
    summary: &mut Summary,
) -> Result<(), LedgerError> {
    match folded {
        Folded::Job(state) => {
            check_job(trees, path, id, state)?;
            summary.jobs += 1;
        }
        Folded::Config(state) => {
            check_config(trees, path, id, state)?;
            summary.configs += 1;
        }
    }
    Ok(())
}

/// The cached state of a configuration stream must be the fold of its events.
fn check_config(
    trees: &Trees,
    path: &str,
    id: JobId,
    folded: &ConfigState,
) -> Result<(), LedgerError> {
    let bad = |detail: String| corrupt(path, detail);
    let bytes = trees.configs.get(id.as_bytes())?.ok_or_else(|| {
        bad(format!(
            "the configuration stream of {} has events but no state",
            folded.target
        ))
    })?;
    let cached: ConfigState = crate::codec::decode(&bytes)
        .map_err(|e| bad(format!("the configuration state of {}: {e}", folded.target)))?;
    if &cached != folded {
        return Err(bad(format!(
            "the stored configuration state of {} (seq {}) differs from the fold of its events (seq {})",
            folded.target, cached.seq, folded.seq
        )));
    }
    Ok(())
}

/// The cached state and the index entries of a job must match the fold of its events.
fn check_job(
    trees: &Trees,
    path: &str,
    job_id: JobId,
    folded: &JobState,
) -> Result<(), LedgerError> {
    let bad = |detail: String| corrupt(path, detail);
    let cached = crate::indexes::load_job(trees, path, job_id)?
        .ok_or_else(|| bad(format!("job {job_id} has events but no state")))?;
    if &cached != folded {
        return Err(bad(format!(
            "the stored state of job {job_id} (seq {}, {}) differs from the fold of its events (seq {}, {})",
            cached.seq, cached.status, folded.seq, folded.status
        )));
    }
    let keys = IndexKeys::of(folded);
    for (tree, key, name) in [
        (&trees.by_time, keys.time, "time"),
        (&trees.by_target, keys.target, "target"),
        (&trees.by_kind_status, keys.kind_status, "kind+status"),
    ] {
        if !tree.contains_key(key)? {
            return Err(bad(format!(
                "job {job_id} is missing from the {name} index"
            )));
        }
    }
    Ok(())
}

/// The log must be 1..=last, one entry per event, each pointing at the event holding it.
fn check_log(
    trees: &Trees,
    path: &str,
    summary: Summary,
    holders: &[Option<EventKey>],
) -> Result<(), LedgerError> {
    let bad = |detail: String| corrupt(path, detail);
    let mut expected = 1;
    for item in trees.log.iter() {
        let (key, value) = item?;
        let global = u64_from(&key).ok_or_else(|| bad("a global log key is unreadable".into()))?;
        if global != expected {
            return Err(bad(format!(
                "the global log jumps from {} to {global}: events are missing",
                expected - 1
            )));
        }
        let holder = holders.get(global as usize - 1).copied().flatten();
        if holder.as_ref().map(|k| &k[..]) != Some(value.as_ref()) {
            let pointed = match split_event_key(&value) {
                Some((job, seq)) => format!("event {seq} of job {job}"),
                None => "an unreadable event key".to_string(),
            };
            let held = match holder {
                Some(k) => format!("{} holds that sequence", describe(&k)),
                None => "no event holds that sequence".to_string(),
            };
            return Err(bad(format!(
                "global log entry {global} points at {pointed}, but {held}"
            )));
        }
        expected += 1;
    }
    let logged = expected - 1;
    if logged != summary.last_global_seq {
        return Err(bad(format!(
            "the global log ends at {logged} but the ledger recorded {} as its last",
            summary.last_global_seq
        )));
    }
    if logged != summary.events {
        return Err(bad(format!(
            "the global log holds {logged} entries for {} events",
            summary.events
        )));
    }
    Ok(())
}

fn check_index_sizes(trees: &Trees, path: &str, jobs: u64) -> Result<(), LedgerError> {
    for (tree, name) in [
        (&trees.by_time, "time"),
        (&trees.by_target, "target"),
        (&trees.by_kind_status, "kind+status"),
    ] {
        let n = tree.len() as u64;
        if n != jobs {
            return Err(corrupt(
                path,
                format!("the {name} index holds {n} entries for {jobs} jobs"),
            ));
        }
    }
    Ok(())
}
