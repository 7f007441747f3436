//! Identifiers: jobs, events, backups, attempts and workers.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// A job's id. Random for requested jobs; deterministic (v5) for scheduled fires.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct JobId(pub Uuid);

impl JobId {
    pub fn new_random() -> Self {
        Self(Uuid::now_v7())
    }
    /// Eight hex digits used in storage folder names: the *last* eight, which are random
    /// in a v7 id (its first digits are a timestamp shared by jobs created close together).
    pub fn short(&self) -> String {
        let simple = self.0.simple().to_string();
        simple[simple.len() - 8..].to_string()
    }
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }
    pub fn from_bytes(b: [u8; 16]) -> Self {
        Self(Uuid::from_bytes(b))
    }
    pub fn parse(s: &str) -> Result<Self, uuid::Error> {
        Uuid::parse_str(s).map(Self)
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An event's id: a UUID v7, so ids sort by creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct EventId(pub Uuid);

impl EventId {
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
}

impl Default for EventId {
    fn default() -> Self {
        Self::new()
    }
}

/// One try at a job, numbered from 1: the fencing token of that try's events.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct Attempt(pub u32);

impl Attempt {
    pub fn first() -> Self {
        Self(1)
    }
    pub fn next(self) -> Self {
        Self(self.0 + 1)
    }
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A worker instance (`dump-worker@host:pid:boot`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct WorkerId(pub String);

impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A backup's id: its storage folder name, `YYYYMMDDTHHMMSSZ-<short job id>`. Read from
/// JSON (a manifest, an event, an API body) only in that form.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(try_from = "String", into = "String")]
#[schemars(transparent)]
pub struct BackupId(String);

impl TryFrom<String> for BackupId {
    type Error = BadBackupId;
    fn try_from(s: String) -> Result<Self, BadBackupId> {
        Self::parse(&s)
    }
}

impl From<BackupId> for String {
    fn from(id: BackupId) -> String {
        id.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a backup id; ids look like 20261126T030000Z-1a2b3c4d (see `cairn backups TARGET`)")]
pub struct BadBackupId(pub String);

impl BackupId {
    pub fn new(at: DateTime<Utc>, job: JobId) -> Self {
        Self(format!("{}-{}", at.format("%Y%m%dT%H%M%SZ"), job.short()))
    }
    pub fn parse(s: &str) -> Result<Self, BadBackupId> {
        let bad = || BadBackupId(s.to_string());
        let (ts, short) = s.split_once('-').ok_or_else(bad)?;
        let ts_ok =
            ts.len() == 16 && chrono::NaiveDateTime::parse_from_str(ts, "%Y%m%dT%H%M%SZ").is_ok();
        let short_ok = short.len() == 8
            && short
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase());
        if ts_ok && short_ok {
            Ok(Self(s.to_string()))
        } else {
            Err(bad())
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BackupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn short_ids_of_jobs_created_together_differ() {
        let ids: std::collections::HashSet<String> =
            (0..1000).map(|_| JobId::new_random().short()).collect();
        assert_eq!(ids.len(), 1000);
    }

    #[test]
    fn backup_ids_round_trip_and_reject_garbage() {
        let job = JobId(Uuid::parse_str("00000000-0000-7000-8000-00001a2b3c4d").unwrap());
        let at = Utc.with_ymd_and_hms(2026, 11, 26, 3, 0, 0).unwrap();
        let id = BackupId::new(at, job);
        assert_eq!(id.as_str(), "20261126T030000Z-1a2b3c4d");
        assert_eq!(BackupId::parse(id.as_str()).unwrap(), id);
        for bad in [
            "latest",
            "",
            "20261126T030000Z",
            "20261126T030000Z-XYZ",
            "2026-11-26-1a2b3c4d",
            "../etc-1a2b3c4d",
        ] {
            assert!(BackupId::parse(bad).is_err(), "{bad}");
        }
    }
}
