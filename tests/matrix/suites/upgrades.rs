//! Upgrades, the reason operators back up before redeploying a server: a backup of an
//! older server restored onto a newer one holds what the source held (fingerprints
//! compared); and the other way round, a restore onto an older major version is refused
//! before the target is touched, naming both versions.
//!
//! PostgreSQL 13 → 15 runs through a local `cairn up` (this machine's `pg_dump` 15);
//! 13 → 17 through cairn's image (`pg_dump` 17: a dump must be loaded by the newer side).

use cairn_matrix::*;
use cairn_tests::{pg, App, Fingerprint, Pg};

/// Fingerprint sections that hold the server's own rendering of a definition: views and
/// materialized views (PostgreSQL 16 stopped qualifying the columns of one-table views)
/// and routines (17 prints procedure arguments as `IN n integer`). Across majors they
/// cannot equal the source's text; they are compared with what the newer server makes of
/// the same fixture loaded natively, every other section with the source itself.
const RENDERED: [&str; 3] = ["views", "matviews", "routines"];

fn is_rendered(section: &str) -> bool {
    RENDERED
        .iter()
        .any(|r| section == *r || section.ends_with(&format!("/{r}")))
}

/// (sections compared with the source, rendered sections) of a fingerprint.
fn split(fp: Fingerprint) -> (Fingerprint, Fingerprint) {
    let (rendered, data): (Vec<_>, Vec<_>) = fp.0.into_iter().partition(|(k, _)| is_rendered(k));
    (
        Fingerprint(data.into_iter().collect()),
        Fingerprint(rendered.into_iter().collect()),
    )
}

/// The awkward database's rendered sections as `server` renders them natively, keyed
/// with `prefix` (`""` or `"awkward/"`).
fn native_rendering(server: &Pg, prefix: &str) -> Fingerprint {
    let reference = server.create_db();
    reference.load_awkward();
    let (_, rendered) = split(reference.fingerprint());
    Fingerprint(
        rendered
            .0
            .into_iter()
            .map(|(k, v)| (format!("{prefix}{k}"), v))
            .collect(),
    )
}

/// Restored `dst` against source `src`: data sections equal the source's, rendered
/// sections of the awkward database equal the newer server's own rendering of the fixture.
#[track_caller]
fn assert_upgraded(src: Fingerprint, dst: Fingerprint, native: Fingerprint, what: &str) {
    let (src_data, src_rendered) = split(src);
    let (dst_data, dst_rendered) = split(dst);
    assert!(
        !src_data.0.is_empty() && !native.0.is_empty(),
        "{what}: empty fingerprint"
    );
    src_data.assert_same(&dst_data, what);
    // Databases without such objects (not in `native`) render nothing on either side.
    let mut expected = src_rendered;
    expected.0.extend(native.0);
    expected.assert_same(
        &dst_rendered,
        &format!("{what} (definitions as the newer server renders them)"),
    );
}

/// A database: the awkward data set onto an empty database of the newer server that held
/// a table of its own (gone afterwards).
fn pg_database_upgrade(cairn: &dyn Cli, from: &str, to: &str) {
    let (old, new) = (postgres(from), postgres(to));
    let src = old.pg.create_db();
    src.load_awkward();
    let dst = new.pg.create_db();
    dst.psql(
        "CREATE TABLE only_on_the_target (id int); INSERT INTO only_on_the_target VALUES (1);",
    );
    cairn.add_target("src", &src.url());
    cairn.add_target("dst", &dst.url());
    cairn.backup_wait("src");
    cairn.restore_ok("dst", Some("src"));
    let (src_fp, dst_fp) = (src.fingerprint(), dst.fingerprint());
    let what = format!("PostgreSQL {from} database restored onto {to}");
    assert_upgraded(src_fp, dst_fp, native_rendering(&new.pg, ""), &what);
}

/// A whole server: roles, databases (one owned by a role of its own), their contents.
fn pg_server_upgrade(cairn: &dyn Cli, from: &str, to: &str) {
    let (old, new) = (postgres(from), postgres(to));
    let (s, d): (&Pg, &Pg) = (&old.pg, &new.pg);
    s.query("postgres", "CREATE ROLE cairn_it_reader LOGIN");
    s.query("postgres", "CREATE DATABASE awkward OWNER cairn_it_reader");
    s.psql("awkward", pg::AWKWARD_SQL);
    s.query("postgres", "CREATE DATABASE second");
    s.psql("second", "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 1000) g;");
    d.query("postgres", "CREATE DATABASE only_on_the_target");
    d.query("postgres", "CREATE ROLE only_on_the_target");
    cairn.add_target("src-all", &s.url(None));
    cairn.add_target("dst-all", &d.url(None));
    cairn.backup_wait("src-all");
    cairn.restore_ok("dst-all", Some("src-all"));
    let (src_fp, dst_fp) = (s.server_fingerprint(), d.server_fingerprint());
    let what = format!("PostgreSQL {from} server restored onto {to}");
    assert_upgraded(src_fp, dst_fp, native_rendering(d, "awkward/"), &what);
}

