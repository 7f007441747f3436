//! PostgreSQL for tests: uniquely named databases on the shared server (dropped on drop),
//! private clusters (`initdb` as the `postgres` OS user, scram passwords, stopped on drop)
//! and fingerprints of a database's contents and schema objects.

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, ConnectOptions, Executor};
use std::path::Path;
use std::process::Command;

pub const SHARED_PORT: u16 = 5432;

pub async fn connect(port: u16, password: Option<&str>, db: &str) -> PgConnection {
    let mut o = PgConnectOptions::new_without_pgpass()
        .host("127.0.0.1")
        .port(port)
        .username("postgres")
        .database(db);
    if let Some(p) = password {
        o = o.password(p);
    }
    o.connect()
        .await
        .unwrap_or_else(|e| panic!("connect {port}/{db}: {e}"))
}

/// Runs one or more statements (simple query protocol).
pub async fn exec(c: &mut PgConnection, sql: &str) {
    c.execute(sqlx::raw_sql(AssertSqlSafe(sql.to_string())))
        .await
        .unwrap_or_else(|e| panic!("{e}\nin: {sql}"));
}

/// Runs statements one by one, each in its own transaction (`CREATE DATABASE` needs that).
pub async fn exec_each(c: &mut PgConnection, statements: &[&str]) {
    for sql in statements {
        exec(c, sql).await;
    }
}

pub fn q(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// A database on the shared server that exists for one test.
pub struct SharedDb {
    pub name: String,
}

impl SharedDb {
    pub async fn create() -> Self {
        let name = super::unique("cairn_t");
        let mut c = connect(SHARED_PORT, None, "postgres").await;
        exec(&mut c, &format!("CREATE DATABASE {}", q(&name))).await;
        Self { name }
    }
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{SHARED_PORT}/{}", self.name)
    }
    pub async fn connect(&self) -> PgConnection {
        connect(SHARED_PORT, None, &self.name).await
    }
}

impl Drop for SharedDb {
    fn drop(&mut self) {
        drop_shared_database(&self.name);
    }
}

/// Drops a database on the shared server (sync, so it also runs when a test panics).
pub fn drop_shared_database(name: &str) {
    let _ = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "postgres",
        ])
        .arg("-c")
        .arg(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", q(name)))
        .status();
}

/// A whole PostgreSQL cluster of this test's own, with scram passwords.
pub struct PrivateCluster {
    pub port: u16,
    pub password: String,
    pub dir: tempfile::TempDir,
}

const BIN: &str = "/usr/lib/postgresql/15/bin";

fn as_postgres(args: &[&str]) {
    let status = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .args(args)
        .output()
        .expect("runuser");
    assert!(
        status.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&status.stderr)
    );
}

fn chown_postgres(path: &Path) {
    let ok = Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(path)
        .status()
        .unwrap();
    assert!(ok.success());
}

impl PrivateCluster {
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("cairn-pg-")
            .tempdir()
            .unwrap();
        let password = "pw with 'quotes' : and \\ and ü".to_string();
        std::fs::write(dir.path().join("pw"), &password).unwrap();
        chown_postgres(dir.path());
        let data = dir.path().join("data");
        let pwfile = dir.path().join("pw");
        as_postgres(&[
            &format!("{BIN}/initdb"),
            "-D",
            data.to_str().unwrap(),
            "-A",
            "scram-sha-256",
            "-U",
            "postgres",
            "--pwfile",
            pwfile.to_str().unwrap(),
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ]);
        let port = super::free_port();
        Self::pg_ctl_start(dir.path(), &data, port);
        Self {
            port,
            password,
            dir,
        }
    }

    fn pg_ctl_start(dir: &Path, data: &Path, port: u16) {
        as_postgres(&[
            &format!("{BIN}/pg_ctl"),
            "-D",
            data.to_str().unwrap(),
            "-o",
            &format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1",
                dir.display()
            ),
            "-l",
            dir.join("log").to_str().unwrap(),
            "-w",
            "start",
        ]);
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    pub async fn connect(&self, db: &str) -> PgConnection {
        connect(self.port, Some(&self.password), db).await
    }

    /// A streaming replica of this cluster (`pg_basebackup -R`), started on its own port.
    pub fn start_replica(&self) -> Replica {
        let dir = tempfile::Builder::new()
            .prefix("cairn-pg-replica-")
            .tempdir()
            .unwrap();
        chown_postgres(dir.path());
        let pass = dir.path().join("pgpass");
        std::fs::write(
            &pass,
            format!("*:*:*:*:{}\n", pgpass_escape(&self.password)),
        )
        .unwrap();
        let ok = Command::new("chmod")
            .arg("600")
            .arg(&pass)
            .status()
            .unwrap();
        assert!(ok.success());
        chown_postgres(dir.path());
        let data = dir.path().join("data");
        let status = Command::new("runuser")
            .args(["-u", "postgres", "--", "env"])
            .arg(format!("PGPASSFILE={}", pass.display()))
            .arg(format!("{BIN}/pg_basebackup"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .args(["-R", "-X", "stream", "-D"])
            .arg(&data)
            .output()
            .unwrap();
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stderr)
        );
        let port = super::free_port();
        Self::pg_ctl_start(dir.path(), &data, port);
        Replica { port, dir }
    }
}

