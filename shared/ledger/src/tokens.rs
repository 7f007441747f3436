//! API tokens and the audit of denied requests, in trees beside the events.
//!
//! `tokens` maps a token's name to its record (role, sha256 of the token, creation,
//! revocation); `token_hashes` maps the sha256 back to the name, so a presented token is
//! found with one lookup of its hash. The token itself is never stored. Revoking keeps the
//! record (events keep naming it, so the name is never reused) and drops the hash. `audit`
//! holds denied requests under a monotonic id, bounded to the newest [`AUDIT_KEEP`].
//! Values are checksummed like events. Every write goes through the group commit: it is
//! flushed before it returns, and undone if the flush fails (see `undo.rs`).

use crate::codec::{self, corrupt};
use crate::config::Trees;
use crate::group_commit::Written;
use crate::undo::{TreeId, Undo};
use crate::{Ledger, LedgerError};
use cairn_domain::api::AuditEntry;
use cairn_domain::{Role, TokenName};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How many denied requests are kept; older ones are dropped as new ones arrive, so
/// anonymous callers cannot fill the disk.
pub const AUDIT_KEEP: u64 = 10_000;

/// Token writes check something across records (the last admin token): one at a time.
static TOKEN_WRITES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
/// Audit records are numbered from the last one: one writer at a time.
static AUDIT_WRITES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A stored token: everything but the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub name: TokenName,
    pub role: Role,
    /// sha256 of the whole token string.
    pub sha256: [u8; 32],
    pub created_at: DateTime<Utc>,
    /// The token whose request created this one; `None` for the first admin token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<TokenName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
}

impl TokenRecord {
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }
}

/// What `revoke_token` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    Revoked,
    Unknown,
    AlreadyRevoked,
    /// Refused: it is the only active admin token, and without one nobody could manage
    /// tokens, targets or storages any more.
    LastAdmin,
}

impl Ledger {
    fn decode_token(&self, name: &[u8], bytes: &[u8]) -> Result<TokenRecord, LedgerError> {
        codec::decode(bytes).map_err(|e| {
            let name = String::from_utf8_lossy(name);
            corrupt(&self.inner.path, format!("the stored token {name:?}: {e}"))
        })
    }

    /// Stores a new token; [`LedgerError::Exists`] if the name was ever used.
    pub async fn create_token(&self, record: &TokenRecord) -> Result<(), LedgerError> {
        let _one = TOKEN_WRITES.lock().await;
        let name = record.name.as_str().as_bytes();
        let value = codec::encode(record);
        self.inner
            .commit
            .write(|trees| {
                if trees.tokens.get(name)?.is_some() {
                    return Err(LedgerError::Exists(format!(
                        "token {:?}",
                        record.name.as_str()
                    )));
                }
                let mut undo = Undo::new(0);
                let old_hash = trees.token_hashes.insert(&record.sha256[..], name)?;
                undo.record(TreeId::TokenHashes, &record.sha256, old_hash.as_deref());
                trees.tokens.insert(name, value.as_slice())?;
                undo.record(TreeId::Tokens, name, None);
                Ok(Written {
                    value: (),
                    undo,
                    head: None,
                })
            })
            .await
    }

    /// The active token whose sha256 is `sha256`, if any. Callers compare the stored hash
    /// with the presented one in constant time before trusting it.
    pub fn token_by_hash(&self, sha256: &[u8; 32]) -> Result<Option<TokenRecord>, LedgerError> {
        self.read(|trees| {
            let Some(name) = trees.token_hashes.get(sha256)? else {
                return Ok(None);
            };
            let Some(bytes) = trees.tokens.get(&name)? else {
                return Ok(None);
            };
            let record = self.decode_token(&name, &bytes)?;
            Ok(record.is_active().then_some(record))
        })
    }

    pub fn token(&self, name: &TokenName) -> Result<Option<TokenRecord>, LedgerError> {
        self.read(|trees| self.token_in(trees, name))
    }

    fn token_in(
        &self,
        trees: &Trees,
        name: &TokenName,
    ) -> Result<Option<TokenRecord>, LedgerError> {
        let key = name.as_str().as_bytes();
        trees
            .tokens
            .get(key)?
            .map(|bytes| self.decode_token(key, &bytes))
            .transpose()
    }

    /// Every token ever created (revoked ones too), in name order.
    pub fn tokens(&self) -> Result<Vec<TokenRecord>, LedgerError> {
        self.read(|trees| {
            trees
                .tokens
                .iter()
                .map(|item| {
                    let (name, bytes) = item?;
                    self.decode_token(&name, &bytes)
                })
                .collect()
        })
    }

    /// Revokes a token: it stops working at once, its record stays.
    pub async fn revoke_token(
        &self,
        name: &TokenName,
        at: DateTime<Utc>,
    ) -> Result<Revocation, LedgerError> {
        let _one = TOKEN_WRITES.lock().await;
        let Some(mut record) = self.token(name)? else {
            return Ok(Revocation::Unknown);
        };
        if !record.is_active() {
            return Ok(Revocation::AlreadyRevoked);
        }
        if record.role == Role::Admin {
            let admins = self
                .tokens()?
                .iter()
                .filter(|t| t.is_active() && t.role == Role::Admin)
                .count();
            if admins <= 1 {
                return Ok(Revocation::LastAdmin);
            }
        }
        record.revoked_at = Some(at);
        let value = codec::encode(&record);
        let key = name.as_str().as_bytes();
        self.inner
            .commit
            .write(|trees| {
                let mut undo = Undo::new(0);
                let old = trees.tokens.insert(key, value.as_slice())?;
                undo.record(TreeId::Tokens, key, old.as_deref());
                let old_hash = trees.token_hashes.remove(&record.sha256[..])?;
                undo.record(TreeId::TokenHashes, &record.sha256, old_hash.as_deref());
                Ok(Written {
                    value: (),
                    undo,
                    head: None,
                })
            })
            .await?;
        Ok(Revocation::Revoked)
    }

    /// Records a denied request, dropping the oldest beyond [`AUDIT_KEEP`].
    pub async fn record_denial(&self, entry: &AuditEntry) -> Result<(), LedgerError> {
        // Keys are our own sequence (sled's `generate_id` jumps after a restart, which
        // would look like thousands of records to drop).
        let _one = AUDIT_WRITES.lock().await;
        let value = codec::encode(entry);
        self.inner
            .commit
            .write(|trees| {
                let last = match trees.audit.last()? {
                    Some((key, _)) => codec::u64_from(&key).unwrap_or(0),
                    None => 0,
                };
                let id = last + 1;
                let key = codec::u64_key(id);
                let mut undo = Undo::new(0);
                trees.audit.insert(key, value.as_slice())?;
                undo.record(TreeId::Audit, &key, None);
                if id > AUDIT_KEEP {
                    for old in trees.audit.range(..codec::u64_key(id - AUDIT_KEEP + 1)) {
                        let (k, v) = old?;
                        trees.audit.remove(&k)?;
                        undo.record(TreeId::Audit, &k, Some(&v));
                    }
                }
                Ok(Written {
                    value: (),
                    undo,
                    head: None,
                })
            })
            .await
    }

    /// The newest `limit` denied requests, newest first.
    pub fn denials(&self, limit: usize) -> Result<Vec<AuditEntry>, LedgerError> {
        self.read(|trees| {
            trees
                .audit
                .iter()
                .rev()
                .take(limit)
                .map(|item| {
                    let (_, bytes) = item?;
                    codec::decode(&bytes).map_err(|e| {
                        corrupt(&self.inner.path, format!("a stored audit record: {e}"))
                    })
                })
                .collect()
        })
    }
}
