//! Runs psql so that nothing in an artifact can execute: only SQL reaches the server.
//!
//! psql obeys meta-commands (`\!` runs a shell command, `\o |cmd` pipes into one,
//! `\copy … program`, `\i file`, backticks in arguments, …) anywhere its lexer is outside
//! quotes, not only at the start of a line. psql 15.14+ has a restricted mode:
//! after `\restrict KEY` every meta-command is refused except `\unrestrict KEY`. So:
//!
//! - the stream starts with cairn's own `\restrict KEY`, KEY random per restore and never
//!   written anywhere else, so the artifact's author cannot know it; with
//!   `ON_ERROR_STOP=1` the first meta-command in the artifact stops psql with an error;
//! - the artifact's own `\restrict X` / `\unrestrict X` lines (pg_dump writes them around
//!   its output) are removed: under our key they would fail;
//! - the two meta-commands pg_dump(all) needs between databases pass, each wrapped as
//!   `\unrestrict K1`, the line, `\restrict K2` (a fresh key each time), and only in
//!   the exact forms pg_dump writes: `\encoding NAME` and, for a whole-server restore,
//!   `\connect DB` where DB is a plain identifier, a double-quoted name, or
//!   `-reuse-previous=on "dbname='…'"` naming a database and nothing else (no host, user,
//!   port or other option). Any other `\c`/`\connect` line fails the restore before it is
//!   sent. Every other line goes through unchanged; psql refuses it if it is a
//!   meta-command.
//!
//! Why wrapping is safe when the artifact controls what came before: psql reads the three
//! lines we add with one lexer, in one state. If that state is "outside quotes and outside
//! COPY data", they run as meant and the restriction is back before the artifact's next
//! byte. If the artifact left psql inside a quoted string (or a COPY), all three lines
//! become part of that string (or rows): none runs, psql stays restricted under the old
//! key, and the next wrapped `\unrestrict` (with a key psql no longer holds) fails the
//! restore. The keys that end up in such a string are never used again, and nothing the
//! server sees can be fed back into psql's input. The `\connect` argument itself is
//! checked so that psql's argument lexer does no substitution in it: an unquoted name has
//! only letters, digits and `_` (no `:var`, backticks or quotes), and double-quoted text is
//! copied verbatim by psql.
//!
//! A COPY text row can start with a backslash only as `\N`, `\.` or a one-letter escape
//! (`\b \f \n \r \t \v \\`), so no row is mistaken for `\c…`, `\e…` or `\u…`. The one
//! theoretical clash is a one-column row whose value is a carriage return followed by
//! `estrict ` and letters or digits: it would be taken for a `\restrict` line and dropped.

use crate::child::Rewrite;
use bytes::{Bytes, BytesMut};
use cairn_domain::Failure;
use rand::distributions::{Alphanumeric, DistString};

/// Failure code of an artifact that tried to do more than load data.
pub(crate) const UNSAFE_ARTIFACT: &str = "unsafe_artifact";

/// Length of cairn's restrict keys (psql accepts letters and digits).
const KEY_LEN: usize = 40;

fn new_key() -> String {
    Alphanumeric.sample_string(&mut rand::rngs::OsRng, KEY_LEN)
}

/// The stream filter described in the module doc.
pub(crate) struct MetaCommandGuard {
    /// Whether `\connect` lines may pass (whole-server scope).
    allow_connect: bool,
    /// The key psql is restricted with right now.
    key: String,
    started: bool,
    line_no: u64,
    partial: Vec<u8>,
    /// Once set, nothing more is let through.
    refused: bool,
    refusal: Option<Failure>,
}

enum Verdict {
    /// Sent unchanged.
    Pass,
    /// The artifact's own `\restrict`/`\unrestrict`: dropped.
    Drop,
    /// Sent between `\unrestrict` and `\restrict`.
    Wrap,
    Refuse(&'static str),
}

impl MetaCommandGuard {
    pub(crate) fn new(allow_connect: bool) -> Self {
        Self {
            allow_connect,
            key: new_key(),
            started: false,
            line_no: 0,
            partial: Vec::new(),
            refused: false,
            refusal: None,
        }
    }