fn pgpass_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace(':', "\\:")
}

fn pg_ctl_stop(dir: &Path) {
    let _ = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(format!("{BIN}/pg_ctl"))
        .arg("-D")
        .arg(dir.join("data"))
        .args(["-m", "immediate", "stop"])
        .output();
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        pg_ctl_stop(self.dir.path());
    }
}

pub struct Replica {
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Replica {
    fn drop(&mut self) {
        pg_ctl_stop(self.dir.path());
    }
}

const USER_SCHEMAS: &str =
    "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'";

/// Everything a restore must bring back in one database, as sorted text lines: each
/// table's row count and md5 of its ordered rows, relations, columns, constraints,
/// functions and procedures, triggers, enums, views, sequence values, large objects.
pub async fn fingerprint(c: &mut PgConnection) -> Vec<String> {
    let catalogs = [
        format!("SELECT format('rel %s.%s %s owner=%s', n.nspname, c.relname, c.relkind, pg_get_userbyid(c.relowner)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {USER_SCHEMAS}"),
        "SELECT format('col %s.%s.%s %s identity=%s generated=%s default=%s', table_schema, table_name, column_name, data_type, is_identity, is_generated, coalesce(column_default, generation_expression)) FROM information_schema.columns WHERE table_schema NOT IN ('pg_catalog', 'information_schema')".to_string(),
        format!("SELECT format('con %s %s %s', conrelid::regclass, conname, pg_get_constraintdef(co.oid)) FROM pg_constraint co JOIN pg_namespace n ON n.oid = co.connamespace WHERE {USER_SCHEMAS}"),
        format!("SELECT format('fn %s.%s %s %s', n.nspname, p.proname, p.prokind, md5(pg_get_functiondef(p.oid))) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE {USER_SCHEMAS} AND p.prokind IN ('f', 'p')"),
        "SELECT format('trg %s %s %s', tgrelid::regclass, tgname, pg_get_triggerdef(oid)) FROM pg_trigger WHERE NOT tgisinternal".to_string(),
        "SELECT format('enum %s %s', t.typname, string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)) FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid GROUP BY t.typname".to_string(),
        "SELECT format('view %s.%s %s', schemaname, viewname, md5(definition)) FROM pg_views WHERE schemaname NOT IN ('pg_catalog', 'information_schema')".to_string(),
        "SELECT format('matview %s.%s %s', schemaname, matviewname, md5(definition)) FROM pg_matviews".to_string(),
        "SELECT format('seq %s.%s last=%s', schemaname, sequencename, last_value) FROM pg_sequences".to_string(),
        "SELECT format('lo %s %s', oid, md5(lo_get(oid))) FROM pg_largeobject_metadata".to_string(),
        "SELECT format('schema %s owner=%s', nspname, pg_get_userbyid(nspowner)) FROM pg_namespace n WHERE ".to_string() + USER_SCHEMAS,
        "SELECT format('ext %s %s', extname, extversion) FROM pg_extension".to_string(),
    ];
    let mut lines = Vec::new();
    for sql in &catalogs {
        let rows: Vec<String> = sqlx::query_scalar(AssertSqlSafe(sql.clone()))
            .fetch_all(&mut *c)
            .await
            .unwrap_or_else(|e| panic!("{e}\nin: {sql}"));
        lines.extend(rows);
    }
    let tables: Vec<(String, String)> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT n.nspname::text, c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p', 'm') AND {USER_SCHEMAS}"
    )))
    .fetch_all(&mut *c)
    .await
    .unwrap();
    for (schema, table) in tables {
        let sql = format!(
            "SELECT count(*)::text || ' ' || coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '-') FROM {}.{} t",
            q(&schema),
            q(&table)
        );
        let summary: String = sqlx::query_scalar(AssertSqlSafe(sql))
            .fetch_one(&mut *c)
            .await
            .unwrap();
        lines.push(format!("rows {schema}.{table} {summary}"));
    }
    lines.sort();
    lines
}

