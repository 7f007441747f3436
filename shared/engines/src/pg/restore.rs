//! PostgreSQL restores: the target ends up exactly as the backup was.
//!
//! Either way psql runs restricted (see `guard.rs`): no meta-command in an artifact runs.
//!
//! One database: first the restoring role's privileges are checked (CREATEDB, and being
//! able to drop the database it replaces), then the dump is loaded by `psql` in one
//! transaction into a fresh database created from `template0` under a temporary name
//! that carries the job's short id (`<name>_cairn_restore_<job>`, see `leftovers.rs`).
//! cairn writes `BEGIN` before the dump and `COMMIT` only after its last byte arrived
//! with the manifest's length and checksum, so a psql left behind by a killed cairn
//! reaches the end of its input without `COMMIT` and the server rolls back. Only when
//! the load committed is the old database renamed aside (`<name>_cairn_restore_<job>_old`,
//! its sessions disconnected) and the new one renamed into its place, so a failed or
//! cancelled restore leaves the target untouched. The replaced copy is dropped in the
//! background after the job's work is done (DROP DATABASE forces a checkpoint, seconds on
//! a large restore); one left by a killed cairn is dropped by the start-up sweep. The new database keeps the old one's owner, encoding and locale.
//! Database-level settings (`ALTER DATABASE … SET`) and `GRANT … ON DATABASE` are not
//! part of a plain `pg_dump` and are not carried over.
//!
//! Whole server: every database but `template0/1` and `postgres` is dropped, every role
//! but the restoring user, the bootstrap superuser and the built-in `pg_*` roles is
//! dropped, then the `pg_dumpall --clean --if-exists` script recreates the rest (see
//! `rewrite.rs`). This cannot be one transaction (`CREATE DATABASE` cannot run in one):
//! a failure midway leaves the server partly restored, and the job says exactly what is
//! there. Tablespaces are not prepared (their directories must exist and be empty, as
//! for any pg_dumpall load).

use super::guard::{self, MetaCommandGuard, Then};
use super::rewrite::DumpallRewrite;
use super::{connect, conninfo, map_error, quote_ident, quote_literal, tool, MAINTENANCE_DB};
use crate::child::{run_restore, Transaction};
use crate::leftovers::{staging_name, OLD};
use crate::{Connection, Progress};
use bytes::Bytes;
use cairn_domain::{Failure, Scope};
use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Executor};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Session settings that make a bulk load faster without weakening the result
/// (the final commit is still durable).
const LOAD_OPTIONS: &str = "-c maintenance_work_mem=256MB -c synchronous_commit=off";

pub(crate) async fn restore(
    conn: &Connection,
    job: &str,
    expected: u64,
    mut input: mpsc::Receiver<Result<Bytes, Failure>>,
    progress: Arc<Progress>,
) -> Result<(u64, Option<String>), Failure> {
    match &conn.endpoint.scope {
        Scope::Database { name } => {
            restore_database(conn, name, job, expected, &mut input, &progress).await
        }
        Scope::Server => Ok((
            restore_server(conn, expected, &mut input, &progress).await?,
            None,
        )),
        Scope::RedisDb { .. } => Err(Failure::permanent(
            "unsupported",
            "a redis db index is not a postgres scope",
        )),
    }
}

async fn exec(
    c: &mut PgConnection,
    conn: &Connection,
    db: &str,
    sql: String,
) -> Result<(), Failure> {
    c.execute(AssertSqlSafe(sql))
        .await
        .map(|_| ())
        .map_err(|e| map_error(&e, conn, db))
}

