//! The manifest written last into every backup folder: what the artifact is and how to check it.
//!
//! A manifest written by cairn carries a [`ManifestSignature`]: an HMAC-SHA256 of
//! [`Manifest::signed_bytes`] under a key derived from cairn's secret key (see the keyring).
//! The artifact's sha256 is one of the signed fields, so the signature covers the artifact too.

use crate::endpoint::{Engine, Scope};
use crate::ids::{BackupId, JobId};
use crate::names::TargetName;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The manifest's own format version; bump on incompatible change.
pub const MANIFEST_FORMAT: u32 = 1;

/// The first line of [`Manifest::signed_bytes`]: names the canonical form and its version.
pub const SIGNED_BYTES_HEADER: &str = "cairn-manifest-mac-v1\n";

/// The one signature algorithm cairn writes.
pub const SIGNATURE_ALG: &str = "hmac-sha256";

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
    /// How the stored artifact is encrypted (`age`: age-encryption.org/v1 over the
    /// compressed bytes), absent when it is not. Names the scheme only, never a key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<String>,
    /// The MAC that proves which cairn wrote this manifest; absent in unsigned manifests
    /// (written before signing existed, or by hand).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<ManifestSignature>,
}

/// `mac` = hex HMAC-SHA256 of [`Manifest::signed_bytes`] under the signing key `key_id`
/// names. The key id is public: it tells which cairn signed, so a foreign backup is told
/// apart from a tampered one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ManifestSignature {
    /// Always `hmac-sha256`.
    pub alg: String,
    /// 16 hex digits: the first 8 bytes of sha256(signing key).
    pub key_id: String,
    /// 64 hex digits.
    pub mac: String,
}

/// How far a restore can trust a backup, as checked against this cairn's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Trust {
    /// Signed by this cairn's key and unchanged since.
    Signed,
    /// No signature (made by hand, or by a cairn that did not sign yet).
    Unsigned,
    /// Signed with another key: another cairn's, or this one's before its key changed.
    Foreign,
    /// Names this cairn's key but the MAC does not match: changed after it was written.
    Tampered,
}

impl Trust {
    pub fn as_str(&self) -> &'static str {
        match self {
            Trust::Signed => "signed",
            Trust::Unsigned => "unsigned",
            Trust::Foreign => "foreign",
            Trust::Tampered => "tampered",
        }
    }
}

impl std::fmt::Display for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Manifest {
    /// The exact bytes the MAC covers: [`SIGNED_BYTES_HEADER`], then one line per field
    /// except `signature`, in declaration order, each `name=<JSON of the value>\n`
    /// (serde_json, compact; JSON escapes every control character, so a value never
    /// spans lines). For example:
    ///
    /// ```text
    /// cairn-manifest-mac-v1
    /// format=1
    /// id="20260101T000000Z-0a1b2c3d"
    /// target="orders"
    /// engine="postgres"
    /// server_version="15.20"
    /// scope={"kind":"database","name":"orders"}
    /// artifact="dump.sql.zst"
    /// size_bytes=1234
    /// stored_bytes=321
    /// sha256="<64 hex>"
    /// compression="zstd"
    /// format_name="pg_dump-plain"
    /// job_id="<uuid>"
    /// created_at="2026-01-01T00:00:00Z"
    /// duration_seconds=1.5
    /// ```
    ///
    /// Every field is listed by name below (the destructuring does not compile when a
    /// field is added and forgotten here).
    pub fn signed_bytes(&self) -> Vec<u8> {
        let Manifest {
            format,
            id,
            target,
            engine,
            server_version,
            scope,
            artifact,
            size_bytes,
            stored_bytes,
            sha256,
            compression,
            format_name,
            job_id,
            created_at,
            duration_seconds,
            client_version,
            encryption,
            signature: _,
        } = self;
        let mut out = SIGNED_BYTES_HEADER.as_bytes().to_vec();
        let mut line = |name: &str, value: serde_json::Result<String>| {
            let value = value.expect("manifest fields serialize to JSON");
            out.extend_from_slice(name.as_bytes());
            out.push(b'=');
            out.extend_from_slice(value.as_bytes());
            out.push(b'\n');
        };
        use serde_json::to_string as json;
        line("format", json(format));
        line("id", json(id));
        line("target", json(target));
        line("engine", json(engine));
        line("server_version", json(server_version));
        line("scope", json(scope));
        line("artifact", json(artifact));
        line("size_bytes", json(size_bytes));
        line("stored_bytes", json(stored_bytes));
        line("sha256", json(sha256));
        line("compression", json(compression));
        line("format_name", json(format_name));
        line("job_id", json(job_id));
        line("created_at", json(created_at));
        line("duration_seconds", json(duration_seconds));
        // Added later: only present when recorded, so older manifests keep their bytes.
        if let Some(client) = client_version {
            line("client_version", json(client));
        }
        if let Some(encryption) = encryption {
            line("encryption", json(encryption));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        serde_json::from_value(serde_json::json!({
            "format": 1,
            "id": "20260101T000000Z-0a1b2c3d",
            "target": "orders",
            "engine": "postgres",
            "server_version": "15.20",
            "scope": {"kind": "database", "name": "orders\nx"},
            "artifact": "dump.sql.zst",
            "size_bytes": 1234,
            "stored_bytes": 321,
            "sha256": "ab".repeat(32),
            "compression": "zstd",
            "format_name": "pg_dump-plain",
            "job_id": "0a1b2c3d-0000-7000-8000-000000000000",
            "created_at": "2026-01-01T00:00:00.123456789Z",
            "duration_seconds": 0.1,
        }))
        .unwrap()
    }

    #[test]
    fn signed_bytes_are_one_line_per_field_and_survive_a_json_round_trip() {
        let m = sample();
        let text = String::from_utf8(m.signed_bytes()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 16, "{text}");
        assert_eq!(lines[0], "cairn-manifest-mac-v1");
        assert_eq!(lines[6], r#"scope={"kind":"database","name":"orders\nx"}"#);
        assert_eq!(lines[15], "duration_seconds=0.1");
        let mut signed = m.clone();
        signed.signature = Some(ManifestSignature {
            alg: SIGNATURE_ALG.into(),
            key_id: "00".repeat(8),
            mac: "11".repeat(32),
        });
        assert_eq!(
            signed.signed_bytes(),
            m.signed_bytes(),
            "the MAC is not MAC'd"
        );
        let back: Manifest =
            serde_json::from_str(&serde_json::to_string_pretty(&signed).unwrap()).unwrap();
        assert_eq!(back.signed_bytes(), m.signed_bytes());
        assert_eq!(back, signed);
        let mut changed = m.clone();
        changed.size_bytes += 1;
        assert_ne!(changed.signed_bytes(), m.signed_bytes());
    }

    #[test]
    fn encryption_is_signed_only_when_recorded() {
        let m = sample();
        let mut encrypted = m.clone();
        encrypted.encryption = Some("age".into());
        let text = String::from_utf8(encrypted.signed_bytes()).unwrap();
        assert_eq!(text.lines().last(), Some(r#"encryption="age""#), "{text}");
        assert_ne!(encrypted.signed_bytes(), m.signed_bytes());
        // A manifest without the field keeps the bytes it was signed with.
        assert!(!String::from_utf8(m.signed_bytes())
            .unwrap()
            .contains("encryption"));
    }
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
mod reader_tests {
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
