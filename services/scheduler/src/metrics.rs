//! Feeds the Prometheus metrics (`cairn-metrics`) from the ledger's global log.
//!
//! One function, [`Scheduler::fold_metrics`], reads the acknowledged events after the
//! last one folded and observes each, in order, exactly once. It runs at start (folding
//! the whole log, so a restart shows the same counts as before), after every commit (the
//! follower task), and before every scrape (so a scrape is never behind the ledger).
//! Schedule intervals are configuration, not events: they are read from the policies
//! at each scrape.

use crate::Scheduler;
use cairn_metrics::Format;
use chrono::Utc;
use std::future::Future;

/// Events read from the log per step.
const BATCH: usize = 1024;
/// Fires looked at for a schedule's longest gap (a weekly `mon,fri` schedule has two gaps).
const GAP_FIRES: usize = 8;

impl Scheduler {
    /// Folds every acknowledged event not folded yet into the metrics. Blocking (sled
    /// reads); call it from `spawn_blocking`.
    pub fn fold_metrics(&self) {
        let mut cursor = self
            .inner
            .metrics_cursor
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        loop {
            let events = match self.ledger().events_after(*cursor, BATCH) {
                Ok(events) => events,
                Err(e) => {
                    tracing::error!(error = %e, "metrics: cannot read the ledger");
                    return;
                }
            };
            for event in &events {
                self.inner.metrics.observe(event, |target| {
                    self.ledger()
                        .target(target)
                        .ok()
                        .flatten()
                        .map(|t| t.engine())
                });
                *cursor = event.global_seq;
            }
            if events.len() < BATCH {
                return;
            }
        }
    }

    async fn fold_metrics_async(&self) {
        let s = self.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || s.fold_metrics()).await {
            tracing::error!(error = %e, "metrics: the fold panicked");
        }
    }

    /// Keeps the metrics current as events commit, until `shutdown` completes.
    pub async fn run_metrics(&self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut changes = self.ledger().subscribe();
        loop {
            self.fold_metrics_async().await;
            tokio::select! {
                _ = &mut shutdown => break,
                changed = changes.changed() => if changed.is_err() { break },
            }
        }
    }

    /// The metrics as text, current to the last acknowledged event.
    pub async fn metrics_text(&self, format: Format) -> String {
        self.fold_metrics_async().await;
        self.refresh_schedule_intervals();
        self.inner.metrics.encode(format)
    }

    fn refresh_schedule_intervals(&self) {
        let policies = match self.ledger().policies() {
            Ok(policies) => policies,
            Err(e) => {
                tracing::error!(error = %e, "metrics: cannot read the schedules");
                return;
            }
        };
        let now = Utc::now();
        let intervals = policies.into_iter().filter_map(|record| {
            let policy = record.policy?;
            let fires: Vec<_> = policy.schedule.fires_after(now).take(GAP_FIRES).collect();
            let gap = fires
                .windows(2)
                .map(|w| (w[1] - w[0]).num_seconds())
                .max()?;
            Some((record.target.to_string(), gap as f64))
        });
        self.inner.metrics.set_schedule_intervals(intervals);
    }
}
