//! Adjusts a `pg_dumpall --clean --if-exists` stream so `psql -v ON_ERROR_STOP=1` can
//! load it onto a live server.
//!
//! pg_dumpall's script expects some statements to fail (it says so in its source): it drops
//! and recreates the role psql is connected as, and drops databases other sessions may be
//! using. We change exactly those statements, and only in the parts of the script that
//! hold no table data: pg_dump emits `\unrestrict KEY` at the end of each of its scripts
//! and `\connect DB` before a database's contents, so the lines between an `\unrestrict`
//! (or the start) and the next `\connect` are DDL written by pg_dump(all), never COPY rows
//! (COPY text escapes every backslash, so no row can start with `\u` or `\c`).
//!
//! Changes, in those parts only:
//! - `DROP DATABASE x;` gets `WITH (FORCE)` (other sessions are disconnected);
//! - `DROP ROLE [IF EXISTS] r;` and `CREATE ROLE r;` are removed for the roles that cannot
//!   be dropped: the restoring user and the bootstrap superuser;
//! - the restoring user's `ALTER ROLE … PASSWORD '…'` loses its password clause, so the
//!   credential cairn holds for the target keeps working (psql reconnects on `\connect`).

use crate::child::Rewrite;
use bytes::{Bytes, BytesMut};

pub(crate) struct DumpallRewrite {
    /// Quoted and unquoted spellings of the roles to keep.
    kept: Vec<String>,
    /// Spellings of the restoring user.
    me: Vec<String>,
    /// Between an `\unrestrict` (or the start) and the next `\connect`.
    ddl_only: bool,
    /// An incomplete last line, carried to the next chunk.
    partial: Vec<u8>,
}

impl DumpallRewrite {
    pub(crate) fn new(current_user: &str, bootstrap: &str) -> Self {
        Self {
            kept: spellings(current_user)
                .into_iter()
                .chain(spellings(bootstrap))
                .collect(),
            me: spellings(current_user),
            ddl_only: true,
            partial: Vec::new(),
        }
    }

    fn line(&mut self, line: &[u8], out: &mut BytesMut) {
        // `line` includes its '\n' (except possibly the last line of the stream).
        if line.starts_with(b"\\connect ") {
            self.ddl_only = false;
        } else if line.starts_with(b"\\unrestrict ") {
            self.ddl_only = true;
        } else if self.ddl_only {
            if let Ok(text) = std::str::from_utf8(line) {
                let (body, nl) = match text.strip_suffix('\n') {
                    Some(b) => (b, "\n"),
                    None => (text, ""),
                };
                if let Some(new) = self.statement(body) {
                    out.extend_from_slice(new.as_bytes());
                    out.extend_from_slice(nl.as_bytes());
                    return;
                }
            }
        }
        out.extend_from_slice(line);
    }

    /// The replacement for one DDL line, if it needs one ("" removes it).
    fn statement(&self, body: &str) -> Option<String> {
        if let Some(rest) = body.strip_prefix("DROP DATABASE ") {
            if !rest.contains("WITH (FORCE)") {
                if let Some(stmt) = body.strip_suffix(';') {
                    return Some(format!("{stmt} WITH (FORCE);"));
                }
            }
            return None;
        }
        for role in &self.kept {
            if body == format!("DROP ROLE IF EXISTS {role};")
                || body == format!("DROP ROLE {role};")
                || body == format!("CREATE ROLE {role};")
            {
                return Some(String::new());
            }
        }
        for role in &self.me {
            if body.starts_with(&format!("ALTER ROLE {role} WITH ")) {
                if let Some(start) = body.find(" PASSWORD '") {
                    let after = start + " PASSWORD '".len();
                    if let Some(len) = body[after..].find('\'') {
                        return Some(format!("{}{}", &body[..start], &body[after + len + 1..]));
                    }
                }
            }
        }
        None
    }
}