    fn start(&mut self, out: &mut BytesMut) {
        if !self.started {
            self.started = true;
            out.extend_from_slice(format!("\\restrict {}\n", self.key).as_bytes());
        }
    }

    fn line(&mut self, line: &[u8], out: &mut BytesMut) {
        self.line_no += 1;
        if self.refused {
            return;
        }
        if !line.starts_with(b"\\") {
            out.extend_from_slice(line);
            return;
        }
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        match verdict(body, self.allow_connect) {
            Verdict::Pass => out.extend_from_slice(line),
            Verdict::Drop => {}
            Verdict::Wrap => {
                let next = new_key();
                out.extend_from_slice(format!("\\unrestrict {}\n", self.key).as_bytes());
                out.extend_from_slice(body);
                out.extend_from_slice(format!("\n\\restrict {next}\n").as_bytes());
                self.key = next;
            }
            Verdict::Refuse(why) => {
                self.refused = true;
                self.refusal = Some(Failure::permanent(
                    UNSAFE_ARTIFACT,
                    format!(
                        "line {} of the backup {why}; cairn refused it before it reached psql and stopped the restore (a backup made by pg_dump never holds such a line: check where this one comes from)",
                        self.line_no
                    ),
                ));
            }
        }
    }
}

impl MetaCommandGuard {
    /// Whole lines that do not start with a backslash: copied as they are.
    fn pass(&mut self, lines: &[u8], out: &mut BytesMut) {
        self.line_no += memchr::memchr_iter(b'\n', lines).count() as u64;
        if !self.refused {
            out.extend_from_slice(lines);
        }
    }
}

impl Rewrite for MetaCommandGuard {
    /// Only lines that start with a backslash are looked at one by one; the runs of lines
    /// between them are found with a substring search and copied whole.
    fn push(&mut self, chunk: Bytes) -> Bytes {
        let mut out = BytesMut::with_capacity(chunk.len() + 128);
        self.start(&mut out);
        let mut rest: &[u8] = &chunk;
        if !self.partial.is_empty() {
            let Some(i) = memchr::memchr(b'\n', rest) else {
                self.partial.extend_from_slice(rest);
                return out.freeze();
            };
            let mut line = std::mem::take(&mut self.partial);
            line.extend_from_slice(&rest[..=i]);
            self.line(&line, &mut out);
            rest = &rest[i + 1..];
        }
        // `rest` starts at the start of a line.
        loop {
            if rest.first() == Some(&b'\\') {
                let Some(i) = memchr::memchr(b'\n', rest) else {
                    break;
                };
                self.line(&rest[..=i], &mut out);
                rest = &rest[i + 1..];
                continue;
            }
            match memchr::memmem::find(rest, b"\n\\") {
                Some(i) => {
                    self.pass(&rest[..=i], &mut out);
                    rest = &rest[i + 1..];
                }
                None => {
                    let end = memchr::memrchr(b'\n', rest).map_or(0, |i| i + 1);
                    self.pass(&rest[..end], &mut out);
                    rest = &rest[end..];
                    break;
                }
            }
        }
        self.partial.extend_from_slice(rest);
        out.freeze()
    }

    fn finish(&mut self) -> Bytes {
        let mut out = BytesMut::new();
        self.start(&mut out);
        let line = std::mem::take(&mut self.partial);
        if !line.is_empty() {
            self.line(&line, &mut out);
        }
        out.freeze()
    }

