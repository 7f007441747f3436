//! Shared harness for the PostgreSQL and MySQL engine tests: unique names, free ports,
//! running a dump into memory and a restore from it, manifests, and `/proc` scans for
//! leaked passwords. Servers: `pg.rs` and `mysql.rs`.
#![allow(dead_code)]

pub mod mysql;
pub mod pg;

use bytes::Bytes;
use cairn_domain::{Endpoint, Failure, Manifest};
use cairn_engines::{Connection, Progress, Secret, ServerInfo, CHUNK};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// `prefix_<12 hex>`: unique across parallel tests and processes.
pub fn unique(prefix: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u32(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    format!("{prefix}_{:012x}", h.finish() & 0xffff_ffff_ffff)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn conn(url: &str, password: Option<&str>) -> Connection {
    Connection {
        endpoint: Endpoint::parse(url).unwrap_or_else(|e| panic!("{url}: {e}")),
        password: password.map(Secret::new),
        ca_file: None,
    }
}

/// Runs `dump` and collects everything it sends (tests only: a real backup streams).
pub async fn dump_to_vec(conn: &Connection) -> Result<Vec<u8>, Failure> {
    let (tx, mut rx) = mpsc::channel::<Bytes>(8);
    let c = conn.clone();
    let task = tokio::spawn(async move { cairn_engines::dump(&c, tx, Progress::new()).await });
    let mut data = Vec::new();
    while let Some(chunk) = rx.recv().await {
        assert!(chunk.len() <= CHUNK * 2, "chunks stay bounded");
        data.extend_from_slice(&chunk);
    }
    task.await.unwrap().map(|()| data)
}

/// Feeds `data` to `restore` in CHUNK pieces; with `fail_after`, an `Err` item replaces
/// everything after that many bytes (an artifact that turned out unreadable).
pub async fn restore_from(
    conn: &Connection,
    manifest: &Manifest,
    data: &[u8],
    fail_after: Option<usize>,
) -> Result<u64, Failure> {
    let (tx, rx) = mpsc::channel::<Result<Bytes, Failure>>(4);
    let data = Bytes::copy_from_slice(data);
    let feeder = tokio::spawn(async move {
        let end = fail_after.unwrap_or(data.len()).min(data.len());
        for start in (0..end).step_by(CHUNK) {
            let piece = data.slice(start..(start + CHUNK).min(end));
            if tx.send(Ok(piece)).await.is_err() {
                return;
            }
        }
        if fail_after.is_some() {
            let _ = tx
                .send(Err(Failure::permanent(
                    "checksum_mismatch",
                    "artifact unreadable",
                )))
                .await;
        }
    });
    let result = cairn_engines::restore(conn, manifest, rx, Progress::new()).await;
    feeder.abort();
    result
}

/// A manifest for a backup of `endpoint` taken from a server like `info`.
pub fn manifest(endpoint: &Endpoint, info: &ServerInfo, size: usize) -> Manifest {
    let format = cairn_engines::dump_format(endpoint);
    serde_json::from_value(serde_json::json!({
        "format": 1,
        "id": "20260101T000000Z-0a1b2c3d",
        "target": "t",
        "engine": endpoint.engine,
        "server_version": info.version,
        "scope": endpoint.scope,
        "artifact": format.artifact,
        "size_bytes": size,
        "stored_bytes": size,
        "sha256": "0".repeat(64),
        "compression": "zstd",
        "format_name": format.format_name,
        "job_id": "0a1b2c3d-0000-7000-8000-000000000000",
        "created_at": "2026-01-01T00:00:00Z",
        "duration_seconds": 1.0,
    }))
    .expect("a valid manifest")
}

/// Polls `f` until it returns `Some`, or panics after `secs`.
pub async fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Processes whose command line contains all of `needles`, with their argv.
pub fn processes_with(needles: &[&str]) -> Vec<(u32, Vec<String>)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = raw
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let line = args.join(" ");
        if needles.iter().all(|n| line.contains(n)) {
            found.push((pid, args));
        }
    }
    found
}

/// Every process whose argv or environment holds `secret` (there must be none).
pub fn processes_leaking(secret: &str) -> Vec<String> {
    let mut leaks = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if entry.file_name().to_string_lossy().parse::<u32>().is_err() {
            continue;
        }
        for file in ["cmdline", "environ"] {
            if let Ok(raw) = std::fs::read(entry.path().join(file)) {
                if raw.windows(secret.len()).any(|w| w == secret.as_bytes()) {
                    leaks.push(format!("{}/{file}", entry.path().display()));
                }
            }
        }
    }
    leaks
}

/// Asserts two fingerprints are equal, showing only the differing lines.
pub fn assert_same(before: &[String], after: &[String], what: &str) {
    if before != after {
        let only_before: Vec<_> = before.iter().filter(|l| !after.contains(l)).collect();
        let only_after: Vec<_> = after.iter().filter(|l| !before.contains(l)).collect();
        panic!("{what}: fingerprints differ\n  only before: {only_before:#?}\n  only after: {only_after:#?}");
    }
}
