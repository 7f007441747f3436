//! An S3 server of the test's own (moto in server mode, installed by `scripts/test` into
//! `.tools/venv`), a bucket in it, what it holds (objects, multipart uploads), and a TCP
//! proxy that cuts connections after a number of bytes, to break uploads midway.
//!
//! The server is found at `CAIRN_MOTO_SERVER`, else `<workspace>/.tools/venv/bin/moto_server`;
//! a missing server fails the test, saying how to install it.

use crate::util::{free_port, poll};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The fake keys the suites give cairn (moto accepts any).
pub const ACCESS_KEY: &str = "cairn-test-access";
pub const SECRET_KEY: &str = "cairn-test-secret-4d1f";

/// The moto_server binary.
pub fn moto_server_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("CAIRN_MOTO_SERVER") {
        return PathBuf::from(bin);
    }
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the workspace")
        .to_path_buf();
    let bin = workspace.join(".tools/venv/bin/moto_server");
    assert!(
        bin.is_file(),
        "moto_server is missing at {}: run scripts/test once (it installs PyPI moto[server] \
         into .tools/venv), or set CAIRN_MOTO_SERVER to its path",
        bin.display()
    );
    bin
}

/// A running S3 server (killed on drop) with one bucket.
pub struct S3Server {
    pub port: u16,
    pub bucket: String,
    child: Child,
}

impl S3Server {
    pub fn start() -> S3Server {
        let port = free_port();
        let child = Command::new(moto_server_bin())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let server = S3Server {
            port,
            bucket: crate::util::unique("cairn-"),
            child,
        };
        poll(
            "moto_server to answer",
            Duration::from_secs(60),
            Duration::from_millis(100),
            || server.request("GET", "/").ok(),
        );
        let (status, body) = server
            .request("PUT", &format!("/{}", server.bucket))
            .expect("create bucket");
        assert_eq!(status, 200, "create bucket: {body}");
        server
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// One unsigned HTTP/1.0 request (moto does not check signatures): status and body.
    pub fn request(&self, method: &str, path: &str) -> std::io::Result<(u16, String)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        write!(
            stream,
            "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\n\r\n",
            self.port
        )?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response)?;
        let text = String::from_utf8_lossy(&response).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("not HTTP: {text:.200}")))?;
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        Ok((status, body))
    }

    /// Keys of every object in the bucket.
    pub fn keys(&self) -> Vec<String> {
        let (status, body) = self
            .request(
                "GET",
                &format!("/{}?list-type=2&max-keys=1000", self.bucket),
            )
            .expect("list objects");
        assert_eq!(status, 200, "list objects: {body}");
        xml_values(&body, "Key")
    }

    /// Upload ids of the bucket's multipart uploads that were neither completed nor aborted.
    pub fn multipart_uploads(&self) -> Vec<String> {
        let (status, body) = self
            .request("GET", &format!("/{}?uploads", self.bucket))
            .expect("list multipart uploads");
        assert_eq!(status, 200, "list multipart uploads: {body}");
        xml_values(&body, "UploadId")
    }

    /// The bytes of one object, fetched with boto3 (moto's own dependency, in the same
    /// virtualenv): object reads need signed requests.
    pub fn get(&self, key: &str) -> Vec<u8> {
        let python = moto_server_bin().with_file_name("python");
        let script = "import sys, boto3\n\
            s3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1',\n\
                aws_access_key_id='k', aws_secret_access_key='s')\n\
            sys.stdout.buffer.write(s3.get_object(Bucket=sys.argv[2], Key=sys.argv[3])['Body'].read())\n";
        let out = Command::new(python)
            .args(["-c", script, &self.endpoint(), &self.bucket, key])
            .stdin(Stdio::null())
            .output()
            .expect("run the virtualenv's python");
        assert!(
            out.status.success(),
            "GET {key}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The text of every `<tag>…</tag>` in `xml`.
fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        out.push(after[..end].to_string());
        rest = &after[end + close.len()..];
    }
    out
}

/// A TCP proxy on a free port in front of `upstream`. While armed, every connection that
/// has carried `cut_after` bytes towards the server is closed in both directions; small
/// requests (listings, aborts) pass, uploads of parts break. Stops on drop.
pub struct CutProxy {
    pub port: u16,
    armed: Arc<AtomicBool>,
    cuts: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl CutProxy {
    pub fn start(upstream: u16, cut_after: usize) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        let armed = Arc::new(AtomicBool::new(true));
        let cuts = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (a, c, s) = (armed.clone(), cuts.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let (a, c) = (a.clone(), c.clone());
                std::thread::spawn(move || pipe_pair(client, server, cut_after, a, c));
            }
        });
        CutProxy {
            port,
            armed,
            cuts,
            stop,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops cutting: from now on connections pass whole.
    pub fn disarm(&self) {
        self.armed.store(false, Ordering::SeqCst);
    }

    /// How many connections were cut so far.
    pub fn cuts(&self) -> usize {
        self.cuts.load(Ordering::SeqCst)
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees `stop`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn pipe_pair(
    client: TcpStream,
    server: TcpStream,
    cut_after: usize,
    armed: Arc<AtomicBool>,
    cuts: Arc<AtomicUsize>,
) {
    let (Ok(client_r), Ok(server_w)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    // Server to client: copied as it is.
    let (mut from_server, mut to_client) = (server, client);
    let back = std::thread::spawn(move || {
        let _ = std::io::copy(&mut from_server, &mut to_client);
        let _ = to_client.shutdown(Shutdown::Both);
    });
    // Client to server: counted, and cut once `cut_after` bytes went through.
    let (mut from_client, mut to_server) = (client_r, server_w);
    let mut carried = 0usize;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from_client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if armed.load(Ordering::SeqCst) && carried + n > cut_after {
            cuts.fetch_add(1, Ordering::SeqCst);
            let _ = from_client.shutdown(Shutdown::Both);
            let _ = to_server.shutdown(Shutdown::Both);
            break;
        }
        if to_server.write_all(&buf[..n]).is_err() {
            break;
        }
        carried += n;
    }
    let _ = to_server.shutdown(Shutdown::Write);
    let _ = back.join();
}
