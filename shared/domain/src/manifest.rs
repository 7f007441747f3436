//! The manifest written last into every backup folder: what the artifact is and how to check it.

use crate::endpoint::{Engine, Scope};
use crate::ids::{BackupId, JobId};
use crate::names::TargetName;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The manifest's own format version; bump on incompatible change.
pub const MANIFEST_FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Manifest {
    pub format: u32,
    pub id: BackupId,
    pub target: TargetName,
    pub engine: Engine,
    /// The server's version string as it reported it (`15.20`, `10.11.19-MariaDB`, `7.0.15`).
    pub server_version: String,
    pub scope: Scope,
    /// The artifact's file name inside the backup folder (`dump.sql.zst`, `dump.redis.zst`).
    pub artifact: String,
    /// Bytes the dump tool produced (uncompressed).
    pub size_bytes: u64,
    /// Bytes stored (compressed artifact).
    pub stored_bytes: u64,
    /// Hex sha256 of the stored artifact bytes.
    pub sha256: String,
    pub compression: String,
    /// The artifact's format, so a restore picks the right loader (`pg_dump-plain`, …).
    pub format_name: String,
    pub job_id: JobId,
    pub created_at: DateTime<Utc>,
    /// How long the dump took, in seconds.
    pub duration_seconds: f64,
    /// The dump tool and its version, where the engine runs one whose version matters
    /// (`pg_dump 17.6`); absent in manifests written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_version: Option<String>,
}
