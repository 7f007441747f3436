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
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageUrlError {
    #[error("storage URL {0:?} is not supported; use file:///absolute/path")]
    Unsupported(String),
    #[error("storage path {0:?} is not absolute; use file:///absolute/path")]
    NotAbsolute(String),
}

impl StorageKind {
    pub fn parse_url(url: &str) -> Result<Self, StorageUrlError> {
        let path = url
            .strip_prefix("file://")
            .ok_or_else(|| StorageUrlError::Unsupported(url.to_string()))?;
        if !path.starts_with('/') {
            return Err(StorageUrlError::NotAbsolute(path.to_string()));
        }
        Ok(StorageKind::Local {
            path: path.trim_end_matches('/').to_string(),
        }
        .normalized())
    }
    fn normalized(self) -> Self {
        match self {
            StorageKind::Local { path } if path.is_empty() => {
                StorageKind::Local { path: "/".into() }
            }
            other => other,
        }
    }
    pub fn url(&self) -> String {
        match self {
            StorageKind::Local { path } => format!("file://{path}"),
        }
    }
}

/// A named place backups go to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StorageConfig {
    pub name: StorageName,
    pub kind: StorageKind,
    pub created_at: DateTime<Utc>,
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
}
