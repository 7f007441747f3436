//! Targets (database endpoints to protect) and storages (where backups go).

use crate::endpoint::{Endpoint, Engine, Scope};
use crate::names::{StorageName, TargetName};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where a target's password comes from. Never the password in clear.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CredentialRef {
    /// No password (trust auth, or a Redis without AUTH).
    None,
    /// Read from this environment variable of the worker that runs the job.
    Env { var: String },
    /// Read from this file on the worker that runs the job (trailing newline dropped).
    File { path: String },
    /// Encrypted with the server's secret key (base64 of nonce ++ ciphertext).
    Sealed { sealed: String },
}

impl CredentialRef {
    /// How the credential is described to operators: never its value.
    pub fn describe(&self) -> String {
        match self {
            CredentialRef::None => "none".into(),
            CredentialRef::Env { var } => format!("env:{var}"),
            CredentialRef::File { path } => format!("file:{path}"),
            CredentialRef::Sealed { .. } => "sealed".into(),
        }
    }
}

/// One database endpoint to protect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Target {
    pub name: TargetName,
    pub endpoint: Endpoint,
    pub credential: CredentialRef,
    pub storage: StorageName,
    pub created_at: DateTime<Utc>,
    /// A PEM file of the CA certificates that sign the server's certificate (absolute
    /// path, read on the worker that runs the job), for TLS to the database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
}

impl Target {
    pub fn engine(&self) -> Engine {
        self.endpoint.engine
    }
    pub fn scope(&self) -> &Scope {
        &self.endpoint.scope
    }
}

/// The kind of backend a storage uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StorageKind {
    /// A local directory (absolute path).
    Local { path: String },
    /// A folder in an S3 bucket.
    S3(crate::storage::S3Storage),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageUrlError {
    #[error("storage URL {0:?} is not supported; use file:///absolute/path")]
    Unsupported(String),
    #[error("storage path {0:?} is not absolute; use file:///absolute/path")]
    NotAbsolute(String),
    #[error(
        "storage path {0:?} is {1}; choose a folder of its own, such as file:///var/backups/cairn"
    )]
    Forbidden(String, &'static str),
    #[error(
        "storage path {0:?} holds a control character (such as NUL or a line break); remove it"
    )]
    ControlCharacter(String),
}

/// Why a local storage may not live at `path` (absolute and normalized), if it may not:
/// the root itself, or the kernel's pseudo file systems.
pub fn forbidden_storage_root(path: &str) -> Option<&'static str> {
    if path == "/" {
        return Some("the root of the file system");
    }
    ["/proc", "/sys", "/dev"]
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")))
        .then_some("inside a kernel pseudo file system (/proc, /sys, /dev)")
}

/// `path` (absolute) without `.`, `..` and repeated or trailing slashes, as far as the text
/// goes (symbolic links are resolved where the folder is opened).
fn normalize_absolute(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

impl StorageKind {
    pub fn parse_url(url: &str) -> Result<Self, StorageUrlError> {
        let path = url
            .strip_prefix("file://")
            .ok_or_else(|| StorageUrlError::Unsupported(url.to_string()))?;
        if crate::text::has_control(path) {
            return Err(StorageUrlError::ControlCharacter(crate::text::printable(
                path,
            )));
        }
        if !path.starts_with('/') {
            return Err(StorageUrlError::NotAbsolute(path.to_string()));
        }
        let path = normalize_absolute(path);
        if let Some(why) = forbidden_storage_root(&path) {
            return Err(StorageUrlError::Forbidden(path, why));
        }
        Ok(StorageKind::Local { path })
    }
    pub fn url(&self) -> String {
        match self {
            StorageKind::Local { path } => format!("file://{path}"),
            StorageKind::S3(s3) => s3.url(),
        }
    }
}

/// A named place backups go to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StorageConfig {
    pub name: StorageName,
    pub kind: StorageKind,
    pub created_at: DateTime<Utc>,
    /// How artifacts are encrypted before they are stored; none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<crate::storage::StorageEncryption>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_urls() {
        assert_eq!(
            StorageKind::parse_url("file:///var/backups/").unwrap(),
            StorageKind::Local {
                path: "/var/backups".into()
            }
        );
        assert!(StorageKind::parse_url("s3://bucket").is_err());
        assert!(StorageKind::parse_url("file://relative/x").is_err());
    }

    #[test]
    fn storage_roots_outside_the_system_folders() {
        let table: &[(&str, Option<&str>)] = &[
            ("file:///var/backups", Some("/var/backups")),
            ("file:///var//backups/./cairn/", Some("/var/backups/cairn")),
            ("file:///var/backups/../cairn", Some("/var/cairn")),
            ("file:///processed", Some("/processed")),
            ("file:///devices/x", Some("/devices/x")),
            ("file:///system", Some("/system")),
            ("file:///", None),
            ("file://///", None),
            ("file:///.", None),
            ("file:///var/..", None),
            ("file:///../../..", None),
            ("file:///proc", None),
            ("file:///proc/x", None),
            ("file:///proc/self/cwd", None),
            ("file:///sys/kernel", None),
            ("file:///dev", None),
            ("file:///dev/shm/x", None),
            ("file:///var/../proc/x", None),
            ("file:///tmp/../dev/", None),
            ("file:///tmp/a%0Ab", Some("/tmp/a%0Ab")),
            ("file:///tmp/a\\nb", Some(r"/tmp/a\nb")),
        ];
        for (url, want) in table {
            match (StorageKind::parse_url(url), want) {
                (Ok(StorageKind::Local { path }), Some(p)) => assert_eq!(&path, p, "{url}"),
                (Err(e), None) => {
                    assert!(matches!(e, StorageUrlError::Forbidden(..)), "{url}: {e:?}");
                    assert!(e.to_string().contains("choose a folder"), "{url}: {e}");
                }
                (got, _) => panic!("{url}: {got:?}"),
            }
        }
        for url in [
            "file:///tmp/a\nb",
            "file:///tmp/x\0",
            "file:///tmp/a\r\nINFO x",
        ] {
            let err = StorageKind::parse_url(url).unwrap_err();
            assert!(
                matches!(err, StorageUrlError::ControlCharacter(_)),
                "{url:?}"
            );
            assert!(!err.to_string().chars().any(char::is_control), "{url:?}");
        }
    }
}
