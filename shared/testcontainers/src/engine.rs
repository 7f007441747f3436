//! The Docker engine the containers run on, and a bridge to older engines.
//!
//! testcontainers' Docker client (bollard) puts its own API version in every request path
//! (`/v1.53/containers/create`) and does not negotiate. An engine older than that refuses
//! every call ("client version 1.53 is too new. Maximum supported API version is 1.41") —
//! Debian bookworm's `docker.io` (20.10, API 1.41) is such an engine. When the engine is
//! older, [`ensure_engine`] starts a small relay on a private Unix socket that rewrites the
//! version in request paths to the engine's own, and points `DOCKER_HOST` at it. The
//! calls testcontainers makes (create, start, inspect, logs, exec, remove) exist with the
//! same shape in those older API versions; responses pass through unchanged.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

/// Why no container can be started.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    #[error(
        "no Docker engine answers on {socket}: {reason}. Install and start one, e.g. with the \
         repository's scripts/images (as root: it installs docker.io and starts dockerd)"
    )]
    Unreachable { socket: String, reason: String },
    #[error("the Docker engine on {socket} gave an unreadable /version answer: {answer}")]
    BadVersion { socket: String, answer: String },
    #[error("cannot start the API relay for the Docker engine on {socket}: {reason}")]
    Relay { socket: String, reason: String },
}

/// Checks that a Docker engine answers and, when it is older than testcontainers' client,
/// starts the version relay (once per process) and sets `DOCKER_HOST` to it. Every start
/// function of this crate calls it first; call it yourself before using testcontainers
/// directly. `DOCKER_HOST` values other than `unix://…` are left alone.
pub fn ensure_engine() -> Result<(), EngineError> {
    static DONE: OnceLock<Result<(), EngineError>> = OnceLock::new();
    DONE.get_or_init(prepare).clone()
}

fn prepare() -> Result<(), EngineError> {
    let socket = match std::env::var("DOCKER_HOST") {
        Ok(host) if host.starts_with("unix://") => PathBuf::from(&host["unix://".len()..]),
        Ok(host) if !host.is_empty() => return Ok(()),
        _ => PathBuf::from("/var/run/docker.sock"),
    };
    let engine_minor = api_minor(&socket)?;
    let client_minor = testcontainers::bollard::API_DEFAULT_VERSION.minor_version;
    if engine_minor >= client_minor {
        return Ok(());
    }
    let relay = start_relay(&socket, engine_minor)?;
    // Set before testcontainers creates its client (it reads DOCKER_HOST once, lazily).
    std::env::set_var("DOCKER_HOST", format!("unix://{}", relay.display()));
    Ok(())
}

/// The engine's API minor version, from an unversioned `GET /version`.
fn api_minor(socket: &Path) -> Result<usize, EngineError> {
    let unreachable = |reason: String| EngineError::Unreachable {
        socket: socket.display().to_string(),
        reason,
    };
    let mut stream = StdUnixStream::connect(socket).map_err(|e| unreachable(e.to_string()))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| unreachable(e.to_string()))?;
    stream
        .write_all(b"GET /version HTTP/1.0\r\nHost: docker\r\n\r\n")
        .map_err(|e| unreachable(e.to_string()))?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|e| unreachable(e.to_string()))?;
    let bad = || EngineError::BadVersion {
        socket: socket.display().to_string(),
        answer: answer.chars().take(300).collect(),
    };
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .ok_or_else(bad)?;
    let json: serde_json::Value = serde_json::from_str(body).map_err(|_| bad())?;
    let version = json["ApiVersion"].as_str().ok_or_else(bad)?;
    let (_, minor) = version.split_once('.').ok_or_else(bad)?;
    minor.parse().map_err(|_| bad())
}

/// Binds a relay socket and serves it from a thread of its own (it outlives the runtimes
/// of individual tests).
fn start_relay(engine: &Path, engine_minor: usize) -> Result<PathBuf, EngineError> {
    let relay_err = |reason: String| EngineError::Relay {
        socket: engine.display().to_string(),
        reason,
    };
    let path = std::env::temp_dir().join(format!("cairn-docker-relay-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener =
        std::os::unix::net::UnixListener::bind(&path).map_err(|e| relay_err(e.to_string()))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| relay_err(e.to_string()))?;
    let engine = engine.to_path_buf();
    let version = format!("{engine_minor:02}");
    std::thread::Builder::new()
        .name("docker-api-relay".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime for the Docker API relay");
            runtime.block_on(async move {
                let listener = UnixListener::from_std(listener).expect("relay listener");
                while let Ok((client, _)) = listener.accept().await {
                    let engine = engine.clone();
                    let version = version.clone();
                    tokio::spawn(async move {
                        if let Ok(server) = UnixStream::connect(&engine).await {
                            relay(client, server, version.into_bytes()).await;
                        }
                    });
                }
            });
        })
        .map_err(|e| relay_err(e.to_string()))?;
    Ok(path)
}