async fn restore_database(
    conn: &Connection,
    name: &str,
    job: &str,
    expected: u64,
    input: &mut mpsc::Receiver<Result<Bytes, Failure>>,
    progress: &Progress,
) -> Result<(u64, Option<String>), Failure> {
    let tmp = staging_name(name, job, "");
    // A database cannot drop itself: restoring `postgres` works from `template1`.
    let admin_db = if name == MAINTENANCE_DB {
        "template1"
    } else {
        MAINTENANCE_DB
    };
    let mut admin = connect(conn, admin_db).await?;
    check_privileges(&mut admin, conn, admin_db, name).await?;
    let like = existing_database_options(&mut admin, conn, name).await?;
    // An earlier attempt of this same job may have left its copy behind.
    exec(
        &mut admin,
        conn,
        admin_db,
        format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(&tmp)),
    )
    .await?;
    exec(
        &mut admin,
        conn,
        admin_db,
        format!(
            "CREATE DATABASE {} TEMPLATE template0{like}",
            quote_ident(&tmp)
        ),
    )
    .await?;
    let _ = sqlx::Connection::close(admin).await;
    let guard = TempDatabase::new(conn, &tmp);
    tracing::info!(database = %name, temp = %tmp, "loading the dump into a new database");

    let loaded = async {
        let (mut psql, _cred) = tool("psql", conn)?;
        psql.cmd
            .args(["--no-psqlrc", "--quiet", "--no-password"])
            .args(["--set", "ON_ERROR_STOP=1"])
            .arg("--dbname")
            .arg(conninfo(conn, Some(&tmp)))
            .env("PGOPTIONS", LOAD_OPTIONS);
        // Not `--single-transaction`: psql would commit at the end of its input however
        // that end came about.
        psql.transaction = Some(Transaction::SQL);
        let mut guard = MetaCommandGuard::new(false);
        run_restore(psql, expected, Vec::new(), input, &mut guard, progress)
            .await
            .map_err(guard::explain)
    }
    .await;
    let bytes = match loaded {
        Ok(b) => b,
        Err(f) => {
            guard.drop_now().await;
            return Err(f);
        }
    };

    // Swap: the old database moves aside only now that the new one is complete. The
    // caller drops it once the job is done (see `Afterwards`): DROP DATABASE forces an
    // immediate checkpoint, seconds on a large restore, that the job need not wait for.
    let old = staging_name(name, job, OLD);
    match swap_in(conn, admin_db, name, &tmp, &old).await {
        Ok(replaced) => {
            guard.disarm();
            Ok((bytes, replaced.then_some(old)))
        }
        Err(Swap::Untouched(f)) => {
            guard.drop_now().await;
            Err(f)
        }
        // From here the loaded copy is the only one: never drop it.
        Err(Swap::Stranded(f)) => {
            guard.disarm();
            Err(f)
        }
    }
}

/// A swap that failed: before anything changed (the target is as it was), or halfway.
enum Swap {
    Untouched(Failure),
    Stranded(Failure),
}

/// How often the swap tries to rename the target while clients keep connecting to it.
const SWAP_TRIES: usize = 5;

/// Renames `name` (if it exists) to `old` after disconnecting its sessions, then `tmp`
/// to `name`. Returns whether there was an old database to drop. Should the second
/// rename fail, the first is undone.
async fn swap_in(
    conn: &Connection,
    admin_db: &str,
    name: &str,
    tmp: &str,
    old: &str,
) -> Result<bool, Swap> {
    let mut admin = connect(conn, admin_db).await.map_err(Swap::Untouched)?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut admin)
            .await
            .map_err(|e| Swap::Untouched(map_error(&e, conn, admin_db)))?;
    if exists {
        let aside = format!(
            "ALTER DATABASE {} RENAME TO {}",
            quote_ident(name),
            quote_ident(old)
        );
        let mut tries = 0;
        loop {
            // A rename waits (5 s) for sessions on the database to go, and fails if
            // they do not; clients reconnecting in between get another try.
            sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
            )
            .bind(name)
            .execute(&mut admin)
            .await
            .map_err(|e| Swap::Untouched(map_error(&e, conn, admin_db)))?;
            match exec(&mut admin, conn, admin_db, aside.clone()).await {
                Ok(()) => break,
                Err(f) if tries + 1 < SWAP_TRIES => {
                    tracing::info!(database = %name, error = %f, "renaming the replaced database again");
                    tries += 1;
                }
                Err(f) => return Err(Swap::Untouched(f)),
            }
        }
    }
    let into_place = format!(
        "ALTER DATABASE {} RENAME TO {}",
        quote_ident(tmp),
        quote_ident(name)
    );
    if let Err(f) = exec(&mut admin, conn, admin_db, into_place).await {
        let back = format!(
            "ALTER DATABASE {} RENAME TO {}",
            quote_ident(old),
            quote_ident(name)
        );
        if exists && exec(&mut admin, conn, admin_db, back).await.is_ok() {
            return Err(Swap::Untouched(f));
        }
        let where_old = if exists {
            format!(", and the replaced one is database {old:?}")
        } else {
            String::new()
        };
        return Err(Swap::Stranded(Failure {
            message: format!(
                "{}; the restored data is complete in database {tmp:?}: rename it to {name:?}{where_old}",
                f.message
            ),
            ..f
        }));
    }
    let _ = sqlx::Connection::close(admin).await;
    Ok(exists)
}

