//! Redis preflight: reads the version from a primary, and refuses replicas, wrong
//! credentials (without echoing them), unreachable servers and missing dbs, each with
//! the right retry verdict.

mod redis_common;

use cairn_domain::Endpoint;
use cairn_engines::{redis as engine, Connection};
use redis_common::{free_port, with_password, Server, Stopped};
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_primary_reports_its_version() {
    let server = Server::start(&[]).await;
    let info = engine::preflight(&server.conn("")).await.unwrap();
    assert_eq!(info.flavor, "redis");
    assert!(
        info.version.starts_with(&format!("{}.", info.major)),
        "{info:?}"
    );
    assert!(info.major >= 6, "{info:?}");
    // A db-scoped endpoint is checked through that db.
    engine::preflight(&server.conn("15")).await.unwrap();
}

#[tokio::test]
async fn a_replica_is_refused_permanently() {
    let primary = Server::start(&[]).await;
    let port = primary.port.to_string();
    let replica = Server::start(&["--replicaof", "127.0.0.1", &port]).await;
    let err = engine::preflight(&replica.conn("")).await.unwrap_err();
    assert_eq!(err.code, "replica", "{err}");
    assert!(!err.retryable);
    assert!(err.message.contains("primary"), "{err}");
}

#[tokio::test]
async fn wrong_or_missing_passwords_fail_without_echoing_them() {
    let server = Server::start(&["--requirepass", "correct-horse-battery"]).await;
    let cases = [("wrong", Some("hunter2-wrong-password")), ("missing", None)];
    for (name, password) in cases {
        let conn = match password {
            Some(p) => with_password(server.conn(""), p),
            None => server.conn(""),
        };
        let err = engine::preflight(&conn).await.unwrap_err();
        assert_eq!(err.code, "auth_failed", "{name}: {err}");
        assert!(!err.retryable, "{name}");
        assert!(err.message.contains("cairn target add"), "{name}: {err}");
        assert!(!err.message.contains("hunter2"), "{name}: {err}");
        assert!(!err.message.contains("correct-horse"), "{name}: {err}");
    }
    let ok = with_password(server.conn(""), "correct-horse-battery");
    engine::preflight(&ok).await.unwrap();
}

#[tokio::test]
async fn an_unreachable_server_is_retryable_and_named() {
    let port = free_port();
    let conn = Connection {
        endpoint: Endpoint::parse(&format!("redis://127.0.0.1:{port}/")).unwrap(),
        password: None,
        ca_file: None,
    };
    let started = Instant::now();
    let err = engine::preflight(&conn).await.unwrap_err();
    assert_eq!(err.code, "unreachable", "{err}");
    assert!(err.retryable);
    assert!(err.message.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[tokio::test]
async fn a_db_beyond_the_servers_count_is_refused() {
    let server = Server::start(&["--databases", "4"]).await;
    let err = engine::preflight(&server.conn("9")).await.unwrap_err();
    assert_eq!(err.code, "no_such_db", "{err}");
    assert!(!err.retryable);
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_as_retryable() {
    // A real redis-server, frozen with SIGSTOP: connections are accepted by the kernel
    // and never answered.
    let server = Server::start(&[]).await;
    let port = server.port;
    let stopped = Stopped::new(server);
    let started = Instant::now();
    let err = engine::preflight(&stopped.server().conn(""))
        .await
        .unwrap_err();
    assert_eq!(err.code, "unreachable", "{err}");
    assert!(err.retryable);
    assert!(err.message.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(35),
        "{:?}",
        started.elapsed()
    );
    // Resumed, the same server passes: the failure was the hang, not the server.
    let server = stopped.resume();
    engine::preflight(&server.conn("")).await.unwrap();
}
