//! Redis restore edge cases: payloads from a newer Redis, an empty backup, a manifest of
//! another format, an ACL user with a password, and backups of the earlier
//! `cairn-redis-v1` format (built here with its encoder) restoring as before.

mod redis_common;

use bytes::BytesMut;
use cairn_engines::redis::format::{Encoder, NO_EXPIRY};
use redis_common::{dump_to_vec, fingerprint, restore_from, with_password, Server};
use serde_json::json;

/// An artifact holding the given `(db, key, payload)` records.
fn artifact(records: &[(u32, &[u8], &[u8])]) -> Vec<u8> {
    let mut enc = Encoder::new();
    let mut buf = BytesMut::new();
    enc.header(&mut buf);
    for (db, key, payload) in records {
        enc.record(&mut buf, *db, key, NO_EXPIRY, payload).unwrap();
    }
    enc.trailer(&mut buf);
    buf.to_vec()
}

#[tokio::test]
async fn payloads_from_a_newer_redis_fail_permanently_with_advice() {
    let server = Server::start(&[]).await;
    let mut con = server.db(0).await;
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query_async(&mut con)
        .await
        .unwrap();
    let mut payload: Vec<u8> = redis::cmd("DUMP")
        .arg("k")
        .query_async(&mut con)
        .await
        .unwrap();
    // A DUMP payload ends with its RDB version (u16 LE) and a CRC-64.
    let n = payload.len();
    payload[n - 10..n - 8].copy_from_slice(&[0xff, 0x00]);
    let bytes = artifact(&[(0, b"from-the-future", &payload)]);
    let err = restore_from(&server.conn(""), json!({"kind": "server"}), bytes, None)
        .await
        .unwrap_err();
    assert_eq!(err.code, "incompatible_payload", "{err}");
    assert!(!err.retryable);
    assert!(err.message.contains("7.0.15 or newer"), "{err}");
}

#[tokio::test]
async fn an_empty_backup_empties_the_target() {
    let server = Server::start(&[]).await;
    let empty = dump_to_vec(&server.conn("")).await.unwrap();
    let text = String::from_utf8(empty.clone()).unwrap();
    assert_eq!(text.matches("*2\r\n$4\r\nECHO\r\n").count(), 2, "{text:?}");
    assert!(
        text.contains("end keys=0 "),
        "header and trailer only: {text:?}"
    );
    for db in [0, 4] {
        let _: () = redis::cmd("SET")
            .arg("later")
            .arg("1")
            .query_async(&mut server.db(db).await)
            .await
            .unwrap();
    }
    restore_from(&server.conn(""), json!({"kind": "server"}), empty, None)
        .await
        .unwrap();
    for db in [0, 4] {
        assert!(
            fingerprint(&mut server.db(db).await).await.is_empty(),
            "db {db}"
        );
    }
}

#[tokio::test]
async fn records_of_a_server_backup_go_back_to_their_own_dbs() {
    let server = Server::start(&[]).await;
    let mut con = server.db(0).await;
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query_async(&mut con)
        .await
        .unwrap();
    let payload: Vec<u8> = redis::cmd("DUMP")
        .arg("k")
        .query_async(&mut con)
        .await
        .unwrap();
    let bytes = artifact(&[(2, b"two", &payload), (11, b"eleven", &payload)]);
    restore_from(&server.conn(""), json!({"kind": "server"}), bytes, None)
        .await
        .unwrap();
    for (db, key) in [(0, None), (2, Some("two")), (11, Some("eleven"))] {
        let keys: Vec<String> = fingerprint(&mut server.db(db).await)
            .await
            .into_keys()
            .map(|k| String::from_utf8(k).unwrap())
            .collect();
        assert_eq!(keys, key.into_iter().map(String::from).collect::<Vec<_>>());
    }
}

#[tokio::test]
async fn a_backup_of_another_format_is_refused_before_touching_the_target() {
    let server = Server::start(&[]).await;
    let _: () = redis::cmd("SET")
        .arg("keep")
        .arg("me")
        .query_async(&mut server.db(0).await)
        .await
        .unwrap();
    let mut manifest = redis_common::manifest(json!({"kind": "server"}));
    manifest.format_name = "pg_dump-plain".into();
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    drop(tx);
    let err = cairn_engines::redis::restore(
        &server.conn(""),
        &manifest,
        rx,
        cairn_engines::Progress::new(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, "format_mismatch", "{err}");
    assert_eq!(fingerprint(&mut server.db(0).await).await.len(), 1);
}

#[tokio::test]
async fn an_acl_user_with_a_password_can_back_up() {
    let server = Server::start(&[]).await;
    let _: () = redis::cmd("ACL")
        .arg(&["SETUSER", "backup", "on", ">s3cret-pw", "~*", "&*", "+@all"])
        .query_async(&mut server.db(0).await)
        .await
        .unwrap();
    let port = server.port;
    let mut conn = server.conn("");
    conn.endpoint =
        cairn_domain::Endpoint::parse(&format!("redis://backup@127.0.0.1:{port}/")).unwrap();
    let conn = with_password(conn, "s3cret-pw");
    cairn_engines::redis::preflight(&conn).await.unwrap();
    dump_to_vec(&conn).await.unwrap();
    let wrong = with_password(conn, "not-it");
    let err = cairn_engines::redis::preflight(&wrong).await.unwrap_err();
    assert_eq!(err.code, "auth_failed", "{err}");
    assert!(!err.message.contains("not-it"), "{err}");
}

#[tokio::test]
async fn a_backup_in_the_earlier_record_format_still_restores_exactly() {
    use cairn_engines::redis::format::Item;
    use cairn_engines::redis::resp::Decoder;
    let server = Server::start(&[]).await;
    for (db, tag) in [(0, "zero"), (6, "six")] {
        let mut con = server.db(db).await;
        let _: () = redis::pipe()
            .cmd("SET")
            .arg(format!("{tag}:s"))
            .arg("v\u{e9}")
            .cmd("HSET")
            .arg(format!("{tag}:h"))
            .arg("f")
            .arg("x")
            .cmd("SET")
            .arg(format!("{tag}:ttl"))
            .arg("t")
            .arg("EX")
            .arg(900)
            .query_async(&mut con)
            .await
            .unwrap();
    }
    let before = (
        fingerprint(&mut server.db(0).await).await,
        fingerprint(&mut server.db(6).await).await,
    );
    // Today's dump, rewritten record by record into the earlier format.
    let resp = dump_to_vec(&server.conn("")).await.unwrap();
    let mut dec = Decoder::new();
    dec.push(&resp);
    let mut enc = Encoder::new();
    let mut legacy = BytesMut::new();
    enc.header(&mut legacy);
    while let Some(item) = dec.next_item().unwrap() {
        if let Item::Record(r) = item {
            enc.record(&mut legacy, r.db, &r.key, r.expire_at_ms, &r.value)
                .unwrap();
        }
    }
    dec.finish().unwrap();
    assert!(enc.records() >= 6);
    enc.trailer(&mut legacy);
    for db in [0, 6] {
        let _: () = redis::cmd("FLUSHDB")
            .query_async(&mut server.db(db).await)
            .await
            .unwrap();
    }
    restore_from(
        &server.conn(""),
        json!({"kind": "server"}),
        legacy.to_vec(),
        None,
    )
    .await
    .unwrap();
    let after = (
        fingerprint(&mut server.db(0).await).await,
        fingerprint(&mut server.db(6).await).await,
    );
    assert!(
        after == before,
        "a cairn-redis-v1 backup restored differently"
    );
}
