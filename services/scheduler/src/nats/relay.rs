//! The outbox relay: every acknowledged ledger event goes to `CAIRN_EVENTS` exactly once,
//! in `global_seq` order, on `cairn.events.<target>.<kind>.<EventType>`, with
//! `Nats-Msg-Id` = event id and a `Cairn-Global-Seq` header.
//!
//! On start (and whenever a publish is refused) the relay reads the stream's last message
//! and resumes after its `Cairn-Global-Seq`. Each publish expects the stream's last
//! sequence to be the one the relay saw: a second relay, or a publish that was stored
//! although its ack was lost, makes the next publish fail instead of duplicating or
//! interleaving, and the relay resumes from the stream again.

use crate::Scheduler;
use async_nats::jetstream::{self, context::PublishErrorKind};
use cairn_bus_nats::streams::{event_subject, EVENTS_STREAM, GLOBAL_SEQ_HEADER};
use cairn_domain::EventEnvelope;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Events read from the ledger per round.
const BATCH: usize = 256;
/// How far back from the stream's end the relay looks for its own last event (messages
/// without the header were published by someone else).
const LOOK_BACK: u64 = 1000;
/// Pause after a failure (NATS away) before trying again.
const RETRY: Duration = Duration::from_secs(1);

/// Where the relay stands: the stream's last sequence and the last relayed global sequence.
#[derive(Debug, Clone, Copy)]
struct Position {
    stream_last: u64,
    relayed: u64,
}

/// Relays until `stop` is cancelled, retrying through NATS outages.
pub async fn run_relay(scheduler: Scheduler, js: jetstream::Context, stop: CancellationToken) {
    let mut changes = scheduler.ledger().subscribe();
    let mut position = None;
    loop {
        if stop.is_cancelled() {
            return;
        }
        let pos = match position {
            Some(p) => p,
            None => match resume(&js).await {
                Ok(p) => {
                    tracing::info!(
                        after = p.relayed,
                        "relaying ledger events to {EVENTS_STREAM}"
                    );
                    *position.insert(p)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read {EVENTS_STREAM}; retrying");
                    pause(&stop, RETRY).await;
                    continue;
                }
            },
        };
        let batch = match scheduler.ledger().events_after(pos.relayed, BATCH) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "reading the ledger for the relay failed");
                pause(&stop, RETRY).await;
                continue;
            }
        };
        if batch.is_empty() {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = changes.changed() => {}
                // Also wake by itself, in case a change notification was missed.
                _ = tokio::time::sleep(RETRY) => {}
            }
            continue;
        }
        position = relay_batch(&js, pos, &batch).await;
        if position.is_none() {
            pause(&stop, Duration::from_millis(200)).await;
        }
    }
}

async fn pause(stop: &CancellationToken, d: Duration) {
    tokio::select! {
        _ = stop.cancelled() => {}
        _ = tokio::time::sleep(d) => {}
    }
}

/// Publishes `batch` in order; `None` when the relay must resume from the stream.
async fn relay_batch(
    js: &jetstream::Context,
    mut pos: Position,
    batch: &[EventEnvelope],
) -> Option<Position> {
    for event in batch {
        match publish(js, pos.stream_last, event).await {
            Ok(seq) => {
                pos = Position {
                    stream_last: seq,
                    relayed: event.global_seq,
                }
            }
            Err(e) => {
                tracing::warn!(global_seq = event.global_seq, error = %e, "relaying an event failed; resuming from the stream");
                return None;
            }
        }
    }
    Some(pos)
}

#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error("{0}")]
    Publish(String),
    #[error("the stream moved on (another relay, or an earlier publish was stored)")]
    Moved,
}

async fn publish(
    js: &jetstream::Context,
    expected_last: u64,
    event: &EventEnvelope,
) -> Result<u64, RelayError> {
    let body = serde_json::to_vec(event).map_err(|e| RelayError::Publish(e.to_string()))?;
    let publish = jetstream::message::PublishMessage::build()
        .payload(body.into())
        .message_id(event.event_id.0.to_string())
        .header(GLOBAL_SEQ_HEADER, event.global_seq.to_string().as_str())
        .expected_last_sequence(expected_last);
    let ack = js
        .send_publish(event_subject(event), publish)
        .await
        .map_err(|e| RelayError::Publish(e.to_string()))?
        .await;
    match ack {
        Ok(ack) if ack.duplicate => Err(RelayError::Moved),
        Ok(ack) => Ok(ack.sequence),
        Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => Err(RelayError::Moved),
        Err(e) => Err(RelayError::Publish(e.to_string())),
    }
}

/// Reads the stream's end: its last sequence and the last global sequence relayed.
async fn resume(js: &jetstream::Context) -> Result<Position, String> {
    let mut stream = js
        .get_stream(EVENTS_STREAM)
        .await
        .map_err(|e| e.to_string())?;
    let state = stream
        .info()
        .await
        .map_err(|e| e.to_string())?
        .state
        .clone();
    let mut seq = state.last_sequence;
    let floor = state.first_sequence.max(seq.saturating_sub(LOOK_BACK));
    while seq >= floor && seq > 0 {
        match stream.get_raw_message(seq).await {
            Ok(m) => {
                let relayed = m
                    .headers
                    .get(GLOBAL_SEQ_HEADER)
                    .and_then(|v| v.as_str().parse::<u64>().ok());
                if let Some(relayed) = relayed {
                    return Ok(Position {
                        stream_last: state.last_sequence,
                        relayed,
                    });
                }
            }
            // A gap (a deleted message): look further back.
            Err(e) => tracing::debug!(seq, error = %e, "no message at this sequence"),
        }
        seq -= 1;
    }
    Ok(Position {
        stream_last: state.last_sequence,
        relayed: 0,
    })
}
