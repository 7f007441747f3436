//! PostgreSQL, whole server, on private clusters with scram passwords: databases and
//! roles come back exactly as backed up, passwords never reach a process list, and wrong
//! passwords and replicas are refused.

mod common;

use bytes::Bytes;
use cairn_engines::Progress;
use common::pg::{self, PrivateCluster, AWKWARD};
use common::{assert_same, conn, dump_to_vec, manifest, restore_from};
use std::os::unix::fs::MetadataExt;
use tokio::sync::mpsc;

const SETUP: &[&str] = &[
    "CREATE ROLE alice LOGIN PASSWORD 'alice secret'",
    "CREATE ROLE \"Bob ü\" NOLOGIN",
    "GRANT alice TO \"Bob ü\"",
    "CREATE DATABASE app OWNER alice",
    "CREATE DATABASE \"ünï db\"",
    "CREATE TABLE public.in_postgres (id int PRIMARY KEY, v text)",
    "INSERT INTO public.in_postgres VALUES (1, 'kept'), (2, 'also kept')",
];

async fn snapshot(cluster: &PrivateCluster) -> Vec<String> {
    let mut c = cluster.connect("postgres").await;
    let mut all = pg::cluster_fingerprint(&mut c).await;
    let dbs: Vec<String> = sqlx::query_scalar(
        "SELECT datname::text FROM pg_database WHERE datname <> 'template0' ORDER BY 1",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    for db in dbs {
        let mut d = cluster.connect(&db).await;
        all.extend(
            pg::fingerprint(&mut d)
                .await
                .into_iter()
                .map(|l| format!("[{db}] {l}")),
        );
    }
    all
}

#[tokio::test]
async fn server_round_trip_restores_databases_and_roles() {
    let cluster = PrivateCluster::start();
    let mut c = cluster.connect("postgres").await;
    pg::exec_each(&mut c, SETUP).await;
    let mut app = cluster.connect("app").await;
    pg::exec(&mut app, AWKWARD).await;
    pg::exec(&mut app, "ALTER TABLE public.audit OWNER TO alice;").await;
    drop(app);
    let mut u = cluster.connect("ünï db").await;
    pg::exec(
        &mut u,
        "CREATE TABLE \"ü\" (x text); INSERT INTO \"ü\" VALUES ('✓');",
    )
    .await;
    drop(u);
    let before = snapshot(&cluster).await;

    let target = conn(&cluster.url(""), Some(&cluster.password));
    let info = cairn_engines::preflight(&target).await.unwrap();
    let data = dump_to_vec(&target).await.unwrap();

    // After the backup: a database dropped, one created, roles created, changed, dropped.
    pg::exec_each(
        &mut c,
        &[
            "DROP DATABASE app WITH (FORCE)",
            "CREATE DATABASE later",
            "CREATE ROLE carol LOGIN",
            "ALTER ROLE alice PASSWORD 'changed'",
            "DROP ROLE \"Bob ü\"",
            "INSERT INTO public.in_postgres VALUES (3, 'added')",
            "CREATE TABLE public.later_t (x int)",
        ],
    )
    .await;
    let mut later = cluster.connect("later").await;
    pg::exec(&mut later, "CREATE TABLE t (x int);").await;
    drop(later);
    // A session left open on a database must not block the restore.
    let mut idle = cluster.connect("ünï db").await;
    pg::exec(&mut idle, "SELECT 1").await;
    drop(c);

    let m = manifest(&target.endpoint, &info, data.len());
    cairn_engines::check_restore(&m, &target.endpoint, &info).unwrap();
    restore_from(&target, &m, &data, None).await.unwrap();
    drop(idle);

    assert_same(&before, &snapshot(&cluster).await, "after server restore");

    // Restoring again over the restored server is idempotent.
    restore_from(&target, &m, &data, None).await.unwrap();
    assert_same(&before, &snapshot(&cluster).await, "after a second restore");
}

#[tokio::test]
async fn passwords_never_reach_argv_or_the_environment() {
    let cluster = PrivateCluster::start();
    let mut c = cluster.connect("postgres").await;
    pg::exec(&mut c, "CREATE DATABASE big").await;
    let mut big = cluster.connect("big").await;
    pg::exec(
        &mut big,
        "CREATE TABLE big AS SELECT g, repeat('x', 300) AS pad FROM generate_series(1, 20000) g",
    )
    .await;
    drop(big);

    for (url, tool) in [
        (cluster.url("big"), "pg_dump"),
        (cluster.url(""), "pg_dumpall"),
    ] {
        let target = conn(&url, Some(&cluster.password));
        // A channel nobody reads yet: the dump tool blocks on a full pipe and stays alive.
        let (tx, mut rx) = mpsc::channel::<Bytes>(1);
        let t = target.clone();
        let task = tokio::spawn(async move { cairn_engines::dump(&t, tx, Progress::new()).await });
        let port = cluster.port.to_string();
        // The tool itself, not Debian's perl wrapper of the same name that execs it, nor a
        // process still between fork and exec: their environments are not the tool's yet.
        let (pid, args) = common::wait_for(30, tool, || {
            common::processes_with(&[tool, &port])
                .into_iter()
                .find(|(pid, _)| runs_binary(*pid, tool))
        })
        .await;
        assert_eq!(
            common::processes_leaking(&cluster.password),
            Vec::<String>::new()
        );
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        assert!(
            runs_binary(pid, tool),
            "{tool} (pid {pid}) ended or changed while its environment was read"
        );
        let passfile = environ
            .split(|b| *b == 0)
            .filter_map(|v| std::str::from_utf8(v).ok())
            .find_map(|v| v.strip_prefix("PGPASSFILE="))
            .map(str::to_string)
            .unwrap_or_else(|| panic!("PGPASSFILE set for {args:?}"));
        assert_eq!(std::fs::metadata(&passfile).unwrap().mode() & 0o777, 0o600);
        while rx.recv().await.is_some() {}
        task.await.unwrap().unwrap();
        assert!(
            !std::path::Path::new(&passfile).exists(),
            "password file removed"
        );
    }
}

/// Whether process `pid` runs the binary named `tool` (`/proc/PID/exe`), rather than a
/// wrapper script's interpreter or its parent's image before exec.
fn runs_binary(pid: u32, tool: &str) -> bool {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .is_ok_and(|exe| exe.file_name().is_some_and(|name| name == tool))
}

#[tokio::test]
async fn a_wrong_password_is_refused_for_good() {
    let cluster = PrivateCluster::start();
    let wrong = "not-the-password-4711";
    let target = conn(&cluster.url(""), Some(wrong));
    let err = cairn_engines::preflight(&target).await.unwrap_err();
    assert_eq!((err.code.as_str(), err.retryable), ("auth_failed", false));
    assert!(
        err.message.contains("postgres"),
        "names the user: {}",
        err.message
    );
    assert!(err.message.contains("cairn target add"), "{}", err.message);
    assert!(!err.message.contains(wrong));
    // pg_dump names the cause; pg_dumpall only says it could not connect.
    let one_db = conn(&cluster.url("postgres"), Some(wrong));
    let err = dump_to_vec(&one_db).await.unwrap_err();
    assert!(!err.retryable, "{err:?}");
    assert!(
        err.message.contains("password authentication failed"),
        "{}",
        err.message
    );
    assert!(!err.message.contains(wrong));
    let err = dump_to_vec(&target).await.unwrap_err();
    assert_eq!(err.code, "dump_failed");
    assert!(!err.message.contains(wrong));
}

#[tokio::test]
async fn a_replica_is_refused() {
    let cluster = PrivateCluster::start();
    let replica = cluster.start_replica();
    let target = conn(
        &format!("postgres://postgres@127.0.0.1:{}/", replica.port),
        Some(&cluster.password),
    );
    let err = cairn_engines::preflight(&target).await.unwrap_err();
    assert_eq!((err.code.as_str(), err.retryable), ("replica", false));
    assert!(err.message.contains("primary"), "{}", err.message);
    let primary = conn(&cluster.url(""), Some(&cluster.password));
    assert_eq!(cairn_engines::preflight(&primary).await.unwrap().major, 15);
}

#[tokio::test]
async fn the_postgres_database_itself_restores_in_place() {
    let cluster = PrivateCluster::start();
    let mut c = cluster.connect("postgres").await;
    pg::exec(
        &mut c,
        "CREATE TABLE kept (x int); INSERT INTO kept VALUES (1);",
    )
    .await;
    let before = pg::fingerprint(&mut c).await;
    let target = conn(&cluster.url("postgres"), Some(&cluster.password));
    let info = cairn_engines::preflight(&target).await.unwrap();
    let data = dump_to_vec(&target).await.unwrap();
    pg::exec(&mut c, "DROP TABLE kept; CREATE TABLE later (y int);").await;
    let m = manifest(&target.endpoint, &info, data.len());
    // Our own open session is disconnected by the restore.
    restore_from(&target, &m, &data, None).await.unwrap();
    let mut c = cluster.connect("postgres").await;
    assert_same(&before, &pg::fingerprint(&mut c).await, "postgres database");
}
