//! Redis backup → mutate → restore gives back exactly the backed-up data: every type,
//! binary and unicode keys, TTLs, several dbs; a one-db restore leaves other dbs alone;
//! damaged streams fail.

mod redis_common;

use redis::aio::MultiplexedConnection;
use redis_common::{assert_same, dump_to_vec, fingerprint, restore_from, Fingerprint, Server};
use serde_json::json;
use std::time::{Duration, Instant};

/// Fills `db` with awkward data of every type; `tag` makes each db's data distinct.
async fn fill(con: &mut MultiplexedConnection, tag: &str) {
    let mut p = redis::pipe();
    p.cmd("SET").arg(format!("{tag}:plain")).arg("hello");
    p.cmd("SET")
        .arg(b"\x00bin\xff\xfekey".as_slice())
        .arg(b"\x00\x01\x02\xff\xc3\x28 not utf-8".as_slice());
    p.cmd("SET").arg("clé-🔑-ключ").arg("värde ✓");
    p.cmd("SET")
        .arg(format!("{tag}:big"))
        .arg(vec![b'x'; 300_000]);
    p.cmd("SET")
        .arg(format!("{tag}:ttl"))
        .arg("soon")
        .arg("EX")
        .arg(3600);
    p.cmd("HSET")
        .arg(format!("{tag}:hash"))
        .arg("f1")
        .arg("v1")
        .arg(b"\xff".as_slice())
        .arg(b"\x00".as_slice());
    p.cmd("EXPIRE").arg(format!("{tag}:hash")).arg(7200);
    p.cmd("RPUSH")
        .arg(format!("{tag}:list"))
        .arg(&["a", "b", "c", "a"]);
    p.cmd("SADD")
        .arg(format!("{tag}:set"))
        .arg(&["x", "y", "z"]);
    p.cmd("SADD").arg(format!("{tag}:intset")).arg(&[1, 2, 3]);
    p.cmd("ZADD")
        .arg(format!("{tag}:zset"))
        .arg(&[(1.5, "one"), (-2.0, "minus"), (1e10, "big")]);
    p.cmd("PFADD")
        .arg(format!("{tag}:hll"))
        .arg(&["a", "b", "c", "d"]);
    let stream = format!("{tag}:stream");
    for i in 0..5 {
        p.cmd("XADD").arg(&stream).arg("*").arg("n").arg(i);
    }
    p.cmd("XGROUP")
        .arg("CREATE")
        .arg(&stream)
        .arg("g1")
        .arg("0");
    p.cmd("XGROUP")
        .arg("CREATE")
        .arg(&stream)
        .arg("g2")
        .arg("0");
    p.cmd("XREADGROUP")
        .arg(&["GROUP", "g1", "alice", "COUNT", "2", "STREAMS"])
        .arg(&stream)
        .arg(">");
    p.cmd("XREADGROUP")
        .arg(&["GROUP", "g2", "bob", "COUNT", "3", "STREAMS"])
        .arg(&stream)
        .arg(">");
    // Big enough to leave the compact encodings.
    let many: Vec<(String, String)> = (0..600)
        .map(|i| (format!("k{i}"), format!("{i}")))
        .collect();
    p.cmd("HSET").arg(format!("{tag}:bighash")).arg(&many);
    p.exec_async(con).await.unwrap();
}

/// Changes every kind of thing a restore must undo.
async fn mutate(con: &mut MultiplexedConnection, tag: &str) {
    let mut p = redis::pipe();
    p.cmd("DEL").arg(format!("{tag}:list"));
    p.cmd("SET").arg(format!("{tag}:plain")).arg("changed");
    p.cmd("SET")
        .arg(format!("{tag}:new"))
        .arg("after the backup");
    p.cmd("PERSIST").arg(format!("{tag}:ttl"));
    p.cmd("EXPIRE").arg(format!("{tag}:set")).arg(100);
    p.cmd("HSET").arg(format!("{tag}:hash")).arg("f2").arg("v2");
    p.cmd("XGROUP")
        .arg("DESTROY")
        .arg(format!("{tag}:stream"))
        .arg("g2");
    p.cmd("XADD")
        .arg(format!("{tag}:stream"))
        .arg("*")
        .arg("n")
        .arg(99);
    p.exec_async(con).await.unwrap();
}

async fn prints(server: &Server, dbs: &[u32]) -> Vec<Fingerprint> {
    let mut out = Vec::new();
    for &db in dbs {
        out.push(fingerprint(&mut server.db(db).await).await);
    }
    out
}

