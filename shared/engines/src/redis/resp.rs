//! The `redis-resp-v1` artifact format: the Redis protocol (RESP) of the commands that
//! recreate the keys, so that a stock client loads it without cairn
//! (`zstd -dc dump.resp.zst | redis-cli --pipe`).
//!
//! ```text
//! ECHO "cairn-redis-resp-v1"                       header
//! SELECT <db>                                      before each db (whole-server backups)
//! RESTORE <key> 0 <payload> REPLACE                a key without expiry
//! RESTORE <key> <unix ms> <payload> REPLACE ABSTTL a key with an absolute expiry
//! ECHO "cairn-redis-resp-v1 end keys=<n> crc32=<8 hex>"   trailer
//! ```
//! Every command is a RESP array of bulk strings. The trailer's CRC-32 covers every byte
//! before it; nothing may follow it. A one-db backup holds no `SELECT`, so it loads into
//! whichever db the client selects (`redis-cli -n 3 --pipe`). cairn's own restore reads
//! only these commands: anything else in an artifact is refused, never sent to a server.
//! The manifest's sha256 covers the stored artifact as for every engine.

use super::format::{FormatError, Item, Record, NO_EXPIRY};
use bytes::{BufMut, Bytes, BytesMut};

/// The header's ECHO argument (and the trailer's first word).
pub const MAGIC: &str = "cairn-redis-resp-v1";
/// Redis refuses keys over 512 MiB; a larger length can only come from a damaged artifact.
const MAX_BULK: usize = 1024 * 1024 * 1024;
/// The most arguments a command of this format has.
const MAX_ARGS: usize = 6;

/// Writes an artifact: the header, then records, then the trailer.
#[derive(Debug)]
pub struct Encoder {
    crc: crc32fast::Hasher,
    records: u64,
    /// Whether records are preceded by `SELECT` (whole-server backups).
    select: bool,
    current_db: Option<u32>,
}

impl Encoder {
    /// `select`: write `SELECT db` whenever the db changes (whole-server backups).
    pub fn new(select: bool) -> Self {
        Self {
            crc: crc32fast::Hasher::new(),
            records: 0,
            select,
            current_db: None,
        }
    }

    pub fn header(&mut self, buf: &mut BytesMut) {
        self.command(buf, &[b"ECHO", MAGIC.as_bytes()]);
    }

    pub fn record(
        &mut self,
        buf: &mut BytesMut,
        db: u32,
        key: &[u8],
        expire_at_ms: i64,
        value: &[u8],
    ) -> Result<(), FormatError> {
        if key.len() > MAX_BULK || value.len() > MAX_BULK {
            return Err(FormatError::TooLarge(key.len().max(value.len())));
        }
        if self.select && self.current_db != Some(db) {
            self.command(buf, &[b"SELECT", db.to_string().as_bytes()]);
            self.current_db = Some(db);
        }
        match expire_at_ms {
            NO_EXPIRY => self.command(buf, &[b"RESTORE", key, b"0", value, b"REPLACE"]),
            at => self.command(
                buf,
                &[
                    b"RESTORE",
                    key,
                    at.to_string().as_bytes(),
                    value,
                    b"REPLACE",
                    b"ABSTTL",
                ],
            ),
        }
        self.records += 1;
        Ok(())
    }

    pub fn trailer(self, buf: &mut BytesMut) {
        let text = trailer_text(self.records, self.crc.finalize());
        write_command(buf, &[b"ECHO", text.as_bytes()]);
    }

    pub fn records(&self) -> u64 {
        self.records
    }

    fn command(&mut self, buf: &mut BytesMut, args: &[&[u8]]) {
        let start = buf.len();
        write_command(buf, args);
        self.crc.update(&buf[start..]);
    }
}

fn trailer_text(records: u64, crc: u32) -> String {
    format!("{MAGIC} end keys={records} crc32={crc:08x}")
}

