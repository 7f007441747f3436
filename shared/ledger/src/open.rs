//! Opening a ledger: sled's files, the full verification, then the acknowledgement record.

use crate::ack::{AckFile, Acked};
use crate::codec::{self, u64_key};
use crate::config::{self, Trees};
use crate::reserve::Reserve;
use crate::{verify, LedgerError};
use std::path::Path;

/// A verified ledger, ready for its flusher.
pub struct Opened {
    pub trees: Trees,
    pub record: AckFile,
    /// The last event, which the record now names.
    pub head: Acked,
}

pub fn open(dir: &Path) -> Result<Opened, LedgerError> {
    let path = dir.display().to_string();
    let trees = config::open_trees(dir)?;
    let summary = verify::verify(&trees, &path)?;
    let head = Acked {
        global_seq: summary.last_global_seq,
        checksum: checksum_at(&trees, &path, summary.last_global_seq)?.unwrap_or(0),
    };
    let record = AckFile::beside(dir);
    let lost = |detail: String| LedgerError::Lost {
        path: path.clone(),
        record: record.path().display().to_string(),
        detail,
    };
    let recorded = record.read();
    match &recorded {
        Err(e) => {
            return Err(lost(format!(
                "its acknowledgement record cannot be read ({e})"
            )))
        }
        Ok(None) if head.global_seq > 0 => tracing::warn!(
            record = %record.path().display(),
            last_global_seq = head.global_seq,
            "the ledger has no acknowledgement record; starting one at its last event"
        ),
        Ok(None) => {}
        Ok(Some(acked)) if acked.global_seq > head.global_seq => {
            let acked = *acked;
            return Err(lost(format!(
                "it ends at global sequence {} but {} events were acknowledged",
                head.global_seq, acked.global_seq
            )));
        }
        Ok(Some(acked)) => {
            let acked = *acked;
            let found = checksum_at(&trees, &path, acked.global_seq)?;
            if acked.global_seq > 0 && found != Some(acked.checksum) {
                return Err(lost(format!(
                    "the event at global sequence {} is not the one acknowledged (checksum {:08x}, found {})",
                    acked.global_seq,
                    acked.checksum,
                    found.map_or("none".into(), |c| format!("{c:08x}"))
                )));
            }
        }
    }
    if head.global_seq > 0 && recorded.ok().flatten() != Some(head) {
        // Events flushed after the last record (a crash came in between) are durable:
        // the record catches up before anything new is acknowledged.
        record
            .write(head)
            .map_err(|e| LedgerError::Sled(sled::Error::Io(e)))?;
    }
    if let Err(e) = Reserve::beside(dir).fill() {
        tracing::warn!(error = %e, "cannot write the ledger's reserve; recovering from a full disk may need a restart");
    }
    tracing::info!(
        path = %path,
        events = summary.events,
        jobs = summary.jobs,
        last_global_seq = summary.last_global_seq,
        "ledger opened and verified"
    );
    Ok(Opened {
        trees,
        record,
        head,
    })
}

/// The stored checksum of the event holding `global`, if there is one.
fn checksum_at(trees: &Trees, path: &str, global: u64) -> Result<Option<u32>, LedgerError> {
    if global == 0 {
        return Ok(None);
    }
    let Some(key) = trees.log.get(u64_key(global))? else {
        return Ok(None);
    };
    match trees.events.get(&key)? {
        Some(value) => Ok(Some(codec::stored_checksum(&value))),
        None => Err(codec::corrupt(
            path,
            format!("global log entry {global} points at a missing event"),
        )),
    }
}
