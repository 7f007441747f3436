//! A real HTTP receiver for webhook tests: a listener on a free local port, on its own
//! thread, that reads each request whole, answers it with the next status of a script
//! (then 200), and hands the request to the test.

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as the receiver read it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// Header names in lowercase.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
    /// The status it was answered with.
    pub answered: u16,
}

/// The receiver; it stops accepting when dropped (its thread ends with the process).
pub struct WebhookReceiver {
    pub port: u16,
    requests: Receiver<Received>,
}

impl WebhookReceiver {
    /// Answers with `script` in order (each entry: status and extra headers), then 200.
    pub fn start(script: Vec<(u16, Vec<(String, String)>)>) -> WebhookReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the webhook receiver");
        let port = listener.local_addr().expect("local addr").port();
        let (tx, rx) = channel();
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (tx, script) = (tx.clone(), script.clone());
                std::thread::spawn(move || serve(stream, &tx, &script));
            }
        });
        WebhookReceiver { port, requests: rx }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The next request, or `None` within `deadline`.
    pub fn next(&self, deadline: Duration) -> Option<Received> {
        self.requests.recv_timeout(deadline).ok()
    }
}

type Script = Mutex<VecDeque<(u16, Vec<(String, String)>)>>;

fn serve(stream: TcpStream, tx: &Sender<Received>, script: &Script) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let (status, extra) = script
        .lock()
        .expect("script lock")
        .pop_front()
        .unwrap_or((200, Vec::new()));
    let mut response =
        format!("HTTP/1.1 {status} Scripted\r\ncontent-length: 0\r\nconnection: close\r\n");
    for (k, v) in &extra {
        response.push_str(&format!("{k}: {v}\r\n"));
    }
    response.push_str("\r\n");
    let mut stream = stream;
    let _ = stream.write_all(response.as_bytes());
    let _ = tx.send(Received {
        method,
        path,
        headers,
        body,
        answered: status,
    });
}