impl Rewrite for DumpallRewrite {
    fn push(&mut self, chunk: Bytes) -> Bytes {
        let mut out = BytesMut::with_capacity(chunk.len() + self.partial.len() + 64);
        let mut rest: &[u8] = &chunk;
        if !self.partial.is_empty() {
            match rest.iter().position(|b| *b == b'\n') {
                Some(i) => {
                    let mut line = std::mem::take(&mut self.partial);
                    line.extend_from_slice(&rest[..=i]);
                    self.line(&line, &mut out);
                    rest = &rest[i + 1..];
                }
                None => {
                    self.partial.extend_from_slice(rest);
                    return out.freeze();
                }
            }
        }
        while let Some(i) = rest.iter().position(|b| *b == b'\n') {
            self.line(&rest[..=i], &mut out);
            rest = &rest[i + 1..];
        }
        self.partial.extend_from_slice(rest);
        out.freeze()
    }

    fn finish(&mut self) -> Bytes {
        let mut out = BytesMut::new();
        let line = std::mem::take(&mut self.partial);
        if !line.is_empty() {
            self.line(&line, &mut out);
        }
        out.freeze()
    }
}

/// How pg_dumpall may write a role name: always quoted (`--quote-all-identifiers`), or
/// bare when it is a plain lowercase identifier.
fn spellings(name: &str) -> Vec<String> {
    let mut v = vec![super::quote_ident(name)];
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$');
    if plain {
        v.push(name.to_string());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRIPT: &str = "\\restrict K1
DROP DATABASE IF EXISTS \"app\";
DROP ROLE IF EXISTS \"alice\";
DROP ROLE IF EXISTS \"postgres\";
CREATE ROLE \"alice\";
ALTER ROLE \"alice\" WITH LOGIN PASSWORD 'SCRAM-a';
CREATE ROLE \"postgres\";
ALTER ROLE \"postgres\" WITH SUPERUSER LOGIN PASSWORD 'SCRAM-p' VALID UNTIL 'infinity';
\\unrestrict K1
\\restrict K2
DROP DATABASE \"template1\";
\\unrestrict K2
\\connect \"app\"
\\restrict K3
COPY public.t (x) FROM stdin;
DROP DATABASE postgres;
CREATE ROLE \"postgres\";
\\.
\\unrestrict K3
DROP DATABASE \"postgres\";
\\connect \"postgres\"
";

    const WANT: &str = "\\restrict K1
DROP DATABASE IF EXISTS \"app\" WITH (FORCE);
DROP ROLE IF EXISTS \"alice\";

CREATE ROLE \"alice\";
ALTER ROLE \"alice\" WITH LOGIN PASSWORD 'SCRAM-a';

ALTER ROLE \"postgres\" WITH SUPERUSER LOGIN VALID UNTIL 'infinity';
\\unrestrict K1
\\restrict K2
DROP DATABASE \"template1\" WITH (FORCE);
\\unrestrict K2
\\connect \"app\"
\\restrict K3
COPY public.t (x) FROM stdin;
DROP DATABASE postgres;
CREATE ROLE \"postgres\";
\\.
\\unrestrict K3
DROP DATABASE \"postgres\" WITH (FORCE);
\\connect \"postgres\"
";

    #[test]
    fn rewrites_only_ddl_parts_whatever_the_chunking() {
        for size in [1, 2, 7, 64, SCRIPT.len()] {
            let mut r = DumpallRewrite::new("postgres", "postgres");
            let mut out = Vec::new();
            for piece in SCRIPT.as_bytes().chunks(size) {
                out.extend_from_slice(&r.push(Bytes::copy_from_slice(piece)));
            }
            out.extend_from_slice(&r.finish());
            assert_eq!(String::from_utf8(out).unwrap(), WANT, "chunk size {size}");
        }
    }

    #[test]
    fn bare_and_quoted_role_spellings() {
        assert_eq!(spellings("postgres"), vec!["\"postgres\"", "postgres"]);
        assert_eq!(spellings("Ops"), vec!["\"Ops\""]);
        let r = DumpallRewrite::new("cairn", "postgres");
        assert_eq!(r.statement("CREATE ROLE cairn;"), Some(String::new()));
        assert_eq!(
            r.statement("CREATE ROLE \"postgres\";"),
            Some(String::new())
        );
        assert_eq!(r.statement("CREATE ROLE \"alice\";"), None);
        // The bootstrap superuser keeps the password from the backup; only ours is kept.
        assert_eq!(
            r.statement("ALTER ROLE \"postgres\" WITH LOGIN PASSWORD 'x';"),
            None
        );
    }
}
