//! A damaged ledger refuses to open, and says what is wrong.

mod common;

use cairn_domain::{JobId, JobKind};
use cairn_ledger::{Ledger, LedgerError};
use common::*;
use std::path::Path;

/// A ledger with two jobs and five events, closed.
async fn written_ledger(dir: &Path) -> JobId {
    let ledger = Ledger::open(dir).unwrap();
    let (a, b) = (JobId::new_random(), JobId::new_random());
    ledger
        .append(
            a,
            0,
            vec![queued("orders", JobKind::Backup), claim(1), started(1)],
        )
        .await
        .unwrap();
    ledger
        .append(b, 0, vec![queued("users", JobKind::Backup), claim(1)])
        .await
        .unwrap();
    a
}

/// Edits the closed database directly, the way a torn write or bad disk would.
fn tamper(dir: &Path, edit: impl FnOnce(&sled::Db)) {
    let db = sled::open(dir).unwrap();
    edit(&db);
    db.flush().unwrap();
}

fn corrupt_detail(dir: &Path) -> String {
    match Ledger::open(dir) {
        Err(err @ LedgerError::Corrupt { .. }) => {
            let text = err.to_string();
            eprintln!("{text}");
            assert!(text.contains(&dir.display().to_string()), "{text}");
            assert!(text.contains("corrupt"), "{text}");
            text
        }
        Err(other) => panic!("expected Corrupt, got {other}"),
        Ok(_) => panic!("a damaged ledger opened"),
    }
}

#[tokio::test]
async fn a_flipped_byte_inside_an_event_is_caught_by_its_checksum() {
    let dir = tempfile::tempdir().unwrap();
    let job = written_ledger(dir.path()).await;
    tamper(dir.path(), |db| {
        let events = db.open_tree("events").unwrap();
        let mut key = job.as_bytes().to_vec();
        key.extend_from_slice(&2u64.to_be_bytes());
        let mut value = events.get(&key).unwrap().unwrap().to_vec();
        let middle = value.len() / 2;
        value[middle] ^= 0x04;
        events.insert(key, value).unwrap();
    });
    let text = corrupt_detail(dir.path());
    assert!(text.contains("checksum mismatch"), "{text}");
    assert!(text.contains(&format!("event 2 of job {job}")), "{text}");
}

#[tokio::test]
async fn a_missing_event_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let job = written_ledger(dir.path()).await;
    tamper(dir.path(), |db| {
        let mut key = job.as_bytes().to_vec();
        key.extend_from_slice(&2u64.to_be_bytes());
        db.open_tree("events").unwrap().remove(key).unwrap();
    });
    let text = corrupt_detail(dir.path());
    assert!(text.contains("missing"), "{text}");
}

#[tokio::test]
async fn a_gap_in_the_global_log_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    written_ledger(dir.path()).await;
    tamper(dir.path(), |db| {
        db.open_tree("log")
            .unwrap()
            .remove(3u64.to_be_bytes())
            .unwrap();
    });
    let text = corrupt_detail(dir.path());
    assert!(text.contains("global log jumps from 2 to 4"), "{text}");
}

#[tokio::test]
async fn a_log_entry_pointing_at_the_wrong_event_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    written_ledger(dir.path()).await;
    tamper(dir.path(), |db| {
        let log = db.open_tree("log").unwrap();
        let first = log.get(1u64.to_be_bytes()).unwrap().unwrap();
        log.insert(2u64.to_be_bytes(), first).unwrap();
    });
    let text = corrupt_detail(dir.path());
    assert!(
        text.contains("global log entry 2 points at event 1"),
        "{text}"
    );
}

#[tokio::test]
async fn a_job_state_that_disagrees_with_its_events_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let job = written_ledger(dir.path()).await;
    tamper(dir.path(), |db| {
        let jobs = db.open_tree("jobs").unwrap();
        let other = db
            .open_tree("jobs")
            .unwrap()
            .iter()
            .next()
            .unwrap()
            .unwrap();
        // Swap in the other job's state, with a valid checksum.
        let mine = jobs.get(job.as_bytes()).unwrap().unwrap();
        let theirs = if other.0.as_ref() == job.as_bytes() {
            jobs.iter().nth(1).unwrap().unwrap().1
        } else {
            other.1
        };
        assert_ne!(mine, theirs);
        jobs.insert(job.as_bytes(), theirs).unwrap();
    });
    let text = corrupt_detail(dir.path());
    assert!(text.contains("differs from the fold"), "{text}");
}

#[test]
fn a_directory_sled_cannot_read_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("conf"),
        b"this is not a sled config\0\xff\xfe",
    )
    .unwrap();
    std::fs::write(dir.path().join("db"), vec![0xa5u8; 4096]).unwrap();
    let text = corrupt_detail(dir.path());
    assert!(text.contains("sled"), "{text}");
}
