//! Policies (a target's schedule and retention) and how far each schedule was decided.
//!
//! Every version of a target's policy is an event of the target's configuration stream
//! (`ScheduleSet`, `ScheduleCleared`; see `config_stream.rs`): the stream is the history of
//! who changed a schedule, and when, and the stream's folded state (`configs`) holds the
//! newest record, so the firing loop reads one value per target. `schedule_cursors` holds,
//! per target, the newest slot the firing loop decided for the current version, so a
//! restart neither re-decides old slots nor reports fired slots as missed. Values are
//! checksummed like events; every write goes through the group commit (flushed before it
//! returns, undone if the flush fails).

use crate::codec::{self, corrupt};
use crate::config_stream::ConfigChange;
use crate::group_commit::Written;
use crate::undo::{TreeId, Undo};
use crate::{Ledger, LedgerError};
use cairn_domain::schedule::{PolicyId, PolicyVersion};
use cairn_domain::{
    config_stream_id, Actor, ConfigState, EventEnvelope, EventPayload, NewEvent, Policy,
    PolicyRecord, TargetName, TokenName,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How far the firing loop decided a target's schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleCursor {
    pub policy_id: PolicyId,
    pub version: PolicyVersion,
    /// The newest slot decided (fired, skipped or missed).
    pub handled_through: DateTime<Utc>,
}

/// The actor of a configuration change made by an API request with `by`.
pub(crate) fn config_actor(by: Option<&TokenName>) -> Actor {
    let actor = Actor::service("scheduler");
    match by {
        Some(token) => actor.on_behalf_of(token.clone()),
        None => actor,
    }
}

/// The policy record a stored `ScheduleSet`/`ScheduleCleared` event stands for.
pub fn record_of(event: &EventEnvelope) -> Option<PolicyRecord> {
    let (policy_id, version, policy, effective) = match &event.payload {
        EventPayload::ScheduleSet {
            policy_id,
            version,
            policy,
            effective,
        } => (*policy_id, *version, Some(policy.clone()), *effective),
        EventPayload::ScheduleCleared {
            policy_id,
            version,
            effective,
        } => (*policy_id, *version, None, *effective),
        _ => return None,
    };
    Some(PolicyRecord {
        target: event.target.clone(),
        policy_id,
        version,
        policy,
        at: effective,
        by: event.actor.token.clone(),
    })
}

impl Ledger {
    /// The folded state of `target`'s configuration stream, if it has one.
    pub fn config_state(&self, target: &TargetName) -> Result<Option<ConfigState>, LedgerError> {
        let id = config_stream_id(target);
        self.read(|trees| {
            trees
                .configs
                .get(id.as_bytes())?
                .map(|bytes| self.decode_config(target.as_str(), &bytes))
                .transpose()
        })
    }

    fn decode_config(&self, what: &str, bytes: &[u8]) -> Result<ConfigState, LedgerError> {
        codec::decode(bytes).map_err(|e| {
            corrupt(
                &self.inner.path,
                format!("the configuration state of {what:?}: {e}"),
            )
        })
    }

    /// Records a new version of `target`'s policy (`None` clears the schedule), in force
    /// from `at`, as an event of the target's configuration stream naming `by`, and returns
    /// it. The first version gets a new policy id; later ones keep it.
    pub async fn set_policy(
        &self,
        target: &TargetName,
        policy: Option<Policy>,
        by: Option<TokenName>,
        at: DateTime<Utc>,
    ) -> Result<PolicyRecord, LedgerError> {
        let actor = config_actor(by.as_ref());
        let stored = self
            .append_config(target, &|state, _| {
                let (policy_id, version) = ConfigState::next_policy_version(state);
                let payload = match &policy {
                    Some(policy) => EventPayload::ScheduleSet {
                        policy_id,
                        version,
                        policy: policy.clone(),
                        effective: at,
                    },
                    None => EventPayload::ScheduleCleared {
                        policy_id,
                        version,
                        effective: at,
                    },
                };
                Ok(ConfigChange {
                    events: vec![NewEvent::new(actor.clone(), payload)],
                    target: None,
                })
            })
            .await?;
        stored
            .iter()
            .find_map(record_of)
            .ok_or_else(|| corrupt(&self.inner.path, "a schedule change stored no event"))
    }

