//! Tells webhooks when jobs end.
//!
//! A loop follows the ledger's global log (acknowledged events only) from a point the
//! caller gives: where the log was when cairn started, before the start-up recovery
//! appended anything, so a job that recovery ends is told too. Each event that ends a job (see `NotifyOn::of_event`) is matched
//! against the notifiers, and every match is delivered by its own task (see
//! `deliver.rs`), at most [`IN_FLIGHT`] at once, so a slow webhook holds up neither the
//! loop nor the others.
//!
//! How far every delivery is done (delivered or given up) is recorded in the ledger
//! (`notified_through`), and a restart resumes from there rather than from where the log
//! was: a delivery pending or retrying when cairn stopped is made after it starts again,
//! continuing its attempt count, and one the records show as done is not made twice.

mod deliver;

pub use deliver::{sign, SIGNATURE_HEADER, TIMESTAMP_HEADER};

use crate::Scheduler;
use cairn_domain::notify::{Notification, NotifyOn};
use cairn_domain::{JobId, NotifierName};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Deliveries running at once.
const IN_FLIGHT: usize = 16;
/// Events read from the log per step.
const BATCH: usize = 256;

impl Scheduler {
    /// Delivers notifications of the job ends recorded after global sequence `after`,
    /// until `shutdown` completes.
    /// `after` counts only before the first run on a ledger: later runs resume where the
    /// last one was done.
    pub async fn run_notifier(&self, after: u64, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut changes = self.ledger().subscribe();
        let resumed = match self.ledger().notified_through() {
            Ok(done) => done,
            Err(e) => {
                tracing::error!(error = %e, "notifications: cannot read how far they were done");
                None
            }
        };
        let mut cursor = resumed.map_or(after, |done| done.min(after));
        let past = if cursor < after {
            self.past_deliveries()
        } else {
            HashMap::new()
        };
        let mut saved = resumed;
        let slots = Arc::new(Semaphore::new(IN_FLIGHT));
        let mut deliveries = tokio::task::JoinSet::new();
        // Deliveries running per event (its global sequence).
        let mut running: BTreeMap<u64, usize> = BTreeMap::new();
        loop {
            let events = match self.ledger().events_after(cursor, BATCH) {
                Ok(events) => events,
                Err(e) => {
                    tracing::error!(error = %e, "notifications: cannot read the ledger");
                    Vec::new()
                }
            };
            for event in &events {
                cursor = event.global_seq;
                if let Some(outcome) = NotifyOn::of_event(&event.payload) {
                    let spawned = self.notify(
                        event.global_seq,
                        event.job_id,
                        outcome,
                        &past,
                        &slots,
                        &mut deliveries,
                    );
                    if spawned > 0 {
                        running.insert(event.global_seq, spawned);
                    }
                }
            }
            while let Some(done) = deliveries.try_join_next() {
                finished(&mut running, done);
            }
            // Done through the event before the oldest one still delivering.
            let through = running.keys().next().map_or(cursor, |seq| seq - 1);
            if saved != Some(through) {
                match self.ledger().set_notified_through(through).await {
                    Ok(()) => saved = Some(through),
                    Err(e) => {
                        tracing::warn!(error = %e, "notifications: cannot record how far they are done")
                    }
                }
            }
            if events.len() == BATCH {
                continue;
            }
            tokio::select! {
                _ = &mut shutdown => break,
                changed = changes.changed() => if changed.is_err() { break },
                Some(done) = deliveries.join_next(), if !deliveries.is_empty() => {
                    finished(&mut running, done);
                }
            }
        }
        deliveries.abort_all();
    }

    /// What the records say of each (notifier, job, outcome): attempts made, and whether
    /// it is done (delivered, or given up).
    fn past_deliveries(&self) -> HashMap<(NotifierName, JobId, NotifyOn), (u32, bool)> {
        let records = match self
            .ledger()
            .deliveries(cairn_ledger::DELIVERIES_KEEP as usize)
        {
            Ok(records) => records,
            Err(e) => {
                tracing::error!(error = %e, "notifications: cannot read past deliveries");
                return HashMap::new();
            }
        };
        let mut past = HashMap::new();
        // Oldest first, so the newest attempt of each wins.
        for d in records.into_iter().rev() {
            past.insert(
                (d.notifier, d.job_id, d.outcome),
                (d.attempt, d.delivered || !d.will_retry),
            );
        }
        past
    }

    /// Starts the deliveries of one job end (the event at `seq`); returns how many.
    fn notify(
        &self,
        seq: u64,
        job_id: JobId,
        outcome: NotifyOn,
        past: &HashMap<(NotifierName, JobId, NotifyOn), (u32, bool)>,
        slots: &Arc<Semaphore>,
        deliveries: &mut tokio::task::JoinSet<u64>,
    ) -> usize {
        let (job, notifiers) = match (self.ledger().job(job_id), self.ledger().notifiers()) {
            (Ok(Some(job)), Ok(notifiers)) => (job, notifiers),
            (Ok(None), _) => return 0,
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!(%job_id, error = %e, "notifications: cannot read the ledger");
                return 0;
            }
        };
        let mut spawned = 0;
        for notifier in notifiers.into_iter().filter(|n| n.wants(outcome, &job)) {
            let made = past.get(&(notifier.name.clone(), job_id, outcome));
            if made.is_some_and(|(_, done)| *done) {
                continue;
            }
            let first_attempt = made.map_or(1, |(attempts, _)| attempts + 1);
            let notification = Notification::of(&notifier, outcome, &job);
            let (scheduler, slots) = (self.clone(), slots.clone());
            deliveries.spawn(async move {
                if let Ok(_slot) = slots.acquire_owned().await {
                    deliver::deliver(&scheduler, &notifier, &notification, first_attempt).await;
                }
                seq
            });
            spawned += 1;
        }
        spawned
    }
}

/// One delivery of the event at the returned sequence ended.
fn finished(running: &mut BTreeMap<u64, usize>, done: Result<u64, tokio::task::JoinError>) {
    let Ok(seq) = done else { return };
    if let Some(left) = running.get_mut(&seq) {
        *left -= 1;
        if *left == 0 {
            running.remove(&seq);
        }
    }
}
