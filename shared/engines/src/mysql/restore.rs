//! MySQL/MariaDB restores: the target ends up exactly as the backup was.
//!
//! Nothing is touched before the first chunk of the artifact has been read. One
//! database: the dump is loaded into a staging database `<name>_cairn_restore_<job>`
//! (created with the character set and collation the dump recorded), and only once the
//! whole verified artifact loaded is it swapped in (see `swap.rs`): every table moves
//! into the target in one `RENAME TABLE`, the replaced ones into a trash database that
//! is then dropped, and views, routines, events and triggers are recreated from the
//! staging definitions. A load that fails — a `DEFINER` the user may not set, a corrupt
//! artifact, cairn killed — leaves the target as it was and its staging database is
//! dropped (by the job, or by the start-up sweep).
//!
//! Whole server: every database except the system ones (`mysql`, `information_schema`,
//! `performance_schema`, `sys`) is dropped, then the `--all-databases` dump recreates
//! the rest and replaces the account tables. That cannot be atomic; a failure says what
//! the server holds.
//!
//! The client runs with `--sandbox` and `--binary-mode`: no client command written in an
//! artifact (`\!`, `system`, `source`, `tee`, …) can run (see `sandbox.rs`).

use super::dump::DEFAULTS_PREFIX;
use super::{connect, map_error, quote_ident, sandbox, tool, SYSTEM_DATABASES};
use crate::child::{run_restore, Tool, Unchanged};
use crate::credentials::CredentialFile;
use crate::leftovers::staging_name;
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
    job: &str,
    expected: u64,
    mut input: mpsc::Receiver<Result<Bytes, Failure>>,
    progress: Arc<Progress>,
) -> Result<u64, Failure> {
    let first = read_first_line(&mut input).await?;
    sandbox::require(super::program(CLIENTS)).await?;
    match &conn.endpoint.scope {
        Scope::Database { name } => {
            restore_database(conn, name, job, expected, first, &mut input, &progress).await
        }
        Scope::Server => restore_server(conn, expected, first, &mut input, &progress).await,
        Scope::RedisDb { .. } => Err(Failure::permanent(
            "unsupported",
            "a redis db index is not a mysql scope",
        )),
    }
}

/// The client that loads a dump, into `database` or (whole server) none.
fn load_client(
    conn: &Connection,
    database: Option<&str>,
) -> Result<(Tool, CredentialFile), Failure> {
    let (mut client, cred) = tool(CLIENTS, conn)?;
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
    Ok((client, cred))
}

async fn restore_database(
    conn: &Connection,
    name: &str,
    job: &str,
    expected: u64,
    first: Vec<Bytes>,
    input: &mut mpsc::Receiver<Result<Bytes, Failure>>,
    progress: &Progress,
) -> Result<u64, Failure> {
    let defaults = parse_defaults(&first);
    let staging = staging_name(name, job, "");
    let mut admin = connect(conn, None).await?;
    let me = current_user(&mut admin, conn).await?;
    // An earlier attempt of this same job may have left its staging database behind.
    let created = async {
        exec(
            &mut admin,
            conn,
            format!("DROP DATABASE IF EXISTS {}", quote_ident(&staging)),
        )
        .await?;
        exec(
            &mut admin,
            conn,
            format!("CREATE DATABASE {}{defaults}", quote_ident(&staging)),
        )
        .await
    }
    .await;
    let _ = sqlx::Connection::close(admin).await;
    if let Err(f) = created {
        return Err(if f.code == "permission_denied" {
            Failure::permanent(
                "permission_denied",
                format!(
                    "the restoring user {me} cannot create the staging database {staging:?} that cairn loads into before swapping the tables in: {}; grant it with GRANT ALL ON `{}`.* TO {me}; nothing was changed",
                    f.message,
                    grant_pattern(name)
                ),
            )
        } else {
            f
        });
    }
    tracing::info!(database = %name, staging = %staging, "loading the dump into a staging database");

    let loaded = async {
        let (client, _cred) = load_client(conn, Some(&staging))?;
        run_restore(client, expected, first, input, &mut Unchanged, progress).await
    }
    .await;
    let bytes = match loaded {
        Ok(bytes) => bytes,
        Err(f) => {
            drop_quietly(conn, &staging).await;
            return Err(explain_load_failure(f, &me, name));
        }
    };
    super::swap::swap_in(conn, &staging, name, job, &defaults).await?;
    Ok(bytes)
}

