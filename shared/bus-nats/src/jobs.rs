//! `CAIRN_JOBS`: the [`JobBus`] over JetStream. One subject per job
//! (`cairn.jobs.<kind>.<target>.<job_id>`, at most one message each), `Nats-Msg-Id` = job
//! id, one durable pull consumer per worker kind whose AckWait is the lease.

use crate::streams::{consumer_name, jobs_filter, JOBS_STREAM};
use async_nats::jetstream::{self, consumer::pull, AckKind};
use async_trait::async_trait;
use cairn_bus::{Acker, BusError, Delivery, JobBus, JobMessage, Subscription};
use cairn_domain::JobKind;
use futures::StreamExt;
use std::time::Duration;

/// How long one pull request waits for a message before it is renewed.
const PULL_EXPIRES: Duration = Duration::from_secs(5);
/// Pause after a failed pull (NATS restarting, stream missing) before the next.
const PULL_RETRY: Duration = Duration::from_secs(1);

/// The job subject of one job.
pub fn job_subject(msg: &JobMessage) -> String {
    format!("cairn.jobs.{}.{}.{}", msg.kind, msg.target, msg.job_id)
}

#[derive(Clone)]
pub struct JetStreamBus {
    js: jetstream::Context,
    /// The consumers' AckWait: the scheduler's lease.
    ack_wait: Duration,
}

impl JetStreamBus {
    pub fn new(client: async_nats::Client, ack_wait: Duration) -> Self {
        Self {
            js: jetstream::new(client),
            ack_wait,
        }
    }

    pub fn context(&self) -> &jetstream::Context {
        &self.js
    }

    fn consumer_config(&self, kind: JobKind) -> pull::Config {
        pull::Config {
            durable_name: Some(consumer_name(kind)),
            filter_subject: jobs_filter(kind),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait: self.ack_wait,
            max_deliver: -1,
            ..Default::default()
        }
    }

    /// Creates the durable consumer of every worker kind if missing, with AckWait = the
    /// lease (the scheduler does this at start; workers only look them up).
    pub async fn ensure_consumers(&self) -> Result<(), BusError> {
        let stream = self
            .js
            .get_stream(JOBS_STREAM)
            .await
            .map_err(|e| BusError::Other(format!("stream {JOBS_STREAM}: {e}")))?;
        for kind in JobKind::ALL {
            let name = consumer_name(kind);
            stream
                .get_or_create_consumer(&name, self.consumer_config(kind))
                .await
                .map_err(|e| BusError::Other(format!("consumer {name}: {e}")))?;
        }
        Ok(())
    }

    /// The shared consumer of one worker kind, once the scheduler has created it.
    async fn consumer(
        &self,
        kind: JobKind,
    ) -> Result<jetstream::consumer::Consumer<pull::Config>, BusError> {
        let name = consumer_name(kind);
        let stream = self.js.get_stream_no_info(JOBS_STREAM).await.map_err(|e| {
            BusError::Other(format!(
                "stream {JOBS_STREAM} (is cairn-scheduler up?): {e}"
            ))
        })?;
        stream
            .get_consumer(&name)
            .await
            .map_err(|e| BusError::Other(format!("consumer {name} (is cairn-scheduler up?): {e}")))
    }

    /// Whether the job's subject holds a message now.
    async fn present(&self, subject: &str) -> Result<bool, BusError> {
        let stream = self
            .js
            .get_stream_no_info(JOBS_STREAM)
            .await
            .map_err(|e| BusError::Other(e.to_string()))?;
        match stream.get_last_raw_message_by_subject(subject).await {
            Ok(_) => Ok(true),
            Err(e)
                if e.kind()
                    == async_nats::jetstream::stream::LastRawMessageErrorKind::NoMessageFound =>
            {
                Ok(false)
            }
            Err(e) => Err(BusError::Other(e.to_string())),
        }
    }

    async fn send(
        &self,
        subject: &str,
        msg_id: &str,
        body: bytes::Bytes,
    ) -> Result<Sent, BusError> {
        let publish = jetstream::message::PublishMessage::build()
            .payload(body)
            .message_id(msg_id);
        let ack = match self.js.send_publish(subject.to_string(), publish).await {
            Ok(ack) => ack.await,
            Err(e) => Err(e),
        };
        match ack {
            Ok(ack) if ack.duplicate => Ok(Sent::Duplicate),
            Ok(_) => Ok(Sent::Stored),
            // The subject still holds the job's message (discard-new per subject).
            Err(e) if e.to_string().contains("maximum messages per subject") => Ok(Sent::Present),
            Err(e) => Err(BusError::Other(format!("publishing {subject}: {e}"))),
        }
    }
}

enum Sent {
    Stored,
    Duplicate,
    Present,
}