    /// The newest record of `target`'s policy (which may have cleared it).
    pub fn policy_record(&self, target: &TargetName) -> Result<Option<PolicyRecord>, LedgerError> {
        Ok(self.config_state(target)?.and_then(|s| s.policy))
    }

    /// `target`'s policy in force, if it has one.
    pub fn policy(&self, target: &TargetName) -> Result<Option<PolicyRecord>, LedgerError> {
        Ok(self
            .policy_record(target)?
            .filter(|record| record.policy.is_some()))
    }

    /// Every policy in force, in target name order.
    pub fn policies(&self) -> Result<Vec<PolicyRecord>, LedgerError> {
        let mut out = self.read(|trees| {
            let mut out = Vec::new();
            for item in trees.configs.iter() {
                let (_, bytes) = item?;
                let state = self.decode_config("a target", &bytes)?;
                if let Some(record) = state.policy.filter(|r| r.policy.is_some()) {
                    out.push(record);
                }
            }
            Ok(out)
        })?;
        out.sort_by(|a, b| a.target.cmp(&b.target));
        Ok(out)
    }

    /// Every version of `target`'s policy, oldest first (from its configuration stream).
    pub fn policy_history(&self, target: &TargetName) -> Result<Vec<PolicyRecord>, LedgerError> {
        Ok(self
            .events(config_stream_id(target))?
            .iter()
            .filter_map(record_of)
            .collect())
    }

