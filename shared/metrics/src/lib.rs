//! cairn's Prometheus metrics: a registry of job and ledger metrics, fed by folding
//! committed ledger events ([`Metrics::observe`]) and encoded in the Prometheus or
//! OpenMetrics text format ([`Metrics::encode`]).
//!
//! Every value is a function of the event log, so a process that folds the whole log at
//! start and then each committed event shows the same figures after a restart as before.
//! The registry knows no HTTP server and no ledger: the scheduler serves it today, and a
//! worker process can serve its own the same way. Labels never carry job or backup ids
//! (one series per job would grow without bound); they carry kinds, engines, targets and
//! outcomes, which are few.

mod fold;

pub use fold::Outcome;

use cairn_domain::{Engine, EventEnvelope, JobKind, TargetName};
use fold::{Ended, Fold};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

/// The `Content-Type` of [`Format::OpenMetrics`].
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The `Content-Type` of [`Format::Prometheus`].
pub const PROMETHEUS_CONTENT_TYPE: &str =
    prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Upper bounds (seconds) of the job duration histogram: a second to a day.
const DURATION_BUCKETS: [f64; 14] = [
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0,
    86400.0,
];

/// A text exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0 (what Prometheus asks for first).
    OpenMetrics,
    /// The Prometheus text format 0.0.4 (for clients that do not ask for OpenMetrics).
    Prometheus,
}

