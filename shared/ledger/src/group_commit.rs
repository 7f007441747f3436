//! Group commit: many writers, one flush; and recovery when a flush fails.
//!
//! A writer applies its change to sled's memory, takes a ticket and waits until the flusher
//! reports on it. The flusher is a dedicated thread (so the ledger works with or without a
//! tokio runtime and never blocks one): it waits for new tickets, flushes once for all of
//! them, writes the acknowledgement record, and only then tells the writers their changes
//! are durable. Writers that arrive during a flush are covered by the next one.
//!
//! When a flush (or the record) fails, for example on a full disk, sled refuses everything
//! until it is reopened. The ledger then *cannot write*: the waiting writers get the cause,
//! new writes are refused at once, and every second the flusher tries to recover by
//! reopening sled and taking back the writes nobody was told about (see `undo`). Once a
//! flush succeeds again, the ledger writes again; no restart is needed.

use crate::ack::{AckFile, Acked};
use crate::config::{self, meta, Trees};
use crate::reserve::Reserve;
use crate::undo::{self, Undo};
use crate::LedgerError;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};

/// How often a ledger that cannot write tries to recover.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// What one write left in sled's memory.
pub struct Written<T> {
    pub value: T,
    /// How to take it back; empty when nothing was written.
    pub undo: Undo,
    /// The last event it appended, if any.
    pub head: Option<Acked>,
}

struct Waiting {
    ticket: u64,
    undo: Undo,
    /// Told the outcome once; the entry stays until the write is durable or taken back.
    done: Option<oneshot::Sender<Result<(), String>>>,
}

#[derive(Default)]
struct State {
    /// Tickets handed out.
    written: u64,
    shutdown: bool,
    /// Why the ledger cannot write, while it cannot.
    problem: Option<String>,
    /// Writes not known to be durable, in ticket order.
    waiting: Vec<Waiting>,
    /// The highest event in sled's memory.
    head: Acked,
    /// While the ledger cannot write: whether what was not acknowledged is taken back
    /// already (only the reserve is missing).
    clean: bool,
}

struct Shared {
    dir: PathBuf,
    record: AckFile,
    reserve: Reserve,
    /// `None` only while a reopen after a failure has not succeeded.
    trees: RwLock<Option<Trees>>,
    state: Mutex<State>,
    wake: Condvar,
    /// The highest global sequence acknowledged: what readers may see as committed.
    acknowledged: watch::Sender<u64>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn unavailable(&self) -> LedgerError {
        let cause = self
            .state()
            .problem
            .clone()
            .unwrap_or_else(|| "the ledger is reopening".into());
        LedgerError::Unavailable { cause }
    }
}

/// The flusher thread and the handle writers and readers use. Dropping it flushes what is
/// pending and stops the thread.
pub struct GroupCommit {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl GroupCommit {
    /// Starts the flusher for the ledger in `dir`, opened as `trees`, whose last event
    /// (flushed and recorded in `record`) is `head`.
    pub fn start(
        dir: PathBuf,
        trees: Trees,
        record: AckFile,
        head: Acked,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            reserve: Reserve::beside(&dir),
            dir,
            record,
            trees: RwLock::new(Some(trees)),
            state: Mutex::new(State {
                head,
                ..State::default()
            }),
            wake: Condvar::new(),
            acknowledged: watch::Sender::new(head.global_seq),
        });
        let thread = std::thread::Builder::new()
            .name("ledger-flusher".into())
            .spawn({
                let shared = shared.clone();
                move || run(&shared, head)
            })?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// Runs a read on the trees.
    pub fn read<T>(
        &self,
        f: impl FnOnce(&Trees) -> Result<T, LedgerError>,
    ) -> Result<T, LedgerError> {
        let guard = self
            .shared
            .trees
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        match guard.as_ref() {
            Some(trees) => f(trees),
            None => Err(self.shared.unavailable()),
        }
    }