#[test]
fn postgres_13_to_15_database() {
    pg_database_upgrade(&App::start(), "13", "15");
}

#[test]
fn postgres_13_to_15_whole_server() {
    pg_server_upgrade(&App::start(), "13", "15");
}

#[test]
fn postgres_13_to_17_database_through_the_cairn_image() {
    pg_database_upgrade(&Remote::start(), "13", "17");
}

#[test]
fn postgres_13_to_17_whole_server_through_the_cairn_image() {
    pg_server_upgrade(&Remote::start(), "13", "17");
}

#[test]
fn mariadb_10_5_to_11_8() {
    let (old, new) = (mariadb("10.5"), mariadb("11.8"));
    let src = old.my.create_db();
    src.load_awkward();
    let dst = new.my.create_db();
    dst.sql("CREATE TABLE only_on_the_target (id INT);");
    let app = App::start();
    app.add_target("src", &src.url());
    app.add_target("dst", &dst.url());
    Cli::backup_wait(&app, "src");
    app.restore_ok("dst", Some("src"));
    src.fingerprint().assert_same(
        &dst.fingerprint(),
        "MariaDB 10.5 database restored onto 11.8",
    );
}

fn redis_upgrade(old: RedisBox, new: RedisBox) {
    for db in [0, 3] {
        old.redis.load_awkward(db);
    }
    new.redis.load_awkward(7); // gone after a whole-server restore
    let app = App::start();
    app.add_target("src", &old.redis.url(None));
    app.add_target("dst", &new.redis.url(None));
    Cli::backup_wait(&app, "src");
    app.restore_ok("dst", Some("src"));
    let what = format!("Redis {} restored onto {}", old.version, new.version);
    let (src, dst) = (&old.redis, &new.redis);
    without_streams(src.fingerprint()).assert_same(&without_streams(dst.fingerprint()), &what);
    for db in [0, 3] {
        let key = format!("db{db}:stream");
        assert_eq!(
            stream_core(src, db, &key),
            stream_core(dst, db, &key),
            "{what}: stream {key}"
        );
    }
}

/// Stream keys' fingerprint lines dropped: newer servers add stream metadata (entries
/// added, max deleted id, a group's entries read) that a 6.0 source does not have.
/// `stream_core` compares what both versions know.
fn without_streams(fp: Fingerprint) -> Fingerprint {
    Fingerprint(
        fp.0.into_iter()
            .map(|(k, v)| {
                let kept: Vec<&str> = v.lines().filter(|l| !l.contains(" stream ")).collect();
                (k, kept.join("\n"))
            })
            .collect(),
    )
}

/// A stream's entries, length, last id, and per group its last delivered id, pending
/// count, consumers and pending entries (id, owner, deliveries): what every version reports
/// alike.
fn stream_core(r: &cairn_tests::RedisServer, db: u32, key: &str) -> String {
    use redis::Value;
    let mut c = r.conn(db);
    let text = |v: &Value| -> String {
        match v {
            Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
            Value::SimpleString(s) => s.clone(),
            other => format!("{other:?}"),
        }
    };
    // A RESP2 flat array or a RESP3 map, as field -> value.
    let fields = |v: Value| -> Vec<(String, Value)> {
        match v {
            Value::Map(m) => m.into_iter().map(|(k, v)| (text(&k), v)).collect(),
            Value::Array(a) => a.chunks(2).map(|p| (text(&p[0]), p[1].clone())).collect(),
            other => panic!("not a map: {other:?}"),
        }
    };
    let entries: Value = redis::cmd("XRANGE")
        .arg(key)
        .arg("-")
        .arg("+")
        .query(&mut c)
        .unwrap();
    let mut out = vec![format!("{entries:?}")];
    let info: Value = redis::cmd("XINFO")
        .arg("STREAM")
        .arg(key)
        .query(&mut c)
        .unwrap();
    for (name, value) in fields(info) {
        if name == "length" || name == "last-generated-id" {
            out.push(format!("{name}={}", text(&value)));
        }
    }
    let groups: Vec<Value> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(key)
        .query(&mut c)
        .unwrap();
    for group in groups {
        let g = fields(group);
        let get = |f: &str| {
            g.iter()
                .find(|(k, _)| k == f)
                .map(|(_, v)| text(v))
                .unwrap_or_default()
        };
        let name = get("name");
        out.push(format!(
            "group {name} last={} pending={} consumers={}",
            get("last-delivered-id"),
            get("pending"),
            get("consumers")
        ));
        let pending: Vec<Vec<Value>> = redis::cmd("XPENDING")
            .arg(key)
            .arg(&name)
            .arg("-")
            .arg("+")
            .arg(10_000)
            .query(&mut c)
            .unwrap();
        for p in pending {
            // id, consumer, idle ms (differs), delivery count
            out.push(format!(
                "pending {} {} {}",
                text(&p[0]),
                text(&p[1]),
                text(&p[3])
            ));
        }
    }
    out.join("\n")
}

