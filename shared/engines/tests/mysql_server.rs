//! MariaDB, whole server, on private `mariadbd`s: databases and accounts come back
//! exactly as backed up, and read-only servers and replicas are refused.

mod common;

use common::mysql::{self, PrivateServer, AWKWARD};
use common::{assert_same, conn, dump_to_vec, manifest, restore_from};
use sqlx::mysql::MySqlConnection;

async fn snapshot(c: &mut MySqlConnection) -> Vec<String> {
    let mut all: Vec<String> = sqlx::query_scalar(
        "SELECT CONCAT('db ', SCHEMA_NAME, ' ', DEFAULT_COLLATION_NAME) FROM information_schema.SCHEMATA",
    )
    .fetch_all(&mut *c)
    .await
    .unwrap();
    all.extend(
        sqlx::query_scalar::<_, String>(
            "SELECT CONCAT('user ', User, '@', Host, ' ', CAST(Priv AS CHAR)) FROM mysql.global_priv",
        )
        .fetch_all(&mut *c)
        .await
        .unwrap(),
    );
    all.extend(
        sqlx::query_scalar::<_, String>("SELECT CONCAT('grant ', User, ' ', Db) FROM mysql.db")
            .fetch_all(&mut *c)
            .await
            .unwrap(),
    );
    for db in ["app", "ünï"] {
        let lines = mysql::fingerprint(c, db).await;
        all.extend(lines.into_iter().map(|l| format!("[{db}] {l}")));
    }
    all.sort();
    all
}

#[tokio::test]
async fn server_round_trip_restores_databases_and_accounts() {
    let server = PrivateServer::start().await;
    let mut c = mysql::connect(server.port, None).await;
    mysql::exec(
        &mut c,
        &[
            "CREATE DATABASE app CHARACTER SET utf8mb4",
            "CREATE DATABASE `ünï` CHARACTER SET latin1",
            "CREATE TABLE `ünï`.t (x VARCHAR(10)) CHARACTER SET latin1",
            "INSERT INTO `ünï`.t VALUES ('é'), ('ä')",
            "CREATE USER alice@'%' IDENTIFIED BY 'alice secret'",
            "GRANT SELECT ON app.* TO alice@'%'",
        ],
    )
    .await;
    let mut app = mysql::connect(server.port, Some("app")).await;
    mysql::exec(&mut app, AWKWARD).await;
    drop(app);
    let before = snapshot(&mut c).await;

    let target = conn(&server.url(), None);
    let info = cairn_engines::preflight(&target).await.unwrap();
    let data = dump_to_vec(&target).await.unwrap();

    mysql::exec(
        &mut c,
        &[
            "DROP DATABASE app",
            "CREATE DATABASE later",
            "CREATE TABLE later.t (x INT)",
            "CREATE USER carol@'%'",
            "DROP USER alice@'%'",
            "INSERT INTO `ünï`.t VALUES ('later')",
        ],
    )
    .await;
    drop(c);

    let m = manifest(&target.endpoint, &info, data.len());
    cairn_engines::check_restore(&m, &target.endpoint, &info).unwrap();
    restore_from(&target, &m, &data, None).await.unwrap();

    let mut c = mysql::connect(server.port, None).await;
    assert_same(&before, &snapshot(&mut c).await, "after server restore");
    // The restored account works (grants were flushed).
    let mut alice = mysql::try_connect(server.port, "alice", Some("alice secret"), Some("app"))
        .await
        .expect("alice logs in after the restore");
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM `tâble 表`")
        .fetch_one(&mut alice)
        .await
        .unwrap();
    assert_eq!(n, 295);
    assert!(mysql::try_connect(server.port, "carol", None, None)
        .await
        .is_err());
}

#[tokio::test]
async fn read_only_servers_and_replicas_are_refused() {
    let server = PrivateServer::start().await;
    let target = conn(&server.url(), None);
    let mut c = mysql::connect(server.port, None).await;

    mysql::exec(&mut c, &["SET GLOBAL read_only = 1"]).await;
    let err = cairn_engines::preflight(&target).await.unwrap_err();
    assert_eq!((err.code.as_str(), err.retryable), ("replica", false));
    assert!(err.message.contains("read-only"), "{}", err.message);
    mysql::exec(&mut c, &["SET GLOBAL read_only = 0"]).await;
    cairn_engines::preflight(&target).await.unwrap();

    // A configured (even if not running) replication source makes it a replica.
    let nowhere = common::free_port();
    mysql::exec(
        &mut c,
        &[&format!("CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = {nowhere}, MASTER_USER = 'r'")],
    )
    .await;
    let err = cairn_engines::preflight(&target).await.unwrap_err();
    assert_eq!(err.code, "replica");
    assert!(err.message.contains("primary"), "{}", err.message);
}