#[tokio::test]
async fn whole_server_round_trip_restores_every_db_exactly() {
    let server = Server::start(&[]).await;
    for (db, tag) in [(0, "zero"), (3, "three"), (7, "seven")] {
        fill(&mut server.db(db).await, tag).await;
    }
    let dbs = [0, 3, 7, 5];
    let before = prints(&server, &dbs).await;
    assert_eq!(before[0].len(), 13, "{:?}", before[0].keys());
    assert!(before[3].is_empty());

    let artifact = dump_to_vec(&server.conn("")).await.unwrap();

    for (db, tag) in [(0, "zero"), (3, "three"), (7, "seven")] {
        mutate(&mut server.db(db).await, tag).await;
    }
    let _: () = redis::cmd("SET")
        .arg("stray")
        .arg("in an empty db")
        .query_async(&mut server.db(5).await)
        .await
        .unwrap();
    assert_ne!(prints(&server, &dbs).await, before);

    let applied = restore_from(
        &server.conn(""),
        json!({"kind": "server"}),
        artifact.clone(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(applied, artifact.len() as u64);
    let after = prints(&server, &dbs).await;
    for (i, db) in dbs.iter().enumerate() {
        assert_same(&after[i], &before[i], &format!("db {db}"));
    }
    assert!(after[1].contains_key(b"\x00bin\xff\xfekey".as_slice()));
    assert!(!after[0].contains_key(b"zero:new".as_slice()));
}

#[tokio::test]
async fn one_db_restore_leaves_other_dbs_alone() {
    let server = Server::start(&[]).await;
    fill(&mut server.db(0).await, "zero").await;
    fill(&mut server.db(3).await, "three").await;
    let db3_before = fingerprint(&mut server.db(3).await).await;

    let artifact = dump_to_vec(&server.conn("3")).await.unwrap();

    mutate(&mut server.db(0).await, "zero").await;
    mutate(&mut server.db(3).await, "three").await;
    let db0_mutated = fingerprint(&mut server.db(0).await).await;

    restore_from(
        &server.conn("3"),
        json!({"kind": "redis_db", "index": 3}),
        artifact.clone(),
        None,
    )
    .await
    .unwrap();
    assert_same(
        &fingerprint(&mut server.db(3).await).await,
        &db3_before,
        "db 3",
    );
    assert_same(
        &fingerprint(&mut server.db(0).await).await,
        &db0_mutated,
        "db 0",
    );

    // A one-db backup restored onto another db lands there, not in its original db.
    restore_from(
        &server.conn("9"),
        json!({"kind": "redis_db", "index": 3}),
        artifact,
        None,
    )
    .await
    .unwrap();
    assert_same(
        &fingerprint(&mut server.db(9).await).await,
        &db3_before,
        "db 9",
    );
}

#[tokio::test]
async fn damaged_streams_fail_and_a_bad_header_touches_nothing() {
    let server = Server::start(&[]).await;
    fill(&mut server.db(0).await, "zero").await;
    let artifact = dump_to_vec(&server.conn("")).await.unwrap();
    let before = fingerprint(&mut server.db(0).await).await;
    let scope = json!({"kind": "server"});

    let mut bad_magic = artifact.clone();
    bad_magic[0] = b'X';
    let err = restore_from(&server.conn(""), scope.clone(), bad_magic, None)
        .await
        .unwrap_err();
    assert_eq!(err.code, "corrupt_artifact", "{err}");
    assert!(!err.retryable);
    assert_eq!(fingerprint(&mut server.db(0).await).await, before);

    for cut in [artifact.len() / 2, artifact.len() - 1] {
        let err = restore_from(
            &server.conn(""),
            scope.clone(),
            artifact[..cut].to_vec(),
            None,
        )
        .await
        .unwrap_err();
        assert_eq!(err.code, "corrupt_artifact", "cut at {cut}: {err}");
        assert!(err.message.contains("truncated"), "{err}");
    }

    let given = cairn_domain::Failure::retryable("storage_read", "lost the object store");
    let err = restore_from(&server.conn(""), scope, artifact, Some(given.clone()))
        .await
        .unwrap_err();
    assert_eq!((&err.code, err.retryable), (&given.code, given.retryable));
    // The failure keeps its cause and says what the emptied target holds.
    assert!(
        err.message.starts_with(&given.message)
            && err.message.contains("the server was emptied (FLUSHALL)")
            && err.message.contains("running the restore again"),
        "{err}"
    );
}

#[tokio::test]
async fn keys_that_expired_since_the_backup_are_not_restored() {
    let server = Server::start(&[]).await;
    let mut con = server.db(0).await;
    let _: () = redis::pipe()
        .cmd("SET")
        .arg("short")
        .arg("1")
        .arg("PX")
        .arg(300)
        .cmd("SET")
        .arg("long")
        .arg("2")
        .arg("EX")
        .arg(600)
        .cmd("SET")
        .arg("forever")
        .arg("3")
        .query_async(&mut con)
        .await
        .unwrap();
    let artifact = dump_to_vec(&server.conn("")).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let exists: bool = redis::cmd("EXISTS")
            .arg("short")
            .query_async(&mut con)
            .await
            .unwrap();
        if !exists {
            break;
        }
        assert!(Instant::now() < deadline, "key never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // After the backup: `short` comes back without a TTL, `long` gets another value and a
    // short TTL, `forever` gets a TTL, and a new key appears. A restore that did nothing
    // would leave every one of these visible.
    let _: () = redis::pipe()
        .cmd("SET")
        .arg("short")
        .arg("written after the backup")
        .cmd("SET")
        .arg("long")
        .arg("changed")
        .arg("EX")
        .arg(30)
        .cmd("EXPIRE")
        .arg("forever")
        .arg(45)
        .cmd("SET")
        .arg("added")
        .arg("after the backup")
        .query_async(&mut con)
        .await
        .unwrap();
    restore_from(&server.conn(""), json!({"kind": "server"}), artifact, None)
        .await
        .unwrap();
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut con)
        .await
        .unwrap();
    keys.sort();
    assert_eq!(keys, vec!["forever".to_string(), "long".to_string()]);
    let (long, long_ttl, forever, forever_ttl): (String, i64, String, i64) = redis::pipe()
        .cmd("GET")
        .arg("long")
        .cmd("TTL")
        .arg("long")
        .cmd("GET")
        .arg("forever")
        .cmd("TTL")
        .arg("forever")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!((long.as_str(), forever.as_str()), ("2", "3"));
    // The backed-up expiry, counted from backup time: at most 600 s, and the test has not
    // run for more than a few minutes.
    assert!((500..=600).contains(&long_ttl), "ttl of long: {long_ttl}");
    assert_eq!(forever_ttl, -1, "a key without a TTL stays without one");
}

#[tokio::test]
async fn dump_and_restore_throughput_on_200k_keys() {
    let server = Server::start(&["--enable-debug-command", "yes"]).await;
    let mut con = server.db(0).await;
    let _: () = redis::cmd("DEBUG")
        .arg(&["POPULATE", "200000", "key", "64"])
        .query_async(&mut con)
        .await
        .unwrap();
    let sample: Vec<u8> = redis::cmd("GET")
        .arg("key:123456")
        .query_async(&mut con)
        .await
        .unwrap();
    let started = Instant::now();
    let artifact = dump_to_vec(&server.conn("")).await.unwrap();
    let dumped = started.elapsed();
    // Empty the server and leave a stray key, so the count below holds only if the
    // restore wrote every key (and removed what was not in the backup).
    let _: () = redis::pipe()
        .cmd("FLUSHALL")
        .cmd("SET")
        .arg("stray")
        .arg("after the backup")
        .query_async(&mut con)
        .await
        .unwrap();
    let started = Instant::now();
    restore_from(
        &server.conn(""),
        json!({"kind": "server"}),
        artifact.clone(),
        None,
    )
    .await
    .unwrap();
    let restored = started.elapsed();
    let (size, stray, restored_sample): (i64, bool, Vec<u8>) = redis::pipe()
        .cmd("DBSIZE")
        .cmd("EXISTS")
        .arg("stray")
        .cmd("GET")
        .arg("key:123456")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(size, 200_000);
    assert!(
        !stray,
        "a key written after the backup survived the restore"
    );
    assert_eq!(restored_sample, sample);
    eprintln!(
        "redis 200k keys, {} MiB raw: dump {:.2}s ({:.0} keys/s), restore {:.2}s ({:.0} keys/s)",
        artifact.len() / (1024 * 1024),
        dumped.as_secs_f64(),
        200_000.0 / dumped.as_secs_f64(),
        restored.as_secs_f64(),
        200_000.0 / restored.as_secs_f64(),
    );
}
