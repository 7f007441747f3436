//! A distributed cairn for a test: a private nats-server, `cairn-scheduler` on it (an
//! [`App`], so the CLI helpers work), a `worker` token, and worker processes started on
//! demand. Plus a small blocking NATS client to look into the streams.

use crate::app::{App, AppOptions};
use crate::nats::{NatsServer, WorkerProc};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

pub struct Stack {
    pub nats: NatsServer,
    pub app: App,
    pub worker_token: String,
    rt: tokio::runtime::Runtime,
}

impl Stack {
    /// NATS and a scheduler with a `lease_seconds` lease (AckWait) and a 1 s retry backoff.
    pub fn start(lease_seconds: u32) -> Stack {
        Stack::start_with(lease_seconds, &["--retry-backoff-seconds", "1"])
    }

    /// NATS and a scheduler with a `lease_seconds` lease and `extra` scheduler flags
    /// (`--max-attempts 4`, `--retry-backoff-seconds 1` …).
    pub fn start_with(lease_seconds: u32, extra: &[&str]) -> Stack {
        let nats = NatsServer::start();
        let mut up_args = vec![
            "--nats".into(),
            nats.url(),
            "--lease-seconds".into(),
            lease_seconds.to_string(),
        ];
        up_args.extend(extra.iter().map(|a| a.to_string()));
        let app = App::start_with(AppOptions {
            scheduler_only: true,
            up_args,
            ..AppOptions::default()
        });
        let worker_token = app.create_token("workers", "worker");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the test's NATS client");
        Stack {
            nats,
            app,
            worker_token,
            rt,
        }
    }

    pub fn key_file(&self) -> PathBuf {
        self.app.data_dir().join("secret.key")
    }

    /// A `cairn-dump-worker` named `name`.
    pub fn dump_worker(&self, name: &str, extra: &[&str]) -> WorkerProc {
        self.worker("cairn-dump-worker", name, extra)
    }

    pub fn worker(&self, bin: &str, name: &str, extra: &[&str]) -> WorkerProc {
        WorkerProc::start(
            bin,
            name,
            &self.nats.url(),
            &self.worker_token,
            &self.key_file(),
            extra,
        )
    }

    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    pub fn client(&self) -> async_nats::Client {
        let url = self.nats.url();
        self.block_on(async move {
            async_nats::connect(url)
                .await
                .expect("the test connects to its nats-server")
        })
    }

    /// Every message of a stream, in stream order: (subject, headers, JSON body).
    pub fn stream_messages(&self, stream: &str) -> Vec<(String, async_nats::HeaderMap, Value)> {
        let client = self.client();
        self.block_on(async move {
            let js = async_nats::jetstream::new(client);
            let mut stream = js.get_stream(stream).await.expect("the stream exists");
            let state = stream.info().await.expect("stream info").state.clone();
            let mut out = Vec::new();
            if state.messages == 0 {
                return out;
            }
            for seq in state.first_sequence..=state.last_sequence {
                let Ok(m) = stream.get_raw_message(seq).await else {
                    continue;
                };
                let body = serde_json::from_slice(&m.payload).unwrap_or(Value::Null);
                out.push((m.subject.to_string(), m.headers, body));
            }
            out
        })
    }

    /// How many messages a stream holds now.
    pub fn stream_len(&self, stream: &str) -> u64 {
        let client = self.client();
        self.block_on(async move {
            let js = async_nats::jetstream::new(client);
            let mut stream = js.get_stream(stream).await.expect("the stream exists");
            stream.info().await.expect("stream info").state.messages
        })
    }

    /// Every job the ledger holds (up to 1000), with its events: `cairn job ID --json`.
    pub fn all_jobs(&self) -> Vec<Value> {
        self.app
            .history(&["--limit", "1000"])
            .iter()
            // Configuration changes are in the history too; they are not jobs.
            .filter(|h| h["kind"] != "config")
            .map(|h| {
                let id = h["job_id"]
                    .as_str()
                    .or_else(|| h["state"]["job_id"].as_str())
                    .unwrap_or_else(|| panic!("history entry without job_id: {h}"));
                self.app.job(id)
            })
            .collect()
    }

    /// Polls until `job` is terminal.
    pub fn wait_all(&self, jobs: &[String], deadline: Duration) -> Vec<Value> {
        jobs.iter()
            .map(|id| self.app.wait_terminal(id, deadline))
            .collect()
    }
}

/// The worker ids of a job's `JobClaimed` events, in order.
pub fn claimed_by(job: &Value) -> Vec<String> {
    job["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .filter(|e| e["type"] == "JobClaimed")
                .filter_map(|e| e["payload"]["worker_id"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// How many events of `type` a job has.
pub fn count_type(job: &Value, ty: &str) -> usize {
    job["events"]
        .as_array()
        .map(|events| events.iter().filter(|e| e["type"] == ty).count())
        .unwrap_or(0)
}
