//! Waiting for a job through the long-poll endpoint, showing progress on the way:
//! a spinner with bytes and rate on a terminal — with a percentage and the time left when
//! the size is known (a restore: its backup's size; a backup: about its previous
//! backup's) — and JSON status lines with `--json`. The figures come from the job's
//! progress events, so the display costs the pipeline nothing.

use super::client::ApiClient;
use super::error::{CliError, Outcome};
use super::output;
use super::summary::Summary;
use cairn_domain::api::{BackupView, JobView};
use cairn_domain::{EventEnvelope, EventPayload, JobId, JobKind, JobSpec, JobState, JobStatus};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// How long one long poll may hang before the server answers with the current view.
const POLL: Duration = Duration::from_secs(20);
/// JSON status lines are throttled to about one a second.
const STATUS_EVERY: Duration = Duration::from_secs(1);
/// How long a wait rides out an unreachable server, and how often it tries meanwhile.
const OUTAGE: Duration = Duration::from_secs(30);
const RECONNECT: Duration = Duration::from_secs(1);

/// Waits until the job ends, then prints its summary. Exit 0 on success, 1 otherwise.
/// Ctrl-C stops the waiting, not the job.
pub async fn wait(client: &ApiClient, job: JobId, json: bool) -> Result<Outcome, CliError> {
    let mut progress = Progress::new(json);
    let result = tokio::select! {
        result = follow(client, job, &mut progress) => result,
        _ = tokio::signal::ctrl_c() => Err(CliError::Interrupted { job: job.to_string() }),
    };
    progress.finish();
    let view = result?;
    Summary::of(&view).print(json)
}

/// Long-polls until the job is terminal, reporting each new view.
async fn follow(
    client: &ApiClient,
    job: JobId,
    progress: &mut Progress,
) -> Result<JobView, CliError> {
    let mut seen = 0u64;
    // The server sends only the events after `seen`; the summary reads them all.
    let mut events = Vec::new();
    let mut lost_since: Option<Instant> = None;
    loop {
        let view = match client.wait_job(job, seen, POLL).await {
            Ok(view) => view,
            // A restarting server (`cairn up` again) should not end a long wait at once.
            Err(CliError::Unreachable { .. })
                if lost_since.is_none_or(|t| t.elapsed() < OUTAGE) =>
            {
                if lost_since.is_none() {
                    progress.say("lost the server; trying again for a while");
                }
                lost_since.get_or_insert_with(Instant::now);
                tokio::time::sleep(RECONNECT).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        lost_since = None;
        for event in view.events.iter().filter(|e| e.seq > seen) {
            progress.notice(event);
        }
        events.extend(view.events.into_iter().filter(|e| e.seq > seen));
        seen = events.last().map_or(seen, |e| e.seq);
        if progress.wants_size() {
            let size = expected_size(client, &view.state.spec).await;
            progress.set_size(size);
        }
        progress.update(&view.state)?;
        if view.state.status.is_terminal() {
            return Ok(JobView {
                state: view.state,
                events,
            });
        }
    }
}

/// `{"message_type":"status",…}`: one line of `--wait --json`.
#[derive(Debug, Serialize)]
struct StatusLine {
    message_type: &'static str,
    job_id: JobId,
    status: JobStatus,
    attempt: u32,
    bytes_db: u64,
    bytes_storage: u64,
    seconds_elapsed: f64,
}

/// Where progress goes.
enum Display {
    Json { last: Option<Instant> },
    Spinner(ProgressBar),
    Quiet,
}

struct Progress {
    display: Display,
    started: Instant,
    rate: Rate,
    /// The raw size the job is expected to move, once looked up: `Some(None)` when unknown.
    size: Option<Option<Expected>>,
}

/// How many raw bytes a job will move: exactly (a restore) or about (a backup).
#[derive(Debug, Clone, Copy)]
struct Expected {
    bytes: u64,
    exact: bool,
}

/// The size of the backup a restore loads, or of the target's newest backup for a backup
/// job; `None` when there is none or the lookup fails (the display does without).
async fn expected_size(client: &ApiClient, spec: &JobSpec) -> Option<Expected> {
    let (target, wanted) = match spec {
        JobSpec::Restore { source, backup, .. } => (source, Some(backup.to_string())),
        JobSpec::Backup { target, .. } => (target, None),
        _ => return None,
    };
    let backups: Vec<BackupView> = client
        .get(&format!("/v1/targets/{target}/backups"))
        .await
        .ok()?;
    let exact = wanted.is_some();
    let found = match wanted {
        Some(id) => backups.into_iter().find(|b| b.id == id),
        None => backups.into_iter().next(),
    }?;
    Some(Expected {
        bytes: found.size_bytes,
        exact,
    })
}

impl Progress {
    fn new(json: bool) -> Self {
        let display = if json {
            Display::Json { last: None }
        } else if std::io::stderr().is_terminal() {
            Display::Spinner(spinner())
        } else {
            Display::Quiet
        };
        Self {
            display,
            started: Instant::now(),
            rate: Rate::default(),
            size: None,
        }
    }

    /// Whether the expected size is still to be looked up (only for the spinner).
    fn wants_size(&self) -> bool {
        self.size.is_none() && matches!(self.display, Display::Spinner(_))
    }

    fn set_size(&mut self, size: Option<Expected>) {
        self.size = Some(size);
    }

    fn update(&mut self, state: &JobState) -> Result<(), CliError> {
        let elapsed = self.started.elapsed();
        match &mut self.display {
            Display::Json { last } => {
                if last.is_some_and(|t| t.elapsed() < STATUS_EVERY) {
                    return Ok(());
                }
                *last = Some(Instant::now());
                output::json_line(&StatusLine {
                    message_type: "status",
                    job_id: state.job_id,
                    status: state.status,
                    attempt: state.attempt,
                    bytes_db: state.bytes_db,
                    bytes_storage: state.bytes_storage,
                    seconds_elapsed: (elapsed.as_millis() as f64) / 1000.0,
                })?;
            }
            Display::Spinner(bar) => {
                let rate = self.rate.observe(state);
                let mut text = describe(state, rate);
                if let (Some(Some(size)), JobStatus::Running) = (self.size, state.status) {
                    text.push_str(&share(state.bytes_db, size, rate));
                }
                bar.set_message(text);
            }
            Display::Quiet => {}
        }
        Ok(())
    }

    /// Tells the operator about an attempt that failed and will be retried.
    fn notice(&self, event: &EventEnvelope) {
        let text = match &event.payload {
            EventPayload::JobFailed {
                attempt,
                failure,
                retry_at: Some(at),
            } => format!(
                "attempt {attempt} failed: {failure}; retrying at {}",
                output::time(*at)
            ),
            EventPayload::LeaseExpired {
                attempt,
                retry_at: Some(at),
            } => format!(
                "attempt {attempt} stopped reporting (worker lost); retrying at {}",
                output::time(*at)
            ),
            EventPayload::BackupDeleted { backup, reason, .. } => {
                format!("deleted backup {backup} ({})", reason.as_str())
            }
            _ => return,
        };
        self.say(&text);
    }

    /// A message for the operator on stderr, above the spinner if there is one.
    fn say(&self, text: &str) {
        match &self.display {
            Display::Spinner(bar) => bar.println(text),
            _ => eprintln!("{text}"),
        }
    }

    fn finish(&self) {
        if let Display::Spinner(bar) = &self.display {
            bar.finish_and_clear();
        }
    }
}

fn spinner() -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} [{elapsed}]") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    bar.set_message("waiting for the server");
    bar
}

