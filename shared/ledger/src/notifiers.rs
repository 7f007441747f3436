//! Notifiers and the record of their deliveries, in trees beside the events.
//!
//! `notifiers` maps a notifier's name to its JSON configuration, like targets.
//! `deliveries` holds every delivery attempt under a monotonic id, bounded to the newest
//! [`DELIVERIES_KEEP`]; values are checksummed like events. Every write goes through the
//! group commit: flushed before it returns, undone if the flush fails (see `undo.rs`).

use crate::codec::{self, corrupt};
use crate::group_commit::Written;
use crate::undo::{TreeId, Undo};
use crate::{catalog, Ledger, LedgerError};
use cairn_domain::notify::{Delivery, Notifier};
use cairn_domain::NotifierName;

/// How many delivery attempts are kept; older ones are dropped as new ones arrive.
pub const DELIVERIES_KEEP: u64 = 10_000;

/// Delivery records are numbered from the last one: one writer at a time.
static DELIVERY_WRITES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl Ledger {
    /// Stores a new notifier; [`LedgerError::Exists`] if the name is taken.
    pub async fn put_notifier(&self, notifier: &Notifier) -> Result<(), LedgerError> {
        let name = notifier.name.as_str();
        self.inner
            .commit
            .write(|trees| {
                catalog::create(&trees.notifiers, "notifier", name, notifier)?;
                let mut undo = Undo::new(0);
                undo.record(TreeId::Notifiers, name.as_bytes(), None);
                Ok(Written {
                    value: (),
                    undo,
                    head: None,
                })
            })
            .await
    }

    /// Every notifier, in name order.
    pub fn notifiers(&self) -> Result<Vec<Notifier>, LedgerError> {
        self.read(|trees| catalog::list(&trees.notifiers, &self.inner.path, "notifier"))
    }

    /// Returns whether it existed. Its past deliveries stay recorded.
    pub async fn remove_notifier(&self, name: &NotifierName) -> Result<bool, LedgerError> {
        self.inner
            .commit
            .write(|trees| {
                let old = trees.notifiers.remove(name.as_str())?;
                let mut undo = Undo::new(0);
                if let Some(old) = &old {
                    undo.record(TreeId::Notifiers, name.as_str().as_bytes(), Some(old));
                }
                Ok(Written {
                    value: old.is_some(),
                    undo,
                    head: None,
                })
            })
            .await
    }

    /// Records one delivery attempt (its `id` is assigned here), dropping the oldest
    /// beyond [`DELIVERIES_KEEP`]. Returns the id.
    pub async fn record_delivery(&self, delivery: &Delivery) -> Result<u64, LedgerError> {
        let _one = DELIVERY_WRITES.lock().await;
        self.inner
            .commit
            .write(|trees| {
                let last = match trees.deliveries.last()? {
                    Some((key, _)) => codec::u64_from(&key).unwrap_or(0),
                    None => 0,
                };
                let id = last + 1;
                let value = codec::encode(&Delivery {
                    id,
                    ..delivery.clone()
                });
                let key = codec::u64_key(id);
                let mut undo = Undo::new(0);
                trees.deliveries.insert(key, value.as_slice())?;
                undo.record(TreeId::Deliveries, &key, None);
                if id > DELIVERIES_KEEP {
                    for old in trees
                        .deliveries
                        .range(..codec::u64_key(id - DELIVERIES_KEEP + 1))
                    {
                        let (k, v) = old?;
                        trees.deliveries.remove(&k)?;
                        undo.record(TreeId::Deliveries, &k, Some(&v));
                    }
                }
                Ok(Written {
                    value: id,
                    undo,
                    head: None,
                })
            })
            .await
    }

    /// The global sequence through which every notification was delivered or given up,
    /// as last recorded by [`Ledger::set_notified_through`] (`None` before the first).
    pub fn notified_through(&self) -> Result<Option<u64>, LedgerError> {
        self.read(|trees| {
            Ok(trees
                .meta
                .get(crate::config::meta::NOTIFIED_THROUGH)?
                .and_then(|v| codec::u64_from(&v)))
        })
    }

    /// Records how far notifications are done, so that a restart resumes the deliveries
    /// that were pending or retrying.
    pub async fn set_notified_through(&self, global_seq: u64) -> Result<(), LedgerError> {
        let key = crate::config::meta::NOTIFIED_THROUGH;
        self.inner
            .commit
            .write(|trees| {
                let old = trees.meta.insert(key, &codec::u64_key(global_seq)[..])?;
                let mut undo = Undo::new(0);
                undo.record(TreeId::Meta, key, old.as_deref());
                Ok(Written {
                    value: (),
                    undo,
                    head: None,
                })
            })
            .await
    }

    /// The newest `limit` delivery attempts, newest first.
    pub fn deliveries(&self, limit: usize) -> Result<Vec<Delivery>, LedgerError> {
        self.read(|trees| {
            trees
                .deliveries
                .iter()
                .rev()
                .take(limit)
                .map(|item| {
                    let (_, bytes) = item?;
                    codec::decode(&bytes).map_err(|e| {
                        corrupt(&self.inner.path, format!("a stored delivery record: {e}"))
                    })
                })
                .collect()
        })
    }
}