/// ` OWNER … ENCODING … LC_COLLATE … LC_CTYPE …` copied from the database being
/// replaced, or nothing when it does not exist yet.
async fn existing_database_options(
    admin: &mut PgConnection,
    conn: &Connection,
    name: &str,
) -> Result<String, Failure> {
    let row: Option<(String, String, String, String)> = sqlx::query_as(
        "SELECT pg_get_userbyid(datdba)::text, pg_encoding_to_char(encoding)::text, datcollate::text, datctype::text \
         FROM pg_database WHERE datname = $1",
    )
    .bind(name)
    .fetch_optional(&mut *admin)
    .await
    .map_err(|e| map_error(&e, conn, MAINTENANCE_DB))?;
    Ok(match row {
        None => String::new(),
        Some((owner, encoding, collate, ctype)) => format!(
            " OWNER {} ENCODING {} LC_COLLATE {} LC_CTYPE {}",
            quote_ident(&owner),
            quote_literal(&encoding),
            quote_literal(&collate),
            quote_literal(&ctype)
        ),
    })
}

/// Refuses, before anything is changed, a restore the role could not finish: it needs
/// CREATEDB for the fresh copy, and to be (a member of) the owner of the database it
/// replaces, to drop it. Superusers pass both.
async fn check_privileges(
    admin: &mut PgConnection,
    conn: &Connection,
    admin_db: &str,
    name: &str,
) -> Result<(), Failure> {
    let (me, createdb): (String, bool) = sqlx::query_as(
        "SELECT current_user::text, rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(&mut *admin)
    .await
    .map_err(|e| map_error(&e, conn, admin_db))?;
    if !createdb {
        return Err(Failure::permanent(
            "permission_denied",
            format!(
                "the restoring role {me} needs CREATEDB (ALTER ROLE {} CREATEDB) because cairn loads into a fresh database and swaps it in; nothing was changed",
                quote_ident(&me)
            ),
        ));
    }
    let owner: Option<(String, bool)> = sqlx::query_as(
        "SELECT pg_get_userbyid(datdba)::text, pg_has_role(current_user, datdba, 'MEMBER') \
         FROM pg_database WHERE datname = $1",
    )
    .bind(name)
    .fetch_optional(&mut *admin)
    .await
    .map_err(|e| map_error(&e, conn, admin_db))?;
    match owner {
        Some((owner, false)) => Err(Failure::permanent(
            "permission_denied",
            format!(
                "the restoring role {me} cannot replace database {name:?}, which belongs to {owner}: make it the owner (ALTER DATABASE {} OWNER TO {}) or a member of the owner (GRANT {} TO {}); nothing was changed",
                quote_ident(name),
                quote_ident(&me),
                quote_ident(&owner),
                quote_ident(&me)
            ),
        )),
        _ => Ok(()),
    }
}

/// Drops the temporary database unless disarmed; also when the restore future is dropped
/// (cancelled), from a background task.
struct TempDatabase {
    conn: Option<Connection>,
    name: String,
}

impl TempDatabase {
    fn new(conn: &Connection, name: &str) -> Self {
        Self {
            conn: Some(conn.clone()),
            name: name.to_string(),
        }
    }
    fn disarm(mut self) {
        self.conn = None;
    }
    async fn drop_now(mut self) {
        if let Some(conn) = self.conn.take() {
            drop_database(conn, self.name.clone()).await;
        }
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(drop_database(conn, self.name.clone()));
            }
        }
    }
}

/// Drops a database if it exists, disconnecting its sessions.
pub(crate) async fn drop_now(conn: &Connection, name: &str) -> Result<(), Failure> {
    let mut admin = connect(conn, MAINTENANCE_DB).await?;
    exec(
        &mut admin,
        conn,
        MAINTENANCE_DB,
        format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(name)),
    )
    .await?;
    let _ = sqlx::Connection::close(admin).await;
    Ok(())
}

/// Every database's name.
pub(crate) async fn list_databases(conn: &Connection) -> Result<Vec<String>, Failure> {
    let mut admin = connect(conn, MAINTENANCE_DB).await?;
    let names = sqlx::query_scalar("SELECT datname::text FROM pg_database")
        .fetch_all(&mut admin)
        .await
        .map_err(|e| map_error(&e, conn, MAINTENANCE_DB))?;
    let _ = sqlx::Connection::close(admin).await;
    Ok(names)
}

pub(crate) async fn drop_database(conn: Connection, name: String) {
    let result = drop_now(&conn, &name).await;
    if let Err(f) = result {
        tracing::warn!(database = %name, error = %f, "could not drop the temporary restore database");
    }
}

