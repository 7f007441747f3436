//! The scheduler's shared state and the operations the API and the control calls use.

use cairn_bus::{JobBus, JobMessage};
use cairn_domain::control::RetryPolicy;
use cairn_domain::{
    Actor, EventPayload, Failure, JobId, JobKind, JobSpec, JobState, NewEvent, StorageConfig,
    StorageKind, StorageName, TargetName, TokenName,
};
use cairn_keyring::Keyring;
use cairn_ledger::{Ledger, LedgerError};
use chrono::{DateTime, Utc};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Tunables of the control plane.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a claim holds a job without word from its worker; progress renews it.
    pub lease: Duration,
    /// Attempts before a job ends failed.
    pub max_attempts: u32,
    /// Delay before the second attempt; doubled for each further one, capped at 5 minutes.
    pub retry_backoff: Duration,
    /// How often the reconcile loop runs.
    pub reconcile_every: Duration,
    /// How long after it started an interrupted restore is still resumed by itself;
    /// later it is dead-lettered and must be run again explicitly.
    pub restore_resume_window: Duration,
    /// Serve `/metrics` without a token (`cairn up --metrics-public`); otherwise it needs
    /// role read, like every other read.
    pub metrics_public: bool,
}

impl Settings {
    /// How failed and interrupted attempts are retried (domain decides with it).
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            backoff: self.retry_backoff,
            restore_resume_window: self.restore_resume_window,
            ..RetryPolicy::default()
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(30),
            max_attempts: 3,
            retry_backoff: Duration::from_secs(2),
            reconcile_every: Duration::from_secs(2),
            restore_resume_window: Duration::from_secs(600),
            metrics_public: false,
        }
    }
}

/// The control plane: ledger + bus + keyring, shared by the API handlers and the control calls.
#[derive(Clone)]
pub struct Scheduler {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub ledger: Ledger,
    pub bus: Arc<dyn JobBus>,
    pub keyring: Keyring,
    pub settings: Settings,
    /// Claims are decided one at a time, so two workers cannot both see a target as free.
    pub claim_lock: tokio::sync::Mutex<()>,
    /// Prometheus metrics, folded from the ledger (see `metrics.rs`).
    pub metrics: cairn_metrics::Metrics,
    /// The global sequence of the last event folded into `metrics`.
    pub metrics_cursor: std::sync::Mutex<u64>,
    /// Leases of running attempts (in memory: renewals are not ledger events).
    pub leases: crate::leases::Leases,
    /// The firing loop's next fires; one pass at a time.
    pub armed: tokio::sync::Mutex<crate::schedules::Armed>,
}

pub(crate) fn actor() -> Actor {
    Actor::service("scheduler")
}

impl Scheduler {
    /// Builds the control plane on an open ledger and makes sure the storage `default`
    /// (`<data_dir>/storage`) exists.
    pub async fn new(
        ledger: Ledger,
        bus: Arc<dyn JobBus>,
        keyring: Keyring,
        data_dir: &Path,
        settings: Settings,
    ) -> Result<Self, LedgerError> {
        let default = StorageName::default_storage();
        if ledger.storage(&default)?.is_none() {
            let path = data_dir.join("storage");
            let path = std::path::absolute(&path).unwrap_or(path);
            let config = StorageConfig {
                name: default,
                kind: StorageKind::Local {
                    path: path.display().to_string(),
                },
                created_at: Utc::now(),
                encryption: None,
            };
            match ledger.put_storage(&config).await {
                Ok(()) | Err(LedgerError::Exists(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let inner = Inner {
            ledger,
            bus,
            keyring,
            settings,
            claim_lock: tokio::sync::Mutex::new(()),
            metrics: cairn_metrics::Metrics::new(env!("CARGO_PKG_VERSION")),
            metrics_cursor: std::sync::Mutex::new(0),
            leases: crate::leases::Leases::default(),
            armed: Default::default(),
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    pub fn ledger(&self) -> &Ledger {
        &self.inner.ledger
    }
    pub fn keyring(&self) -> &Keyring {
        &self.inner.keyring
    }
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// Records a new job and publishes it to the workers.
    pub async fn enqueue(
        &self,
        spec: JobSpec,
        requested_by: &str,
    ) -> Result<JobState, LedgerError> {
        self.enqueue_as(spec, requested_by, actor()).await
    }

    /// Records a job an API request asked for, naming the request's token.
    pub async fn enqueue_for(
        &self,
        spec: JobSpec,
        token: &TokenName,
    ) -> Result<JobState, LedgerError> {
        let by = actor().on_behalf_of(token.clone());
        self.enqueue_as(spec, token.as_str(), by).await
    }

    async fn enqueue_as(
        &self,
        spec: JobSpec,
        requested_by: &str,
        by: Actor,
    ) -> Result<JobState, LedgerError> {
        let job_id = JobId::new_random();
        let queued = self.queued(spec, requested_by);
        self.inner
            .ledger
            .append(job_id, 0, vec![NewEvent::new(by, queued)])
            .await?;
        let state = self
            .inner
            .ledger
            .job(job_id)?
            .expect("a job just appended exists");
        self.publish(&state).await;
        Ok(state)
    }

    /// Records a refused request as a job that failed before any work (`JobRejected`), so
    /// the history shows it. Nothing is published.
    pub async fn reject(
        &self,
        spec: JobSpec,
        requested_by: &str,
        failure: Failure,
    ) -> Result<JobId, LedgerError> {
        self.reject_as(spec, requested_by, actor(), failure).await
    }

    /// Records a refused API request as a rejected job naming the request's token.
    pub async fn reject_for(
        &self,
        spec: JobSpec,
        token: &TokenName,
        failure: Failure,
    ) -> Result<JobId, LedgerError> {
        let by = actor().on_behalf_of(token.clone());
        self.reject_as(spec, token.as_str(), by, failure).await
    }

    async fn reject_as(
        &self,
        spec: JobSpec,
        requested_by: &str,
        by: Actor,
        failure: Failure,
    ) -> Result<JobId, LedgerError> {
        let job_id = JobId::new_random();
        let events = vec![
            self.queued(spec, requested_by),
            EventPayload::JobRejected { failure },
        ];
        let events = events
            .into_iter()
            .map(|p| NewEvent::new(by.clone(), p))
            .collect();
        self.inner.ledger.append(job_id, 0, events).await?;
        Ok(job_id)
    }

    /// The first event of every job this scheduler records. A check has one attempt: it
    /// answers "does this target work now?", which a retry later would not.
    pub(crate) fn queued(&self, spec: JobSpec, requested_by: &str) -> EventPayload {
        let max_attempts = match spec {
            JobSpec::Check { .. } => 1,
            _ => self.inner.settings.max_attempts,
        };
        EventPayload::JobQueued {
            spec,
            max_attempts,
            requested_by: requested_by.to_string(),
        }
    }

    pub(crate) async fn publish(&self, state: &JobState) {
        self.publish_job(state.job_id, state.kind(), state.spec.target())
            .await;
    }

    pub(crate) async fn publish_job(&self, job_id: JobId, kind: JobKind, target: &TargetName) {
        let msg = JobMessage {
            job_id,
            kind,
            target: target.clone(),
        };
        if let Err(e) = self.inner.bus.publish(msg).await {
            // The job stays queued in the ledger; reconcile publishes it again.
            tracing::warn!(%job_id, error = %e, "publishing a job failed; reconcile will retry");
        }
    }

    pub(crate) fn lease_until(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + chrono::Duration::from_std(self.inner.settings.lease)
            .unwrap_or(chrono::Duration::seconds(30))
    }
}
