//! MySQL/MariaDB dumps with `mariadb-dump` (or `mysqldump`).
//!
//! One consistent snapshot (`--single-transaction`, InnoDB) with routines, triggers and
//! events, binary data as hex. A database dump is taken without `--databases`, so it has
//! no `CREATE DATABASE`/`USE` and loads under any name; its first line is a comment
//! cairn writes itself, recording the database's default character set and collation so
//! the restore recreates the database with them ([`DEFAULTS_PREFIX`]). A server dump is
//! `--all-databases` including the `mysql` system database (accounts and grants, then
//! `FLUSH PRIVILEGES`); it is taken without `--add-drop-database`, which would drop the
//! `mysql` database itself during the load.

use super::{connect, map_error, tool};
use crate::child::run_dump;
use crate::{Connection, Progress};
use bytes::Bytes;
use cairn_domain::{Failure, Scope};
use std::sync::Arc;
use tokio::sync::mpsc;

/// The first line of a database dump: `-- cairn-mysql-database: CHARACTER SET x COLLATE y`.
pub(crate) const DEFAULTS_PREFIX: &str = "-- cairn-mysql-database: ";

const COMMON_ARGS: [&str; 9] = [
    "--single-transaction",
    "--routines",
    "--triggers",
    "--events",
    "--hex-blob",
    "--default-character-set=utf8mb4",
    "--max-allowed-packet=1073741824",
    "--quick",
    "--skip-dump-date",
];

pub(crate) async fn dump(
    conn: &Connection,
    out: mpsc::Sender<Bytes>,
    progress: Arc<Progress>,
) -> Result<(), Failure> {
    let (mut tool, _cred) = tool(&["mariadb-dump", "mysqldump"], conn)?;
    tool.cmd.args(COMMON_ARGS);
    match &conn.endpoint.scope {
        Scope::Database { name } => {
            let header = database_defaults(conn, name).await?;
            tool.cmd.args(["--no-tablespaces", "--"]).arg(name);
            progress.add_db(header.len() as u64);
            out.send(Bytes::from(header)).await.map_err(|_| {
                Failure::retryable("aborted", "the storage pipeline stopped reading")
            })?;
        }
        Scope::Server => {
            tool.cmd.args(["--all-databases", "--flush-privileges"]);
        }
        Scope::RedisDb { .. } => {
            return Err(Failure::permanent(
                "unsupported",
                "a redis db index is not a mysql scope",
            ))
        }
    }
    let bytes = run_dump(tool, &out, &progress).await?;
    tracing::debug!(bytes, "mysql dump finished");
    Ok(())
}

/// The header line recording the database's default character set and collation.
async fn database_defaults(conn: &Connection, name: &str) -> Result<String, Failure> {
    let mut c = connect(conn, Some(name)).await?;
    let (charset, collation): (String, String) = sqlx::query_as(
        "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME \
         FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
    )
    .bind(name)
    .fetch_one(&mut c)
    .await
    .map_err(|e| map_error(&e, conn, Some(name)))?;
    let _ = sqlx::Connection::close(c).await;
    Ok(format!(
        "{DEFAULTS_PREFIX}CHARACTER SET {charset} COLLATE {collation}\n"
    ))
}