async fn restore_server(
    conn: &Connection,
    expected: u64,
    input: &mut mpsc::Receiver<Result<Bytes, Failure>>,
    progress: &Progress,
) -> Result<u64, Failure> {
    let mut admin = connect(conn, MAINTENANCE_DB).await?;
    let (me, bootstrap): (String, String) = sqlx::query_as(
        "SELECT current_user::text, (SELECT rolname::text FROM pg_roles WHERE oid = 10)",
    )
    .fetch_one(&mut admin)
    .await
    .map_err(|e| map_error(&e, conn, MAINTENANCE_DB))?;
    clear_server(&mut admin, conn, &me).await?;
    let _ = sqlx::Connection::close(admin).await;

    let (mut psql, _cred) = tool("psql", conn)?;
    psql.cmd
        .args(["--no-psqlrc", "--quiet", "--no-password"])
        .args(["--set", "ON_ERROR_STOP=1"])
        .arg("--dbname")
        .arg(conninfo(conn, Some(MAINTENANCE_DB)))
        .env("PGOPTIONS", LOAD_OPTIONS);
    // The guard comes second: DumpallRewrite keys on the dump's own `\unrestrict` lines.
    let mut rewrite = Then(
        DumpallRewrite::new(&me, &bootstrap),
        MetaCommandGuard::new(true),
    );
    run_restore(psql, expected, Vec::new(), input, &mut rewrite, progress)
    .await
    .map_err(guard::explain)
    .map_err(|f| {
        // Every user database and role but the kept ones was dropped before the load;
        // what the dump recreated up to the failure is there, the rest is missing.
        let advice = if f.retryable {
            "; running the restore again starts over from an empty server"
        } else {
            ""
        };
        Failure {
            message: format!(
                "{}; the server is partly restored: its databases and roles were dropped before loading, and only what the backup recreated before this error exists now{advice}",
                f.message
            ),
            ..f
        }
    })
}

/// Drops what the dump would not: all user databases and all roles but the kept ones.
async fn clear_server(
    admin: &mut PgConnection,
    conn: &Connection,
    me: &str,
) -> Result<(), Failure> {
    let databases: Vec<String> = sqlx::query_scalar(
        "SELECT datname::text FROM pg_database WHERE datname NOT IN ('template0', 'template1', 'postgres')",
    )
    .fetch_all(&mut *admin)
    .await
    .map_err(|e| map_error(&e, conn, MAINTENANCE_DB))?;
    for db in &databases {
        tracing::info!(database = %db, "dropping database before the server restore");
        exec(
            admin,
            conn,
            MAINTENANCE_DB,
            format!("DROP DATABASE {} WITH (FORCE)", quote_ident(db)),
        )
        .await?;
    }
    let roles: Vec<String> = sqlx::query_scalar(
        "SELECT rolname::text FROM pg_roles WHERE rolname !~ '^pg_' AND rolname <> current_user AND oid <> 10",
    )
    .fetch_all(&mut *admin)
    .await
    .map_err(|e| map_error(&e, conn, MAINTENANCE_DB))?;
    if roles.is_empty() {
        return Ok(());
    }
    let list = roles
        .iter()
        .map(|r| quote_ident(r))
        .collect::<Vec<_>>()
        .join(", ");
    // A role cannot be dropped while it owns something; what it owns in the databases that
    // remain is recreated by the dump anyway.
    let owned: Vec<String> = sqlx::query_scalar(
        "SELECT datname::text FROM pg_database WHERE datname IN ('template1', 'postgres') \
         AND pg_get_userbyid(datdba) = ANY($1)",
    )
    .bind(&roles)
    .fetch_all(&mut *admin)
    .await
    .map_err(|e| map_error(&e, conn, MAINTENANCE_DB))?;
    for db in owned {
        let sql = format!(
            "ALTER DATABASE {} OWNER TO {}",
            quote_ident(&db),
            quote_ident(me)
        );
        exec(admin, conn, MAINTENANCE_DB, sql).await?;
    }
    for db in ["template1", MAINTENANCE_DB] {
        let mut c = connect(conn, db).await?;
        exec(&mut c, conn, db, format!("DROP OWNED BY {list} CASCADE")).await?;
        let _ = sqlx::Connection::close(c).await;
    }
    let spaces: Vec<String> = sqlx::query_scalar(
        "SELECT spcname::text FROM pg_tablespace WHERE pg_get_userbyid(spcowner) = ANY($1)",
    )
    .bind(&roles)
    .fetch_all(&mut *admin)
    .await
    .map_err(|e| map_error(&e, conn, MAINTENANCE_DB))?;
    for s in spaces {
        exec(
            admin,
            conn,
            MAINTENANCE_DB,
            format!(
                "ALTER TABLESPACE {} OWNER TO {}",
                quote_ident(&s),
                quote_ident(me)
            ),
        )
        .await?;
    }
    tracing::info!(
        roles = roles.len(),
        "dropping roles before the server restore"
    );
    exec(admin, conn, MAINTENANCE_DB, format!("DROP ROLE {list}")).await
}
