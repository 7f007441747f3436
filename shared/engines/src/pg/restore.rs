//! PostgreSQL restores: the target ends up exactly as the backup was.
//!
//! Either way psql runs restricted (see `guard.rs`): no meta-command in an artifact runs.
//!
//! One database: the dump is loaded with `psql --single-transaction` into a fresh
//! database created from `template0` under a temporary name; only when that succeeded is
//! the old database dropped (`WITH (FORCE)`) and the new one renamed into its place, so a
//! failed or cancelled restore leaves the target untouched. The new database keeps the
//! old one's owner, encoding and locale. Database-level settings (`ALTER DATABASE … SET`)
//! and `GRANT … ON DATABASE` are not part of a plain `pg_dump` and are not carried over.
//!
//! Whole server: every database but `template0/1` and `postgres` is dropped, every role
//! but the restoring user, the bootstrap superuser and the built-in `pg_*` roles is
//! dropped, then the `pg_dumpall --clean --if-exists` script recreates the rest (see
//! `rewrite.rs`). This cannot be one transaction: a failure midway leaves the server
//! partly restored, and the job says so. Tablespaces are not prepared (their directories
//! must exist and be empty, as for any pg_dumpall load).

use super::guard::{self, MetaCommandGuard, Then};
use super::rewrite::DumpallRewrite;
use super::{connect, conninfo, map_error, quote_ident, quote_literal, tool, MAINTENANCE_DB};
use crate::child::run_restore;
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
    expected: u64,
    mut input: mpsc::Receiver<Result<Bytes, Failure>>,
    progress: Arc<Progress>,
) -> Result<u64, Failure> {
    match &conn.endpoint.scope {
        Scope::Database { name } => {
            restore_database(conn, name, expected, &mut input, &progress).await
        }
        Scope::Server => restore_server(conn, expected, &mut input, &progress).await,
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
    expected: u64,
    input: &mut mpsc::Receiver<Result<Bytes, Failure>>,
    progress: &Progress,
) -> Result<u64, Failure> {
    let tmp = temp_name(name);
    // A database cannot drop itself: restoring `postgres` works from `template1`.
    let admin_db = if name == MAINTENANCE_DB {
        "template1"
    } else {
        MAINTENANCE_DB
    };
    let mut admin = connect(conn, admin_db).await?;
    let like = existing_database_options(&mut admin, conn, name).await?;
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
            .args([
                "--no-psqlrc",
                "--quiet",
                "--no-password",
                "--single-transaction",
            ])
            .args(["--set", "ON_ERROR_STOP=1"])
            .arg("--dbname")
            .arg(conninfo(conn, Some(&tmp)))
            .env("PGOPTIONS", LOAD_OPTIONS);
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

    // Swap: the old database goes only now that the new one is complete.
    let dropped = async {
        let mut admin = connect(conn, admin_db).await?;
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(name));
        exec(&mut admin, conn, admin_db, sql).await?;
        Ok::<_, Failure>(admin)
    }
    .await;
    let mut admin = match dropped {
        Ok(admin) => admin,
        Err(f) => {
            // The old database is still there, untouched.
            guard.drop_now().await;
            return Err(f);
        }
    };
    // From here the loaded copy is the only one: never drop it.
    guard.disarm();
    let sql = format!(
        "ALTER DATABASE {} RENAME TO {}",
        quote_ident(&tmp),
        quote_ident(name)
    );
    if let Err(f) = exec(&mut admin, conn, admin_db, sql).await {
        return Err(Failure {
            message: format!(
                "{}; the restored data is complete in database {tmp:?}: rename it to {name:?}",
                f.message
            ),
            ..f
        });
    }
    let _ = sqlx::Connection::close(admin).await;
    Ok(bytes)
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

/// `<name>` is up to 63 bytes, so the temporary name keeps a prefix of it and adds a
/// random suffix: `cairn_restore_<hex>_<name…>`, at most 63 bytes.
fn temp_name(name: &str) -> String {
    let suffix = format!("cairn_restore_{:08x}_", rand_u32());
    let mut end = name.len().min(63 - suffix.len());
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!("{suffix}{}", &name[..end])
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish() as u32
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

async fn drop_database(conn: Connection, name: String) {
    let result = async {
        let mut admin = connect(&conn, MAINTENANCE_DB).await?;
        exec(
            &mut admin,
            &conn,
            MAINTENANCE_DB,
            format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                quote_ident(&name)
            ),
        )
        .await
    }
    .await;
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
        .map_err(|f| Failure {
            message: format!(
                "{}; the server is partly restored: run the restore again",
                f.message
            ),
            ..f
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_fit_postgres_limits() {
        let long = "é".repeat(31) + "x"; // 63 bytes
        for name in ["orders", long.as_str()] {
            let t = temp_name(name);
            assert!(t.len() <= 63, "{t}");
            assert!(t.starts_with("cairn_restore_"));
        }
        assert_ne!(temp_name("a"), temp_name("a"));
    }
}
