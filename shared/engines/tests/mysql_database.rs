//! MariaDB, one database, on the shared server: a restore brings back exactly what was
//! backed up (also under another name), passwords stay out of process lists, and errors
//! say what is wrong and whether a retry can help.

mod common;

use bytes::Bytes;
use cairn_engines::Progress;
use common::mysql::{self, lit, q, SharedDb, AWKWARD, CHANGES};
use common::{assert_same, conn, dump_to_vec, manifest, restore_from};
use std::process::Command;
use tokio::sync::mpsc;

#[tokio::test]
async fn round_trip_restores_exactly_the_backup() {
    let db = SharedDb::create().await;
    let mut c = db.connect().await;
    mysql::exec(&mut c, AWKWARD).await;
    let before = mysql::fingerprint(&mut c, &db.name).await;
    assert!(
        before.iter().any(|l| l.starts_with("event ")),
        "{before:#?}"
    );

    let target = conn(&db.url(), None);
    let info = cairn_engines::preflight(&target).await.unwrap();
    assert_eq!((info.flavor.as_str(), info.major), ("mariadb", 1011));
    let data = dump_to_vec(&target).await.unwrap();
    assert!(data.starts_with(
        b"-- cairn-mysql-database: CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci\n"
    ));

    mysql::exec(&mut c, CHANGES).await;
    assert_ne!(mysql::fingerprint(&mut c, &db.name).await, before);
    drop(c);

    let m = manifest(&target.endpoint, &info, data.len());
    cairn_engines::check_restore(&m, &target.endpoint, &info).unwrap();
    let applied = restore_from(&target, &m, &data, None).await.unwrap();
    assert_eq!(applied, data.len() as u64);
    let mut c = db.connect().await;
    assert_same(
        &before,
        &mysql::fingerprint(&mut c, &db.name).await,
        "after restore",
    );
    // Routines and triggers work as before.
    mysql::exec(
        &mut c,
        &[
            "INSERT INTO `tâble 表` (`cölumn ✓`) VALUES ('after')",
            "CALL `proc ✓`(7)",
        ],
    )
    .await;
    let twice: i64 = sqlx::query_scalar("SELECT `twice ✓`(21)")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(twice, 42);
    let logged: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM `log ✓`")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(logged, 302 + 2);
    drop(c);

    // The same backup restores under another (new) database name.
    let copy = SharedDb {
        name: format!("{}_copy", db.name),
    };
    let other = conn(&copy.url(), None);
    restore_from(&other, &m, &data, None).await.unwrap();
    let mut c = copy.connect().await;
    assert_same(
        &before,
        &mysql::fingerprint(&mut c, &copy.name).await,
        "restored copy",
    );
}

#[tokio::test]
async fn a_password_user_works_and_its_password_never_reaches_a_process_list() {
    let db = SharedDb::create().await;
    let user = common::unique("cairn_t_u");
    let password = "p\"a#s; s\\'wörd=1";
    let _cleanup = DropUser(user.clone());
    let mut root = mysql::connect(mysql::SHARED_PORT, None).await;
    mysql::exec(
        &mut root,
        &[
            &format!("CREATE USER {}@'%' IDENTIFIED BY {}", lit(&user), lit(password)),
            &format!("GRANT ALL ON {}.* TO {}@'%'", q(&db.name), lit(&user)),
            "SET SESSION max_recursive_iterations = 1000000",
            &format!("CREATE TABLE {}.big (id INT PRIMARY KEY, pad VARCHAR(400))", q(&db.name)),
            &format!(
                "INSERT INTO {}.big WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 20000) SELECT n, REPEAT('x', 300) FROM s",
                q(&db.name)
            ),
        ],
    )
    .await;
    let url = format!("mysql://{user}@127.0.0.1:3306/{}", db.name);

    let target = conn(&url, Some(password));
    let info = cairn_engines::preflight(&target).await.unwrap();

    let wrong = conn(&url, Some("wrong-password-4711"));
    let err = cairn_engines::preflight(&wrong).await.unwrap_err();
    assert_eq!((err.code.as_str(), err.retryable), ("auth_failed", false));
    assert!(
        err.message.contains(&user),
        "names the user: {}",
        err.message
    );
    assert!(err.message.contains("cairn target add"), "{}", err.message);
    assert!(!err.message.contains("wrong-password-4711"));

    // A channel nobody reads yet: the dump tool blocks on a full pipe and stays alive.
    let (tx, mut rx) = mpsc::channel::<Bytes>(1);
    let t = target.clone();
    let task = tokio::spawn(async move { cairn_engines::dump(&t, tx, Progress::new()).await });
    let (_, args) = common::wait_for(30, "mariadb-dump", || {
        common::processes_with(&["mariadb-dump", &db.name])
            .into_iter()
            .next()
    })
    .await;
    assert_eq!(common::processes_leaking(password), Vec::<String>::new());
    let defaults = args[1]
        .strip_prefix("--defaults-file=")
        .unwrap_or_else(|| panic!("option file first: {args:?}"))
        .to_string();
    let mut data = Vec::new();
    while let Some(chunk) = rx.recv().await {
        data.extend_from_slice(&chunk);
    }
    task.await.unwrap().unwrap();
    assert!(
        !std::path::Path::new(&defaults).exists(),
        "option file removed"
    );

    // The user restores its own database too (its password goes through the option file).
    let m = manifest(&target.endpoint, &info, data.len());
    mysql::exec(
        &mut root,
        &[&format!("DELETE FROM {}.big WHERE id > 5", q(&db.name))],
    )
    .await;
    // A database's owner may not create the staging database cairn loads into: refused
    // with the grant that is missing, before anything changed.
    let err = restore_from(&target, &m, &data, None).await.unwrap_err();
    let pattern = format!("{}\\_cairn\\_restore\\_%", db.name.replace('_', "\\_"));
    assert_eq!(err.code, "permission_denied", "{err:?}");
    assert!(
        err.message
            .contains(&format!("GRANT ALL ON `{pattern}`.* TO '{user}'@'%'")),
        "{}",
        err.message
    );
    assert!(!err.message.contains(password));
    mysql::exec(
        &mut root,
        &[&format!(
            "GRANT ALL ON {}.* TO {}@'%'",
            q(&pattern),
            lit(&user)
        )],
    )
    .await;
    restore_from(&target, &m, &data, None).await.unwrap();
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM {}.big",
        q(&db.name)
    )))
    .fetch_one(&mut root)
    .await
    .unwrap();
    assert_eq!(n, 20000);
}

