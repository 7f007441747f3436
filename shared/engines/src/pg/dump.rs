//! PostgreSQL dumps: `pg_dump` for one database, `pg_dumpall` for the whole server.
//!
//! Both write plain SQL. A database dump has no `CREATE DATABASE`, so it loads into any
//! database name; owners and privileges are kept (the roles must exist on the target).
//! Large objects are part of a plain `pg_dump`. The server dump is taken with
//! `--clean --if-exists`: it drops and recreates every database and role it holds,
//! which `restore` relies on (see `restore.rs`).

use super::{conninfo, tool, MAINTENANCE_DB};
use crate::child::run_dump;
use crate::{Connection, Progress};
use bytes::Bytes;
use cairn_domain::{Failure, Scope};
use std::sync::Arc;
use tokio::sync::mpsc;

pub(crate) async fn dump(
    conn: &Connection,
    out: mpsc::Sender<Bytes>,
    progress: Arc<Progress>,
) -> Result<(), Failure> {
    // The newest installed client tools (checked against the server by `dump_client`).
    let client = super::client::newest();
    let program = |name: &str| {
        client
            .as_ref()
            .map_or(name.to_string(), |c| c.program(name))
    };
    let (mut tool, _cred) = match &conn.endpoint.scope {
        Scope::Database { name } => {
            let (mut t, cred) = tool(&program("pg_dump"), conn)?;
            t.cmd
                .args(["--format=plain", "--no-password", "--quote-all-identifiers"])
                .arg("--dbname")
                .arg(conninfo(conn, Some(name)));
            (t, cred)
        }
        Scope::Server => {
            let (mut t, cred) = tool(&program("pg_dumpall"), conn)?;
            t.cmd
                .args([
                    "--no-password",
                    "--clean",
                    "--if-exists",
                    "--quote-all-identifiers",
                ])
                .arg("--dbname")
                .arg(conninfo(conn, None))
                .arg("--database")
                .arg(MAINTENANCE_DB);
            (t, cred)
        }
        Scope::RedisDb { .. } => {
            return Err(Failure::permanent(
                "unsupported",
                "a redis db index is not a postgres scope",
            ))
        }
    };
    tool.cmd.kill_on_drop(true);
    let bytes = run_dump(tool, &out, &progress).await?;
    tracing::debug!(bytes, "postgres dump finished");
    Ok(())
}
