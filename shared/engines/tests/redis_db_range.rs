//! A Redis target's `/N` is checked at preflight against the server's own number of
//! databases (`CONFIG GET databases`), with a message naming the valid range.

mod redis_common;

use redis_common::Server;

#[tokio::test]
async fn a_db_beyond_the_servers_databases_is_refused_with_the_range() {
    let server = Server::start(&["--databases", "4"]).await;
    cairn_engines::redis::preflight(&server.conn("3"))
        .await
        .expect("db 3 of 4 exists");
    for db in ["4", "16", "2147483647"] {
        let err = cairn_engines::redis::preflight(&server.conn(db))
            .await
            .unwrap_err();
        assert_eq!(err.code, "no_such_db", "{db}: {err}");
        assert!(!err.retryable, "{db}");
        assert!(
            err.message.contains("0 to 3") && err.message.contains(&format!("database {db}")),
            "{db}: the message names the valid range: {err}"
        );
    }
}

#[tokio::test]
async fn without_config_the_db_is_tried() {
    let server = Server::start(&["--databases", "4", "--rename-command", "CONFIG", ""]).await;
    cairn_engines::redis::preflight(&server.conn("2"))
        .await
        .expect("db 2 of 4 exists");
    let err = cairn_engines::redis::preflight(&server.conn("9"))
        .await
        .unwrap_err();
    assert_eq!(err.code, "no_such_db", "{err}");
    assert!(err.message.contains("database 9"), "{err}");
}