#[tokio::test]
async fn preflight_and_dump_errors_say_what_is_wrong() {
    let missing = conn("mysql://root@127.0.0.1:3306/cairn_t_no_such_db", None);
    let err = cairn_engines::preflight(&missing).await.unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.retryable),
        ("database_missing", false)
    );

    let port = common::free_port();
    let nowhere = conn(&format!("mysql://root@127.0.0.1:{port}/x"), None);
    let err = cairn_engines::preflight(&nowhere).await.unwrap_err();
    assert_eq!((err.code.as_str(), err.retryable), ("unreachable", true));
    assert!(
        err.message.contains(&format!("127.0.0.1:{port}")),
        "{}",
        err.message
    );

    // A view whose table is gone makes mariadb-dump fail midway.
    let db = SharedDb::create().await;
    let mut c = db.connect().await;
    mysql::exec(
        &mut c,
        &[
            "CREATE TABLE a (x INT)",
            "INSERT INTO a VALUES (1)",
            "CREATE TABLE t (x INT)",
            "CREATE VIEW v AS SELECT x FROM t",
            "DROP TABLE t",
        ],
    )
    .await;
    let err = dump_to_vec(&conn(&db.url(), None)).await.unwrap_err();
    assert_eq!(err.code, "dump_failed");
    assert!(err.message.contains("mariadb-dump"), "{}", err.message);
}

#[tokio::test]
async fn a_load_error_fails_the_restore() {
    let db = SharedDb::create().await;
    let mut c = db.connect().await;
    mysql::exec(
        &mut c,
        &["CREATE TABLE t (x INT)", "INSERT INTO t VALUES (1), (2)"],
    )
    .await;
    let target = conn(&db.url(), None);
    let info = cairn_engines::preflight(&target).await.unwrap();
    let mut data = dump_to_vec(&target).await.unwrap();
    data.extend_from_slice(b"\nTHIS IS NOT SQL;\n");
    let m = manifest(&target.endpoint, &info, data.len());
    let err = restore_from(&target, &m, &data, None).await.unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.retryable),
        ("restore_failed", false)
    );
    assert!(err.message.contains("ERROR 1064"), "{}", err.message);

    // An artifact unreadable from the start fails before the target is touched.
    let err = restore_from(&target, &m, &data, Some(0)).await.unwrap_err();
    assert_eq!(err.code, "checksum_mismatch");
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(n, 2);
}

struct DropUser(String);

impl Drop for DropUser {
    fn drop(&mut self) {
        let _ = Command::new("mariadb")
            .args(["-h", "127.0.0.1", "-u", "root", "-e"])
            .arg(format!("DROP USER IF EXISTS {}@'%'", lit(&self.0)))
            .status();
    }
}
