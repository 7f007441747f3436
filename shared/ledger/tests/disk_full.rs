//! A full disk: the append that cannot be flushed fails with the cause and leaves nothing
//! behind, the ledger says why it cannot write, and it writes again by itself once space
//! is freed. Runs on a real, small tmpfs (the tests run as root).

mod common;

use cairn_domain::{JobId, JobKind};
use cairn_ledger::{Ledger, LedgerError};
use common::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A tmpfs of `size` mounted on a fresh directory, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(status.success(), "mounting a tmpfs needs root: {status}");
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Fills the file system with a ballast file until it is full.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("ballast");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0x5au8; 64 * 1024];
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(_) => continue,
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => panic!("filling the tmpfs: {e}"),
        }
    }
    // Whatever is left in part-pages goes too.
    while file.write(&[0x5a]).is_ok_and(|n| n > 0) {}
    path
}

#[tokio::test]
async fn a_full_disk_fails_the_append_leaves_nothing_and_heals_by_itself() {
    let fs = Tmpfs::mount("8m");
    let dir = fs.path().join("ledger");
    let ledger = Ledger::open(&dir).unwrap();
    let before = JobId::new_random();
    ledger
        .append(before, 0, vec![queued("orders", JobKind::Backup)])
        .await
        .unwrap();
    assert_eq!(ledger.write_problem(), None);

    let ballast = fill(fs.path());
    // Appends that still fit in pages sled already holds may succeed; one soon cannot.
    let mut written = vec![before];
    let (refused, err) = loop {
        let job = JobId::new_random();
        match ledger
            .append(job, 0, vec![queued("orders", JobKind::Backup), claim(1)])
            .await
        {
            Ok(_) => written.push(job),
            Err(e) => break (job, e),
        }
        assert!(
            written.len() < 5000,
            "the ledger kept writing on a full disk"
        );
    };
    let text = err.to_string();
    assert!(
        matches!(err, LedgerError::Unavailable { .. }),
        "expected Unavailable, got {text}"
    );
    assert!(text.contains("No space left on device"), "{text}");
    let problem = ledger
        .write_problem()
        .expect("the ledger says it cannot write");
    assert!(problem.contains("No space left on device"), "{problem}");

    // Nothing of the refused append is visible, and every acknowledged one still is.
    assert_eq!(ledger.job(refused).unwrap(), None);
    assert!(ledger.events(refused).unwrap().is_empty());
    for job in &written {
        assert!(ledger.job(*job).unwrap().is_some(), "job {job} vanished");
    }
    let acked = ledger.last_global_seq();
    assert!(ledger.events_after(acked, 10).unwrap().is_empty());

    // Further writes are refused at once while the disk is full.
    let again = ledger
        .append(
            JobId::new_random(),
            0,
            vec![queued("orders", JobKind::Backup)],
        )
        .await
        .unwrap_err();
    assert!(matches!(again, LedgerError::Unavailable { .. }), "{again}");

    // Space comes back: the ledger heals without a restart.
    std::fs::remove_file(ballast).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while ledger.write_problem().is_some() {
        assert!(Instant::now() < deadline, "the ledger did not recover");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after = JobId::new_random();
    let stored = ledger
        .append(after, 0, vec![queued("orders", JobKind::Backup)])
        .await
        .unwrap();
    assert_eq!(stored[0].global_seq, acked + 1, "no sequence was burnt");
    assert_eq!(ledger.job(refused).unwrap(), None);
    drop(ledger);

    // And what it holds on disk is exactly what it acknowledged.
    let ledger = Ledger::open(&dir).unwrap();
    assert_eq!(ledger.job(refused).unwrap(), None);
    assert!(ledger.job(after).unwrap().is_some());
    for job in &written {
        assert!(ledger.job(*job).unwrap().is_some(), "job {job} vanished");
    }
    assert_eq!(ledger.last_global_seq(), acked + 1);
}
