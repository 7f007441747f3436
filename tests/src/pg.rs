//! PostgreSQL fixtures: a server handle, throw-away databases (dropped on drop), the
//! awkward data set and the fingerprint, all through `psql`.

use crate::env::{host_port, servers};
use crate::fingerprint::Fingerprint;
use crate::util::{run, run_ok, unique};
use std::process::Command;
use std::time::Duration;

const PSQL_LIMIT: Duration = Duration::from_secs(300);

/// The awkward data set: unicode names, bytea, enums, arrays, jsonb, identity and
/// generated columns, large objects, sequences, views, materialized views, triggers,
/// functions and procedures.
pub const AWKWARD_SQL: &str = include_str!("../fixtures/pg_awkward.sql");

/// One PostgreSQL server reachable over TCP without a password.
#[derive(Debug, Clone)]
pub struct Pg {
    pub host: String,
    pub port: u16,
    pub user: String,
}

impl Pg {
    /// The shared server (`CAIRN_TEST_PG`).
    pub fn shared() -> Pg {
        let hp = host_port(&servers().pg, 5432, "postgres");
        Pg {
            host: hp.host,
            port: hp.port,
            user: hp.user,
        }
    }

    /// `postgres://user@host:port/db`, or the whole-server URL (`…/`) for `None`.
    pub fn url(&self, db: Option<&str>) -> String {
        format!(
            "postgres://{}@{}:{}/{}",
            self.user,
            self.host,
            self.port,
            db.unwrap_or("")
        )
    }

    fn command(&self, db: &str) -> Command {
        let mut cmd = Command::new("psql");
        cmd.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .arg("-h")
            .arg(&self.host)
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-U")
            .arg(&self.user)
            .arg("-d")
            .arg(db)
            .env("PGCONNECT_TIMEOUT", "10")
            .env_remove("PGPASSWORD")
            .env_remove("PGSERVICE");
        cmd
    }

    /// Runs a script (any number of statements) in `db`; returns its unaligned output.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let mut cmd = self.command(db);
        cmd.args(["-f", "-"]);
        run_ok(cmd, Some(sql.as_bytes()), PSQL_LIMIT)
    }

    /// Like `psql`, but returns the exit code and stderr instead of panicking.
    pub fn try_psql(&self, db: &str, sql: &str) -> (i32, String) {
        let mut cmd = self.command(db);
        cmd.args(["-f", "-"]);
        let out = run(cmd, Some(sql.as_bytes()), PSQL_LIMIT);
        (out.code, out.stderr)
    }

    /// One query's output, trimmed.
    pub fn query(&self, db: &str, sql: &str) -> String {
        let mut cmd = self.command(db);
        cmd.arg("-c").arg(sql);
        run_ok(cmd, None, PSQL_LIMIT).trim_end().to_string()
    }

    /// A new empty database `cairn_it_<random>`, dropped when the guard drops.
    pub fn create_db(&self) -> PgDb {
        let name = unique("cairn_it_");
        self.query("postgres", &format!("CREATE DATABASE {name}"));
        PgDb {
            pg: self.clone(),
            name,
        }
    }

    /// Non-template databases of the server.
    pub fn databases(&self) -> Vec<String> {
        self.query(
            "postgres",
            "SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY 1",
        )
        .lines()
        .map(str::to_string)
        .collect()
    }

    /// Roles and databases of a whole server, and every user database's fingerprint.
    pub fn server_fingerprint(&self) -> Fingerprint {
        let mut fp = Fingerprint::default();
        fp.insert(
            "roles",
            self.query(
                "postgres",
                "SELECT rolname, rolsuper, rolinherit, rolcreatedb, rolcanlogin, rolconnlimit \
                 FROM pg_roles WHERE rolname !~ '^pg_' ORDER BY 1",
            ),
        );
        fp.insert(
            "databases",
            self.query(
                "postgres",
                "SELECT datname, pg_get_userbyid(datdba), pg_encoding_to_char(encoding), datcollate \
                 FROM pg_database WHERE NOT datistemplate ORDER BY 1",
            ),
        );
        for db in self.databases() {
            for (k, v) in fingerprint(self, &db).0 {
                fp.insert(format!("{db}/{k}"), v);
            }
        }
        fp
    }
}

/// A database this test created; dropped (with `FORCE`) on drop.
#[derive(Debug)]
pub struct PgDb {
    pub pg: Pg,
    pub name: String,
}

