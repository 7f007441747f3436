//! A target's configuration as an event stream: who changed what, and when.
//!
//! Every change of a target's configuration (added, updated, removed, schedule set or
//! cleared) is an event of the target's own stream, beside the job streams in the same
//! ledger log: its stream id is [`config_stream_id`] (UUID v5 of the name, so the stream
//! outlives a remove and a re-add of the same name), its kind is
//! [`StreamKind::Config`](crate::event::StreamKind), and it takes a global sequence like
//! every job event, so whatever replicates the log replicates configuration too.
//!
//! The stream's state is a fold ([`ConfigState::next`]) like a job's: it holds the newest
//! policy record, and refuses a policy version that does not follow the last one. Events
//! never carry a password: a target's settings name their credential only by kind and
//! reference ([`crate::CredentialRef::describe`]).

use crate::endpoint::Endpoint;
use crate::event::EventPayload;
use crate::ids::JobId;
use crate::names::{StorageName, TargetName, TokenName};
use crate::policy::PolicyRecord;
use crate::schedule::{PolicyId, PolicyVersion};
use crate::state::TransitionError;
use crate::target::Target;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Namespace of configuration stream ids (a fixed random UUID: changing it orphans every
/// stream).
const CONFIG_NAMESPACE: Uuid = Uuid::from_u128(0x9c41_2f7d_8e35_4a60_b1c8_5d2e_7f93_a046);

/// The id of `target`'s configuration stream.
pub fn config_stream_id(target: &TargetName) -> JobId {
    let name = format!("target-config/{target}");
    JobId(Uuid::new_v5(&CONFIG_NAMESPACE, name.as_bytes()))
}

/// A target's settings as its configuration events record them: no password, only where
/// it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TargetSettings {
    pub endpoint: Endpoint,
    pub storage: StorageName,
    /// `none`, `env:VAR`, `file:PATH` or `sealed`: never the password.
    pub credential: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
}

impl From<&Target> for TargetSettings {
    fn from(t: &Target) -> Self {
        Self {
            endpoint: t.endpoint.clone(),
            storage: t.storage.clone(),
            credential: t.credential.describe(),
            ca_file: t.ca_file.clone(),
        }
    }
}

/// Everything known about a target's configuration, derived from its stream alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigState {
    pub stream_id: JobId,
    pub target: TargetName,
    /// The newest policy record (which may have cleared the schedule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyRecord>,
    /// Whether the target exists (added and not removed since). Streams of targets added
    /// before configuration events existed start with a schedule event: they count as
    /// existing.
    pub exists: bool,
    pub updated_at: DateTime<Utc>,
    /// Sequence number of the last event folded in.
    pub seq: u64,
}

impl ConfigState {
    /// The state after one more event of `target`'s stream, or why it does not fit.
    /// `by` is the token of the request that made the change.
    pub fn next(
        state: Option<&ConfigState>,
        target: &TargetName,
        at: DateTime<Utc>,
        by: Option<&TokenName>,
        payload: &EventPayload,
    ) -> Result<ConfigState, TransitionError> {
        let mut s = match state {
            Some(s) => s.clone(),
            None => ConfigState {
                stream_id: config_stream_id(target),
                target: target.clone(),
                policy: None,
                exists: true,
                updated_at: at,
                seq: 0,
            },
        };
        s.seq += 1;
        s.updated_at = at;
        let event = payload.type_name();
        match payload {
            EventPayload::TargetAdded { .. } => s.exists = true,
            EventPayload::TargetUpdated { .. } => {
                if !s.exists {
                    return Err(TransitionError::ConfigRefused {
                        event,
                        reason: "the target was removed",
                    });
                }
            }
            EventPayload::TargetRemoved {} => {
                if !s.exists {
                    return Err(TransitionError::ConfigRefused {
                        event,
                        reason: "the target was removed already",
                    });
                }
                s.exists = false;
            }
            EventPayload::ScheduleSet {
                policy_id,
                version,
                policy,
                effective,
            } => {
                check_version(s.policy.as_ref(), *policy_id, *version, event)?;
                s.policy = Some(record(
                    target,
                    *policy_id,
                    *version,
                    Some(policy.clone()),
                    *effective,
                    by,
                ));
            }
            EventPayload::ScheduleCleared {
                policy_id,
                version,
                effective,
            } => {
                check_version(s.policy.as_ref(), *policy_id, *version, event)?;
                s.policy = Some(record(target, *policy_id, *version, None, *effective, by));
            }
            _ => return Err(TransitionError::NotConfig(event)),
        }
        Ok(s)
    }

    /// The next policy version of this stream, and its policy id (new for the first).
    pub fn next_policy_version(state: Option<&ConfigState>) -> (PolicyId, PolicyVersion) {
        match state.and_then(|s| s.policy.as_ref()) {
            Some(p) => (p.policy_id, p.version.next()),
            None => (PolicyId::new_random(), PolicyVersion::first()),
        }
    }
}

