//! `cairn-scheduler rebuild --from-stream`: a new ledger from `CAIRN_EVENTS`, which the
//! outbox relay keeps as an exact replica of the ledger's events (same ids, sequences,
//! times, actors). The rebuilt ledger holds the same jobs, events and history; the
//! catalogue (targets, storages, tokens, schedules) is not in the stream and is added
//! again by hand (or restored from a copy of the data directory).

use anyhow::{bail, Context};
use async_nats::jetstream::{self, consumer::pull};
use cairn_bus_nats::streams::{EVENTS_STREAM, GLOBAL_SEQ_HEADER};
use cairn_domain::EventEnvelope;
use cairn_ledger::Ledger;
use clap::Args;
use futures::StreamExt;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct RebuildArgs {
    /// Read the events from the CAIRN_EVENTS stream (the only source there is).
    #[arg(long, required = true)]
    pub from_stream: bool,
    /// The new data directory (must not hold a ledger yet).
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// The NATS server holding CAIRN_EVENTS.
    #[arg(long, value_name = "URL", env = "CAIRN_NATS")]
    pub nats: String,
}

pub async fn run(args: RebuildArgs) -> anyhow::Result<()> {
    let ledger_dir = args.data_dir.join("ledger");
    if std::fs::read_dir(&ledger_dir).is_ok_and(|mut d| d.next().is_some()) {
        bail!(
            "{} already holds a ledger; rebuild into a new, empty --data-dir",
            ledger_dir.display()
        );
    }
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&args.data_dir)
            .with_context(|| format!("cannot create {}", args.data_dir.display()))?;
    }
    let ledger = Ledger::open(&ledger_dir)
        .with_context(|| format!("cannot create a ledger in {}", ledger_dir.display()))?;
    let client = cairn_bus_nats::connect(&args.nats, "cairn-rebuild").await?;
    let js = jetstream::new(client);
    let mut stream = js
        .get_stream(EVENTS_STREAM)
        .await
        .with_context(|| format!("no stream {EVENTS_STREAM} on this NATS"))?;
    let state = stream.info().await?.state.clone();
    if state.messages == 0 {
        bail!("{EVENTS_STREAM} holds no events; nothing to rebuild from");
    }
    let consumer = stream
        .create_consumer(pull::OrderedConfig::default())
        .await
        .context("reading the stream")?;
    let mut messages = consumer.messages().await.context("reading the stream")?;
    let mut imported = 0u64;
    let mut expected = 1u64;
    while let Some(message) = messages.next().await {
        let message = message.context("reading the stream")?;
        let stream_seq = message.info().map(|i| i.stream_sequence).unwrap_or(0);
        let event: EventEnvelope = serde_json::from_slice(&message.payload).with_context(|| {
            format!("message {stream_seq} of {EVENTS_STREAM} is not a cairn event")
        })?;
        let header = message
            .headers
            .as_ref()
            .and_then(|h| h.get(GLOBAL_SEQ_HEADER))
            .and_then(|v| v.as_str().parse::<u64>().ok());
        if header != Some(event.global_seq) {
            bail!("message {stream_seq} of {EVENTS_STREAM}: its {GLOBAL_SEQ_HEADER} header does not match its event");
        }
        if event.global_seq != expected {
            bail!(
                "{EVENTS_STREAM} jumps from global sequence {} to {} at message {stream_seq}: \
                 events before it expired from the stream or were removed, so the ledger \
                 cannot be rebuilt whole from it",
                expected - 1,
                event.global_seq
            );
        }
        ledger.import(&event).await.with_context(|| {
            format!(
                "importing event {} (global {})",
                event.event_id.0, event.global_seq
            )
        })?;
        imported += 1;
        expected += 1;
        if stream_seq >= state.last_sequence {
            break;
        }
    }
    let jobs = ledger.jobs_in(&cairn_domain::JobStatus::ALL)?;
    tracing::info!(events = imported, jobs = jobs.len(), "ledger rebuilt");
    println!(
        "rebuilt {} with {imported} events of {} jobs from {EVENTS_STREAM}; add targets, \
         storages and tokens again before starting cairn-scheduler on it",
        ledger_dir.display(),
        jobs.len()
    );
    Ok(())
}
