//! Byte layouts of the ledger: keys, checksummed values and order-preserving times.
//!
//! Every stored event and every cached job state is `crc32 (4 B BE) ++ JSON`; the checksum
//! is verified on every read so that a torn or bit-rotten value is reported, never served.

use crate::LedgerError;
use cairn_domain::{JobId, JobKind, JobStatus};
use chrono::{DateTime, Utc};
use serde::{de::DeserializeOwned, Serialize};

/// Length of an event key: `job_id (16 B) ++ seq (8 B BE)`.
pub const EVENT_KEY_LEN: usize = 24;

/// `job_id ++ seq (BE)`: a job's events sort by sequence under its id.
pub fn event_key(job_id: JobId, seq: u64) -> [u8; EVENT_KEY_LEN] {
    let mut key = [0u8; EVENT_KEY_LEN];
    key[..16].copy_from_slice(job_id.as_bytes());
    key[16..].copy_from_slice(&seq.to_be_bytes());
    key
}

/// Splits an event key back into its job id and sequence.
pub fn split_event_key(key: &[u8]) -> Option<(JobId, u64)> {
    if key.len() != EVENT_KEY_LEN {
        return None;
    }
    let id: [u8; 16] = key[..16].try_into().ok()?;
    Some((JobId::from_bytes(id), u64_from(&key[16..])?))
}

pub fn u64_key(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

pub fn u64_from(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

/// A time as 8 bytes that sort like the time: microseconds since the epoch with the sign
/// bit flipped, big-endian (times before 1970 still sort first).
pub fn time_key(at: DateTime<Utc>) -> [u8; 8] {
    ((at.timestamp_micros() as u64) ^ (1 << 63)).to_be_bytes()
}

/// The stable names used in index keys (the domain's wire names).
pub fn kind_tag(kind: JobKind) -> &'static [u8] {
    kind.as_str().as_bytes()
}

pub fn status_tag(status: JobStatus) -> &'static [u8] {
    status.as_str().as_bytes()
}

/// `crc32 (BE) ++ JSON` of a value.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let json = serde_json::to_vec(value).expect("ledger values always serialize to JSON");
    let mut out = Vec::with_capacity(json.len() + 4);
    out.extend_from_slice(&crc32fast::hash(&json).to_be_bytes());
    out.extend_from_slice(&json);
    out
}

/// The checksum a stored value starts with (0 for a value too short to hold one).
pub fn stored_checksum(bytes: &[u8]) -> u32 {
    bytes.get(..4).map_or(0, |crc| {
        u32::from_be_bytes(crc.try_into().expect("4 bytes"))
    })
}

/// Why a stored value could not be read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    TooShort(usize),
    Checksum { stored: u32, computed: u32 },
    Json(String),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::TooShort(n) => write!(f, "value is {n} bytes, shorter than its checksum"),
            DecodeError::Checksum { stored, computed } => write!(
                f,
                "checksum mismatch (stored {stored:08x}, computed {computed:08x})"
            ),
            DecodeError::Json(e) => write!(f, "checksum matches but the JSON is unreadable: {e}"),
        }
    }
}

/// Verifies the checksum, then parses the JSON.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    if bytes.len() < 4 {
        return Err(DecodeError::TooShort(bytes.len()));
    }
    let (crc, json) = bytes.split_at(4);
    let stored = u32::from_be_bytes(crc.try_into().expect("4 bytes"));
    let computed = crc32fast::hash(json);
    if stored != computed {
        return Err(DecodeError::Checksum { stored, computed });
    }
    serde_json::from_slice(json).map_err(|e| DecodeError::Json(e.to_string()))
}

/// A `Corrupt` error for the ledger at `path`.
pub fn corrupt(path: &str, detail: impl Into<String>) -> LedgerError {
    LedgerError::Corrupt {
        path: path.to_string(),
        detail: detail.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn values_round_trip_and_any_flipped_bit_is_caught() {
        let value = vec!["a".to_string(), "ü".to_string()];
        let bytes = encode(&value);
        assert_eq!(decode::<Vec<String>>(&bytes).unwrap(), value);
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x10;
            assert!(decode::<Vec<String>>(&bad).is_err(), "flip at byte {i}");
        }
        assert_eq!(decode::<u32>(&[1, 2]), Err(DecodeError::TooShort(2)));
    }

    #[test]
    fn time_keys_sort_like_times() {
        let times = [
            Utc.timestamp_opt(-5_000_000_000, 0).unwrap(),
            Utc.timestamp_opt(-1, 999_999_000).unwrap(),
            Utc.timestamp_opt(0, 0).unwrap(),
            Utc.timestamp_opt(0, 1_000).unwrap(),
            Utc.timestamp_opt(1_800_000_000, 0).unwrap(),
        ];
        for pair in times.windows(2) {
            assert!(time_key(pair[0]) < time_key(pair[1]), "{pair:?}");
        }
    }

    #[test]
    fn event_keys_split_back() {
        let job = JobId(uuid::Uuid::from_u128(42));
        assert_eq!(split_event_key(&event_key(job, 7)), Some((job, 7)));
        assert!(event_key(job, 255) < event_key(job, 256));
        assert_eq!(split_event_key(&[0; 3]), None);
    }
}
