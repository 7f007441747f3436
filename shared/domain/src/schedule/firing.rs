//! Firing decisions: what the scheduler does with the slots of a schedule that came due.
//!
//! Pure: the firing loop passes in the clock's `now`, the newest slot it already handled and
//! whether the target's previous job still runs, and records what comes back. Deterministic
//! job ids make a second scheduler, or a restart, propose the same job for the same slot, so
//! the ledger's idempotent enqueue turns a double fire into a no-op.

use super::Schedule;
use crate::ids::JobId;
use crate::names::TargetName;
use chrono::{DateTime, TimeDelta, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;
use uuid::Uuid;

/// A policy: a target's schedule, storage and retention. Its id is fixed for its life;
/// each change is a new [`PolicyVersion`].
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct PolicyId(pub Uuid);

impl PolicyId {
    pub fn new_random() -> Self {
        Self(Uuid::now_v7())
    }
}

impl fmt::Display for PolicyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A policy's version, numbered from 1.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct PolicyVersion(pub u32);

impl PolicyVersion {
    pub fn first() -> Self {
        Self(1)
    }
    pub fn next(self) -> Self {
        Self(self.0 + 1)
    }
}

impl fmt::Display for PolicyVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Namespace of slot job ids (a fixed random UUID: changing it changes every slot's id).
const SLOT_NAMESPACE: Uuid = Uuid::from_u128(0x6b0f_3c5e_2a41_4d8e_9f27_c3a1_58e0_d4b2);
/// Namespace of jitter hashes.
const JITTER_NAMESPACE: Uuid = Uuid::from_u128(0x1d9e_7a63_5b02_4f1c_8e4d_a7b6_20c9_e315);

/// The job id of the backup fired for `slot` of a policy version: UUID v5 (SHA-1) of the
/// policy id, the version (big-endian u32) and the slot's Unix seconds and nanoseconds
/// (big-endian i64, u32). The same inputs give the same id on every machine.
pub fn slot_job_id(policy: PolicyId, version: PolicyVersion, slot: DateTime<Utc>) -> JobId {
    let mut name = [0u8; 32];
    name[..16].copy_from_slice(policy.0.as_bytes());
    name[16..20].copy_from_slice(&version.0.to_be_bytes());
    name[20..28].copy_from_slice(&slot.timestamp().to_be_bytes());
    name[28..32].copy_from_slice(&slot.timestamp_subsec_nanos().to_be_bytes());
    JobId(Uuid::new_v5(&SLOT_NAMESPACE, &name))
}

/// How long to delay each fire of `target`: a fixed amount from zero up to `max` (to the
/// millisecond), taken from a hash of the target's name, so that many targets with the same
/// schedule spread over `max` and each one keeps its own steady offset.
pub fn jitter(target: &TargetName, max: Duration) -> Duration {
    let max_ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
    if max_ms == 0 {
        return Duration::ZERO;
    }
    let hash = Uuid::new_v5(&JITTER_NAMESPACE, target.as_str().as_bytes());
    let bytes = hash.as_bytes();
    let h = u64::from_be_bytes([
        bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
    ]);
    Duration::from_millis(h % max_ms.saturating_add(1))
}

/// How late a slot may still fire (default 1 h), in whole seconds: older slots are
/// recorded as missed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct CatchUp {
    secs: u64,
}

impl CatchUp {
    /// The window, to the second (a fraction is dropped).
    pub fn new(window: Duration) -> Self {
        Self {
            secs: window.as_secs(),
        }
    }
    pub fn as_duration(&self) -> Duration {
        Duration::from_secs(self.secs)
    }
    pub fn window(&self) -> TimeDelta {
        i64::try_from(self.secs)
            .ok()
            .and_then(TimeDelta::try_seconds)
            .unwrap_or(TimeDelta::MAX)
    }
}

impl Default for CatchUp {
    fn default() -> Self {
        Self { secs: 3600 }
    }
}

/// What happens to a due slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Queue the slot's backup (job id [`slot_job_id`]).
    Fire { slot: DateTime<Utc> },
    /// The slot came while the target's previous job still ran: not queued.
    Skipped { slot: DateTime<Utc> },
    /// The slot passed unfired (cairn was down, or a newer slot superseded it).
    Missed { slot: DateTime<Utc> },
    /// More than [`MISSED_LISTED`] slots passed unfired: `count` of them, `first` to `last`.
    MissedRun {
        first: DateTime<Utc>,
        last: DateTime<Utc>,
        count: u64,
    },
}

impl Decision {
    /// The newest slot this decision covers.
    pub fn slot(&self) -> DateTime<Utc> {
        match *self {
            Self::Fire { slot } | Self::Skipped { slot } | Self::Missed { slot } => slot,
            Self::MissedRun { last, .. } => last,
        }
    }
}

/// Up to this many missed slots are reported one by one; more become one [`Decision::MissedRun`].
pub const MISSED_LISTED: usize = 10;

/// What the scheduler knows when it looks at one policy.
#[derive(Debug, Clone, Copy)]
pub struct DueCheck {
    /// The newest slot already decided (initially the instant the policy version took effect,
    /// so that a new policy never fires its past).
    pub handled_through: DateTime<Utc>,
    pub now: DateTime<Utc>,
    pub catch_up: CatchUp,
    /// Whether the target's previous job still runs.
    pub previous_running: bool,
    /// The target's [`jitter`]: each slot comes due that long after its time, and its
    /// lateness counts from then. The slot (and so its job id) stays the schedule's own.
    pub jitter: Duration,
}

/// The decisions for the slots of `schedule` in `(handled_through, now - jitter]`, oldest first:
/// the newest slot fires (or is skipped, when the previous job still runs) if it is at most
/// the catch-up window old; every other slot is missed. At most one fire per call, so a long
/// outage costs one catch-up backup, not one per slot. Empty when nothing is due.
///
/// The caller records every decision and moves `handled_through` to the last one's
/// [`Decision::slot`]. Cost: one step per slot in the range.
pub fn decide(schedule: &Schedule, check: &DueCheck) -> Vec<Decision> {
    let Some(now) = TimeDelta::from_std(check.jitter)
        .ok()
        .and_then(|j| check.now.checked_sub_signed(j))
    else {
        return Vec::new();
    };
    let mut count = 0u64;
    let mut first_slots = Vec::with_capacity(MISSED_LISTED + 1);
    let (mut newest, mut before_newest) = (None, None);
    for slot in schedule
        .fires_after(check.handled_through)
        .take_while(|s| *s <= now)
    {
        count += 1;
        if first_slots.len() <= MISSED_LISTED {
            first_slots.push(slot);
        }
        before_newest = newest;
        newest = Some(slot);
    }
    let Some(newest) = newest else {
        return Vec::new();
    };
    let on_time = now - newest <= check.catch_up.window();
    let (missed, last_missed) = if on_time {
        (count - 1, before_newest)
    } else {
        (count, Some(newest))
    };
    let mut decisions = Vec::new();
    if missed <= MISSED_LISTED as u64 {
        decisions.extend(
            first_slots
                .iter()
                .take(missed as usize)
                .map(|&slot| Decision::Missed { slot }),
        );
    } else if let Some(last) = last_missed {
        decisions.push(Decision::MissedRun {
            first: first_slots[0],
            last,
            count: missed,
        });
    }
    if on_time {
        decisions.push(if check.previous_running {
            Decision::Skipped { slot: newest }
        } else {
            Decision::Fire { slot: newest }
        });
    }
    decisions
}