fn write_command(buf: &mut BytesMut, args: &[&[u8]]) {
    buf.put_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        buf.put_slice(format!("${}\r\n", arg.len()).as_bytes());
        buf.put_slice(arg);
        buf.put_slice(b"\r\n");
    }
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
    db: u32,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// Bytes of the artifact accepted so far.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Checks the header once enough bytes arrived: `Ok(true)` when valid, `Ok(false)`
    /// when more bytes are needed.
    pub fn header(&mut self) -> Result<bool, FormatError> {
        if self.header_seen {
            return Ok(true);
        }
        let mut expected = BytesMut::new();
        write_command(&mut expected, &[b"ECHO", MAGIC.as_bytes()]);
        let have = self.buf.len().min(expected.len());
        if self.buf[..have] != expected[..have] {
            return Err(FormatError::BadMagic);
        }
        if have < expected.len() {
            return Ok(false);
        }
        let raw = self.take(expected.len());
        self.crc.update(&raw);
        self.header_seen = true;
        Ok(true)
    }

    /// The next complete item, or `None` when more bytes are needed.
    pub fn next_item(&mut self) -> Result<Option<Item>, FormatError> {
        loop {
            if !self.header()? {
                return Ok(None);
            }
            if self.ended {
                return match self.buf.is_empty() {
                    true => Ok(None),
                    false => Err(FormatError::TrailingData),
                };
            }
            let Some((len, args)) = parse_command(&self.buf)? else {
                return Ok(None);
            };
            let raw = self.take(len);
            match args.as_slice() {
                [cmd, db] if eq(cmd, "SELECT") => {
                    self.crc.update(&raw);
                    self.db = number(db)?;
                }
                [cmd, key, ttl, value, replace, rest @ ..]
                    if eq(cmd, "RESTORE") && eq(replace, "REPLACE") =>
                {
                    let ttl: i64 = number(ttl)?;
                    let expire_at_ms = match rest {
                        [] if ttl == 0 => NO_EXPIRY,
                        [abs] if eq(abs, "ABSTTL") && ttl > 0 => ttl,
                        _ => return Err(FormatError::Unexpected("RESTORE")),
                    };
                    self.crc.update(&raw);
                    self.records += 1;
                    return Ok(Some(Item::Record(Record {
                        db: self.db,
                        key: key.clone(),
                        expire_at_ms,
                        value: value.clone(),
                    })));
                }
                [cmd, text] if eq(cmd, "ECHO") => {
                    let want = trailer_text(self.records, self.crc.clone().finalize());
                    if text[..] != *want.as_bytes() {
                        return Err(trailer_error(text, self.records));
                    }
                    self.ended = true;
                    return Ok(Some(Item::End));
                }
                _ => return Err(FormatError::Unexpected("command")),
            }
        }
    }

    /// Call when the input ended: an artifact without its trailer is truncated.
    pub fn finish(&self) -> Result<(), FormatError> {
        match (self.ended, self.buf.is_empty()) {
            (true, true) => Ok(()),
            (true, false) => Err(FormatError::TrailingData),
            (false, _) => Err(FormatError::Truncated),
        }
    }

    fn take(&mut self, n: usize) -> Bytes {
        self.consumed += n as u64;
        self.buf.split_to(n).freeze()
    }
}

/// Why a trailer does not match: a wrong count, else a wrong checksum.
fn trailer_error(text: &[u8], found: u64) -> FormatError {
    let text = String::from_utf8_lossy(text);
    let count = text
        .split_whitespace()
        .find_map(|w| w.strip_prefix("keys="))
        .and_then(|n| n.parse::<u64>().ok());
    match count {
        Some(expected) if expected != found => FormatError::CountMismatch { expected, found },
        Some(_) => FormatError::ChecksumMismatch,
        None => FormatError::Unexpected("ECHO"),
    }
}

