//! The acknowledgement record: an independent, fsync'd note of what the ledger promised.
//!
//! sled 0.34 recovers a damaged tail by dropping it: a truncated log file or a flipped byte
//! near its end opens as a consistent, checksummed, *shorter* ledger. So after every group
//! commit, before any writer is told its append is durable, the flusher records the highest
//! global sequence it made durable and the checksum of that event in a small file beside
//! the sled directory (`<ledger>.ack`). On open, a ledger that ends before the recorded
//! sequence, or holds another event there, has lost acknowledged events and is refused.
//! A crash between a flush and the record is harmless: the ledger then holds more than the
//! record says, never less.
//!
//! The file has two 512-byte slots, each a complete checksummed record; a write replaces
//! the older slot in place and `fdatasync`s (one sync, no metadata change), so a torn write
//! can only damage the slot being replaced while the other still holds the previous record.
//! A new file is written whole, synced, renamed into place and its directory synced.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// The highest acknowledged event: its global sequence and its stored checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Acked {
    pub global_seq: u64,
    pub checksum: u32,
}

/// Why the record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum AckError {
    #[error("cannot read {0}: {1}")]
    Io(String, std::io::Error),
    #[error("{0} is damaged: {1}")]
    Damaged(String, String),
}

const MAGIC: &str = "cairn-ledger-ack 1";
const SLOT: usize = 512;

/// The record file of one ledger directory.
#[derive(Debug)]
pub struct AckFile {
    path: PathBuf,
    /// The open file and the slot the next write replaces.
    open: Mutex<Option<(File, u64)>>,
}

impl AckFile {
    /// The record of the ledger in `dir`: `<dir>.ack`, beside it, so that losing or
    /// replacing the ledger directory does not take the record with it.
    pub fn beside(dir: &Path) -> Self {
        let mut name = dir
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_else(|| "ledger".into());
        name.push(".ack");
        Self {
            path: dir.with_file_name(name),
            open: Mutex::new(None),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The recorded acknowledgement, or `None` if there is no record yet.
    pub fn read(&self) -> Result<Option<Acked>, AckError> {
        let shown = self.path.display().to_string();
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(AckError::Io(shown, e)),
        };
        let slots: Vec<Result<Acked, String>> = bytes
            .chunks(SLOT)
            .take(2)
            .map(|slot| {
                let text = String::from_utf8_lossy(slot);
                parse(text.trim_end_matches('\0'))
            })
            .collect();
        let newest = slots
            .iter()
            .filter_map(|s| s.as_ref().ok())
            .max_by_key(|a| a.global_seq);
        match (newest, slots.first()) {
            (Some(acked), _) => Ok(Some(*acked)),
            (None, Some(Err(why))) => Err(AckError::Damaged(shown, why.clone())),
            (None, _) => Err(AckError::Damaged(shown, "it is empty".into())),
        }
    }

    /// Replaces the older slot of the record and syncs it.
    pub fn write(&self, acked: Acked) -> std::io::Result<()> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = render(acked);
        if let Some((file, next)) = open.as_mut() {
            let result = file
                .write_all_at(&slot, *next * SLOT as u64)
                .and_then(|()| file.sync_data());
            if result.is_ok() {
                *next = 1 - *next;
            } else {
                // Start over from a whole new file next time.
                *open = None;
            }
            return result;
        }
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let tmp = self.path.with_extension("ack.tmp");
        {
            let file = File::create(&tmp)?;
            let mut both = slot.clone();
            both.extend_from_slice(&slot);
            file.write_all_at(&both, 0)?;
            file.sync_all()?;
        }
        fs::rename(&tmp, &self.path)?;
        File::open(dir)?.sync_all()?;
        let file = OpenOptions::new().write(true).open(&self.path)?;
        *open = Some((file, 0));
        Ok(())
    }
}

fn body(acked: Acked) -> String {
    format!(
        "{MAGIC}\nglobal_seq {}\nchecksum {:08x}\n",
        acked.global_seq, acked.checksum
    )
}

/// One slot: the record, NUL-padded to the slot size.
fn render(acked: Acked) -> Vec<u8> {
    let body = body(acked);
    let crc = crc32fast::hash(body.as_bytes());
    let mut slot = format!("{body}crc {crc:08x}\n").into_bytes();
    slot.resize(SLOT, 0);
    slot
}

fn parse(text: &str) -> Result<Acked, String> {
    let mut lines = text.lines();
    if lines.next() != Some(MAGIC) {
        return Err(format!("it does not start with {MAGIC:?}"));
    }
    let mut field = |name: &str| -> Result<&str, String> {
        lines
            .next()
            .and_then(|l| l.strip_prefix(name))
            .and_then(|l| l.strip_prefix(' '))
            .ok_or_else(|| format!("its {name} line is missing"))
    };
    let global_seq = field("global_seq")?
        .parse()
        .map_err(|e| format!("its global_seq is unreadable: {e}"))?;
    let checksum = u32::from_str_radix(field("checksum")?, 16)
        .map_err(|e| format!("its checksum is unreadable: {e}"))?;
    let crc = u32::from_str_radix(field("crc")?, 16)
        .map_err(|e| format!("its crc is unreadable: {e}"))?;
    let acked = Acked {
        global_seq,
        checksum,
    };
    if crc32fast::hash(body(acked).as_bytes()) != crc {
        return Err("its crc does not match its content".into());
    }
    Ok(acked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_damage_is_caught() {
        let acked = Acked {
            global_seq: 1234,
            checksum: 0xdead_beef,
        };
        let slot = render(acked);
        let text = String::from_utf8(slot).unwrap();
        let text = text.trim_end_matches('\0');
        assert_eq!(parse(text), Ok(acked));
        assert!(parse(&text.replace("1234", "1233")).is_err());
        assert!(parse(&text[..text.len() - 4]).is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn the_record_sits_beside_the_ledger_directory() {
        let file = AckFile::beside(Path::new("/data/ledger"));
        assert_eq!(file.path(), Path::new("/data/ledger.ack"));
    }

    #[test]
    fn written_records_read_back_and_a_torn_slot_leaves_the_other() {
        let dir = tempfile::tempdir().unwrap();
        let file = AckFile::beside(&dir.path().join("ledger"));
        assert_eq!(file.read().unwrap(), None);
        for n in 1..=5 {
            file.write(Acked {
                global_seq: n,
                checksum: 40 + n as u32,
            })
            .unwrap();
            let again = AckFile::beside(&dir.path().join("ledger"));
            assert_eq!(again.read().unwrap().map(|a| a.global_seq), Some(n));
        }
        // Slot 1 holds 5 (the newest): tear it; slot 0 still holds 4.
        let mut bytes = fs::read(file.path()).unwrap();
        assert_eq!(bytes.len(), 2 * SLOT);
        bytes[SLOT + 30] ^= 0x01;
        fs::write(file.path(), &bytes).unwrap();
        assert_eq!(file.read().unwrap().map(|a| a.global_seq), Some(4));
        bytes[30] ^= 0x01;
        fs::write(file.path(), &bytes).unwrap();
        assert!(matches!(file.read(), Err(AckError::Damaged(..))));
    }
}
