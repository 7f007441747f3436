//! PostgreSQL, one database, on the shared server: a restore brings back exactly what
//! was backed up, a failed restore leaves the target untouched, and errors say what is
//! wrong and whether a retry can help.

mod common;

use common::pg::{self, SharedDb, AWKWARD, CHANGES};
use common::{assert_same, conn, dump_to_vec, manifest, restore_from};

#[tokio::test]
async fn round_trip_restores_exactly_the_backup() {
    let db = SharedDb::create().await;
    let mut c = db.connect().await;
    pg::exec(&mut c, AWKWARD).await;
    let before = pg::fingerprint(&mut c).await;
    assert!(before.iter().any(|l| l.starts_with("lo ")), "{before:#?}");

    let target = conn(&db.url(), None);
    let info = cairn_engines::preflight(&target).await.unwrap();
    assert_eq!((info.flavor.as_str(), info.major), ("postgres", 15));
    let data = dump_to_vec(&target).await.unwrap();
    assert!(String::from_utf8_lossy(&data).contains("PostgreSQL database dump"));

    pg::exec(&mut c, CHANGES).await;
    assert_ne!(pg::fingerprint(&mut c).await, before);
    drop(c);

    let m = manifest(&target.endpoint, &info, data.len());
    cairn_engines::check_restore(&m, &target.endpoint, &info).unwrap();
    let applied = restore_from(&target, &m, &data, None).await.unwrap();
    assert_eq!(applied, data.len() as u64);

    let mut c = db.connect().await;
    assert_same(&before, &pg::fingerprint(&mut c).await, "after restore");
    let extra: Option<String> = sqlx::query_scalar("SELECT to_regclass('public.extra')::text")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(extra, None, "a table created after the backup is gone");
    // The identity and the trigger work as before.
    pg::exec(
        &mut c,
        r#"INSERT INTO "schéma ü"."tâble 表" ("cölumn ✓") VALUES ('after restore')"#,
    )
    .await;
    let audited: i64 = sqlx::query_scalar("SELECT count(*) FROM public.audit")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(audited, 503);
    drop(c);
    assert_eq!(
        leftover_temp_databases(&db.name).await,
        Vec::<String>::new()
    );

    // The same backup restores under another (new) database name.
    let copy = format!("{}_copy", db.name);
    let _guard = DropOnExit(copy.clone());
    let other = conn(&format!("postgres://postgres@127.0.0.1:5432/{copy}"), None);
    cairn_engines::check_restore(&m, &other.endpoint, &info).unwrap();
    restore_from(&other, &m, &data, None).await.unwrap();
    let mut c = pg::connect(pg::SHARED_PORT, None, &copy).await;
    assert_same(&before, &pg::fingerprint(&mut c).await, "restored copy");
}

