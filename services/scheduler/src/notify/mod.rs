//! Tells webhooks when jobs end.
//!
//! A loop follows the ledger's global log (acknowledged events only) from a point the
//! caller gives: where the log was when cairn started, before the start-up recovery
//! appended anything, so a job that recovery ends is told too. Each event that ends a job (see `NotifyOn::of_event`) is matched
//! against the notifiers, and every match is delivered by its own task (see
//! `deliver.rs`), at most [`IN_FLIGHT`] at once, so a slow webhook holds up neither the
//! loop nor the others. Deliveries still retrying when cairn stops are dropped.

mod deliver;

pub use deliver::{sign, SIGNATURE_HEADER, TIMESTAMP_HEADER};

use crate::Scheduler;
use cairn_domain::notify::{Notification, NotifyOn};
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
    pub async fn run_notifier(&self, after: u64, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut changes = self.ledger().subscribe();
        let mut cursor = after;
        let slots = Arc::new(Semaphore::new(IN_FLIGHT));
        let mut deliveries = tokio::task::JoinSet::new();
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
                    self.notify(event.job_id, outcome, &slots, &mut deliveries);
                }
            }
            while deliveries.try_join_next().is_some() {}
            if events.len() == BATCH {
                continue;
            }
            tokio::select! {
                _ = &mut shutdown => break,
                changed = changes.changed() => if changed.is_err() { break },
            }
        }
        deliveries.abort_all();
    }

    fn notify(
        &self,
        job_id: cairn_domain::JobId,
        outcome: NotifyOn,
        slots: &Arc<Semaphore>,
        deliveries: &mut tokio::task::JoinSet<()>,
    ) {
        let (job, notifiers) = match (self.ledger().job(job_id), self.ledger().notifiers()) {
            (Ok(Some(job)), Ok(notifiers)) => (job, notifiers),
            (Ok(None), _) => return,
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!(%job_id, error = %e, "notifications: cannot read the ledger");
                return;
            }
        };
        for notifier in notifiers.into_iter().filter(|n| n.wants(outcome, &job)) {
            let notification = Notification::of(&notifier, outcome, &job);
            let (scheduler, slots) = (self.clone(), slots.clone());
            deliveries.spawn(async move {
                let Ok(_slot) = slots.acquire_owned().await else {
                    return;
                };
                deliver::deliver(&scheduler, &notifier, &notification).await;
            });
        }
    }
}