impl Format {
    /// The format a scraper's `Accept` header asks for.
    pub fn from_accept(accept: Option<&str>) -> Self {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Prometheus,
        }
    }
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
            Format::Prometheus => PROMETHEUS_CONTENT_TYPE,
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    kind: String,
    engine: String,
    target: String,
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindEngine {
    kind: String,
    engine: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindTarget {
    kind: String,
    target: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetLabel {
    target: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    version: String,
}

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// The metrics of one cairn process.
pub struct Metrics {
    registry: Registry,
    jobs: Family<JobLabels, Counter>,
    durations: Family<KindEngine, Histogram, fn() -> Histogram>,
    last_success: Family<KindTarget, FloatGauge>,
    last_backup_size: Family<TargetLabel, Gauge>,
    in_progress: Family<KindLabel, Gauge>,
    ledger_events: Counter,
    schedule_interval: Family<TargetLabel, FloatGauge>,
    fold: Mutex<Fold>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// An empty registry of cairn's metrics for a process of this `version`.
    pub fn new(version: &str) -> Self {
        let mut registry = Registry::default();
        let jobs = Family::<JobLabels, Counter>::default();
        registry.register(
            "cairn_jobs",
            "Jobs that ended, by kind, engine, target and outcome",
            jobs.clone(),
        );
        let durations = Family::<KindEngine, Histogram, fn() -> Histogram>::new_with_constructor(
            duration_histogram,
        );
        registry.register(
            "cairn_job_duration_seconds",
            "Time from a job's first claim to its end (all attempts), of jobs a worker ran",
            durations.clone(),
        );
        let last_success = Family::<KindTarget, FloatGauge>::default();
        registry.register(
            "cairn_last_success_timestamp_seconds",
            "When the last job of this kind succeeded on this target (Unix time)",
            last_success.clone(),
        );
        let last_backup_size = Family::<TargetLabel, Gauge>::default();
        registry.register(
            "cairn_last_backup_size_bytes",
            "Stored (compressed) size of the target's last successful backup",
            last_backup_size.clone(),
        );
        let in_progress = Family::<KindLabel, Gauge>::default();
        registry.register(
            "cairn_jobs_in_progress",
            "Jobs queued, running or waiting for a retry",
            in_progress.clone(),
        );
        let ledger_events = Counter::default();
        registry.register(
            "cairn_ledger_events",
            "Events committed to the ledger",
            ledger_events.clone(),
        );
        let schedule_interval = Family::<TargetLabel, FloatGauge>::default();
        registry.register(
            "cairn_schedule_interval_seconds",
            "Longest gap between the next fires of the target's backup schedule",
            schedule_interval.clone(),
        );
        let build = Family::<VersionLabel, Gauge>::default();
        registry.register(
            "cairn_build_info",
            "The running cairn's version",
            build.clone(),
        );
        build
            .get_or_create(&VersionLabel {
                version: version.to_string(),
            })
            .set(1);
        for kind in JobKind::ALL {
            // Every kind shows, at 0 before its first job.
            in_progress.get_or_create(&kind_label(kind)).set(0);
        }
        Self {
            registry,
            jobs,
            durations,
            last_success,
            last_backup_size,
            in_progress,
            ledger_events,
            schedule_interval,
            fold: Mutex::new(Fold::default()),
        }
    }

    /// Folds one committed event in. Events must come in `global_seq` order, each once,
    /// starting from the first of the ledger. `engine_of` names a target's engine (for
    /// the `engine` label; a backup's manifest names it too), if the target still exists.
    pub fn observe(
        &self,
        event: &EventEnvelope,
        engine_of: impl FnOnce(&TargetName) -> Option<Engine>,
    ) {
        self.ledger_events.inc();
        let mut fold = self
            .fold
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let step = fold.apply(event, engine_of);
        drop(fold);
        if let Some((kind, target, engine)) = step.queued {
            self.in_progress.get_or_create(&kind_label(kind)).inc();
            if let Some(engine) = engine {
                self.start_counting(kind, &target, engine);
            }
        }
        if let Some(ended) = step.ended {
            self.end(&ended);
        }
    }

    /// Shows every outcome of a (kind, engine, target) at 0 from its first job on, so an
    /// alert on `increase(cairn_jobs_total{outcome="dead_lettered"}[…])` sees the first
    /// dead letter as a rise from 0 rather than a new series. Only for existing targets:
    /// requests naming unknown targets must not add series by the handful.
    fn start_counting(&self, kind: JobKind, target: &TargetName, engine: Engine) {
        for outcome in Outcome::ALL {
            let labels = JobLabels {
                kind: kind.as_str().to_string(),
                engine: engine.as_str().to_string(),
                target: target.to_string(),
                outcome: outcome.as_str().to_string(),
            };
            if self.jobs.get(&labels).is_none() {
                self.jobs.get_or_create(&labels).inc_by(0);
            }
        }
    }

    fn end(&self, ended: &Ended) {
        let kind = ended.kind.as_str().to_string();
        let target = ended.target.to_string();
        self.in_progress
            .get_or_create(&kind_label(ended.kind))
            .dec();
        self.jobs
            .get_or_create(&JobLabels {
                kind: kind.clone(),
                engine: ended.engine.clone(),
                target: target.clone(),
                outcome: ended.outcome.as_str().to_string(),
            })
            .inc();
        if let Some(seconds) = ended.worked_seconds {
            self.durations
                .get_or_create(&KindEngine {
                    kind: kind.clone(),
                    engine: ended.engine.clone(),
                })
                .observe(seconds);
        }
        if ended.outcome == Outcome::Succeeded {
            let at = ended.at.timestamp_millis() as f64 / 1000.0;
            self.last_success
                .get_or_create(&KindTarget {
                    kind,
                    target: target.clone(),
                })
                .set(at);
            if let Some(bytes) = ended.stored_bytes {
                self.last_backup_size
                    .get_or_create(&TargetLabel { target })
                    .set(i64::try_from(bytes).unwrap_or(i64::MAX));
            }
        }
    }

    /// Replaces the schedule intervals with these `(target, seconds)`: the targets with
    /// a schedule now.
    pub fn set_schedule_intervals(&self, intervals: impl IntoIterator<Item = (String, f64)>) {
        self.schedule_interval.clear();
        for (target, seconds) in intervals {
            self.schedule_interval
                .get_or_create(&TargetLabel { target })
                .set(seconds);
        }
    }

    /// The metrics as text in `format`.
    pub fn encode(&self, format: Format) -> String {
        let mut text = String::new();
        let written = match format {
            Format::OpenMetrics => {
                prometheus_client::encoding::text::encode(&mut text, &self.registry)
            }
            Format::Prometheus => {
                prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
            }
        };
        // Writing into a String cannot fail; a label value the encoder refused would be a
        // bug in this module.
        written.expect("metrics encode into a String");
        text
    }
}

fn kind_label(kind: JobKind) -> KindLabel {
    KindLabel {
        kind: kind.as_str().to_string(),
    }
}