#[async_trait]
impl JobBus for JetStreamBus {
    async fn publish(&self, msg: JobMessage) -> Result<(), BusError> {
        let subject = job_subject(&msg);
        let body = bytes::Bytes::from(
            serde_json::to_vec(&msg).map_err(|e| BusError::Other(e.to_string()))?,
        );
        let id = msg.job_id.to_string();
        match self.send(&subject, &id, body.clone()).await? {
            Sent::Stored | Sent::Present => Ok(()),
            // Deduplicated by job id, but the message may since have been consumed or
            // purged (a stale worker's late ack, a purged stream): the ledger says the job
            // waits, so it must be there. Publish it under a fresh id; the per-subject
            // limit still keeps it to one copy.
            Sent::Duplicate => {
                if !self.present(&subject).await? {
                    let again = format!("{id}/{}", chrono::Utc::now().timestamp_millis());
                    tracing::info!(job_id = %msg.job_id, "job message missing from {JOBS_STREAM}; republished");
                    self.send(&subject, &again, body).await?;
                }
                Ok(())
            }
        }
    }

    async fn subscribe(&self, kind: JobKind) -> Result<Box<dyn Subscription>, BusError> {
        // Looked up on the first pull, and again after a failure: a worker may start
        // before the scheduler has created the streams, or outlive a NATS restart.
        Ok(Box::new(JetStreamSubscription {
            bus: self.clone(),
            kind,
            consumer: None,
        }))
    }
}

struct JetStreamSubscription {
    bus: JetStreamBus,
    kind: JobKind,
    consumer: Option<jetstream::consumer::Consumer<pull::Config>>,
}

impl JetStreamSubscription {
    /// One pull of at most one message: a replica takes a job only when it has a free
    /// slot, so the others get the rest.
    async fn pull_one(&mut self) -> Result<Option<jetstream::Message>, BusError> {
        let consumer = match &self.consumer {
            Some(c) => c,
            None => self.consumer.insert(self.bus.consumer(self.kind).await?),
        };
        let mut batch = consumer
            .fetch()
            .max_messages(1)
            .expires(PULL_EXPIRES)
            .messages()
            .await
            .map_err(|e| BusError::Other(e.to_string()))?;
        match batch.next().await {
            None => Ok(None),
            Some(Ok(m)) => Ok(Some(m)),
            Some(Err(e)) => Err(BusError::Other(e.to_string())),
        }
    }
}

#[async_trait]
impl Subscription for JetStreamSubscription {
    async fn next(&mut self) -> Option<Delivery> {
        loop {
            let message = match self.pull_one().await {
                Ok(Some(m)) => m,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(kind = %self.kind, error = %e, "pulling a job failed; retrying");
                    // The consumer may be gone (stream recreated); look it up again.
                    self.consumer = None;
                    tokio::time::sleep(PULL_RETRY).await;
                    continue;
                }
            };
            let delivered = message
                .info()
                .map(|i| u32::try_from(i.delivered).unwrap_or(u32::MAX))
                .unwrap_or(1);
            match parse(&message, self.kind) {
                Ok(msg) => {
                    return Some(Delivery::new(
                        msg,
                        delivered,
                        Box::new(JetStreamAcker { message }),
                    ))
                }
                Err(problem) => {
                    // Anyone who can publish on cairn.jobs.> could send this: drop it for
                    // good, the ledger's reconcile republishes real jobs.
                    tracing::warn!(subject = ?message.subject.as_str(), %problem, "dropping a malformed job message");
                    let _ = message.ack_with(AckKind::Term).await;
                }
            }
        }
    }
}

/// A job message, checked against its subject.
fn parse(message: &jetstream::Message, kind: JobKind) -> Result<JobMessage, String> {
    let msg: JobMessage =
        serde_json::from_slice(&message.payload).map_err(|e| format!("not a job message: {e}"))?;
    if msg.kind != kind {
        return Err(format!("a {} job on the {kind} queue", msg.kind));
    }
    let prefix = format!("cairn.jobs.{}.{}.{}", msg.kind, msg.target, msg.job_id);
    if !message.subject.as_str().starts_with(&prefix) {
        return Err(format!("its subject does not name job {}", msg.job_id));
    }
    Ok(msg)
}

struct JetStreamAcker {
    message: jetstream::Message,
}

#[async_trait]
impl Acker for JetStreamAcker {
    async fn ack(&self) {
        if let Err(e) = self.message.double_ack().await {
            // The message comes back after AckWait; the ledger denies the second claim.
            tracing::warn!(error = %e, "acknowledging a job message failed");
        }
    }

    async fn nak(&self, delay: Duration) {
        if let Err(e) = self.message.ack_with(AckKind::Nak(Some(delay))).await {
            tracing::warn!(error = %e, "giving back a job message failed; it returns after AckWait");
        }
    }

    async fn progress(&self) {
        if let Err(e) = self.message.ack_with(AckKind::Progress).await {
            tracing::debug!(error = %e, "progress on a job message failed");
        }
    }
}