/// Copies both directions; client → engine with `/v1.NN/` rewritten to the engine's version.
async fn relay(client: UnixStream, server: UnixStream, version: Vec<u8>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upstream = async move {
        let mut rewriter = Rewriter::new(version);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let out = rewriter.push(&buf[..n]);
            if server_write.write_all(&out).await.is_err() {
                return;
            }
        }
        let _ = server_write.write_all(&rewriter.finish()).await;
        let _ = server_write.shutdown().await;
    };
    let downstream = async move {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    };
    tokio::join!(upstream, downstream);
}

/// Rewrites every `/v1.NN/` (two digits) to `/v1.MM/` in a byte stream given in pieces.
/// Bytes that may begin a match split across two pieces are held back until the next one.
struct Rewriter {
    version: Vec<u8>,
    pending: Vec<u8>,
}

const PATTERN_LEN: usize = "/v1.53/".len();

impl Rewriter {
    fn new(version: Vec<u8>) -> Rewriter {
        assert_eq!(version.len(), 2, "two-digit API minor version");
        Rewriter {
            version,
            pending: Vec::new(),
        }
    }

    /// The bytes that can be sent now.
    fn push(&mut self, piece: &[u8]) -> Vec<u8> {
        let mut data = std::mem::take(&mut self.pending);
        data.extend_from_slice(piece);
        let mut i = 0;
        while i + PATTERN_LEN <= data.len() {
            if is_versioned_prefix(&data[i..i + PATTERN_LEN]) {
                data[i + 4..i + 6].copy_from_slice(&self.version);
                i += PATTERN_LEN;
            } else {
                i += 1;
            }
        }
        let keep = (1..PATTERN_LEN)
            .rev()
            .find(|&k| k <= data.len() && could_start(&data[data.len() - k..]))
            .unwrap_or(0);
        self.pending = data.split_off(data.len() - keep);
        data
    }

    fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending)
    }
}

fn is_versioned_prefix(w: &[u8]) -> bool {
    w.starts_with(b"/v1.") && w[4].is_ascii_digit() && w[5].is_ascii_digit() && w[6] == b'/'
}

/// Whether `tail` is the beginning of a `/v1.NN/` that the next piece may complete.
fn could_start(tail: &[u8]) -> bool {
    let shape: &[fn(u8) -> bool] = &[
        |b| b == b'/',
        |b| b == b'v',
        |b| b == b'1',
        |b| b == b'.',
        |b| b.is_ascii_digit(),
        |b| b.is_ascii_digit(),
    ];
    tail.len() < PATTERN_LEN && tail.iter().zip(shape).all(|(b, ok)| ok(*b))
}

#[cfg(test)]
mod tests {
    use super::Rewriter;

    fn run(pieces: &[&str]) -> String {
        let mut r = Rewriter::new(b"41".to_vec());
        let mut out = Vec::new();
        for p in pieces {
            out.extend(r.push(p.as_bytes()));
        }
        out.extend(r.finish());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn rewrites_versions_in_request_paths_across_piece_boundaries() {
        let request =
            "GET /v1.53/containers/json HTTP/1.1\r\n\r\nPOST /v1.53/exec HTTP/1.1\r\n\r\n";
        let expected = request.replace("/v1.53/", "/v1.41/");
        assert_eq!(run(&[request]), expected);
        for cut in 0..request.len() {
            assert_eq!(
                run(&[&request[..cut], &request[cut..]]),
                expected,
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn leaves_other_bytes_alone_and_holds_back_only_possible_prefixes() {
        assert_eq!(
            run(&["/v1.5x/ /v2.53/ {\"a\":\"/v1\"}"]),
            "/v1.5x/ /v2.53/ {\"a\":\"/v1\"}"
        );
        let mut r = Rewriter::new(b"41".to_vec());
        assert_eq!(r.push(b"body}"), b"body}".to_vec(), "nothing held back");
        assert_eq!(
            r.push(b"GET /v1"),
            b"GET ".to_vec(),
            "a possible prefix waits"
        );
    }
}