#[tokio::test]
async fn a_failed_restore_leaves_the_target_untouched() {
    let db = SharedDb::create().await;
    let mut c = db.connect().await;
    pg::exec(
        &mut c,
        "CREATE TABLE t (x int, pad text); INSERT INTO t SELECT g, repeat('p', 300) FROM generate_series(1, 5000) g;",
    )
    .await;
    let target = conn(&db.url(), None);
    let info = cairn_engines::preflight(&target).await.unwrap();
    let data = dump_to_vec(&target).await.unwrap();
    assert!(
        data.len() > 3 * cairn_engines::CHUNK,
        "big enough to stop midway"
    );
    pg::exec(
        &mut c,
        "DELETE FROM t WHERE x > 10; CREATE TABLE later (y int);",
    )
    .await;
    let current = pg::fingerprint(&mut c).await;
    drop(c);
    let m = manifest(&target.endpoint, &info, data.len());

    // The artifact becomes unreadable midway: the load is abandoned and rolled back.
    let err = restore_from(&target, &m, &data, Some(data.len() / 2))
        .await
        .unwrap_err();
    assert_eq!(err.code, "checksum_mismatch");
    // The artifact ends early without an error: nothing may be committed.
    let err = restore_from(&target, &m, &data[..data.len() / 2], None)
        .await
        .unwrap_err();
    assert_eq!(err.code, "artifact_truncated");
    // A dump that fails to load (a bad statement at the end).
    let mut broken = data.clone();
    broken.extend_from_slice(b"\nTHIS IS NOT SQL;\n");
    let m_broken = manifest(&target.endpoint, &info, broken.len());
    let err = restore_from(&target, &m_broken, &broken, None)
        .await
        .unwrap_err();
    assert_eq!(err.code, "restore_failed");
    assert!(!err.retryable);
    assert!(err.message.contains("syntax error"), "{}", err.message);

    let mut c = db.connect().await;
    assert_same(
        &current,
        &pg::fingerprint(&mut c).await,
        "after failed restores",
    );
    drop(c);
    assert_eq!(
        leftover_temp_databases(&db.name).await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn a_cancelled_restore_cleans_up_after_itself() {
    let db = SharedDb::create().await;
    let mut c = db.connect().await;
    pg::exec(
        &mut c,
        "CREATE TABLE t AS SELECT g AS x, repeat('p', 300) AS pad FROM generate_series(1, 5000) g",
    )
    .await;
    let target = conn(&db.url(), None);
    let info = cairn_engines::preflight(&target).await.unwrap();
    let data = dump_to_vec(&target).await.unwrap();
    pg::exec(&mut c, "DELETE FROM t WHERE x > 10").await;
    let current = pg::fingerprint(&mut c).await;
    let m = manifest(&target.endpoint, &info, data.len());

    // Half the artifact arrives, then nothing: the job is cancelled while loading.
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    for piece in data[..data.len() / 2].chunks(cairn_engines::CHUNK) {
        tx.send(Ok(bytes::Bytes::copy_from_slice(piece)))
            .await
            .unwrap();
    }
    let t = target.clone();
    let task = tokio::spawn(async move {
        cairn_engines::restore(&t, &m, rx, cairn_engines::Progress::new()).await
    });
    poll(|| async { leftover_temp_databases(&db.name).await.len() == 1 }).await;
    task.abort();
    poll(|| async { leftover_temp_databases(&db.name).await.is_empty() }).await;
    drop(tx);
    assert_same(
        &current,
        &pg::fingerprint(&mut c).await,
        "after a cancelled restore",
    );
}

/// Polls an async condition until it holds, for at most 30 s.
async fn poll<F: std::future::Future<Output = bool>>(mut f: impl FnMut() -> F) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !f().await {
        assert!(
            std::time::Instant::now() < deadline,
            "condition not reached in time"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn preflight_and_dump_errors_say_what_is_wrong() {
    let missing = conn(
        "postgres://postgres@127.0.0.1:5432/cairn_t_no_such_db",
        None,
    );
    let err = cairn_engines::preflight(&missing).await.unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.retryable),
        ("database_missing", false)
    );
    assert!(
        err.message.contains("cairn_t_no_such_db"),
        "{}",
        err.message
    );
    let err = dump_to_vec(&missing).await.unwrap_err();
    assert_eq!((err.code.as_str(), err.retryable), ("dump_failed", false));
    assert!(err.message.contains("does not exist"), "{}", err.message);

    let port = common::free_port();
    let nowhere = conn(&format!("postgres://postgres@127.0.0.1:{port}/x"), None);
    let err = cairn_engines::preflight(&nowhere).await.unwrap_err();
    assert_eq!((err.code.as_str(), err.retryable), ("unreachable", true));
    assert!(
        err.message.contains(&format!("127.0.0.1:{port}")),
        "{}",
        err.message
    );
    let err = dump_to_vec(&nowhere).await.unwrap_err();
    assert!(err.retryable, "{err:?}");

    let server = conn("postgres://postgres@127.0.0.1:5432/", None);
    let info = cairn_engines::preflight(&server).await.unwrap();
    assert_eq!(info.major, 15);
}

#[tokio::test]
async fn a_dump_tool_error_fails_the_dump() {
    let db = SharedDb::create().await;
    let role = common::unique("cairn_t_role");
    let mut c = db.connect().await;
    pg::exec(
        &mut c,
        &format!(
            "CREATE TABLE secret_t (x int); CREATE ROLE {} LOGIN;",
            pg::q(&role)
        ),
    )
    .await;
    let weak = conn(
        &format!("postgres://{role}@127.0.0.1:5432/{}", db.name),
        None,
    );
    let result = dump_to_vec(&weak).await;
    pg::exec(
        &mut c,
        &format!("DROP OWNED BY {0}; DROP ROLE {0};", pg::q(&role)),
    )
    .await;
    let err = result.unwrap_err();
    assert_eq!((err.code.as_str(), err.retryable), ("dump_failed", false));
    assert!(err.message.contains("permission denied"), "{}", err.message);
}

/// Temporary restore databases for `name` still present.
async fn leftover_temp_databases(name: &str) -> Vec<String> {
    let mut c = pg::connect(pg::SHARED_PORT, None, "postgres").await;
    sqlx::query_scalar(
        "SELECT datname::text FROM pg_database \
         WHERE datname ~ '_cairn_restore_[0-9a-f]{8}$' AND starts_with($1, left(datname, -23))",
    )
    .bind(name)
    .fetch_all(&mut c)
    .await
    .unwrap()
}

struct DropOnExit(String);

impl Drop for DropOnExit {
    fn drop(&mut self) {
        pg::drop_shared_database(&self.0);
    }
}
