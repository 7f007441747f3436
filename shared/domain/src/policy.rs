//! Policies: what a target's schedule, retention, storage and firing options are.
//!
//! A target has at most one policy at a time; every change (`cairn schedule set`, `clear`)
//! is a new [`PolicyRecord`] with the next [`PolicyVersion`], the instant and the token that
//! made it. The records are never rewritten, so the list of a target's records answers "who
//! changed the schedule of T, and when". A cleared schedule is a record without a policy.
//!
//! The flags of `cairn schedule set` travel as text ([`ScheduleSetRequest`]) and are parsed
//! here, once, by the CLI (to refuse bad input before any request) and by the server (which
//! trusts no client).

use crate::names::{NameError, StorageName, TargetName, TokenName};
use crate::retention::{Keep, KeepError, KeepFlags};
use crate::schedule::{CatchUp, PolicyId, PolicyVersion, Schedule, ScheduleError, ScheduleFlags};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The longest `--jitter`: a day (a longer delay would move a daily backup past its next slot).
pub const MAX_JITTER: Duration = Duration::from_secs(24 * 3600);

/// A target's schedule and everything that goes with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub schedule: Schedule,
    #[serde(default)]
    pub keep: Keep,
    /// Where scheduled backups go; the target's own storage when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageName>,
    /// How late a slot missed while cairn was down may still fire, in seconds (default 3600).
    #[serde(default)]
    pub catch_up: CatchUp,
    /// The largest delay of a fire, in seconds; each target has its own steady share of it.
    #[serde(default)]
    pub jitter: Jitter,
}

/// `--jitter`: the largest delay of each fire, in whole seconds (default 0).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct Jitter {
    secs: u64,
}

impl Jitter {
    pub fn as_duration(&self) -> Duration {
        Duration::from_secs(self.secs)
    }
}

/// One version of a target's policy, as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PolicyRecord {
    pub target: TargetName,
    /// Fixed for the target's life; slot job ids derive from it.
    pub policy_id: PolicyId,
    pub version: PolicyVersion,
    /// Absent in a record that cleared the schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Policy>,
    /// When this version took effect; it never fires a slot before this instant.
    pub at: DateTime<Utc>,
    /// The API token whose request made the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<TokenName>,
}

/// Why the flags of `cairn schedule set` were refused; each names the flag and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    #[error(transparent)]
    Keep(#[from] KeepError),
    #[error("--storage: storage {0}")]
    Storage(NameError),
    #[error("--{flag} {given:?} is not a duration; write e.g. 90s, 15m, 1h or 1h30m")]
    Duration { flag: &'static str, given: String },
    #[error(
        "--jitter {0:?} is longer than a day; a fire delayed that long would pass the next slot"
    )]
    JitterTooLong(String),
}

/// `PUT /v1/schedules/{target}`: the flags of `cairn schedule set`, as typed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct ScheduleSetRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tz: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_hourly: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_daily: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_weekly: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_monthly: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_yearly: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
    /// A duration such as `1h` or `90m` (default 1h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catch_up: Option<String>,
    /// A duration such as `10m` (default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<String>,
}

impl ScheduleSetRequest {
    /// The policy these flags describe, or the first flag that is wrong.
    pub fn to_policy(&self) -> Result<Policy, PolicyError> {
        let schedule = Schedule::from_flags(ScheduleFlags {
            every: self.every.as_deref(),
            at: self.at.as_deref(),
            days: self.days.as_deref(),
            cron: self.cron.as_deref(),
            tz: self.tz.as_deref(),
        })?;
        let keep = Keep::from_flags(KeepFlags {
            last: self.keep,
            hourly: self.keep_hourly,
            daily: self.keep_daily,
            weekly: self.keep_weekly,
            monthly: self.keep_monthly,
            yearly: self.keep_yearly,
        })?;
        let storage = self
            .storage
            .as_deref()
            .map(StorageName::parse)
            .transpose()
            .map_err(PolicyError::Storage)?;
        let catch_up = match &self.catch_up {
            None => CatchUp::default(),
            Some(text) => CatchUp::new(duration("catch-up", text)?),
        };
        let jitter = match &self.jitter {
            None => Jitter::default(),
            Some(text) => {
                let d = duration("jitter", text)?;
                if d > MAX_JITTER {
                    return Err(PolicyError::JitterTooLong(text.clone()));
                }
                Jitter { secs: d.as_secs() }
            }
        };
        Ok(Policy {
            schedule,
            keep,
            storage,
            catch_up,
            jitter,
        })
    }
}

