//! Policies (a target's schedule and retention) and how far each schedule was decided.
//!
//! `policy_log` holds every version of every target's policy under `target ++ 0x00 ++
//! version (u32 BE)` and is never rewritten: it is the history of who changed a schedule,
//! and when. `policies` holds each target's newest record (a cleared schedule is a record
//! without a policy), so the firing loop reads one value per target. `schedule_cursors`
//! holds, per target, the newest slot the firing loop decided for the current version, so a
//! restart neither re-decides old slots nor reports fired slots as missed. Values are
//! checksummed like events; every write goes through the group commit (flushed before it
//! returns, undone if the flush fails).

use crate::codec::{self, corrupt};
use crate::group_commit::Written;
use crate::undo::{TreeId, Undo};
use crate::{Ledger, LedgerError};
use cairn_domain::schedule::{PolicyId, PolicyVersion};
use cairn_domain::{Policy, PolicyRecord, TargetName, TokenName};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Versions are numbered from the last one: one policy writer at a time.
static POLICY_WRITES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How far the firing loop decided a target's schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleCursor {
    pub policy_id: PolicyId,
    pub version: PolicyVersion,
    /// The newest slot decided (fired, skipped or missed).
    pub handled_through: DateTime<Utc>,
}

fn log_key(target: &TargetName, version: PolicyVersion) -> Vec<u8> {
    let mut key = log_prefix(target);
    key.extend_from_slice(&version.0.to_be_bytes());
    key
}

fn log_prefix(target: &TargetName) -> Vec<u8> {
    let mut key = target.as_str().as_bytes().to_vec();
    key.push(0);
    key
}

impl Ledger {
    fn decode_policy(&self, key: &[u8], bytes: &[u8]) -> Result<PolicyRecord, LedgerError> {
        codec::decode(bytes).map_err(|e| {
            let key = String::from_utf8_lossy(key);
            corrupt(&self.inner.path, format!("the stored policy {key:?}: {e}"))
        })
    }

    /// Records a new version of `target`'s policy (`None` clears the schedule) and returns
    /// it. The first version gets a new policy id; later ones keep it.
    pub async fn set_policy(
        &self,
        target: &TargetName,
        policy: Option<Policy>,
        by: Option<TokenName>,
        at: DateTime<Utc>,
    ) -> Result<PolicyRecord, LedgerError> {
        let _one = POLICY_WRITES.lock().await;
        let previous = self.policy_record(target)?;
        let record = PolicyRecord {
            target: target.clone(),
            policy_id: previous
                .as_ref()
                .map_or_else(PolicyId::new_random, |p| p.policy_id),
            version: previous
                .as_ref()
                .map_or_else(PolicyVersion::first, |p| p.version.next()),
            policy,
            at,
            by,
        };
        let value = codec::encode(&record);
        let name = target.as_str().as_bytes();
        let key = log_key(target, record.version);
        self.inner
            .commit
            .write(|trees| {
                let mut undo = Undo::new(0);
                let old = trees.policy_log.insert(key.as_slice(), value.as_slice())?;
                undo.record(TreeId::PolicyLog, &key, old.as_deref());
                let old = trees.policies.insert(name, value.as_slice())?;
                undo.record(TreeId::Policies, name, old.as_deref());
                Ok(Written {
                    value: (),
                    undo,
                    head: None,
                })
            })
            .await?;
        Ok(record)
    }

    /// The newest record of `target`'s policy (which may have cleared it).
    pub fn policy_record(&self, target: &TargetName) -> Result<Option<PolicyRecord>, LedgerError> {
        let name = target.as_str().as_bytes();
        self.read(|trees| {
            trees
                .policies
                .get(name)?
                .map(|bytes| self.decode_policy(name, &bytes))
                .transpose()
        })
    }

    /// `target`'s policy in force, if it has one.
    pub fn policy(&self, target: &TargetName) -> Result<Option<PolicyRecord>, LedgerError> {
        Ok(self
            .policy_record(target)?
            .filter(|record| record.policy.is_some()))
    }

    /// Every policy in force, in target name order.
    pub fn policies(&self) -> Result<Vec<PolicyRecord>, LedgerError> {
        self.read(|trees| {
            let mut out = Vec::new();
            for item in trees.policies.iter() {
                let (key, bytes) = item?;
                let record = self.decode_policy(&key, &bytes)?;
                if record.policy.is_some() {
                    out.push(record);
                }
            }
            Ok(out)
        })
    }

    /// Every version of `target`'s policy, oldest first.
    pub fn policy_history(&self, target: &TargetName) -> Result<Vec<PolicyRecord>, LedgerError> {
        self.read(|trees| {
            trees
                .policy_log
                .scan_prefix(log_prefix(target))
                .map(|item| {
                    let (key, bytes) = item?;
                    self.decode_policy(&key, &bytes)
                })
                .collect()
        })
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

    pub async fn set_schedule_cursor(
        &self,
        target: &TargetName,
        cursor: &ScheduleCursor,
    ) -> Result<(), LedgerError> {
        let name = target.as_str().as_bytes();
        let value = codec::encode(cursor);
        self.inner
            .commit
            .write(|trees| {
                let mut undo = Undo::new(0);
                let old = trees.schedule_cursors.insert(name, value.as_slice())?;
                undo.record(TreeId::ScheduleCursors, name, old.as_deref());
                Ok(Written {
                    value: (),
                    undo,
                    head: None,
                })
            })
            .await
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
