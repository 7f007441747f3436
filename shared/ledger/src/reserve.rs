//! Room kept aside for recovering from a full disk.
//!
//! After a failed flush sled must be reopened, and opening writes (its configuration,
//! snapshot and segment bookkeeping): on a disk that is still full it fails, and a ledger
//! that cannot reopen cannot even be read. So the ledger keeps a small file of zeros
//! beside its directory (`<ledger>.reserve`). On a failure it deletes the file, reopens in
//! the room that frees, takes back what was not acknowledged and flushes; then it counts as
//! able to write only once the reserve could be written whole again, i.e. once the disk
//! has room again.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Size of the reserve: several of sled's 512 KiB segments.
pub const RESERVE_BYTES: u64 = 2 * 1024 * 1024;

#[derive(Debug)]
pub struct Reserve {
    path: PathBuf,
}

impl Reserve {
    /// The reserve of the ledger in `dir`: `<dir>.reserve`, beside it.
    pub fn beside(dir: &Path) -> Self {
        let mut name = dir
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_else(|| "ledger".into());
        name.push(".reserve");
        Self {
            path: dir.with_file_name(name),
        }
    }

    /// Gives the room back to the file system.
    pub fn release(&self) {
        if let Err(e) = fs::remove_file(&self.path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot remove the ledger's reserve");
            }
        }
    }

    /// Writes the reserve up to its full size (keeping what is already there) and syncs.
    pub fn fill(&self) -> std::io::Result<()> {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        let mut len = file.metadata()?.len();
        let zeros = vec![0u8; 64 * 1024];
        while len < RESERVE_BYTES {
            let n = (RESERVE_BYTES - len).min(zeros.len() as u64) as usize;
            file.write_all(&zeros[..n])?;
            len += n as u64;
        }
        file.sync_data()
    }
}
