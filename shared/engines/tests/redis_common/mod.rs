//! Test harness for the Redis engine: private `redis-server`s on free ports (stopped on
//! drop), connections, fingerprints, and helpers that run a dump into memory and a
//! restore from it.
#![allow(dead_code)]

use bytes::Bytes;
use cairn_domain::{Endpoint, Failure, Manifest};
use cairn_engines::{redis as engine, Connection, Progress, Secret};
use redis::aio::MultiplexedConnection;
use redis::{ConnectionAddr, IntoConnectionInfo, RedisConnectionInfo};
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// A `redis-server` of this test's own, killed when dropped.
pub struct Server {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Server {
    pub async fn start(extra: &[&str]) -> Server {
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(["--dir", dir.path().to_str().unwrap()])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs");
        let server = Server {
            port,
            child,
            _dir: dir,
        };
        server.wait_ready().await;
        server
    }

    /// Polls until the server answers anything to PING (even NOAUTH).
    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await {
                let mut reply = [0u8; 1];
                if s.write_all(b"PING\r\n").await.is_ok()
                    && s.read_exact(&mut reply).await.is_ok()
                    && (reply[0] == b'+' || reply[0] == b'-')
                {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn conn(&self, path: &str) -> Connection {
        Connection {
            endpoint: Endpoint::parse(&format!("redis://127.0.0.1:{}/{path}", self.port)).unwrap(),
            password: None,
            ca_file: None,
        }
    }

    pub async fn db(&self, db: u32) -> MultiplexedConnection {
        client(self.port, db, None).await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server frozen with SIGSTOP: the kernel still accepts connections on its port, and
/// nothing ever answers them (a hung server). Dropping it sends SIGCONT, then the
/// server's own drop kills it.
pub struct Stopped(Option<Server>);

impl Stopped {
    pub fn new(server: Server) -> Stopped {
        signal(&server.child, "STOP");
        Stopped(Some(server))
    }

    pub fn server(&self) -> &Server {
        self.0.as_ref().expect("stopped server")
    }

    /// Lets the server run again.
    pub fn resume(mut self) -> Server {
        let server = self.0.take().expect("stopped server");
        signal(&server.child, "CONT");
        server
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        if let Some(server) = &self.0 {
            signal(&server.child, "CONT");
        }
    }
}

/// Sends signal `name` with kill(1) (the workspace denies `unsafe`, so no libc::kill).
/// Never panics: it also runs in `Drop`, where a panic during a panic would abort.
fn signal(child: &Child, name: &str) {
    let sent = Command::new("kill")
        .args(["-s", name, &child.id().to_string()])
        .status()
        .is_ok_and(|s| s.success());
    if !sent {
        eprintln!("kill -s {name} {} failed", child.id());
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub async fn client(port: u16, db: u32, password: Option<&str>) -> MultiplexedConnection {
    let mut settings = RedisConnectionInfo::default().set_db(db.into());
    if let Some(p) = password {
        settings = settings.set_password(p);
    }
    let info = ConnectionAddr::Tcp("127.0.0.1".into(), port)
        .into_connection_info()
        .unwrap()
        .set_redis_settings(settings);
    let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
    redis::Client::open(info)
        .unwrap()
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .unwrap()
}

pub fn with_password(mut conn: Connection, password: &str) -> Connection {
    conn.password = Some(Secret::new(password));
    conn
}

/// What a key is: its type, its content, and its TTL in whole seconds (if any).
#[derive(Debug, Clone)]
pub struct KeyPrint {
    pub kind: String,
    pub payload: Vec<u8>,
    pub ttl_secs: Option<i64>,
}

impl PartialEq for KeyPrint {
    /// TTLs count down between two prints: equal within two seconds.
    fn eq(&self, other: &Self) -> bool {
        let ttl_close = match (self.ttl_secs, other.ttl_secs) {
            (None, None) => true,
            (Some(a), Some(b)) => (a - b).abs() <= 2,
            _ => false,
        };
        self.kind == other.kind && self.payload == other.payload && ttl_close
    }
}

pub type Fingerprint = BTreeMap<Vec<u8>, KeyPrint>;

/// Every key of `db` with its type, content and TTL. The content is the DUMP payload,
/// except for sets and hashes: in a hashtable encoding their DUMP order follows the
/// server's hash table, which a restore may rebuild in another order, so their sorted
/// members are compared instead.
pub async fn fingerprint(con: &mut MultiplexedConnection) -> Fingerprint {
    let keys: Vec<Vec<u8>> = redis::cmd("KEYS").arg("*").query_async(con).await.unwrap();
    let mut out = Fingerprint::new();
    for key in keys {
        let (kind, payload, pttl): (String, Vec<u8>, i64) = redis::pipe()
            .cmd("TYPE")
            .arg(&key)
            .cmd("DUMP")
            .arg(&key)
            .cmd("PTTL")
            .arg(&key)
            .query_async(con)
            .await
            .unwrap();
        let members = match kind.as_str() {
            "set" => Some(redis::cmd("SMEMBERS")),
            "hash" => Some(redis::cmd("HGETALL")),
            _ => None,
        };
        let payload = match members {
            None => payload,
            Some(mut cmd) => {
                let mut items: Vec<Vec<u8>> = cmd.arg(&key).query_async(con).await.unwrap();
                if kind == "hash" {
                    let mut pairs: Vec<Vec<u8>> = items
                        .chunks(2)
                        .map(|p| [&p[0][..], b"\0=", &p[1][..]].concat())
                        .collect();
                    pairs.sort();
                    items = pairs;
                } else {
                    items.sort();
                }
                items.join(&b"\0,"[..])
            }
        };
        let ttl_secs = (pttl >= 0).then(|| (pttl + 500) / 1000);
        out.insert(
            key,
            KeyPrint {
                kind,
                payload,
                ttl_secs,
            },
        );
    }
    out
}

/// Runs a dump into memory, checking chunk sizes and progress on the way.
pub async fn dump_to_vec(conn: &Connection) -> Result<Vec<u8>, Failure> {
    let (tx, mut rx) = mpsc::channel::<Bytes>(4);
    let progress = Progress::new();
    let task = {
        let conn = conn.clone();
        let progress = progress.clone();
        tokio::spawn(async move { engine::dump(&conn, tx, progress).await })
    };
    let mut out = Vec::new();
    while let Some(chunk) = rx.recv().await {
        assert!(!chunk.is_empty() && chunk.len() <= cairn_engines::CHUNK);
        out.extend_from_slice(&chunk);
    }
    task.await.unwrap()?;
    assert_eq!(progress.snapshot().0, out.len() as u64);
    Ok(out)
}

/// Restores from `bytes`, fed in odd-sized chunks, optionally followed by an error item.
/// Bytes of the earlier `cairn-redis-v1` format are restored as such.
pub async fn restore_from(
    conn: &Connection,
    scope: serde_json::Value,
    bytes: Vec<u8>,
    then_fail: Option<Failure>,
) -> Result<u64, Failure> {
    let legacy = bytes.starts_with(engine::format::MAGIC);
    let (tx, rx) = mpsc::channel::<Result<Bytes, Failure>>(4);
    let feeder = tokio::spawn(async move {
        for chunk in bytes.chunks(77_777) {
            if tx.send(Ok(Bytes::copy_from_slice(chunk))).await.is_err() {
                return;
            }
        }
        if let Some(f) = then_fail {
            let _ = tx.send(Err(f)).await;
        }
    });
    let progress = Progress::new();
    // Artifacts of the earlier format (built by the tests) go with its manifest.
    let mut manifest = manifest(scope);
    if legacy {
        manifest.format_name = engine::LEGACY_FORMAT.format_name.into();
        manifest.artifact = engine::LEGACY_FORMAT.artifact.into();
    }
    let result = engine::restore(conn, &manifest, rx, progress.clone()).await;
    feeder.await.unwrap();
    if let Ok(n) = result {
        assert_eq!(progress.snapshot().0, n);
    }
    result
}

pub fn manifest(scope: serde_json::Value) -> Manifest {
    serde_json::from_value(serde_json::json!({
        "format": 1,
        "id": "20261126T030000Z-1a2b3c4d",
        "target": "cache",
        "engine": "redis",
        "server_version": "7.0.15",
        "scope": scope,
        "artifact": engine::FORMAT.artifact,
        "size_bytes": 0,
        "stored_bytes": 0,
        "sha256": "",
        "compression": "zstd",
        "format_name": engine::FORMAT.format_name,
        "job_id": "0193a000-0000-7000-8000-000000000000",
        "created_at": "2026-11-26T03:00:00Z",
        "duration_seconds": 1.0
    }))
    .unwrap()
}

/// Asserts two fingerprints are equal, naming the keys that differ and how.
pub fn assert_same(actual: &Fingerprint, expected: &Fingerprint, context: &str) {
    let mut diffs = Vec::new();
    for (key, want) in expected {
        let name = String::from_utf8_lossy(key);
        match actual.get(key) {
            None => diffs.push(format!("{name}: missing")),
            Some(got) if got != want => diffs.push(format!(
                "{name}: {} ttl {:?} ({} payload bytes) vs expected {} ttl {:?} ({} bytes)",
                got.kind,
                got.ttl_secs,
                got.payload.len(),
                want.kind,
                want.ttl_secs,
                want.payload.len()
            )),
            Some(_) => {}
        }
    }
    for key in actual.keys().filter(|k| !expected.contains_key(*k)) {
        diffs.push(format!("{}: unexpected", String::from_utf8_lossy(key)));
    }
    assert!(diffs.is_empty(), "{context}:\n{}", diffs.join("\n"));
}