fn eq(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

fn number<T: std::str::FromStr>(arg: &[u8]) -> Result<T, FormatError> {
    std::str::from_utf8(arg)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(FormatError::Unexpected("number"))
}

/// One complete command at the start of `buf`: its length and arguments; `None` when
/// more bytes are needed.
fn parse_command(buf: &[u8]) -> Result<Option<(usize, Vec<Bytes>)>, FormatError> {
    let Some((count, mut at)) = header_line(buf, 0, b'*')? else {
        return Ok(None);
    };
    if count == 0 || count > MAX_ARGS {
        return Err(FormatError::Unexpected("array"));
    }
    let mut args = Vec::with_capacity(count);
    for _ in 0..count {
        let Some((len, start)) = header_line(buf, at, b'$')? else {
            return Ok(None);
        };
        if len > MAX_BULK {
            return Err(FormatError::TooLarge(len));
        }
        let end = start + len;
        if buf.len() < end + 2 {
            return Ok(None);
        }
        if &buf[end..end + 2] != b"\r\n" {
            return Err(FormatError::Unexpected("bulk string end"));
        }
        args.push(Bytes::copy_from_slice(&buf[start..end]));
        at = end + 2;
    }
    Ok(Some((at, args)))
}

/// `<kind><number>\r\n` at `at`: the number and where the next byte is.
fn header_line(buf: &[u8], at: usize, kind: u8) -> Result<Option<(usize, usize)>, FormatError> {
    let Some(&first) = buf.get(at) else {
        return Ok(None);
    };
    if first != kind {
        return Err(FormatError::Unexpected("RESP type"));
    }
    // 12 digits are more than any length this format allows.
    const WINDOW: usize = 12 + 2;
    let window = &buf[at + 1..buf.len().min(at + 1 + WINDOW)];
    let Some(cr) = window.iter().position(|b| *b == b'\r') else {
        return match window.len() >= WINDOW {
            true => Err(FormatError::Unexpected("RESP length")),
            false => Ok(None),
        };
    };
    let Some(&lf) = window.get(cr + 1) else {
        return Ok(None);
    };
    if lf != b'\n' {
        return Err(FormatError::Unexpected("RESP line end"));
    }
    let n: usize = number(&window[..cr])?;
    Ok(Some((n, at + 1 + cr + 2)))
}

/// A whole artifact of `records` (tests).
#[cfg(test)]
pub(crate) fn encode_all(records: &[Record], select: bool) -> Vec<u8> {
    let mut enc = Encoder::new(select);
    let mut buf = BytesMut::new();
    enc.header(&mut buf);
    for r in records {
        enc.record(&mut buf, r.db, &r.key, r.expire_at_ms, &r.value)
            .expect("small records");
    }
    enc.trailer(&mut buf);
    buf.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records() -> Vec<Record> {
        vec![
            Record {
                db: 0,
                key: Bytes::from_static(b"k\r\n*1\r\n"),
                expire_at_ms: NO_EXPIRY,
                value: Bytes::from_static(b"\x00\xff$3\r\nabc"),
            },
            Record {
                db: 5,
                key: Bytes::from_static("clé".as_bytes()),
                expire_at_ms: 1_900_000_000_000,
                value: Bytes::from_static(b"payload"),
            },
        ]
    }

    fn decode(bytes: &[u8], split: usize) -> Result<Vec<Record>, FormatError> {
        let mut dec = Decoder::new();
        let mut out = Vec::new();
        for chunk in bytes.chunks(split.max(1)) {
            dec.push(chunk);
            while let Some(item) = dec.next_item()? {
                if let Item::Record(r) = item {
                    out.push(r);
                }
            }
        }
        dec.finish()?;
        Ok(out)
    }

    #[test]
    fn round_trips_split_anywhere() {
        let bytes = encode_all(&records(), true);
        for split in [1, 2, 3, 7, 64, bytes.len()] {
            assert_eq!(decode(&bytes, split).unwrap(), records(), "split {split}");
        }
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.starts_with("*2\r\n$4\r\nECHO\r\n$19\r\ncairn-redis-resp-v1\r\n"));
        assert!(text.contains("*2\r\n$6\r\nSELECT\r\n$1\r\n5\r\n"), "{text}");
        assert!(text.contains("REPLACE\r\n$6\r\nABSTTL\r\n"), "{text}");
    }

    #[test]
    fn one_db_backups_hold_no_select() {
        let bytes = encode_all(&records(), false);
        assert!(!String::from_utf8_lossy(&bytes).contains("SELECT"));
        let back = decode(&bytes, 5).unwrap();
        assert!(back.iter().all(|r| r.db == 0));
    }

    #[test]
    fn damage_is_refused() {
        let bytes = encode_all(&records(), true);
        for cut in [1, bytes.len() / 2, bytes.len() - 1] {
            assert!(
                matches!(decode(&bytes[..cut], 4), Err(FormatError::Truncated)),
                "cut {cut}"
            );
        }
        let mut flipped = bytes.clone();
        let at = flipped.len() / 2;
        flipped[at] ^= 0x01;
        assert!(decode(&flipped, 8).is_err());
        let mut extra = bytes.clone();
        extra.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        assert!(matches!(decode(&extra, 8), Err(FormatError::TrailingData)));
        let mut bad = BytesMut::new();
        let mut enc = Encoder::new(false);
        enc.header(&mut bad);
        write_command(&mut bad, &[b"FLUSHALL"]);
        assert!(matches!(
            decode(&bad, 8),
            Err(FormatError::Unexpected("command"))
        ));
        assert!(matches!(
            decode(b"*2\r\n$4\r\nECHO\r\n$4\r\nnope\r\n", 8),
            Err(FormatError::BadMagic)
        ));
        assert!(matches!(
            decode(
                b"*2\r\n$4\r\nECHO\r\n$19\r\ncairn-redis-resp-v1\r\n*3\r\n$99999999999\r\n",
                8
            ),
            Err(FormatError::Unexpected(_) | FormatError::TooLarge(_))
        ));
    }
}
