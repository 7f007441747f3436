//! Retention: which of a target's backups to keep, as a pure function over the list.
//!
//! The rules are those of restic and rustic `forget`: keep the newest `last` successful
//! backups, and optionally the newest backup of each of the newest N hours, days, weeks
//! (ISO), months and years that have one, bucketed on the wall clock of the schedule's zone.
//! A backup kept by any rule stays. As in restic, a bucket rule that still has counts left
//! when it reaches the oldest backup keeps that one too, so the history reaches back as far
//! as the rule allows.
//!
//! Only successful backups count and only they are ever removed: failed and incomplete
//! backups take no place in any rule (the sweeper removes incomplete uploads after a grace
//! period). Since `last` is at least 1, the newest successful backup is always kept, and a
//! run of failures changes nothing.

#[cfg(test)]
mod tests;

use crate::ids::BackupId;
use crate::schedule::Zone;
use chrono::{DateTime, Datelike, Timelike, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::num::NonZeroU32;

/// How many backups to keep: `--keep N` and the optional `--keep-hourly` … `--keep-yearly`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Keep {
    /// The newest N successful backups (default 5).
    #[serde(default = "default_last")]
    pub last: NonZeroU32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hourly: Option<NonZeroU32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily: Option<NonZeroU32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekly: Option<NonZeroU32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly: Option<NonZeroU32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yearly: Option<NonZeroU32>,
}

fn default_last() -> NonZeroU32 {
    NonZeroU32::new(5).unwrap_or(NonZeroU32::MIN)
}

impl Default for Keep {
    fn default() -> Self {
        Self::last(default_last())
    }
}

impl Keep {
    /// Only the newest `n`.
    pub fn last(n: NonZeroU32) -> Self {
        Self {
            last: n,
            hourly: None,
            daily: None,
            weekly: None,
            monthly: None,
            yearly: None,
        }
    }
}

/// Why `--keep …` flags were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeepError {
    #[error("--keep 0 would keep no backup; keep at least 1 (the default is 5)")]
    NoneKept,
    #[error("--keep-{0} 0 keeps nothing; give a count from 1, or leave the flag out")]
    ZeroBucket(&'static str),
}

/// The retention flags of `cairn schedule set`, as typed by the user.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeepFlags {
    pub last: Option<u32>,
    pub hourly: Option<u32>,
    pub daily: Option<u32>,
    pub weekly: Option<u32>,
    pub monthly: Option<u32>,
    pub yearly: Option<u32>,
}

impl Keep {
    /// Parses `--keep N` (default 5) and `--keep-hourly` … `--keep-yearly`; zero is refused.
    pub fn from_flags(f: KeepFlags) -> Result<Self, KeepError> {
        let bucket = |name, v: Option<u32>| match v {
            None => Ok(None),
            Some(n) => NonZeroU32::new(n)
                .map(Some)
                .ok_or(KeepError::ZeroBucket(name)),
        };
        Ok(Self {
            last: match f.last {
                None => default_last(),
                Some(n) => NonZeroU32::new(n).ok_or(KeepError::NoneKept)?,
            },
            hourly: bucket("hourly", f.hourly)?,
            daily: bucket("daily", f.daily)?,
            weekly: bucket("weekly", f.weekly)?,
            monthly: bucket("monthly", f.monthly)?,
            yearly: bucket("yearly", f.yearly)?,
        })
    }
}

/// How a backup ended, as retention sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BackupOutcome {
    Succeeded,
    Failed,
    /// Started but never finished (a partial upload).
    Incomplete,
}

/// One backup of the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BackupInfo {
    pub id: BackupId,
    /// When the backup was taken.
    pub at: DateTime<Utc>,
    pub outcome: BackupOutcome,
}

impl From<&crate::Manifest> for BackupInfo {
    /// A listed backup: its manifest was written, so it succeeded.
    fn from(m: &crate::Manifest) -> Self {
        Self {
            id: m.id.clone(),
            at: m.created_at,
            outcome: BackupOutcome::Succeeded,
        }
    }
}

/// Why a backup is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeepReason {
    Last,
    Hourly,
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

/// What retention decides for one successful backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "verdict", content = "reasons", rename_all = "snake_case")]
pub enum Verdict {
    /// Kept, by these rules (never empty).
    Keep(Vec<KeepReason>),
    Remove,
}

impl Verdict {
    pub fn is_keep(&self) -> bool {
        matches!(self, Self::Keep(_))
    }
}

/// One rule in force while walking from the newest backup to the oldest.
struct Rule {
    reason: KeepReason,
    left: u32,
    /// The bucket of the last backup this rule kept.
    last_bucket: Option<i64>,
}

fn bucket(reason: KeepReason, at: DateTime<Utc>, zone: Zone) -> i64 {
    let local = zone.local(at);
    let (year, day) = (i64::from(local.year()), i64::from(local.ordinal()));
    match reason {
        // Unique per backup: `last` keeps each of the newest N.
        KeepReason::Last => at.timestamp_nanos_opt().unwrap_or(at.timestamp()),
        KeepReason::Hourly => (year * 1000 + day) * 100 + i64::from(local.hour()),
        KeepReason::Daily => year * 1000 + day,
        KeepReason::Weekly => {
            let week = local.iso_week();
            i64::from(week.year()) * 100 + i64::from(week.week())
        }
        KeepReason::Monthly => year * 100 + i64::from(local.month()),
        KeepReason::Yearly => year,
    }
}

/// The verdict on each successful backup in `backups`, newest first (by time, then id).
/// Failed and incomplete backups are not retention's to decide and do not appear.
pub fn apply(keep: &Keep, backups: &[BackupInfo], zone: Zone) -> Vec<(BackupId, Verdict)> {
    let mut ok: Vec<&BackupInfo> = backups
        .iter()
        .filter(|b| b.outcome == BackupOutcome::Succeeded)
        .collect();
    ok.sort_by(|a, b| (b.at, &b.id).cmp(&(a.at, &a.id)));
    let rule = |reason, n: Option<NonZeroU32>| {
        n.map(|n| Rule {
            reason,
            left: n.get(),
            last_bucket: None,
        })
    };
    let mut rules: Vec<Rule> = [
        rule(KeepReason::Last, Some(keep.last)),
        rule(KeepReason::Hourly, keep.hourly),
        rule(KeepReason::Daily, keep.daily),
        rule(KeepReason::Weekly, keep.weekly),
        rule(KeepReason::Monthly, keep.monthly),
        rule(KeepReason::Yearly, keep.yearly),
    ]
    .into_iter()
    .flatten()
    .collect();
    let oldest = ok.len().saturating_sub(1);
    ok.iter()
        .enumerate()
        .map(|(i, b)| {
            let mut reasons = Vec::new();
            for r in rules.iter_mut().filter(|r| r.left > 0) {
                let key = bucket(r.reason, b.at, zone);
                if r.last_bucket != Some(key) || i == oldest {
                    reasons.push(r.reason);
                    r.left -= 1;
                    r.last_bucket = Some(key);
                }
            }
            let verdict = if reasons.is_empty() {
                Verdict::Remove
            } else {
                Verdict::Keep(reasons)
            };
            (b.id.clone(), verdict)
        })
        .collect()
}