    /// Runs a write on the trees and waits until it is durable and recorded.
    pub async fn write<T>(
        &self,
        f: impl FnOnce(&Trees) -> Result<Written<T>, LedgerError>,
    ) -> Result<T, LedgerError> {
        let shared = &self.shared;
        let (value, outcome) = {
            // Held until the write is registered, so recovery never misses a write that
            // is in sled's memory.
            let guard = shared.trees.read().unwrap_or_else(PoisonError::into_inner);
            let Some(trees) = guard.as_ref() else {
                return Err(shared.unavailable());
            };
            if shared.state().problem.is_some() {
                return Err(shared.unavailable());
            }
            let written = match f(trees) {
                Ok(written) => written,
                Err(LedgerError::Sled(sled::Error::Io(e))) => {
                    // sled's own background flush may have met the problem first.
                    fail(shared, &cause_of(&sled::Error::Io(e)));
                    return Err(shared.unavailable());
                }
                Err(e) => return Err(e),
            };
            if written.undo.is_empty() {
                return Ok(written.value);
            }
            let (tx, rx) = oneshot::channel();
            let mut state = shared.state();
            state.written += 1;
            if let Some(head) = written.head {
                if head.global_seq > state.head.global_seq {
                    state.head = head;
                }
            }
            let refused = state.problem.clone();
            let ticket = state.written;
            state.waiting.push(Waiting {
                ticket,
                undo: written.undo,
                done: refused.is_none().then_some(tx),
            });
            drop(state);
            if let Some(cause) = refused {
                // It stays registered, so recovery takes it back.
                return Err(LedgerError::Unavailable { cause });
            }
            shared.wake.notify_one();
            (written.value, rx)
        };
        match outcome.await {
            Ok(Ok(())) => Ok(value),
            Ok(Err(cause)) => Err(LedgerError::Unavailable { cause }),
            Err(_) => Err(LedgerError::Unavailable {
                cause: "the ledger's flusher thread stopped".into(),
            }),
        }
    }

    /// The highest global sequence acknowledged.
    pub fn acknowledged(&self) -> u64 {
        *self.shared.acknowledged.borrow()
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.shared.acknowledged.subscribe()
    }