    fn refusal(&mut self) -> Option<Failure> {
        self.refusal.take()
    }
}

/// What to do with a line that starts with a backslash (without its newline).
fn verdict(body: &[u8], allow_connect: bool) -> Verdict {
    let Ok(text) = std::str::from_utf8(body) else {
        return Verdict::Pass;
    };
    let rest = &text[1..];
    let end = rest
        .find(|c: char| c.is_whitespace() || c == '\\')
        .unwrap_or(rest.len());
    let (command, args) = rest.split_at(end);
    let args = args.strip_prefix(' ');
    match command {
        "restrict" | "unrestrict" if args.is_some_and(is_key) => Verdict::Drop,
        "encoding" if args.is_some_and(is_plain_word) => Verdict::Wrap,
        "c" | "connect" if !allow_connect => {
            Verdict::Refuse("switches to another database (`\\connect`), which a one-database backup never does")
        }
        "c" | "connect" => match args {
            Some(args) if command == "connect" && connect_target_is_a_database(args) => {
                Verdict::Wrap
            }
            _ => Verdict::Refuse("is a `\\connect` that names more than one database (a host, user, port or connection option) or is not written as pg_dumpall writes it"),
        },
        _ => Verdict::Pass,
    }
}

fn is_key(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn is_plain_word(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `DB`, `"D""B"` or `-reuse-previous=on "dbname='D\'B'"` (the forms of pg_dump's
/// `appendPsqlMetaConnect`), naming a database and nothing else.
fn connect_target_is_a_database(args: &str) -> bool {
    if let Some(quoted) = args.strip_prefix("-reuse-previous=on ") {
        return dequote_ident(quoted)
            .and_then(|conninfo| conninfo.strip_prefix("dbname=").map(str::to_string))
            .and_then(|value| conninfo_value(&value))
            .is_some_and(|db| is_database_name(&db));
    }
    if args.starts_with('"') {
        return dequote_ident(args).is_some_and(|db| is_database_name(&db));
    }
    args.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') && is_plain_word(args)
}

/// The content of one double-quoted identifier taking the whole string (`""` is a quote).
fn dequote_ident(s: &str) -> Option<String> {
    let inner = s.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '"' {
            // Only a doubled quote may appear inside.
            if chars.next() != Some('"') {
                return None;
            }
        }
        out.push(c);
    }
    Some(out)
}

/// A libpq conninfo value: bare (`[A-Za-z0-9_.]+`) or single-quoted with `\'` and `\\`.
fn conninfo_value(s: &str) -> Option<String> {
    let Some(inner) = s.strip_prefix('\'') else {
        return s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
            .then(|| s.to_string())
            .filter(|v| !v.is_empty());
    };
    let inner = inner.strip_suffix('\'')?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next()? {
                e @ ('\'' | '\\') => out.push(e),
                _ => return None,
            },
            '\'' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// A name psql will take as a database name, never as a connection string or URI.
fn is_database_name(db: &str) -> bool {
    !db.is_empty()
        && !db.contains('=')
        && !db.contains(['\n', '\r', '\0'])
        && !db.starts_with("postgres://")
        && !db.starts_with("postgresql://")
}

/// Rewords psql's refusal of a meta-command so the failure says what happened.
pub(crate) fn explain(f: Failure) -> Failure {
    if f.message.contains("invalid command \\restrict") {
        return Failure::permanent(
            "client_too_old",
            format!("psql on this worker has no `\\restrict` (PostgreSQL 13.22, 14.19, 15.14, 16.10, 17.6 and later have it), and cairn never runs psql without it: upgrade the PostgreSQL client tools ({})", f.message),
        );
    }
    let refused = f.message.contains("backslash commands are restricted")
        || f.message.contains("\\unrestrict: wrong key");
    if !refused {
        return f;
    }
    Failure::permanent(
        UNSAFE_ARTIFACT,
        format!(
            "the backup holds a psql meta-command (a backslash command such as `\\!`, `\\o |…`, `\\copy … program` or `\\i`); cairn runs psql so that no such command can run, psql refused it and the restore stopped. A backup made by pg_dump never does this: check where this one comes from ({})",
            f.message
        ),
    )
}

/// Two rewrites, one after the other.
pub(crate) struct Then<A, B>(pub A, pub B);

impl<A: Rewrite, B: Rewrite> Rewrite for Then<A, B> {
    fn push(&mut self, chunk: Bytes) -> Bytes {
        let mid = self.0.push(chunk);
        self.1.push(mid)
    }
    fn finish(&mut self) -> Bytes {
        let mid = self.0.finish();
        let mut out = BytesMut::from(&self.1.push(mid)[..]);
        out.extend_from_slice(&self.1.finish());
        out.freeze()
    }
    fn refusal(&mut self) -> Option<Failure> {
        self.0.refusal().or_else(|| self.1.refusal())
    }
}

#[cfg(test)]
#[path = "guard_tests.rs"]
mod tests;