/// Databases, roles (with attributes and password hashes) and memberships of a cluster.
pub async fn cluster_fingerprint(c: &mut PgConnection) -> Vec<String> {
    let sqls = [
        "SELECT format('db %s owner=%s enc=%s collate=%s', datname, pg_get_userbyid(datdba), pg_encoding_to_char(encoding), datcollate) FROM pg_database",
        "SELECT format('role %s super=%s login=%s createdb=%s pw=%s', rolname, rolsuper, rolcanlogin, rolcreatedb, rolpassword) FROM pg_authid WHERE rolname !~ '^pg_'",
        "SELECT format('member %s in %s', pg_get_userbyid(member), pg_get_userbyid(roleid)) FROM pg_auth_members WHERE pg_get_userbyid(roleid) !~ '^pg_'",
    ];
    let mut lines = Vec::new();
    for sql in sqls {
        let rows: Vec<String> = sqlx::query_scalar(sql).fetch_all(&mut *c).await.unwrap();
        lines.extend(rows);
    }
    lines.sort();
    lines
}

/// A database full of awkward things: unicode names, bytea, enums, arrays, jsonb,
/// identity and generated columns, a trigger and its function, a procedure, views,
/// a materialized view, an advanced sequence and a large object.
pub const AWKWARD: &str = r#"
CREATE SCHEMA "schéma ü";
CREATE TYPE "schéma ü"."mood ☺" AS ENUM ('sad', 'ok', 'happy 😀');
CREATE TABLE public.audit (id serial PRIMARY KEY, what text NOT NULL);
CREATE FUNCTION public.audit_fn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.audit(what) VALUES (TG_OP || ' ' || NEW.id); RETURN NEW; END $$;
CREATE TABLE "schéma ü"."tâble 表" (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    "cölumn ✓" text,
    data bytea,
    m "schéma ü"."mood ☺",
    tags text[],
    doc jsonb,
    twice bigint GENERATED ALWAYS AS (id * 2) STORED
);
CREATE TRIGGER "trg ✓" AFTER INSERT ON "schéma ü"."tâble 表" FOR EACH ROW EXECUTE FUNCTION public.audit_fn();
INSERT INTO "schéma ü"."tâble 表" ("cölumn ✓", data, m, tags, doc)
SELECT 'row ' || g || E' tab\t nl\n quote'' backslash\\ COPY\\.',
       decode(md5(g::text), 'hex') || '\x00ff0a5c2e'::bytea,
       (ARRAY['sad', 'ok', 'happy 😀'])[1 + g % 3]::"schéma ü"."mood ☺",
       ARRAY['a', NULL, 'c "q"', E'\\.'],
       jsonb_build_object('g', g, 'nested', jsonb_build_array(1, 'two', null), 'ü', '✓')
FROM generate_series(1, 500) g;
INSERT INTO "schéma ü"."tâble 表" ("cölumn ✓") VALUES (E'\\.\nDROP DATABASE postgres;\n\\connect x'), (NULL);
CREATE SEQUENCE "schéma ü".seq START 100;
SELECT setval('"schéma ü".seq', 12345);
CREATE PROCEDURE public.bump(n bigint) LANGUAGE sql AS $$ SELECT setval('"schéma ü".seq', n) $$;
CREATE VIEW public."even view" AS SELECT id, "cölumn ✓" FROM "schéma ü"."tâble 表" WHERE id % 2 = 0;
CREATE MATERIALIZED VIEW public.moods AS SELECT m, count(*) AS n FROM "schéma ü"."tâble 表" GROUP BY m;
SELECT lo_from_bytea(0, decode(repeat('00ff5c0a', 50000), 'hex'));
SELECT lo_from_bytea(0, convert_to('small large object ✓', 'UTF8'));
"#;

/// Changes made after a backup that the restore must undo.
pub const CHANGES: &str = r#"
INSERT INTO "schéma ü"."tâble 表" ("cölumn ✓") VALUES ('added after the backup');
DELETE FROM "schéma ü"."tâble 表" WHERE id < 10;
DROP TABLE public.audit CASCADE;
CREATE TABLE public.extra (x int);
SELECT nextval('"schéma ü".seq');
SELECT lo_unlink(min(oid)) FROM pg_largeobject_metadata;
REFRESH MATERIALIZED VIEW public.moods;
DROP VIEW public."even view";
"#;
