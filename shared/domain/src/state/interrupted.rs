//! What happens to a job whose attempt was interrupted: its worker went silent (cairn
//! killed or stopped, a crash, a lost connection) and the lease ran out, or it was still
//! running when an embedded cairn started again.
//!
//! A backup is simply tried again while attempts are left. A restore is resumed only
//! within a window after it started: later, the target may have been written to since
//! (by applications that saw the interrupted restore as over), and resuming would
//! silently overwrite that. It then ends dead-lettered, asking for an explicit re-run.

use super::JobState;
use crate::job::JobSpec;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// The decision for an interrupted attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterInterruption {
    /// Another attempt may start now.
    Retry,
    /// The job ends failed; `reason` says why and what to do.
    DeadLetter { reason: String },
}

impl JobState {
    /// Decides, at `now`, the fate of the current attempt whose worker went silent.
    /// `resume_window` is how long after its first claim a restore may still be resumed.
    pub fn after_interruption(
        &self,
        now: DateTime<Utc>,
        resume_window: Duration,
    ) -> AfterInterruption {
        if !self.attempts_left() {
            return AfterInterruption::DeadLetter {
                reason: format!(
                    "gave up after {} attempts; the last one's worker stopped reporting (crash, kill or lost connection)",
                    self.attempt
                ),
            };
        }
        let JobSpec::Restore {
            target,
            source,
            backup,
            ..
        } = &self.spec
        else {
            return AfterInterruption::Retry;
        };
        let started = self
            .attempts
            .first()
            .map_or(self.queued_at, |a| a.claimed_at);
        let window = chrono::Duration::from_std(resume_window).unwrap_or(chrono::Duration::MAX);
        if now - started <= window {
            return AfterInterruption::Retry;
        }
        let from = if source == target {
            String::new()
        } else {
            format!(" --from {source}")
        };
        AfterInterruption::DeadLetter {
            reason: format!(
                "the restore was interrupted (cairn stopped or its worker went silent) and is not resumed automatically: it started at {} UTC, more than {} ago, and {target} may have been written to since; to restore it anyway, run it again: cairn restore {target} --backup {backup}{from} --yes",
                started.format("%Y-%m-%d %H:%M:%S"),
                human(resume_window)
            ),
        }
    }
}

/// `10 min`, `90 s`.
fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 && s.is_multiple_of(60) {
        format!("{} min", s / 60)
    } else {
        format!("{s} s")
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{claim, fold, t};
    use super::*;
    use crate::event::EventPayload as E;
    use crate::ids::Attempt;
    use crate::job::JobKind;

    const WINDOW: Duration = Duration::from_secs(600);

    #[test]
    fn interrupted_jobs_table() {
        let expired = |n: u32| E::LeaseExpired {
            attempt: Attempt(n),
            retry_at: Some(t(0)),
        };
        // The first claim is at +1 s. (kind, attempts claimed, now, retried?)
        let table = [
            (JobKind::Backup, 1, 5, true),
            (JobKind::Backup, 1, 100_000, true),
            (JobKind::Backup, 3, 5, false),
            (JobKind::Restore, 1, 5, true),
            (JobKind::Restore, 1, 601, true),
            (JobKind::Restore, 1, 602, false),
            (JobKind::Restore, 2, 300, true),
            (JobKind::Restore, 2, 3600, false),
            (JobKind::Restore, 3, 5, false),
            (JobKind::Prune, 1, 100_000, true),
        ];
        for (kind, attempts, now, want) in table {
            let mut events = Vec::new();
            for n in 1..=attempts {
                if n > 1 {
                    events.push(expired(n - 1));
                }
                events.push(claim(n));
            }
            let state = fold(kind, &events).unwrap();
            let got = state.after_interruption(t(now), WINDOW);
            assert_eq!(
                got == AfterInterruption::Retry,
                want,
                "{kind} attempt {attempts} at +{now}s: {got:?}"
            );
        }
    }

    #[test]
    fn a_late_restore_asks_for_an_explicit_rerun() {
        let state = fold(JobKind::Restore, &[claim(1)]).unwrap();
        let AfterInterruption::DeadLetter { reason } =
            state.after_interruption(t(3600), Duration::from_secs(120))
        else {
            panic!("a restore an hour late must not resume");
        };
        assert!(reason.contains("more than 2 min ago"), "{reason}");
        assert!(
            reason.contains("cairn restore orders --backup ") && reason.ends_with("--yes"),
            "{reason}"
        );
        let ended = fold(
            JobKind::Restore,
            &[
                claim(1),
                E::LeaseExpired {
                    attempt: Attempt(1),
                    retry_at: None,
                },
                E::JobDeadLettered {
                    attempts: 1,
                    reason: reason.clone(),
                    permanent: false,
                },
            ],
        )
        .unwrap();
        let failure = ended.failure.unwrap();
        assert_eq!(
            (failure.code.as_str(), failure.message),
            ("interrupted", reason)
        );
    }
}