/// The spinner's text for a job in its current state.
fn describe(state: &JobState, rate: Option<f64>) -> String {
    let db = output::bytes(state.bytes_db);
    let storage = output::bytes(state.bytes_storage);
    match state.status {
        JobStatus::Queued => "queued, waiting for a worker".to_string(),
        JobStatus::RetryDue => format!(
            "attempt {} failed; retrying{}",
            state.attempt,
            state
                .retry_at
                .map(|t| format!(" at {}", output::time(t)))
                .unwrap_or_default()
        ),
        JobStatus::Running => {
            let rate = rate
                .map(|r| format!(" ({}/s)", output::bytes(r as u64)))
                .unwrap_or_default();
            let moved = match state.kind() {
                JobKind::Restore => format!("{storage} read, {db} restored"),
                _ => format!("{db} dumped, {storage} stored"),
            };
            format!("attempt {}: {moved}{rate}", state.attempt)
        }
        status => status.to_string(),
    }
}

/// `, 42% of 1.1 GiB, 0:35 left` for a running job that moved `done` of `size` raw bytes
/// at `rate` bytes/s (`about` when the size is an estimate).
fn share(done: u64, size: Expected, rate: Option<f64>) -> String {
    if size.bytes == 0 {
        return String::new();
    }
    let about = if size.exact { "" } else { "about " };
    let done = done.min(size.bytes);
    let percent = done as f64 * 100.0 / size.bytes as f64;
    let left = rate
        .filter(|r| *r > 0.0)
        .map(|r| {
            let secs = ((size.bytes - done) as f64 / r).round() as u64;
            format!(", {about}{}:{:02} left", secs / 60, secs % 60)
        })
        .unwrap_or_default();
    format!(
        ", {percent:.0}% of {about}{}{left}",
        output::bytes(size.bytes)
    )
}

/// Average database throughput of the current attempt, measured from when this CLI first
/// saw it running.
#[derive(Default)]
struct Rate {
    attempt: u32,
    since: Option<(Instant, u64)>,
}

impl Rate {
    fn observe(&mut self, state: &JobState) -> Option<f64> {
        if state.status != JobStatus::Running {
            self.since = None;
            return None;
        }
        if self.attempt != state.attempt || self.since.is_none() {
            self.attempt = state.attempt;
            self.since = Some((Instant::now(), state.bytes_db));
            return None;
        }
        let (at, start) = self.since?;
        let secs = at.elapsed().as_secs_f64();
        (secs >= 1.0).then(|| state.bytes_db.saturating_sub(start) as f64 / secs)
    }
}

#[cfg(test)]
mod share_tests {
    use super::{share, Expected};

    #[test]
    fn percentage_and_time_left() {
        let exact = Expected {
            bytes: 1000,
            exact: true,
        };
        let rough = Expected {
            bytes: 1000,
            exact: false,
        };
        let cases: &[(u64, Expected, Option<f64>, &str)] = &[
            (0, exact, None, ", 0% of 1000 B"),
            (250, exact, Some(10.0), ", 25% of 1000 B, 1:15 left"),
            (
                500,
                rough,
                Some(5.0),
                ", 50% of about 1000 B, about 1:40 left",
            ),
            // A backup larger than its estimate stays at 100%, with nothing left.
            (
                1500,
                rough,
                Some(5.0),
                ", 100% of about 1000 B, about 0:00 left",
            ),
            (10, exact, Some(0.0), ", 1% of 1000 B"),
        ];
        for (done, size, rate, want) in cases {
            assert_eq!(
                share(*done, *size, *rate),
                *want,
                "{done} {size:?} {rate:?}"
            );
        }
        let empty = Expected {
            bytes: 0,
            exact: true,
        };
        assert_eq!(share(5, empty, Some(1.0)), "");
    }
}
