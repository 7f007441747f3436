//! The `cairn-redis-v1` artifact format: one key per record, written and read incrementally.
//!
//! ```text
//! header   b"CAIRNRD1"
//! record   db: u32 BE (< u32::MAX) | key_len: u32 BE | key | expire_at_ms: i64 BE (-1 = none)
//!          | value_len: u32 BE | value (the server's DUMP payload)
//! trailer  u32::MAX | records: u64 BE | crc32: u32 BE
//! ```
//! The trailer's CRC-32 covers every byte before it (header and records), and nothing may
//! follow it: a stream that ends early, or carries a wrong count or checksum, is refused.
//! Keys and values are raw bytes; nothing here assumes UTF-8.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// First bytes of every artifact.
pub const MAGIC: &[u8; 8] = b"CAIRNRD1";
/// The `db` value that marks the trailer.
const TRAILER_DB: u32 = u32::MAX;
const TRAILER_LEN: usize = 4 + 8 + 4;
/// Redis refuses keys over 512 MiB; a larger length can only come from a damaged artifact.
const MAX_KEY_LEN: usize = 512 * 1024 * 1024;

/// Expiry value meaning "the key does not expire".
pub const NO_EXPIRY: i64 = -1;

/// One key as the dump saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub db: u32,
    pub key: Bytes,
    /// Absolute expiry in unix milliseconds, or [`NO_EXPIRY`].
    pub expire_at_ms: i64,
    /// The `DUMP` payload, as `RESTORE` takes it.
    pub value: Bytes,
}

impl Record {
    /// Bytes this record takes in the artifact.
    pub fn encoded_len(&self) -> usize {
        4 + 4 + self.key.len() + 8 + 4 + self.value.len()
    }
}

/// Why a stream is not a valid artifact.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("the artifact does not start with the cairn-redis-v1 header")]
    BadMagic,
    #[error("the artifact ends before its trailer (truncated)")]
    Truncated,
    #[error("the artifact's trailer counts {expected} keys but {found} were read")]
    CountMismatch { expected: u64, found: u64 },
    #[error("the artifact's checksum does not match its contents")]
    ChecksumMismatch,
    #[error("the artifact has data after its trailer")]
    TrailingData,
    #[error("the artifact holds a key of {0} bytes, more than Redis allows")]
    KeyTooLong(usize),
    #[error("a key or value of {0} bytes does not fit the format (4 GiB at most)")]
    TooLarge(usize),
    #[error("the artifact holds an unexpected {0}; it is damaged or was not written by cairn")]
    Unexpected(&'static str),
}

/// Builds an artifact: the header, then records, then the trailer.
#[derive(Debug, Default)]
pub struct Encoder {
    crc: crc32fast::Hasher,
    records: u64,
}

impl Encoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn header(&mut self, buf: &mut BytesMut) {
        self.put(buf, MAGIC);
    }

    pub fn record(
        &mut self,
        buf: &mut BytesMut,
        db: u32,
        key: &[u8],
        expire_at_ms: i64,
        value: &[u8],
    ) -> Result<(), FormatError> {
        debug_assert!(db != TRAILER_DB);
        let key_len = u32::try_from(key.len()).map_err(|_| FormatError::TooLarge(key.len()))?;
        let value_len =
            u32::try_from(value.len()).map_err(|_| FormatError::TooLarge(value.len()))?;
        let start = buf.len();
        buf.reserve(4 + 4 + key.len() + 8 + 4 + value.len());
        buf.put_u32(db);
        buf.put_u32(key_len);
        buf.put_slice(key);
        buf.put_i64(expire_at_ms);
        buf.put_u32(value_len);
        buf.put_slice(value);
        self.crc.update(&buf[start..]);
        self.records += 1;
        Ok(())
    }

    pub fn trailer(self, buf: &mut BytesMut) {
        buf.put_u32(TRAILER_DB);
        buf.put_u64(self.records);
        buf.put_u32(self.crc.finalize());
    }

    pub fn records(&self) -> u64 {
        self.records
    }

    fn put(&mut self, buf: &mut BytesMut, bytes: &[u8]) {
        buf.put_slice(bytes);
        self.crc.update(bytes);
    }
}