    /// Why the ledger cannot write, while it cannot.
    pub fn problem(&self) -> Option<String> {
        self.shared.state().problem.clone()
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        self.shared.state().shutdown = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Marks the ledger as unable to write; the flusher then takes back what is waiting.
fn fail(shared: &Shared, cause: &str) {
    let mut state = shared.state();
    if state.problem.is_none() {
        state.clean = false;
        tracing::error!(
            cause,
            "the ledger cannot write; it refuses writes and retries every second"
        );
        state.problem = Some(cause.to_string());
    }
    drop(state);
    shared.wake.notify_one();
}

fn run(shared: &Shared, mut recorded: Acked) {
    let mut flushed = 0;
    // While the ledger cannot write: when to try recovering again.
    let mut retry_at: Option<Instant> = None;
    loop {
        let (target, head, shutdown, degraded) = {
            let mut state = shared.state();
            loop {
                if state.shutdown {
                    break;
                }
                if state.problem.is_some() {
                    let now = Instant::now();
                    match retry_at {
                        Some(at) if at > now => {
                            state = shared
                                .wake
                                .wait_timeout(state, at - now)
                                .unwrap_or_else(PoisonError::into_inner)
                                .0;
                            continue;
                        }
                        _ => break,
                    }
                }
                if state.written > flushed {
                    break;
                }
                state = shared
                    .wake
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            (
                state.written,
                state.head,
                state.shutdown,
                state.problem.is_some(),
            )
        };
        if degraded {
            match recover(shared, recorded) {
                Some(settled) => {
                    flushed = settled;
                    retry_at = None;
                }
                None => retry_at = Some(Instant::now() + RETRY_EVERY),
            }
            if shutdown {
                return;
            }
            continue;
        }
        if target > flushed {
            match flush_and_record(shared, head, &mut recorded) {
                Ok(()) => {
                    flushed = target;
                    shared
                        .acknowledged
                        .send_modify(|g| *g = (*g).max(head.global_seq));
                    let mut state = shared.state();
                    state.waiting.retain_mut(|w| {
                        if w.ticket > target {
                            return true;
                        }
                        if let Some(done) = w.done.take() {
                            let _ = done.send(Ok(()));
                        }
                        false
                    });
                }
                Err(cause) => {
                    // Taken back at once (next turn), before any writer hears of it, so
                    // nobody reads what was never acknowledged.
                    fail(shared, &cause);
                    retry_at = None;
                    continue;
                }
            }
        }
        if shutdown {
            return;
        }
    }
}

/// Flushes sled, then records `head` if it moved; the error is the cause to report.
fn flush_and_record(shared: &Shared, head: Acked, recorded: &mut Acked) -> Result<(), String> {
    {
        let guard = shared.trees.read().unwrap_or_else(PoisonError::into_inner);
        let trees = guard.as_ref().ok_or("the ledger is reopening")?;
        trees.db.flush().map_err(|e| cause_of(&e))?;
    }
    if head.global_seq > recorded.global_seq {
        shared.record.write(head).map_err(|e| {
            format!(
                "cannot write the acknowledgement record {}: {e}",
                shared.record.path().display()
            )
        })?;
        *recorded = head;
    }
    Ok(())
}

/// The operating system's words for a sled error, without sled's prefix.
pub fn cause_of(e: &sled::Error) -> String {
    let sled::Error::Io(io) = e else {
        return e.to_string();
    };
    if let Some(code) = io.raw_os_error() {
        return std::io::Error::from_raw_os_error(code).to_string();
    }
    // sled hands out copies of an I/O error that carry its debug form as their message.
    let text = io.to_string();
    match text
        .split_once("message: \"")
        .and_then(|(_, rest)| rest.split_once('"'))
    {
        Some((message, _)) => message.to_string(),
        None => text,
    }
}

/// Reopens sled, takes back every write that was not acknowledged (telling its writer) and
/// flushes; then refills the reserve. Returns the last ticket settled once the ledger can
/// write again.
fn recover(shared: &Shared, recorded: Acked) -> Option<u64> {
    let mut guard = shared.trees.write().unwrap_or_else(PoisonError::into_inner);
    let clean = shared.state().clean;
    let reopened = clean || reopen(shared, &mut guard, recorded).is_some();
    let mut state = shared.state();
    let cause = state.problem.clone().unwrap_or_default();
    for waiting in &mut state.waiting {
        if let Some(done) = waiting.done.take() {
            let _ = done.send(Err(cause.clone()));
        }
    }
    if !reopened {
        return None;
    }
    // Rolled back and flushed: readers see exactly what was acknowledged.
    state.clean = true;
    state.waiting.clear();
    state.head = recorded;
    if let Err(e) = shared.reserve.fill() {
        state.problem = Some(cause_of(&sled::Error::Io(e)));
        return None;
    }
    state.problem = None;
    tracing::info!("the ledger can write again");
    Some(state.written)
}

/// The reopen, roll back and flush of [`recover`], under its write lock.
fn reopen(shared: &Shared, guard: &mut Option<Trees>, recorded: Acked) -> Option<()> {
    // Dropping sled after a failed flush writes nothing more: it refuses to.
    *guard = None;
    shared.reserve.release();
    let trees = match config::open_trees(&shared.dir) {
        Ok(trees) => trees,
        Err(e) => {
            tracing::warn!(error = %e, "the ledger cannot reopen yet; retrying");
            return None;
        }
    };
    let mut state = shared.state();
    let mut undos: Vec<&Undo> = state.waiting.iter().map(|w| &w.undo).collect();
    if let Err(e) = undo::roll_back(&trees, &mut undos) {
        tracing::warn!(error = %e, "the ledger cannot take back unacknowledged writes yet; retrying");
        return None;
    }
    drop(undos);
    let flushed = trees.db.flush();
    let last = trees
        .meta
        .get(meta::LAST_GLOBAL_SEQ)
        .ok()
        .flatten()
        .and_then(|v| crate::codec::u64_from(&v))
        .unwrap_or(0);
    *guard = Some(trees);
    if let Err(e) = flushed {
        let cause = cause_of(&e);
        tracing::warn!(cause, "the ledger still cannot write; retrying");
        state.problem = Some(cause);
        return None;
    }
    if last != recorded.global_seq {
        state.problem = Some(format!(
            "after reopening, the ledger ends at global sequence {last} but {} was acknowledged; restart cairn so that it checks the ledger",
            recorded.global_seq
        ));
        return None;
    }
    Some(())
}
