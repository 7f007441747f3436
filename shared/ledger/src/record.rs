//! The on-disk form of an event.
//!
//! The ledger does not store `EventEnvelope`'s wire JSON: the envelope flattens the payload
//! beside its own `attempt`, and for payloads that carry an attempt that JSON holds the
//! key twice, which serde then refuses to read back. The stored record nests the payload
//! instead and derives `attempt` from it, so the disk format does not depend on how the
//! envelope looks on the wire.

use cairn_domain::{Actor, EventEnvelope, EventId, EventPayload, JobId, StreamKind, TargetName};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub event_id: EventId,
    pub job_id: JobId,
    pub seq: u64,
    pub global_seq: u64,
    pub at: DateTime<Utc>,
    pub kind: StreamKind,
    pub target: TargetName,
    pub actor: Actor,
    pub payload: EventPayload,
}

impl From<&EventEnvelope> for StoredEvent {
    fn from(e: &EventEnvelope) -> Self {
        Self {
            event_id: e.event_id,
            job_id: e.job_id,
            seq: e.seq,
            global_seq: e.global_seq,
            at: e.at,
            kind: e.kind,
            target: e.target.clone(),
            actor: e.actor.clone(),
            payload: e.payload.clone(),
        }
    }
}

impl From<StoredEvent> for EventEnvelope {
    fn from(s: StoredEvent) -> Self {
        Self {
            event_id: s.event_id,
            job_id: s.job_id,
            seq: s.seq,
            global_seq: s.global_seq,
            at: s.at,
            kind: s.kind,
            target: s.target,
            attempt: s.payload.attempt(),
            actor: s.actor,
            payload: s.payload,
        }
    }
}

/// Encodes an event as stored: `crc32 ++ JSON` of its record.
pub fn encode_event(e: &EventEnvelope) -> Vec<u8> {
    crate::codec::encode(&StoredEvent::from(e))
}

/// Decodes (checksum first) a stored event.
pub fn decode_event(bytes: &[u8]) -> Result<EventEnvelope, crate::codec::DecodeError> {
    crate::codec::decode::<StoredEvent>(bytes).map(EventEnvelope::from)
}