fn record(
    target: &TargetName,
    policy_id: PolicyId,
    version: PolicyVersion,
    policy: Option<crate::Policy>,
    at: DateTime<Utc>,
    by: Option<&TokenName>,
) -> PolicyRecord {
    PolicyRecord {
        target: target.clone(),
        policy_id,
        version,
        policy,
        at,
        by: by.cloned(),
    }
}

/// A policy version must follow the last one, under the same policy id.
fn check_version(
    last: Option<&PolicyRecord>,
    policy_id: PolicyId,
    version: PolicyVersion,
    event: &'static str,
) -> Result<(), TransitionError> {
    let (expected_id, expected) = match last {
        Some(p) => (Some(p.policy_id), p.version.next()),
        None => (None, PolicyVersion::first()),
    };
    if version != expected || expected_id.is_some_and(|id| id != policy_id) {
        return Err(TransitionError::PolicyVersion {
            event,
            got: version.0,
            expected: expected.0,
        });
    }
    Ok(())
}

/// One line saying what a configuration event changed (history, logs). `None` for events
/// of jobs.
pub fn describe_change(payload: &EventPayload) -> Option<String> {
    Some(match payload {
        EventPayload::TargetAdded { settings } => {
            format!(
                "target added: {} to storage {}",
                settings.endpoint, settings.storage
            )
        }
        EventPayload::TargetUpdated { changed, settings } => format!(
            "target updated ({}): {} to storage {}, password {}",
            changed.join(", "),
            settings.endpoint,
            settings.storage,
            settings.credential
        ),
        EventPayload::TargetRemoved {} => "target removed; its backups stay".to_string(),
        EventPayload::ScheduleSet {
            version, policy, ..
        } => format!(
            "schedule v{version}: {}, keep {}",
            policy.schedule, policy.keep.last
        ),
        EventPayload::ScheduleCleared { version, .. } => {
            format!("schedule v{version}: cleared")
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ScheduleSetRequest;

    fn daily() -> crate::Policy {
        ScheduleSetRequest {
            every: Some("daily".into()),
            ..Default::default()
        }
        .to_policy()
        .unwrap()
    }

    #[test]
    fn versions_follow_each_other_and_removal_is_recorded() {
        let t = TargetName::parse("orders").unwrap();
        let at = Utc::now();
        let by = TokenName::parse("admin").unwrap();
        let (id, v1) = ConfigState::next_policy_version(None);
        assert_eq!(v1, PolicyVersion(1));
        let set = |policy_id, version| EventPayload::ScheduleSet {
            policy_id,
            version,
            policy: daily(),
            effective: at,
        };
        let s1 = ConfigState::next(None, &t, at, Some(&by), &set(id, v1)).unwrap();
        assert_eq!(s1.stream_id, config_stream_id(&t));
        assert_eq!(s1.policy.as_ref().unwrap().by.as_ref(), Some(&by));
        // A version that skips, repeats, or changes the policy id is refused.
        for (pid, v) in [
            (id, PolicyVersion(3)),
            (id, v1),
            (PolicyId::new_random(), PolicyVersion(2)),
        ] {
            let refused = ConfigState::next(Some(&s1), &t, at, None, &set(pid, v));
            assert!(
                matches!(refused, Err(TransitionError::PolicyVersion { .. })),
                "{v:?}"
            );
        }
        assert_eq!(
            ConfigState::next_policy_version(Some(&s1)),
            (id, PolicyVersion(2))
        );
        let cleared = EventPayload::ScheduleCleared {
            policy_id: id,
            version: PolicyVersion(2),
            effective: at,
        };
        let s2 = ConfigState::next(Some(&s1), &t, at, None, &cleared).unwrap();
        assert!(s2.policy.as_ref().unwrap().policy.is_none());
        let s3 =
            ConfigState::next(Some(&s2), &t, at, None, &EventPayload::TargetRemoved {}).unwrap();
        assert!(!s3.exists);
        assert_eq!(s3.seq, 3);
        assert!(
            ConfigState::next(Some(&s3), &t, at, None, &EventPayload::TargetRemoved {}).is_err()
        );
        let job_event = EventPayload::JobCancelled { reason: "x".into() };
        assert_eq!(
            ConfigState::next(Some(&s3), &t, at, None, &job_event),
            Err(TransitionError::NotConfig("JobCancelled"))
        );
    }

    #[test]
    fn stream_ids_are_stable_and_differ_per_target() {
        let a = TargetName::parse("orders").unwrap();
        let b = TargetName::parse("orders-2").unwrap();
        assert_eq!(config_stream_id(&a), config_stream_id(&a));
        assert_ne!(config_stream_id(&a), config_stream_id(&b));
    }
}
