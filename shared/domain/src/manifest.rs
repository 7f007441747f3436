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
}

/// Why `manifest.json` bytes are not a manifest this cairn can use.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    #[error("manifest format {0} is not one this cairn reads (formats 1 to {MANIFEST_FORMAT}); a newer cairn wrote it, so restore it with that version")]
    UnknownFormat(u32),
}

impl Manifest {
    /// Reads `manifest.json` as storage holds it. Refuses a format this version does not
    /// know, so a newer layout is never misread as an old one.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ManifestError> {
        let manifest: Manifest = serde_json::from_slice(bytes)?;
        if manifest.format == 0 || manifest.format > MANIFEST_FORMAT {
            return Err(ManifestError::UnknownFormat(manifest.format));
        }
        Ok(manifest)
    }

    /// The bytes storage writes as `manifest.json`.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec_pretty(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> serde_json::Value {
        serde_json::json!({
            "format": 1,
            "id": "20261126T030000Z-1a2b3c4d",
            "target": "orders-db",
            "engine": "postgres",
            "server_version": "15.20",
            "scope": {"kind": "database", "name": "orders"},
            "artifact": "dump.sql.zst",
            "size_bytes": 10,
            "stored_bytes": 5,
            "sha256": "00",
            "compression": "zstd",
            "format_name": "pg_dump-plain",
            "job_id": "0193a000-0000-7000-8000-000000000000",
            "created_at": "2026-11-26T03:00:00Z",
            "duration_seconds": 0.1
        })
    }

    #[test]
    fn reads_back_what_it_writes() {
        let bytes = serde_json::to_vec(&sample()).unwrap();
        let manifest = Manifest::from_json(&bytes).unwrap();
        let again = Manifest::from_json(&manifest.to_json().unwrap()).unwrap();
        assert_eq!(again, manifest);
    }

    #[test]
    fn refuses_unknown_formats_and_bad_names() {
        for format in [0, MANIFEST_FORMAT + 1] {
            let mut m = sample();
            m["format"] = format.into();
            let err = Manifest::from_json(&serde_json::to_vec(&m).unwrap()).unwrap_err();
            assert!(
                matches!(err, ManifestError::UnknownFormat(f) if f == format),
                "{err}"
            );
        }
        for (field, bad) in [
            ("target", "../etc"),
            ("id", "../../etc"),
            ("id", "20261126T030000Z-1A2B3C4D"),
            ("id", ""),
        ] {
            let mut m = sample();
            m[field] = bad.into();
            let read = Manifest::from_json(&serde_json::to_vec(&m).unwrap());
            assert!(read.is_err(), "{field} {bad:?} accepted: {read:?}");
        }
        assert!(Manifest::from_json(b"").is_err());
    }
}
