//! MySQL/MariaDB restores: the target ends up exactly as the backup was.
//!
//! Nothing is touched before the first chunk of the artifact has been read. One
//! database: it is dropped and recreated (with the character set and collation the dump
//! recorded), then the dump is loaded into it. MySQL has no transactional DDL and no way
//! to rename a database, so unlike PostgreSQL a load that fails midway leaves the database
//! partly restored; the failure says so. Whole server: every database except the system
//! ones (`mysql`, `information_schema`, `performance_schema`, `sys`) is dropped, then the
//! `--all-databases` dump recreates the rest and replaces the account tables.
//!
//! The client runs with `--sandbox` and `--binary-mode`: no client command written in an
//! artifact (`\!`, `system`, `source`, `tee`, …) can run (see `sandbox.rs`).

use super::dump::DEFAULTS_PREFIX;
use super::{connect, map_error, quote_ident, sandbox, tool, SYSTEM_DATABASES};
use crate::child::{run_restore, Unchanged};
use crate::{Connection, Progress};
use bytes::Bytes;
use cairn_domain::{Failure, Scope};
use sqlx::mysql::MySqlConnection;
use sqlx::{AssertSqlSafe, Executor};
use std::sync::Arc;
use tokio::sync::mpsc;

/// The load client, in order of preference (see `sandbox.rs`).
const CLIENTS: &[&str] = &["mariadb", "mysql"];

/// How much of the artifact is read, at most, to find its first line.
const HEADER_LIMIT: usize = 64 * 1024;

pub(crate) async fn restore(
    conn: &Connection,
    expected: u64,
    mut input: mpsc::Receiver<Result<Bytes, Failure>>,
    progress: Arc<Progress>,
) -> Result<u64, Failure> {
    let first = read_first_line(&mut input).await?;
    sandbox::require(super::program(CLIENTS)).await?;
    let mut admin = connect(conn, None).await?;
    let database = match &conn.endpoint.scope {
        Scope::Database { name } => {
            let defaults = parse_defaults(&first);
            exec(
                &mut admin,
                conn,
                format!("DROP DATABASE IF EXISTS {}", quote_ident(name)),
            )
            .await?;
            exec(
                &mut admin,
                conn,
                format!("CREATE DATABASE {}{defaults}", quote_ident(name)),
            )
            .await?;
            Some(name.as_str())
        }
        Scope::Server => {
            let all: Vec<String> = sqlx::query_scalar(
                "SELECT CAST(SCHEMA_NAME AS CHAR) FROM information_schema.SCHEMATA",
            )
            .fetch_all(&mut admin)
            .await
            .map_err(|e| map_error(&e, conn, None))?;
            for db in all
                .iter()
                .filter(|d| !SYSTEM_DATABASES.contains(&d.as_str()))
            {
                tracing::info!(database = %db, "dropping database before the server restore");
                exec(
                    &mut admin,
                    conn,
                    format!("DROP DATABASE {}", quote_ident(db)),
                )
                .await?;
            }
            None
        }
        Scope::RedisDb { .. } => {
            return Err(Failure::permanent(
                "unsupported",
                "a redis db index is not a mysql scope",
            ))
        }
    };
    let _ = sqlx::Connection::close(admin).await;

    let (mut client, _cred) = tool(CLIENTS, conn)?;
    client.cmd.args([
        sandbox::SANDBOX,
        "--binary-mode",
        "--default-character-set=utf8mb4",
        "--max-allowed-packet=1073741824",
        "--batch",
    ]);
    if let Some(db) = database {
        client.cmd.arg(format!("--database={db}"));
    }
    run_restore(
        client,
        expected,
        first,
        &mut input,
        &mut Unchanged,
        &progress,
    )
    .await
    .map_err(|f| Failure {
        message: format!(
            "{}; the target is partly restored: run the restore again",
            f.message
        ),
        ..f
    })
}

async fn exec(c: &mut MySqlConnection, conn: &Connection, sql: String) -> Result<(), Failure> {
    c.execute(AssertSqlSafe(sql))
        .await
        .map(|_| ())
        .map_err(|e| map_error(&e, conn, None))
}

/// Reads chunks until the first line is complete (or the input ends). An unreadable
/// artifact fails here, before the target is touched.
async fn read_first_line(
    input: &mut mpsc::Receiver<Result<Bytes, Failure>>,
) -> Result<Vec<Bytes>, Failure> {
    let mut chunks = Vec::new();
    let mut seen = 0;
    while seen < HEADER_LIMIT {
        match input.recv().await {
            None => break,
            Some(Err(f)) => return Err(f),
            Some(Ok(chunk)) => {
                let has_newline = chunk.contains(&b'\n');
                seen += chunk.len();
                chunks.push(chunk);
                if has_newline {
                    break;
                }
            }
        }
    }
    Ok(chunks)
}

/// ` CHARACTER SET x COLLATE y` from cairn's header line, when present and well-formed.
fn parse_defaults(first: &[Bytes]) -> String {
    let head: Vec<u8> = first
        .iter()
        .flat_map(|c| c.iter().copied())
        .take_while(|b| *b != b'\n')
        .collect();
    let Some(rest) = std::str::from_utf8(&head)
        .ok()
        .and_then(|l| l.strip_prefix(DEFAULTS_PREFIX))
    else {
        return String::new();
    };
    let words: Vec<&str> = rest.split_whitespace().collect();
    let name_ok =
        |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    match words.as_slice() {
        ["CHARACTER", "SET", cs, "COLLATE", co] if name_ok(cs) && name_ok(co) => {
            format!(" CHARACTER SET {cs} COLLATE {co}")
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_parsed_across_chunks_and_validated() {
        let chunks = vec![
            Bytes::from_static(b"-- cairn-mysql-database: CHARACTER SET utf8mb4 CO"),
            Bytes::from_static(b"LLATE utf8mb4_bin\n-- MariaDB dump"),
        ];
        assert_eq!(
            parse_defaults(&chunks),
            " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        );
        let evil = vec![Bytes::from_static(
            b"-- cairn-mysql-database: CHARACTER SET x; DROP COLLATE y\n",
        )];
        assert_eq!(parse_defaults(&evil), "");
        assert_eq!(
            parse_defaults(&[Bytes::from_static(b"-- MariaDB dump\n")]),
            ""
        );
    }
}
