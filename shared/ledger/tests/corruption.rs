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
    let tmp = tempfile::tempdir().unwrap();
    let dir = &tmp.path().join("ledger");
    let job = written_ledger(dir).await;
    tamper(dir, |db| {
        let events = db.open_tree("events").unwrap();
        let mut key = job.as_bytes().to_vec();
        key.extend_from_slice(&2u64.to_be_bytes());
        let mut value = events.get(&key).unwrap().unwrap().to_vec();
        let middle = value.len() / 2;
        value[middle] ^= 0x04;
        events.insert(key, value).unwrap();
    });
    let text = corrupt_detail(dir);
    assert!(text.contains("checksum mismatch"), "{text}");
    assert!(text.contains(&format!("event 2 of job {job}")), "{text}");
}

#[tokio::test]
async fn a_missing_event_is_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = &tmp.path().join("ledger");
    let job = written_ledger(dir).await;
    tamper(dir, |db| {
        let mut key = job.as_bytes().to_vec();
        key.extend_from_slice(&2u64.to_be_bytes());
        db.open_tree("events").unwrap().remove(key).unwrap();
    });
    let text = corrupt_detail(dir);
    assert!(text.contains("missing"), "{text}");
}

#[tokio::test]
async fn a_gap_in_the_global_log_is_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = &tmp.path().join("ledger");
    written_ledger(dir).await;
    tamper(dir, |db| {
        db.open_tree("log")
            .unwrap()
            .remove(3u64.to_be_bytes())
            .unwrap();
    });
    let text = corrupt_detail(dir);
    assert!(text.contains("global log jumps from 2 to 4"), "{text}");
}

#[tokio::test]
async fn a_log_entry_pointing_at_the_wrong_event_is_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = &tmp.path().join("ledger");
    written_ledger(dir).await;
    tamper(dir, |db| {
        let log = db.open_tree("log").unwrap();
        let first = log.get(1u64.to_be_bytes()).unwrap().unwrap();
        log.insert(2u64.to_be_bytes(), first).unwrap();
    });
    let text = corrupt_detail(dir);
    assert!(
        text.contains("global log entry 2 points at event 1"),
        "{text}"
    );
}

#[tokio::test]
async fn a_job_state_that_disagrees_with_its_events_is_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = &tmp.path().join("ledger");
    let job = written_ledger(dir).await;
    tamper(dir, |db| {
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
    let text = corrupt_detail(dir);
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

/// A ledger of many small appends, closed; returns how many events were acknowledged.
async fn long_ledger(dir: &Path) -> u64 {
    let ledger = Ledger::open(dir).unwrap();
    for i in 0..40 {
        let job = JobId::new_random();
        ledger
            .append(
                job,
                0,
                vec![queued(&format!("t{}", i % 4), JobKind::Backup)],
            )
            .await
            .unwrap();
        ledger.append(job, 1, vec![claim(1)]).await.unwrap();
    }
    ledger.last_global_seq()
}

/// The bytes of sled's log file that hold data (it may be longer, zero-filled).
fn log_file(dir: &Path) -> (std::path::PathBuf, usize) {
    let file = dir.join("db");
    let bytes = std::fs::read(&file).unwrap();
    let used = bytes.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    assert!(used > 0, "sled's log file holds no data");
    (file, used)
}

/// Refused, naming what was lost and how to recover.
fn lost_detail(dir: &Path) -> String {
    match Ledger::open(dir) {
        Ok(ledger) => panic!(
            "a ledger missing acknowledged events opened, ending at {}",
            ledger.last_global_seq()
        ),
        Err(err @ (LedgerError::Lost { .. } | LedgerError::Corrupt { .. })) => {
            let text = err.to_string();
            eprintln!("{text}");
            assert!(text.contains(&dir.display().to_string()), "{text}");
            assert!(
                text.contains("restoring the ledger directory from a copy")
                    || text.contains("restore the data directory from a copy"),
                "{text}"
            );
            text
        }
        Err(other) => panic!("expected Lost or Corrupt, got {other}"),
    }
}

#[tokio::test]
async fn a_truncated_log_file_is_refused_not_opened_shorter() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = &tmp.path().join("ledger");
    let acked = long_ledger(dir).await;
    assert_eq!(acked, 80);
    let (file, used) = log_file(dir);
    let f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
    f.set_len((used - 600) as u64).unwrap();
    drop(f);
    let text = lost_detail(dir);
    assert!(
        text.contains("80 events were acknowledged") || text.contains("corrupt"),
        "{text}"
    );
}

#[tokio::test]
async fn a_flipped_byte_near_the_tail_of_the_log_file_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = &tmp.path().join("ledger");
    long_ledger(dir).await;
    let (file, used) = log_file(dir);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[used - 200] ^= 0x20;
    std::fs::write(&file, bytes).unwrap();
    lost_detail(dir);
}

#[tokio::test]
async fn a_damaged_acknowledgement_record_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = &tmp.path().join("ledger");
    long_ledger(dir).await;
    let record = tmp.path().join("ledger.ack");
    std::fs::write(&record, b"cairn-ledger-ack 1\nglobal_seq 99\n").unwrap();
    let text = lost_detail(dir);
    assert!(text.contains("ledger.ack"), "{text}");
}

#[tokio::test]
async fn moving_the_record_aside_accepts_the_loss_explicitly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = &tmp.path().join("ledger");
    long_ledger(dir).await;
    let (file, used) = log_file(dir);
    let f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
    f.set_len((used - 600) as u64).unwrap();
    drop(f);
    let text = lost_detail(dir);
    assert!(
        text.contains(&format!("move {}", tmp.path().join("ledger.ack").display())),
        "{text}"
    );
    std::fs::rename(
        tmp.path().join("ledger.ack"),
        tmp.path().join("ledger.ack.old"),
    )
    .unwrap();
    let ledger = Ledger::open(dir).unwrap();
    assert!(ledger.last_global_seq() < 80);
}
