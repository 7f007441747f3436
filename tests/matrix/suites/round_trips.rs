//! Every supported server version: back up the awkward data set, change it, restore
//! `latest`, and the fingerprint is the one from backup time. PostgreSQL 13/15, MariaDB and
//! Redis/Valkey go through a local `cairn up` (this machine's client tools); PostgreSQL 17
//! needs `pg_dump` 17, which this machine's Debian release does not ship, so it goes
//! through cairn's own image (see client_rule.rs for the refusal here).

use cairn_matrix::*;
use cairn_tests::{App, Fingerprint};

fn round_trip(
    cairn: &dyn Cli,
    target: &str,
    url: &str,
    fingerprint: &dyn Fn() -> Fingerprint,
    mutate: &dyn Fn(),
) {
    let before = fingerprint();
    cairn.add_target(target, url);
    cairn.backup_wait(target);
    mutate();
    assert!(
        !fingerprint().diff(&before).is_empty(),
        "the changes after the backup should show in the fingerprint"
    );
    cairn.restore_ok(target, None);
    before.assert_same(&fingerprint(), &format!("{target} after restore"));
}

fn postgres_database(cairn: &dyn Cli, version: &str) {
    let server = postgres(version);
    let db = server.pg.create_db();
    db.load_awkward();
    round_trip(
        cairn,
        &format!("pg-{}", version.replace('.', "-")),
        &db.url(),
        &|| db.fingerprint(),
        &|| db.mutate(),
    );
}

fn mariadb_database(version: &str) {
    let server = mariadb(version);
    let db = server.my.create_db();
    db.load_awkward();
    let app = App::start();
    round_trip(
        &app,
        &format!("my-{}", version.replace('.', "-")),
        &db.url(),
        &|| db.fingerprint(),
        &|| db.mutate(),
    );
}

fn redis_server(server: RedisBox) {
    let redis = &server.redis;
    for db in [0, 1, 5] {
        redis.load_awkward(db);
    }
    let app = App::start();
    round_trip(
        &app,
        &format!("redis-{}", server.version.replace('.', "-")),
        &redis.url(None),
        &|| redis.fingerprint(),
        &|| {
            redis.mutate(0);
            redis.mutate(5);
            redis.load_awkward(9);
        },
    );
}

#[test]
fn postgres_13() {
    postgres_database(&App::start(), "13");
}

#[test]
fn postgres_15() {
    postgres_database(&App::start(), "15");
}

#[test]
fn postgres_17_through_the_cairn_image() {
    postgres_database(&Remote::start(), "17");
}

#[test]
fn mariadb_10_5() {
    mariadb_database("10.5");
}

#[test]
fn mariadb_10_11() {
    mariadb_database("10.11");
}

#[test]
fn mariadb_11_8() {
    mariadb_database("11.8");
}

#[test]
fn redis_6_0() {
    redis_server(redis("6.0"));
}

#[test]
fn redis_7_0() {
    redis_server(redis("7.0"));
}

#[test]
fn redis_8_0() {
    redis_server(redis("8.0"));
}

#[test]
fn valkey_8_1() {
    redis_server(valkey("8.1"));
}
