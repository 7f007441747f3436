//! What can go wrong in storage, and how each failure is recorded on a job.

use cairn_domain::Failure;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage error: {0}")]
    Backend(#[from] object_store::Error),
    #[error("backup {backup} of {target} not found; list backups with `cairn backups {target}`")]
    NotFound { target: String, backup: String },
    #[error("backup {backup}: artifact checksum mismatch (manifest sha256 {expected}, stored bytes hash to {actual}); the artifact is corrupt and will not be restored")]
    ChecksumMismatch {
        backup: String,
        expected: String,
        actual: String,
    },
    #[error("backup {backup}: artifact is {actual} bytes but the manifest says {expected}; the artifact is corrupt or truncated")]
    SizeMismatch {
        backup: String,
        expected: u64,
        actual: u64,
    },
    #[error("manifest of {0} is unreadable: {1}")]
    BadManifest(String, String),
    /// A folder or artifact name that is not one plain path segment (`a/b`, `..`, `x#1`).
    #[error("{0:?} is not a valid storage name: use letters, digits, '.', '-' and '_' (not starting with '.')")]
    InvalidName(String),
    #[error("storage I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("storage folder {0} is {1}; choose a folder of its own, such as /var/backups/cairn")]
    ForbiddenRoot(String, &'static str),
    /// A storage whose settings cannot work (a bad endpoint, region, …).
    #[error("{0}")]
    InvalidConfig(String),
    /// A key reference that does not resolve (names the reference, never a value).
    #[error("{0}")]
    Credentials(String),
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
}

impl StorageError {
    /// As a job failure: checksum and size mismatches are permanent, backend hiccups retryable.
    pub fn to_failure(&self) -> Failure {
        match self {
            StorageError::ChecksumMismatch { .. } | StorageError::SizeMismatch { .. } => {
                Failure::permanent("checksum_mismatch", self.to_string())
            }
            StorageError::NotFound { .. } => {
                Failure::permanent("backup_not_found", self.to_string())
            }
            StorageError::BadManifest(..) => Failure::permanent("bad_manifest", self.to_string()),
            StorageError::InvalidName(_) => Failure::permanent("invalid_name", self.to_string()),
            StorageError::ForbiddenRoot(..) | StorageError::InvalidConfig(_) => {
                Failure::permanent("invalid_storage", self.to_string())
            }
            StorageError::Credentials(_) => {
                Failure::permanent("storage_credentials", self.to_string())
            }
            StorageError::Crypto(e) => e.to_failure(),
            StorageError::Backend(
                object_store::Error::PermissionDenied { .. }
                | object_store::Error::Unauthenticated { .. },
            ) => Failure::permanent("storage_denied", self.to_string()),
            StorageError::Backend(_) | StorageError::Io(_) => {
                Failure::retryable("storage", self.to_string())
            }
        }
    }

    /// `NotFound` for this backup when the backend says the object is missing.
    pub(crate) fn missing_as(
        target: &str,
        backup: &str,
    ) -> impl FnOnce(object_store::Error) -> Self {
        let (target, backup) = (target.to_string(), backup.to_string());
        move |e| match e {
            object_store::Error::NotFound { .. } => StorageError::NotFound { target, backup },
            other => StorageError::Backend(other),
        }
    }
}

/// So a job's code can use `?` on storage calls: the failure keeps the retry decision.
impl From<StorageError> for Failure {
    fn from(e: StorageError) -> Self {
        e.to_failure()
    }
}
