//! A full data directory: a request that cannot be recorded fails with the cause and leaves
//! no job behind, `/v1/health` answers 503 naming the cause, and once space is freed the
//! server heals by itself (no restart) and backs up again. The data directory is a real,
//! small tmpfs (the suites run as root).

use cairn_tests::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A tmpfs of `size` mounted on a fresh directory, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("cairn-it-tmpfs-")
            .tempdir()
            .unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(status.success(), "mounting a tmpfs needs root: {status}");
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Fills the file system holding `dir` with a ballast file.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("ballast");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0x5au8; 64 * 1024];
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
            Err(e) => panic!("filling the tmpfs: {e}"),
        }
    }
    while file.write(&[0x5a]).is_ok_and(|n| n > 0) {}
    path
}

/// `GET /v1/health`: the status code and the JSON body.
fn health(app: &App) -> (u16, Value) {
    let addr = format!("127.0.0.1:{}", app.port);
    let mut stream = std::net::TcpStream::connect(&addr).expect("connect to the server");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(stream, "GET /v1/health HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"));
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    let json = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
    (status, json)
}

fn job_ids(app: &App) -> Vec<String> {
    app.history(&[])
        .iter()
        .filter(|e| e["kind"] != "config")
        .map(|e| e["job_id"].as_str().unwrap_or("?").to_string())
        .collect()
}

#[test]
fn a_full_data_directory_refuses_cleanly_reports_and_heals_without_restart() {
    let fs = Tmpfs::mount("8m");
    let pg = Pg::shared().create_db();
    pg.psql("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 50);");
    let app = App::start_with(AppOptions {
        data_dir: Some(fs.path().to_path_buf()),
        ..AppOptions::default()
    });
    app.add_target("small", &pg.url());
    app.backup_wait("small");
    assert_eq!(health(&app).0, 200);
    let mut jobs = job_ids(&app);
    assert_eq!(jobs.len(), 1);

    let ballast = fill(fs.path());
    // A request may still fit in pages the ledger already holds; one soon cannot.
    let failed = poll(
        "a backup request refused for lack of space",
        Duration::from_secs(60),
        Duration::from_millis(10),
        || {
            let out = app.cairn(&["backup", "small", "--json"]);
            if out.code == 0 {
                jobs.push(out.json()["job_id"].as_str().unwrap().to_string());
                return None;
            }
            Some(out)
        },
    );
    assert_eq!(failed.code, 1, "{}", failed.all_text());
    assert!(
        failed.stderr.contains("No space left on device") && failed.stderr.contains("cannot write"),
        "the refusal names the cause: {}",
        failed.all_text()
    );

    let (status, body) = health(&app);
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "degraded", "{body}");
    let ledger = body["ledger"].as_str().unwrap_or_default();
    assert!(
        ledger.starts_with("cannot write") && ledger.contains("No space left on device"),
        "{body}"
    );
    // The refused request left no job: history holds exactly the accepted ones.
    let mut seen = job_ids(&app);
    seen.sort();
    jobs.sort();
    assert_eq!(seen, jobs, "history after the refusal");

    std::fs::remove_file(ballast).unwrap();
    let body = poll(
        "health to answer 200 again",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || {
            let (status, body) = health(&app);
            (status == 200).then_some(body)
        },
    );
    assert_eq!(body["status"], "ok", "{body}");
    let mut seen = job_ids(&app);
    seen.sort();
    assert_eq!(seen, jobs, "history after recovery");
    app.backup_wait("small");
}
