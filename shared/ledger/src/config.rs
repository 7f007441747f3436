//! Opening the sled database and its trees.
//!
//! One sled database per ledger directory. Events, the global log, the folded job states,
//! the history indexes and the bookkeeping live in separate trees so that one append is a
//! single multi-tree transaction; targets and storages are configuration beside them (a
//! target's changes are also events of its configuration stream).

use crate::codec::corrupt;
use crate::LedgerError;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

/// Tree names; changing one orphans existing data, so they are part of the format.
pub mod names {
    pub const EVENTS: &str = "events";
    pub const LOG: &str = "log";
    pub const JOBS: &str = "jobs";
    pub const BY_TIME: &str = "idx_time";
    pub const BY_TARGET: &str = "idx_target";
    pub const BY_KIND_STATUS: &str = "idx_kind_status";
    pub const META: &str = "meta";
    pub const TARGETS: &str = "targets";
    pub const STORAGES: &str = "storages";
    pub const TOKENS: &str = "tokens";
    pub const TOKEN_HASHES: &str = "token_hashes";
    pub const AUDIT: &str = "audit";
    /// Each target's configuration stream state (see `config_stream.rs`). Ledgers of
    /// earlier builds may hold the trees `policies` and `policy_log`; nothing reads them.
    pub const CONFIGS: &str = "configs";
    pub const SCHEDULE_CURSORS: &str = "schedule_cursors";
    pub const NOTIFIERS: &str = "notifiers";
    pub const DELIVERIES: &str = "deliveries";
}

/// Keys of the `meta` tree.
pub mod meta {
    /// The last global sequence committed (u64 BE).
    pub const LAST_GLOBAL_SEQ: &[u8] = b"last_global_seq";
    /// Every notification of events up to this global sequence is delivered or given up
    /// (u64 BE); the notifier resumes after it (see `notifiers.rs`).
    pub const NOTIFIED_THROUGH: &[u8] = b"notified_through";
    /// The ledger's on-disk format (u64 BE).
    pub const FORMAT: &[u8] = b"format";
    pub const FORMAT_VERSION: u64 = 1;
}

/// The sled database and every tree the ledger uses.
#[derive(Clone)]
pub struct Trees {
    pub db: sled::Db,
    pub events: sled::Tree,
    pub log: sled::Tree,
    pub jobs: sled::Tree,
    pub by_time: sled::Tree,
    pub by_target: sled::Tree,
    pub by_kind_status: sled::Tree,
    pub meta: sled::Tree,
    pub targets: sled::Tree,
    pub storages: sled::Tree,
    /// API tokens by name, and token sha256 -> name (see `tokens.rs`).
    pub tokens: sled::Tree,
    pub token_hashes: sled::Tree,
    /// Denied API requests.
    pub audit: sled::Tree,
    /// Each target's configuration stream, folded (newest policy record; see
    /// `config_stream.rs`), and how far its schedule was decided (see `policies.rs`).
    pub configs: sled::Tree,
    pub schedule_cursors: sled::Tree,
    /// Notifiers by name, and every delivery attempt (see `notifiers.rs`).
    pub notifiers: sled::Tree,
    pub deliveries: sled::Tree,
}

/// Opens (or creates) the database in `dir`. A database sled cannot read is reported as
/// corrupt; an I/O problem (permissions, another process holding the lock) as a sled error.
pub fn open_trees(dir: &Path) -> Result<Trees, LedgerError> {
    let path = dir.display().to_string();
    std::fs::create_dir_all(dir).map_err(|e| LedgerError::Sled(e.into()))?;
    // sled 0.34 panics on some malformed files instead of returning an error.
    let opened = catch_unwind(AssertUnwindSafe(|| sled::Config::new().path(dir).open()));
    let db = match opened {
        Ok(Ok(db)) => db,
        Ok(Err(sled::Error::Io(e))) => return Err(LedgerError::Sled(sled::Error::Io(e))),
        Ok(Err(e)) => {
            return Err(corrupt(
                &path,
                format!("sled could not open its database files: {e}"),
            ))
        }
        Err(_) => {
            return Err(corrupt(
                &path,
                "sled panicked while reading its database files",
            ))
        }
    };
    let tree = |name: &str| db.open_tree(name);
    Ok(Trees {
        events: tree(names::EVENTS)?,
        log: tree(names::LOG)?,
        jobs: tree(names::JOBS)?,
        by_time: tree(names::BY_TIME)?,
        by_target: tree(names::BY_TARGET)?,
        by_kind_status: tree(names::BY_KIND_STATUS)?,
        meta: tree(names::META)?,
        targets: tree(names::TARGETS)?,
        storages: tree(names::STORAGES)?,
        tokens: tree(names::TOKENS)?,
        token_hashes: tree(names::TOKEN_HASHES)?,
        audit: tree(names::AUDIT)?,
        configs: tree(names::CONFIGS)?,
        schedule_cursors: tree(names::SCHEDULE_CURSORS)?,
        notifiers: tree(names::NOTIFIERS)?,
        deliveries: tree(names::DELIVERIES)?,
        db,
    })
}