/// `90s`, `15m`, `1h`, `1h30m`, `2days`; a bare `0` is zero.
fn duration(flag: &'static str, text: &str) -> Result<Duration, PolicyError> {
    let trimmed = text.trim();
    if trimmed == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(trimmed).map_err(|_| PolicyError::Duration {
        flag,
        given: text.to_string(),
    })
}

/// `GET /v1/schedules/{target}` and each entry of `GET /v1/schedules`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ScheduleView {
    pub target: String,
    pub policy_id: PolicyId,
    pub version: PolicyVersion,
    pub policy: Policy,
    /// The schedule in words, e.g. `every day at 03:30 (Europe/Berlin)`.
    pub describe: String,
    /// The storage scheduled backups go to (the policy's, or else the target's).
    pub storage: String,
    /// When this version took effect, and the token that set it.
    pub set_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_by: Option<String>,
    /// The next fire (jitter included), RFC 3339 UTC.
    pub next_fire: DateTime<Utc>,
    /// Every version, oldest first (only in `GET /v1/schedules/{target}`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<PolicyRecord>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(f: impl FnOnce(&mut ScheduleSetRequest)) -> ScheduleSetRequest {
        let mut r = ScheduleSetRequest {
            every: Some("daily".into()),
            ..Default::default()
        };
        f(&mut r);
        r
    }

    #[test]
    fn defaults_are_keep_5_catch_up_1h_no_jitter() {
        let p = request(|_| {}).to_policy().unwrap();
        assert_eq!(p.keep, Keep::default());
        assert_eq!(p.catch_up.as_duration(), Duration::from_secs(3600));
        assert_eq!(p.jitter.as_duration(), Duration::ZERO);
        assert_eq!(p.storage, None);
    }

    #[test]
    fn durations_parse_and_bad_ones_name_their_flag() {
        let p = request(|r| {
            r.catch_up = Some("1h30m".into());
            r.jitter = Some("90s".into());
        })
        .to_policy()
        .unwrap();
        assert_eq!(p.catch_up.as_duration(), Duration::from_secs(5400));
        assert_eq!(p.jitter.as_duration(), Duration::from_secs(90));
        let e = request(|r| r.catch_up = Some("soon".into()))
            .to_policy()
            .unwrap_err();
        assert!(e.to_string().starts_with("--catch-up \"soon\""), "{e}");
        let e = request(|r| r.jitter = Some("2days".into()))
            .to_policy()
            .unwrap_err();
        assert!(e.to_string().starts_with("--jitter"), "{e}");
    }

    #[test]
    fn each_bad_flag_is_named() {
        type Edit = fn(&mut ScheduleSetRequest);
        let cases: [(Edit, &str); 5] = [
            (|r| r.tz = Some("Mars/Olympus".into()), "--tz"),
            (
                |r| {
                    r.every = None;
                    r.at = Some("25:00".into())
                },
                "--at",
            ),
            (
                |r| {
                    r.every = None;
                    r.cron = Some("61 * * * *".into())
                },
                "--cron",
            ),
            (|r| r.keep = Some(0), "--keep 0"),
            (|r| r.storage = Some("No Such".into()), "--storage"),
        ];
        for (edit, flag) in cases {
            let e = request(edit).to_policy().unwrap_err().to_string();
            assert!(e.starts_with(flag), "{flag}: {e}");
        }
    }

    #[test]
    fn a_policy_round_trips_through_json() {
        let p = request(|r| {
            r.every = None;
            r.at = Some("03:30".into());
            r.days = Some("mon-fri".into());
            r.tz = Some("Europe/Berlin".into());
            r.keep_daily = Some(7);
        })
        .to_policy()
        .unwrap();
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<Policy>(&json).unwrap(), p);
    }
}
