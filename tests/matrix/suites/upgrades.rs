//! Upgrades, the reason operators back up before redeploying a server: a backup of an
//! older server restored onto a newer one holds what the source held (fingerprints
//! compared); and the other way round, a restore onto an older major version is refused
//! before the target is touched, naming both versions.
//!
//! PostgreSQL 13 → 15 runs through a local `cairn up` (this machine's `pg_dump` 15);
//! 13 → 17 through cairn's image (`pg_dump` 17: a dump must be loaded by the newer side).

use cairn_matrix::*;
use cairn_tests::{pg, App, Pg};

/// A database: the awkward data set onto an empty database of the newer server that held
/// a table of its own (gone afterwards).
fn pg_database_upgrade(cairn: &dyn Cli, from: &str, to: &str) {
    let (old, new) = (postgres(from), postgres(to));
    let src = old.pg.create_db();
    src.load_awkward();
    let dst = new.pg.create_db();
    dst.psql("CREATE TABLE only_on_the_target (id int); INSERT INTO only_on_the_target VALUES (1);");
    cairn.add_target("src", &src.url());
    cairn.add_target("dst", &dst.url());
    cairn.backup_wait("src");
    cairn.restore_ok("dst", Some("src"));
    src.fingerprint()
        .assert_same(&dst.fingerprint(), &format!("PostgreSQL {from} database restored onto {to}"));
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
    s.server_fingerprint().assert_same(
        &d.server_fingerprint(),
        &format!("PostgreSQL {from} server restored onto {to}"),
    );
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
    src.fingerprint()
        .assert_same(&dst.fingerprint(), "MariaDB 10.5 database restored onto 11.8");
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
    old.redis.fingerprint().assert_same(
        &new.redis.fingerprint(),
        &format!("Redis {} restored onto {}", old.version, new.version),
    );
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
    fingerprint: &dyn Fn() -> cairn_tests::Fingerprint,
) {
    let before = fingerprint();
    let out = app.restore_latest("dst", Some("src"));
    assert_ne!(out.code, 0, "a downgrade restore must fail:\n{}", out.all_text());
    let text = out.all_text();
    for version in [source_version, target_version] {
        assert!(
            text.contains(version),
            "the refusal should name version {version}:\n{text}"
        );
    }
    assert!(text.contains("version_downgrade") || text.contains("older major"), "{text}");
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
        let info: String = redis::cmd("INFO").arg("server").query(&mut c).expect("INFO");
        info.lines()
            .find_map(|l| l.strip_prefix("redis_version:"))
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    let (v8, v6) = (version(&new.redis), version(&old.redis));
    assert_downgrade_refused(&app, &v8, &v6, &|| old.redis.fingerprint());
}