/// The load into the staging database failed: the target was not touched. A `DEFINER`
/// the user may not set (error 1227) gets a message naming the missing grant.
fn explain_load_failure(f: Failure, me: &str, name: &str) -> Failure {
    if f.message.contains("ERROR 1227") {
        return Failure::permanent(
            "permission_denied",
            format!(
                "the backup creates views, routines, triggers or events owned by another user (DEFINER clauses), and the restoring user {me} may not do that: grant it with GRANT SET USER ON *.* TO {me} (MariaDB 10.5.2 and later; GRANT SET_USER_ID ON *.* TO {me} on MySQL 8, SUPER on older servers); database {name:?} was not changed. ({})",
                f.message
            ),
        );
    }
    Failure {
        message: format!("{}; database {name:?} was not changed", f.message),
        ..f
    }
}

/// `name` as a grant pattern covering its staging databases (`_` and `%` escaped).
fn grant_pattern(name: &str) -> String {
    let escaped = |s: &str| {
        s.replace('\\', "\\\\")
            .replace('_', "\\_")
            .replace('%', "\\%")
    };
    format!("{}\\_cairn\\_restore\\_%", escaped(name)).replace('`', "``")
}

/// `'user'@'host'` of the session, as grants name it.
pub(super) async fn current_user(
    c: &mut MySqlConnection,
    conn: &Connection,
) -> Result<String, Failure> {
    let who: String = sqlx::query_scalar("SELECT CAST(CURRENT_USER() AS CHAR)")
        .fetch_one(&mut *c)
        .await
        .map_err(|e| map_error(&e, conn, None))?;
    let (user, host) = who.rsplit_once('@').unwrap_or((who.as_str(), "%"));
    Ok(format!(
        "'{}'@'{}'",
        user.replace('\'', "''"),
        host.replace('\'', "''")
    ))
}

pub(super) async fn drop_quietly(conn: &Connection, database: &str) {
    if let Err(f) = drop_database(conn, database).await {
        tracing::warn!(database, error = %f, "could not drop a staging database; the next start of cairn drops it");
    }
}

/// Drops a database if it exists.
pub(crate) async fn drop_database(conn: &Connection, database: &str) -> Result<(), Failure> {
    let mut admin = connect(conn, None).await?;
    // Tables elsewhere may reference these by foreign key.
    exec(
        &mut admin,
        conn,
        "SET SESSION foreign_key_checks = 0".into(),
    )
    .await?;
    exec(
        &mut admin,
        conn,
        format!("DROP DATABASE IF EXISTS {}", quote_ident(database)),
    )
    .await?;
    let _ = sqlx::Connection::close(admin).await;
    Ok(())
}

/// Every database's name.
pub(crate) async fn list_databases(conn: &Connection) -> Result<Vec<String>, Failure> {
    let mut admin = connect(conn, None).await?;
    let all =
        sqlx::query_scalar("SELECT CAST(SCHEMA_NAME AS CHAR) FROM information_schema.SCHEMATA")
            .fetch_all(&mut admin)
            .await
            .map_err(|e| map_error(&e, conn, None))?;
    let _ = sqlx::Connection::close(admin).await;
    Ok(all)
}

async fn restore_server(
    conn: &Connection,
    expected: u64,
    first: Vec<Bytes>,
    input: &mut mpsc::Receiver<Result<Bytes, Failure>>,
    progress: &Progress,
) -> Result<u64, Failure> {
    let all = list_databases(conn).await?;
    let mut admin = connect(conn, None).await?;
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
        .await
        .map_err(|f| Failure {
            message: format!(
                "{}; the server is partly cleared: some of its databases were dropped before this error, nothing was loaded yet",
                f.message
            ),
            ..f
        })?;
    }
    let _ = sqlx::Connection::close(admin).await;

    let (client, _cred) = load_client(conn, None)?;
    run_restore(client, expected, first, input, &mut Unchanged, progress)
        .await
        .map_err(|f| {
            let advice = if f.retryable {
                "; running the restore again starts over by dropping them again"
            } else {
                ""
            };
            Failure {
                message: format!(
                    "{}; the server is partly restored: every non-system database was dropped before loading, and only the databases and accounts the backup recreated before this error exist now{advice}",
                    f.message
                ),
                ..f
            }
        })
}

pub(super) async fn exec(
    c: &mut MySqlConnection,
    conn: &Connection,
    sql: String,
) -> Result<(), Failure> {
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
