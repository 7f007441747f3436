//! Stream names and subjects, and creating the streams when they are missing.

use crate::NatsError;
use async_nats::jetstream::{self, stream};
use cairn_domain::{EventEnvelope, JobKind};
use std::time::Duration;

pub const JOBS_STREAM: &str = "CAIRN_JOBS";
pub const EVENTS_STREAM: &str = "CAIRN_EVENTS";
/// The header naming an event's ledger-wide sequence on `CAIRN_EVENTS`.
pub const GLOBAL_SEQ_HEADER: &str = "Cairn-Global-Seq";

/// How long `CAIRN_EVENTS` keeps events (long enough to rebuild a lost ledger from it).
pub const EVENTS_MAX_AGE: Duration = Duration::from_secs(365 * 24 * 3600);

/// `cairn.jobs.<kind>.>`: what one worker kind's consumer reads.
pub fn jobs_filter(kind: JobKind) -> String {
    format!("cairn.jobs.{kind}.>")
}

/// The durable consumer all replicas of one worker kind share.
pub fn consumer_name(kind: JobKind) -> String {
    format!("cairn-{kind}")
}

/// `cairn.events.<target>.<kind>.<EventType>`
pub fn event_subject(e: &EventEnvelope) -> String {
    format!(
        "cairn.events.{}.{}.{}",
        e.target,
        e.kind,
        e.payload.type_name()
    )
}

/// Creates `CAIRN_JOBS` and `CAIRN_EVENTS` if they are missing (an existing stream is left
/// as its operator configured it).
pub async fn ensure_streams(js: &jetstream::Context) -> Result<(), NatsError> {
    let jobs = stream::Config {
        name: JOBS_STREAM.into(),
        subjects: vec!["cairn.jobs.>".into()],
        retention: stream::RetentionPolicy::WorkQueue,
        // One message per job subject: republishing a job that is still there is refused,
        // so copies never pile up, even after the dedup window.
        max_messages_per_subject: 1,
        discard: stream::DiscardPolicy::New,
        discard_new_per_subject: true,
        ..Default::default()
    };
    let events = stream::Config {
        name: EVENTS_STREAM.into(),
        subjects: vec!["cairn.events.>".into()],
        retention: stream::RetentionPolicy::Limits,
        max_age: EVENTS_MAX_AGE,
        ..Default::default()
    };
    for config in [jobs, events] {
        let name = config.name.clone();
        js.get_or_create_stream(config)
            .await
            .map_err(|e| NatsError::JetStream(format!("creating stream {name}: {e}")))?;
    }
    Ok(())
}
