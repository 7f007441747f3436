//! A restore only ever loads data: hand-made artifacts that try to run a shell command
//! through the loader's own commands (psql meta-commands, the mariadb client's `\!` and
//! `system`) fail the restore, and the command never runs. Each payload is first shown to
//! work when fed to the bare client, so the test cannot pass with a harmless payload.

mod common;

use common::pg::{self, PrivateCluster, SharedDb};
use common::{assert_same, conn, manifest, restore_from, unique};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// A file a payload would create; removed again on drop.
struct Marker(PathBuf);

impl Marker {
    fn new() -> Self {
        Self(std::env::temp_dir().join(unique("cairn_pwned")))
    }
    fn path(&self) -> String {
        self.0.display().to_string()
    }
    fn exists(&self) -> bool {
        self.0.exists()
    }
}

impl Drop for Marker {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Feeds `script` to a bare client (no protection) and returns whether it ran the payload.
fn bare_client_runs(program: &str, args: &[&str], script: &str, marker: &Marker) -> bool {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    child.wait().unwrap();
    let ran = marker.exists();
    let _ = std::fs::remove_file(&marker.0);
    ran
}

/// Hostile PostgreSQL artifacts: each tries to `touch` the marker.
fn pg_payloads(marker: &Marker) -> Vec<(&'static str, String)> {
    let m = marker.path();
    vec![
        ("shell line", format!("CREATE TABLE IF NOT EXISTS evil (x int);\n\\! touch {m}\n")),
        ("output pipe", format!("\\o |touch {m}\nSELECT 1;\n")),
        ("mid-line shell", format!("CREATE TABLE IF NOT EXISTS evil (x int); \\! touch {m}\n")),
        (
            "its own unrestrict",
            format!("\\restrict abc\nSELECT 1;\n\\unrestrict abc\n\\! touch {m}\n"),
        ),
        (
            "copy to program",
            format!("\\copy (SELECT 1) TO PROGRAM 'touch {m}'\n"),
        ),
        (
            "backtick in an argument",
            format!("\\set x `touch {m}`\nSELECT 1;\n"),
        ),
        (
            "connect with a host",
            format!("\\connect \"host=127.0.0.1 dbname=postgres\"\n\\! touch {m}\n"),
        ),
        (
            "connect with reuse and a host",
            format!("\\connect -reuse-previous=on \"dbname='postgres' host=127.0.0.1\"\n\\! touch {m}\n"),
        ),
        (
            "unterminated string around a connect",
            format!("SELECT $$\n\\connect postgres\n$$;\n\\! touch {m}\n"),
        ),
    ]
}

#[tokio::test]
async fn psql_meta_commands_in_a_database_backup_never_run() {
    let db = SharedDb::create().await;
    let mut c = db.connect().await;
    pg::exec(
        &mut c,
        "CREATE TABLE kept (x int); INSERT INTO kept VALUES (1), (2);",
    )
    .await;
    let before = pg::fingerprint(&mut c).await;
    drop(c);
    let target = conn(&db.url(), None);
    let info = cairn_engines::preflight(&target).await.unwrap();
    let marker = Marker::new();

    let bare = [
        "-X",
        "-q",
        "-h",
        "127.0.0.1",
        "-U",
        "postgres",
        "-d",
        &db.name,
    ];
    let (_, first) = &pg_payloads(&marker)[0];
    assert!(
        bare_client_runs("psql", &bare, first, &marker),
        "the payload runs when psql is not restricted"
    );
    let mut c = db.connect().await;
    pg::exec(&mut c, "DROP TABLE evil").await;
    drop(c);

    for (what, script) in pg_payloads(&marker) {
        let m = manifest(&target.endpoint, &info, script.len());
        let err = restore_from(&target, &m, script.as_bytes(), None)
            .await
            .expect_err(what);
        assert_eq!(err.code, "unsafe_artifact", "{what}: {err}");
        assert!(!err.retryable, "{what}");
        assert!(!marker.exists(), "{what}: the command ran");
        let mut c = db.connect().await;
        assert_same(&before, &pg::fingerprint(&mut c).await, what);
    }
    let mut c = pg::connect(pg::SHARED_PORT, None, "postgres").await;
    let leftovers: Vec<String> = sqlx::query_scalar(
        "SELECT datname::text FROM pg_database WHERE datname LIKE 'cairn_restore_%' AND datname LIKE '%' || $1",
    )
    .bind(&db.name)
    .fetch_all(&mut c)
    .await
    .unwrap();
    assert_eq!(
        leftovers,
        Vec::<String>::new(),
        "temporary databases left behind"
    );
}

#[tokio::test]
async fn psql_meta_commands_in_a_server_backup_never_run() {
    let cluster = PrivateCluster::start();
    let target = conn(&cluster.url(""), Some(&cluster.password));
    let info = cairn_engines::preflight(&target).await.unwrap();
    let marker = Marker::new();
    let mut payloads = pg_payloads(&marker);
    // After a legitimate switch of database, the restriction is back in force.
    payloads.push((
        "shell after a pg_dumpall connect",
        format!("\\connect postgres\n\\! touch {}\n", marker.path()),
    ));
    payloads.push((
        "encoding with a pipe",
        format!("\\encoding UTF8 |touch {}\n", marker.path()),
    ));
    for (what, script) in payloads {
        let m = manifest(&target.endpoint, &info, script.len());
        let err = restore_from(&target, &m, script.as_bytes(), None)
            .await
            .expect_err(what);
        assert_eq!(err.code, "unsafe_artifact", "{what}: {err}");
        assert!(!marker.exists(), "{what}: the command ran");
    }
    // The cluster still answers under the credentials cairn holds.
    let mut c = cluster.connect("postgres").await;
    pg::exec(&mut c, "SELECT 1").await;
}

#[tokio::test]
async fn mariadb_client_commands_never_run() {
    use common::mysql;
    let db = mysql::SharedDb::create().await;
    let mut c = db.connect().await;
    mysql::exec(
        &mut c,
        &[
            "CREATE TABLE kept (x int)",
            "INSERT INTO kept VALUES (1), (2)",
        ],
    )
    .await;
    drop(c);
    let target = conn(&db.url(), None);
    let info = cairn_engines::preflight(&target).await.unwrap();
    let marker = Marker::new();
    let m_path = marker.path();
    let payloads = [
        (
            "shell line",
            format!("CREATE TABLE IF NOT EXISTS evil (x int);\n\\! touch {m_path}\n"),
        ),
        (
            "system line",
            format!("CREATE TABLE IF NOT EXISTS evil (x int);\nsystem touch {m_path}\n"),
        ),
        (
            "system after the dump's own sandbox line",
            format!("/*M!999999\\- enable the sandbox mode */\nsystem touch {m_path}\n"),
        ),
    ];
    let bare = ["-h", "127.0.0.1", "-u", "root", &db.name];
    assert!(
        bare_client_runs("mariadb", &bare, &payloads[0].1, &marker),
        "the payload runs in a bare client"
    );
    for (what, script) in payloads {
        let m = manifest(&target.endpoint, &info, script.len());
        let err = restore_from(&target, &m, script.as_bytes(), None)
            .await
            .expect_err(what);
        assert_eq!(err.code, "restore_failed", "{what}: {err}");
        assert!(!marker.exists(), "{what}: the command ran");
    }
    // A MySQL database restore replaces the database before it loads (not atomic), so
    // only the command is checked here: it never ran.
}