/// What the decoder found next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Record(Record),
    /// The trailer was read and matches everything before it.
    End,
}

/// Reads an artifact from chunks split anywhere.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: BytesMut,
    crc: crc32fast::Hasher,
    records: u64,
    header_seen: bool,
    ended: bool,
    consumed: u64,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// Bytes of the artifact accepted so far (header, records and trailer).
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Checks the header once enough bytes arrived: `Ok(true)` when valid,
    /// `Ok(false)` when more bytes are needed.
    pub fn header(&mut self) -> Result<bool, FormatError> {
        if self.header_seen {
            return Ok(true);
        }
        let have = self.buf.len().min(MAGIC.len());
        if self.buf[..have] != MAGIC[..have] {
            return Err(FormatError::BadMagic);
        }
        if have < MAGIC.len() {
            return Ok(false);
        }
        let magic = self.take(MAGIC.len());
        self.crc.update(&magic);
        self.header_seen = true;
        Ok(true)
    }

    /// The next complete item, or `None` when more bytes are needed.
    pub fn next_item(&mut self) -> Result<Option<Item>, FormatError> {
        if !self.header()? {
            return Ok(None);
        }
        if self.ended {
            return match self.buf.is_empty() {
                true => Ok(None),
                false => Err(FormatError::TrailingData),
            };
        }
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let db = u32::from_be_bytes(self.buf[..4].try_into().expect("4 bytes"));
        if db == TRAILER_DB {
            return self.trailer();
        }
        let Some(key_len) = self.len_at(4) else {
            return Ok(None);
        };
        if key_len > MAX_KEY_LEN {
            return Err(FormatError::KeyTooLong(key_len));
        }
        let Some(value_len) = self.len_at(8 + key_len + 8) else {
            return Ok(None);
        };
        let total = 8 + key_len + 8 + 4 + value_len;
        if self.buf.len() < total {
            return Ok(None);
        }
        let mut raw = self.take(total);
        self.crc.update(&raw);
        self.records += 1;
        raw.advance(8);
        let key = raw.split_to(key_len);
        let expire_at_ms = raw.get_i64();
        raw.advance(4);
        Ok(Some(Item::Record(Record {
            db,
            key,
            expire_at_ms,
            value: raw,
        })))
    }

    /// Call when the input ended: an artifact without its trailer is truncated.
    pub fn finish(&self) -> Result<(), FormatError> {
        match (self.ended, self.buf.is_empty()) {
            (true, true) => Ok(()),
            (true, false) => Err(FormatError::TrailingData),
            (false, _) => Err(FormatError::Truncated),
        }
    }

    fn trailer(&mut self) -> Result<Option<Item>, FormatError> {
        if self.buf.len() < TRAILER_LEN {
            return Ok(None);
        }
        let mut raw = self.take(TRAILER_LEN);
        raw.advance(4);
        let expected = raw.get_u64();
        let crc = raw.get_u32();
        if expected != self.records {
            return Err(FormatError::CountMismatch {
                expected,
                found: self.records,
            });
        }
        if crc != self.crc.clone().finalize() {
            return Err(FormatError::ChecksumMismatch);
        }
        self.ended = true;
        Ok(Some(Item::End))
    }

    /// A big-endian u32 length at `at`, if buffered.
    fn len_at(&self, at: usize) -> Option<usize> {
        let bytes = self.buf.get(at..at + 4)?;
        Some(u32::from_be_bytes(bytes.try_into().expect("4 bytes")) as usize)
    }

    fn take(&mut self, n: usize) -> Bytes {
        self.consumed += n as u64;
        self.buf.split_to(n).freeze()
    }
}

#[cfg(test)]
#[path = "format_tests.rs"]
mod tests;
