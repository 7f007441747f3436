//! Checks of the harness itself: fingerprints are stable, notice changes, and survive a
//! correct dump/restore made with the bare tools (so a suite failure means cairn, not a
//! fingerprint that counts OIDs or timestamps).

use crate::mysql::My;
use crate::pg::Pg;
use crate::redis_fx::RedisServer;
use crate::util::run_ok;
use std::process::Command;
use std::time::Duration;

#[test]
fn pg_fingerprint_is_stable_sensitive_and_survives_pg_dump() {
    let pg = Pg::shared();
    let a = pg.create_db();
    a.load_awkward();
    let fp = a.fingerprint();
    fp.assert_same(&a.fingerprint(), "second look");

    let b = pg.create_db();
    let mut dump = Command::new("pg_dump");
    dump.args([
        "-h",
        &pg.host,
        "-p",
        &pg.port.to_string(),
        "-U",
        &pg.user,
        &a.name,
    ]);
    let sql = run_ok(dump, None, Duration::from_secs(120));
    b.psql(&sql);
    fp.assert_same(&b.fingerprint(), "pg_dump | psql copy");

    a.mutate();
    assert!(!fp.diff(&a.fingerprint()).is_empty(), "mutate shows");
}

#[test]
fn mysql_fingerprint_is_stable_sensitive_and_survives_mariadb_dump() {
    let my = My::shared();
    let a = my.create_db();
    a.load_awkward();
    let fp = a.fingerprint();
    fp.assert_same(&a.fingerprint(), "second look");

    let b = my.create_db();
    let mut dump = Command::new("mariadb-dump");
    dump.args([
        "--no-defaults",
        "--protocol=TCP",
        "--single-transaction",
        "--routines",
    ])
    .args([
        "--triggers",
        "--events",
        "--default-character-set=utf8mb4",
        "--hex-blob",
    ])
    .args([
        "-h",
        &my.host,
        "-P",
        &my.port.to_string(),
        "-u",
        &my.user,
        &a.name,
    ]);
    // --hex-blob: the harness reads output as UTF-8 text, raw blob bytes would not survive.
    let sql = run_ok(dump, None, Duration::from_secs(120));
    b.sql(&sql);
    fp.assert_same(&b.fingerprint(), "mariadb-dump | mariadb copy");

    a.mutate();
    assert!(!fp.diff(&a.fingerprint()).is_empty(), "mutate shows");
}

#[test]
fn redis_fingerprint_is_stable_and_sensitive() {
    let redis = RedisServer::start();
    redis.load_awkward(0);
    redis.load_awkward(4);
    let fp = redis.fingerprint();
    fp.assert_same(&redis.fingerprint(), "second look");
    assert!(fp.0["db4"].contains(&hex::encode("db4:stream")), "{fp}");
    // A faithful copy (DUMP + RESTORE with the TTL) has the same fingerprint, even where
    // DUMP bytes of the copy differ (hashtable-encoded sets and hashes).
    let mut from = redis.conn(4);
    let mut to = redis.conn(6);
    let keys: Vec<Vec<u8>> = redis::cmd("KEYS").arg("*").query(&mut from).unwrap();
    for key in keys {
        let dump: Vec<u8> = redis::cmd("DUMP").arg(&key).query(&mut from).unwrap();
        let pttl: i64 = redis::cmd("PTTL").arg(&key).query(&mut from).unwrap();
        let _: () = redis::cmd("RESTORE")
            .arg(&key)
            .arg(pttl.max(0))
            .arg(dump)
            .query(&mut to)
            .unwrap();
    }
    assert_eq!(
        redis.db_fingerprint(4),
        redis.db_fingerprint(6),
        "DUMP/RESTORE copy"
    );
    let _: () = redis::cmd("FLUSHDB").query(&mut to).unwrap();
    redis.mutate(4);
    assert_eq!(fp.diff(&redis.fingerprint()), vec!["db4".to_string()]);
}

#[test]
fn private_servers_start_and_fingerprint_stably() {
    if let Some(server) = crate::private::PrivatePg::start_or_fail() {
        server.pg.query("postgres", "CREATE DATABASE extra");
        let fp = server.pg.server_fingerprint();
        assert!(fp.0.contains_key("extra/relations"), "{fp}");
        fp.assert_same(&server.pg.server_fingerprint(), "private pg, second look");
    }
    if let Some(server) = crate::private::PrivateMy::start_or_fail() {
        server.my.sql(None, "CREATE DATABASE extra");
        let fp = server.my.server_fingerprint();
        assert_eq!(fp.0["databases"], "extra", "{fp}");
        fp.assert_same(
            &server.my.server_fingerprint(),
            "private mariadb, second look",
        );
    }
}