#[test]
fn redis_6_0_to_8_0() {
    redis_upgrade(redis("6.0"), redis("8.0"));
}

#[test]
fn redis_7_0_to_valkey_8_1() {
    redis_upgrade(redis("7.0"), valkey("8.1"));
}

/// The restore fails, its message names the backup's and the target's version, and the
/// target's fingerprint is what it was.
#[track_caller]
fn assert_downgrade_refused(
    app: &App,
    source_version: &str,
    target_version: &str,
    fingerprint: &dyn Fn() -> Fingerprint,
) {
    let before = fingerprint();
    let out = app.restore_latest("dst", Some("src"));
    assert_eq!(
        out.code,
        1,
        "a downgrade restore must fail:\n{}",
        out.all_text()
    );
    let text = out.all_text();
    for version in [source_version, target_version, "version_downgrade"] {
        assert!(
            text.contains(version),
            "the refusal should name {version:?}:\n{text}"
        );
    }
    before.assert_same(&fingerprint(), "the target after a refused downgrade");
}

#[test]
fn postgres_15_to_13_is_refused_untouched() {
    let (new, old) = (postgres("15"), postgres("13"));
    let src = new.pg.create_db();
    src.psql("CREATE TABLE from_15 (id int); INSERT INTO from_15 VALUES (15);");
    let dst = old.pg.create_db();
    dst.psql("CREATE TABLE keep_me (id int); INSERT INTO keep_me VALUES (13);");
    let app = App::start();
    app.add_target("src", &src.url());
    app.add_target("dst", &dst.url());
    Cli::backup_wait(&app, "src");
    let v15 = src.query("SHOW server_version");
    let v13 = dst.query("SHOW server_version");
    assert_downgrade_refused(&app, &v15, &v13, &|| dst.fingerprint());
}

#[test]
fn mariadb_11_8_to_10_5_is_refused_untouched() {
    let (new, old) = (mariadb("11.8"), mariadb("10.5"));
    let src = new.my.create_db();
    src.sql("CREATE TABLE from_11 (id INT); INSERT INTO from_11 VALUES (11);");
    let dst = old.my.create_db();
    dst.sql("CREATE TABLE keep_me (id INT); INSERT INTO keep_me VALUES (10);");
    let app = App::start();
    app.add_target("src", &src.url());
    app.add_target("dst", &dst.url());
    Cli::backup_wait(&app, "src");
    let v11 = src.sql("SELECT VERSION()");
    let v10 = dst.sql("SELECT VERSION()");
    assert_downgrade_refused(&app, &v11, &v10, &|| dst.fingerprint());
}

#[test]
fn redis_8_0_to_6_0_is_refused_untouched() {
    let (new, old) = (redis("8.0"), redis("6.0"));
    new.redis.load_awkward(0);
    old.redis.load_awkward(2);
    let app = App::start();
    app.add_target("src", &new.redis.url(None));
    app.add_target("dst", &old.redis.url(None));
    Cli::backup_wait(&app, "src");
    let version = |r: &cairn_tests::RedisServer| -> String {
        let mut c = r.conn(0);
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query(&mut c)
            .expect("INFO");
        info.lines()
            .find_map(|l| l.strip_prefix("redis_version:"))
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    let (v8, v6) = (version(&new.redis), version(&old.redis));
    assert_downgrade_refused(&app, &v8, &v6, &|| old.redis.fingerprint());
}