impl PgDb {
    pub fn url(&self) -> String {
        self.pg.url(Some(&self.name))
    }
    pub fn psql(&self, sql: &str) -> String {
        self.pg.psql(&self.name, sql)
    }
    pub fn query(&self, sql: &str) -> String {
        self.pg.query(&self.name, sql)
    }
    pub fn load_awkward(&self) {
        self.psql(AWKWARD_SQL);
    }
    pub fn fingerprint(&self) -> Fingerprint {
        fingerprint(&self.pg, &self.name)
    }
    /// Changes made after a backup, that a restore must undo: a table dropped, rows
    /// inserted and deleted, a table and a large object added, a sequence moved.
    pub fn mutate(&self) {
        self.psql(
            r#"
            SET search_path TO "Ünïcødé ☃", public;
            DROP TABLE "child ☃";
            INSERT INTO "tâble ☃" ("naïve column") VALUES ('added after the backup');
            DELETE FROM plain_parent WHERE id > 40;
            UPDATE docs SET blob = lo_from_bytea(0, '\xdeadbeef') WHERE id = 1;
            CREATE TABLE public.added_after_backup (id int PRIMARY KEY);
            INSERT INTO public.added_after_backup VALUES (1), (2);
            SELECT setval('"séq ☃"', 5000);
            REFRESH MATERIALIZED VIEW "mât vïew";
            "#,
        );
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let _ = self.pg.try_psql(
            "postgres",
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

const USER_NS: &str = "n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'";

/// Schema objects (catalog queries) and contents (ordered row md5s per table, large
/// objects, sequence values) of one database.
pub fn fingerprint(pg: &Pg, db: &str) -> Fingerprint {
    let q = |sql: &str| pg.query(db, sql);
    let mut fp = Fingerprint::default();
    fp.insert("schemas", q(&format!(
        "SELECT n.nspname, pg_get_userbyid(n.nspowner) FROM pg_namespace n WHERE {USER_NS} ORDER BY 1")));
    fp.insert("relations", q(&format!(
        "SELECT n.nspname, c.relname, c.relkind, c.relpersistence, pg_get_userbyid(c.relowner), \
         obj_description(c.oid, 'pg_class') \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {USER_NS} ORDER BY 1, 2")));
    fp.insert(
        "columns",
        q(
            "SELECT table_schema, table_name, ordinal_position, column_name, data_type, udt_name, \
         is_nullable, column_default, is_identity, identity_generation, is_generated, \
         generation_expression FROM information_schema.columns \
         WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2, 3",
        ),
    );
    fp.insert(
        "constraints",
        q(&format!(
            "SELECT c.conrelid::regclass::text, c.conname, c.contype, pg_get_constraintdef(c.oid) \
         FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE {USER_NS} \
         ORDER BY 1, 2"
        )),
    );
    fp.insert(
        "indexes",
        q(
            "SELECT schemaname, tablename, indexname, indexdef FROM pg_indexes \
         WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2, 3",
        ),
    );
    fp.insert("routines", q(&format!(
        "SELECT n.nspname, p.proname, p.prokind, pg_get_function_identity_arguments(p.oid), \
         md5(pg_get_functiondef(p.oid)) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
         WHERE {USER_NS} AND p.prokind IN ('f', 'p') ORDER BY 1, 2, 4")));
    fp.insert("triggers", q(
        "SELECT tgrelid::regclass::text, tgname, tgenabled, pg_get_triggerdef(oid) FROM pg_trigger \
         WHERE NOT tgisinternal ORDER BY 1, 2"));
    fp.insert(
        "views",
        q("SELECT schemaname, viewname, definition FROM pg_views \
         WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"),
    );
    fp.insert("matviews", q(
        "SELECT schemaname, matviewname, ispopulated, definition FROM pg_matviews ORDER BY 1, 2"));
    fp.insert(
        "enums",
        q(
            "SELECT t.typname, e.enumsortorder, e.enumlabel FROM pg_enum e \
         JOIN pg_type t ON t.oid = e.enumtypid ORDER BY 1, 2",
        ),
    );
    fp.insert("sequences", q(
        "SELECT schemaname, sequencename, start_value, increment_by, last_value FROM pg_sequences \
         ORDER BY 1, 2"));
    fp.insert("large_objects", q(
        "SELECT count(*) || ' ' || coalesce(md5(string_agg(oid::text || ':' || md5(lo_get(oid)), ',' \
         ORDER BY oid)), '-') FROM pg_largeobject_metadata"));
    fp.insert(
        "extensions",
        q("SELECT extname, extversion FROM pg_extension ORDER BY 1"),
    );
    let tables = q(&format!(
        "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE {USER_NS} AND c.relkind IN ('r', 'm') ORDER BY 1"
    ));
    for table in tables.lines().filter(|l| !l.is_empty()) {
        let rows = q(&format!(
            "SELECT count(*) || ' ' || coalesce(md5(string_agg(h, ',' ORDER BY h)), '-') \
             FROM (SELECT md5(t::text) AS h FROM {table} t) x"
        ));
        fp.insert(format!("rows {table}"), rows);
    }
    fp
}

/// Fills a database with pgbench's tables at `scale` (about 15 MB per unit), without
/// indexes or vacuum, so it is quick to make and slow enough to dump.
pub fn pgbench_fill(db: &PgDb, scale: u32) {
    let mut cmd = Command::new("pgbench");
    cmd.args(["-q", "-i", "-I", "dtg", "-s", &scale.to_string()])
        .arg("-h")
        .arg(&db.pg.host)
        .arg("-p")
        .arg(db.pg.port.to_string())
        .arg("-U")
        .arg(&db.pg.user)
        .arg(&db.name);
    run_ok(cmd, None, Duration::from_secs(600));
}
