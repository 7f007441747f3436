//! Group commit: many writers, one flush.
//!
//! A writer commits to sled's memory, takes a ticket and waits until the flusher reports a
//! flush covering that ticket. The flusher is a dedicated thread (so the ledger works with
//! or without a tokio runtime and never blocks one): it waits for new tickets, notes the
//! highest ticket and global sequence committed so far, flushes once for all of them and
//! publishes both. Writers that arrive during a flush are covered by the next one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use tokio::sync::watch;

/// What the flusher has made durable so far.
#[derive(Debug, Clone, Default)]
struct Flushed {
    ticket: u64,
    /// A failed flush poisons the ledger: after a failed fsync nothing written since the
    /// last good one can be trusted to be on disk.
    error: Option<sled::Error>,
}

#[derive(Default)]
struct Pending {
    /// Tickets handed out (writes committed to memory).
    written: u64,
    shutdown: bool,
}

struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
    /// The highest global sequence committed to memory.
    committed_global: AtomicU64,
    flushed: watch::Sender<Flushed>,
    /// The highest global sequence known to be flushed: what readers may see as acknowledged.
    acknowledged: watch::Sender<u64>,
}

/// The flusher thread and the handle writers use to wait on it. Dropping it flushes what
/// is pending and stops the thread.
pub struct GroupCommit {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl GroupCommit {
    /// Starts the flusher for `db`, whose last flushed global sequence is `last_global`.
    pub fn start(db: sled::Db, last_global: u64) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
            committed_global: AtomicU64::new(last_global),
            flushed: watch::Sender::new(Flushed::default()),
            acknowledged: watch::Sender::new(last_global),
        });
        let thread = std::thread::Builder::new()
            .name("ledger-flusher".into())
            .spawn({
                let shared = shared.clone();
                move || run(&db, &shared)
            })?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// Notes that an append reaching `global_seq` is in sled's memory.
    pub fn committed(&self, global_seq: u64) {
        self.shared
            .committed_global
            .fetch_max(global_seq, Ordering::SeqCst);
    }

    /// Waits until everything committed before this call is flushed to disk.
    pub async fn durable(&self) -> Result<(), sled::Error> {
        let ticket = {
            let mut pending = self.shared.pending.lock().expect("flusher lock");
            pending.written += 1;
            pending.written
        };
        self.shared.wake.notify_one();
        let mut rx = self.shared.flushed.subscribe();
        let flushed = rx
            .wait_for(|f| f.ticket >= ticket || f.error.is_some())
            .await
            .map_err(|_| stopped())?;
        match &flushed.error {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// The highest global sequence flushed to disk.
    pub fn acknowledged(&self) -> u64 {
        *self.shared.acknowledged.borrow()
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.shared.acknowledged.subscribe()
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        if let Ok(mut pending) = self.shared.pending.lock() {
            pending.shutdown = true;
        }
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn stopped() -> sled::Error {
    sled::Error::Io(std::io::Error::other("the ledger's flusher thread stopped"))
}

fn run(db: &sled::Db, shared: &Shared) {
    let mut flushed_ticket = 0;
    loop {
        let (target, shutdown) = {
            let mut pending = shared.pending.lock().expect("flusher lock");
            while pending.written <= flushed_ticket && !pending.shutdown {
                pending = shared.wake.wait(pending).expect("flusher lock");
            }
            (pending.written, pending.shutdown)
        };
        if target > flushed_ticket {
            // Read after the tickets: every sequence counted here was committed before its
            // writer took a ticket, so this flush covers it.
            let global = shared.committed_global.load(Ordering::SeqCst);
            match db.flush() {
                Ok(_) => {
                    flushed_ticket = target;
                    shared.acknowledged.send_modify(|g| *g = (*g).max(global));
                    shared.flushed.send_modify(|f| f.ticket = target);
                }
                Err(e) => {
                    tracing::error!(error = %e, "ledger flush failed; refusing further appends");
                    shared.flushed.send_modify(|f| f.error = Some(e));
                    return;
                }
            }
        }
        if shutdown {
            return;
        }
    }
}