    /// Configuration events, newest first: of `target`'s stream, or of every target's;
    /// only those at or after `since`; at most `limit`.
    pub fn config_history(
        &self,
        target: Option<&TargetName>,
        since: Option<DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<EventEnvelope>, LedgerError> {
        let streams = match target {
            Some(t) => vec![config_stream_id(t)],
            None => self.read(|trees| {
                trees
                    .configs
                    .iter()
                    .map(|item| {
                        let (_, bytes) = item?;
                        Ok(self.decode_config("a target", &bytes)?.stream_id)
                    })
                    .collect::<Result<Vec<_>, LedgerError>>()
            })?,
        };
        let mut out = Vec::new();
        for stream in streams {
            out.extend(
                self.events(stream)?
                    .into_iter()
                    .filter(|e| since.is_none_or(|t| e.at >= t)),
            );
        }
        out.sort_by_key(|e| std::cmp::Reverse(e.global_seq));
        out.truncate(limit);
        Ok(out)
    }

    pub fn schedule_cursor(
        &self,
        target: &TargetName,
    ) -> Result<Option<ScheduleCursor>, LedgerError> {
        let name = target.as_str().as_bytes();
        self.read(|trees| {
            trees
                .schedule_cursors
                .get(name)?
                .map(|bytes| {
                    codec::decode(&bytes).map_err(|e| {
                        corrupt(
                            &self.inner.path,
                            format!("the schedule cursor of {:?}: {e}", target.as_str()),
                        )
                    })
                })
                .transpose()
        })
    }

    /// Sets a target's cursor from outside the firing loop (which then re-reads every
    /// policy and cursor: see [`Ledger::schedule_generation`]).
    pub async fn set_schedule_cursor(
        &self,
        target: &TargetName,
        cursor: &ScheduleCursor,
    ) -> Result<(), LedgerError> {
        self.advance_schedule_cursors(&[(target.clone(), *cursor)])
            .await?;
        self.bump_schedule_generation();
        Ok(())
    }

    /// The firing loop's write of the cursors one pass moved, in one flush.
    pub async fn advance_schedule_cursors(
        &self,
        cursors: &[(TargetName, ScheduleCursor)],
    ) -> Result<(), LedgerError> {
        if cursors.is_empty() {
            return Ok(());
        }
        let values: Vec<(&[u8], Vec<u8>)> = cursors
            .iter()
            .map(|(t, c)| (t.as_str().as_bytes(), codec::encode(c)))
            .collect();
        self.inner
            .commit
            .write(|trees| {
                let mut undo = Undo::new(0);
                for (name, value) in &values {
                    let old = trees.schedule_cursors.insert(*name, value.as_slice())?;
                    undo.record(TreeId::ScheduleCursors, name, old.as_deref());
                }
                Ok(Written {
                    value: (),
                    undo,
                    head: None,
                })
            })
            .await
    }

    /// A number that changes whenever a policy or a cursor changed other than by
    /// [`Ledger::advance_schedule_cursors`]: a firing loop that keeps its next fires in
    /// memory re-reads them all when it differs from the last it saw. (Process-local: the
    /// scheduler owns its ledger.)
    pub fn schedule_generation(&self) -> u64 {
        self.inner
            .schedule_generation
            .load(std::sync::atomic::Ordering::Acquire)
    }

    pub(crate) fn bump_schedule_generation(&self) {
        self.inner
            .schedule_generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_domain::api::ScheduleSetRequest;

    fn daily() -> Policy {
        ScheduleSetRequest {
            every: Some("daily".into()),
            ..Default::default()
        }
        .to_policy()
        .unwrap()
    }

    #[tokio::test]
    async fn versions_keep_the_id_and_the_history_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger");
        let t = TargetName::parse("orders").unwrap();
        let other = TargetName::parse("orders-2").unwrap();
        let admin = TokenName::parse("admin").unwrap();
        let at = Utc::now();
        {
            let ledger = Ledger::open(&path).unwrap();
            let v1 = ledger
                .set_policy(&t, Some(daily()), Some(admin.clone()), at)
                .await
                .unwrap();
            assert_eq!(v1.version, PolicyVersion(1));
            ledger
                .set_policy(&other, Some(daily()), None, at)
                .await
                .unwrap();
            let v2 = ledger.set_policy(&t, None, None, at).await.unwrap();
            assert_eq!((v2.version, v2.policy_id), (PolicyVersion(2), v1.policy_id));
            assert_eq!(ledger.policy(&t).unwrap(), None);
            let v3 = ledger
                .set_policy(&t, Some(daily()), Some(admin.clone()), at)
                .await
                .unwrap();
            assert_eq!(v3.version, PolicyVersion(3));
            let cursor = ScheduleCursor {
                policy_id: v3.policy_id,
                version: v3.version,
                handled_through: at,
            };
            ledger.set_schedule_cursor(&t, &cursor).await.unwrap();
        }
        let ledger = Ledger::open(&path).unwrap();
        let changes = ledger.config_history(Some(&t), None, 10).unwrap();
        assert_eq!(changes.len(), 3, "one event per version, newest first");
        assert!(changes[0].global_seq > changes[2].global_seq);
        assert_eq!(changes[0].kind, cairn_domain::StreamKind::Config);
        assert_eq!(ledger.config_history(None, None, 10).unwrap().len(), 4);
        let history = ledger.policy_history(&t).unwrap();
        let versions: Vec<_> = history.iter().map(|r| r.version.0).collect();
        assert_eq!(
            versions,
            [1, 2, 3],
            "orders-2 is not part of orders' history"
        );
        assert_eq!(history[0].by, Some(admin));
        assert!(history[1].policy.is_none());
        assert_eq!(ledger.policies().unwrap().len(), 2);
        assert_eq!(
            ledger.schedule_cursor(&t).unwrap().map(|c| c.version),
            Some(PolicyVersion(3))
        );
    }
}
