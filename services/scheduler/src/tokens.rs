//! API tokens: how they are made, how a presented one is checked, and the first admin
//! token that `cairn up` writes to `<data-dir>/admin.token`.
//!
//! A token is `cairn_` followed by 32 random bytes in unpadded base64url: nothing in it
//! names its owner or role, and it is long enough that its unsalted sha256 (all the
//! ledger keeps) cannot be searched backwards.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use cairn_domain::{Role, TokenName};
use cairn_ledger::{Ledger, LedgerError, TokenRecord};
use chrono::Utc;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use subtle::ConstantTimeEq;

/// Every token starts with this, so it is recognisable in a secret scanner.
pub const TOKEN_PREFIX: &str = "cairn_";
/// The first admin token's name and file (in the data directory).
pub const ADMIN_TOKEN_NAME: &str = "admin";
pub const ADMIN_TOKEN_FILE: &str = "admin.token";

/// A freshly made token; shown once, then only its hash is kept.
pub struct NewToken {
    pub token: String,
    pub sha256: [u8; 32],
}

impl std::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewToken(<redacted>)")
    }
}

/// Makes a new random token.
pub fn generate() -> NewToken {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let sha256 = hash(&token);
    NewToken { token, sha256 }
}

pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The active token a caller presented, if it is one.
pub fn authenticate(ledger: &Ledger, presented: &str) -> Result<Option<TokenRecord>, LedgerError> {
    let sha256 = hash(presented);
    // The lookup is by hash, so its timing says nothing about any stored token; the final
    // comparison is constant-time anyway.
    Ok(ledger
        .token_by_hash(&sha256)?
        .filter(|record| bool::from(record.sha256.ct_eq(&sha256))))
}

/// What `ensure_admin_token` found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminToken {
    /// First start: a new admin token was written to this file.
    Created(PathBuf),
    /// The file holds the active admin token.
    Present(PathBuf),
    /// The admin token is active but the file is gone or holds something else.
    FileLost(PathBuf),
    /// The first admin token was revoked; other admin tokens manage the server.
    Revoked,
}

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("cannot write the admin token to {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// Makes sure the server has its first admin token. On the first start it creates one
/// named `admin` and writes it alone to `<data_dir>/admin.token` (created 0600); later
/// starts leave both as they are.
///
/// The file is written (and synced) before the hash is stored: a crash in between leaves a
/// file whose token the ledger does not know, and the next start replaces it.
pub async fn ensure_admin_token(
    ledger: &Ledger,
    data_dir: &Path,
) -> Result<AdminToken, BootstrapError> {
    let name = TokenName::parse(ADMIN_TOKEN_NAME).expect("a valid name");
    let path = data_dir.join(ADMIN_TOKEN_FILE);
    match ledger.token(&name)? {
        Some(record) if !record.is_active() => Ok(AdminToken::Revoked),
        Some(record) => {
            let in_file = std::fs::read_to_string(&path).ok();
            let holds_it = in_file
                .as_deref()
                .map(|t| bool::from(hash(t.trim()).ct_eq(&record.sha256)))
                .unwrap_or(false);
            Ok(if holds_it {
                AdminToken::Present(path)
            } else {
                AdminToken::FileLost(path)
            })
        }
        None => {
            let token = generate();
            write_private(&path, &token.token).map_err(|source| BootstrapError::Io {
                path: path.display().to_string(),
                source,
            })?;
            let record = TokenRecord {
                name,
                role: Role::Admin,
                sha256: token.sha256,
                created_at: Utc::now(),
                created_by: None,
                revoked_at: None,
            };
            ledger.create_token(&record).await?;
            Ok(AdminToken::Created(path))
        }
    }
}

/// Writes `text` to `path` through a new 0600 file renamed into place, so the token is
/// never readable by others, not even for a moment, and a reader never sees half of it.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{ADMIN_TOKEN_FILE}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_prefixed() {
        let a = generate();
        let b = generate();
        assert_ne!(a.token, b.token);
        assert!(a.token.starts_with(TOKEN_PREFIX));
        assert_eq!(
            a.token.len(),
            TOKEN_PREFIX.len() + 43,
            "32 bytes in base64url"
        );
        assert!(a.token[TOKEN_PREFIX.len()..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(a.sha256, hash(&a.token));
        assert!(!format!("{a:?}").contains(&a.token));
    }

    #[tokio::test]
    async fn the_first_start_writes_a_private_admin_token_and_later_ones_keep_it() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(&dir.path().join("ledger")).unwrap();
        let path = dir.path().join(ADMIN_TOKEN_FILE);
        assert_eq!(
            ensure_admin_token(&ledger, dir.path()).await.unwrap(),
            AdminToken::Created(path.clone())
        );
        let token = std::fs::read_to_string(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let found = authenticate(&ledger, &token)
            .unwrap()
            .expect("the token works");
        assert_eq!((found.name.as_str(), found.role), ("admin", Role::Admin));
        assert!(authenticate(&ledger, &format!("{token}x"))
            .unwrap()
            .is_none());

        assert_eq!(
            ensure_admin_token(&ledger, dir.path()).await.unwrap(),
            AdminToken::Present(path.clone())
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), token);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            ensure_admin_token(&ledger, dir.path()).await.unwrap(),
            AdminToken::FileLost(path.clone())
        );
        assert!(!path.exists(), "a lost file is reported, not replaced");
    }
}
