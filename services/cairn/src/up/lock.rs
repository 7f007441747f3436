//! One `cairn up` per data directory: an exclusive lock on `<data-dir>/cairn.lock`, held
//! for the life of the process and released by the kernel when it ends (even on a crash),
//! so a second `cairn up` says plainly that the directory is busy instead of failing deep
//! inside the ledger.

use crate::cli::CliError;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

/// Held while cairn runs; dropping it releases the data directory.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

/// Takes the data directory, or says that another `cairn up` has it.
pub fn lock_data_dir(data_dir: &Path) -> Result<DataDirLock, CliError> {
    let path = data_dir.join("cairn.lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| {
            CliError::usage(format!(
                "cannot open {}: {e}; check the permissions of --data-dir {}",
                path.display(),
                data_dir.display()
            ))
        })?;
    match file.try_lock() {
        Ok(()) => Ok(DataDirLock { _file: file }),
        Err(TryLockError::WouldBlock) => Err(CliError::usage(format!(
            "another `cairn up` is already running on the data directory {}; stop it first, \
             or start this one with another --data-dir (and --listen)",
            data_dir.display()
        ))),
        Err(TryLockError::Error(e)) => Err(CliError::usage(format!(
            "cannot lock {}: {e}; check the permissions of --data-dir {}",
            path.display(),
            data_dir.display()
        ))),
    }
}
