//! Undoing writes nobody was told about.
//!
//! sled applies a write to its memory at once and to disk at the next flush. When a flush
//! fails (a full disk), sled refuses every further operation until it is reopened, and the
//! failed writes may or may not have reached the disk. Every write therefore carries the
//! values its keys held before it; when the ledger recovers, it reopens sled and puts each
//! key touched by an unacknowledged write back to its value before the *earliest* such
//! write, which is exactly the last acknowledged state, whatever part reached the disk.

use crate::config::Trees;
use std::collections::HashSet;

/// The trees a write can touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TreeId {
    Events,
    Log,
    Jobs,
    ByTime,
    ByTarget,
    ByKindStatus,
    Meta,
    Targets,
    Storages,
    Tokens,
    TokenHashes,
    Audit,
    Configs,
    ScheduleCursors,
    Notifiers,
    Deliveries,
}

impl TreeId {
    fn of(self, trees: &Trees) -> &sled::Tree {
        match self {
            TreeId::Events => &trees.events,
            TreeId::Log => &trees.log,
            TreeId::Jobs => &trees.jobs,
            TreeId::ByTime => &trees.by_time,
            TreeId::ByTarget => &trees.by_target,
            TreeId::ByKindStatus => &trees.by_kind_status,
            TreeId::Meta => &trees.meta,
            TreeId::Targets => &trees.targets,
            TreeId::Storages => &trees.storages,
            TreeId::Tokens => &trees.tokens,
            TreeId::TokenHashes => &trees.token_hashes,
            TreeId::Audit => &trees.audit,
            TreeId::Configs => &trees.configs,
            TreeId::ScheduleCursors => &trees.schedule_cursors,
            TreeId::Notifiers => &trees.notifiers,
            TreeId::Deliveries => &trees.deliveries,
        }
    }
}

/// The previous values of the keys one write changed.
#[derive(Debug, Clone, Default)]
pub struct Undo {
    /// Orders writes that may touch the same keys: the first global sequence an append
    /// took (appends are numbered in commit order); configuration writes use 0.
    pub order: u64,
    pub before: Vec<(TreeId, Vec<u8>, Option<Vec<u8>>)>,
}

impl Undo {
    pub fn new(order: u64) -> Self {
        Self {
            order,
            before: Vec::new(),
        }
    }

    /// Notes that `key` in `tree` held `old` before this write.
    pub fn record(&mut self, tree: TreeId, key: &[u8], old: Option<&[u8]>) {
        self.before
            .push((tree, key.to_vec(), old.map(<[u8]>::to_vec)));
    }

    pub fn is_empty(&self) -> bool {
        self.before.is_empty()
    }
}

/// Puts every key touched by `undos` back to its value before the earliest of them.
pub fn roll_back(trees: &Trees, undos: &mut [&Undo]) -> Result<(), sled::Error> {
    undos.sort_by_key(|u| u.order);
    let mut done = HashSet::new();
    for undo in undos.iter() {
        for (tree, key, old) in &undo.before {
            if !done.insert((*tree, key.as_slice())) {
                continue;
            }
            let tree = tree.of(trees);
            match old {
                Some(value) => tree.insert(key.as_slice(), value.as_slice())?,
                None => tree.remove(key.as_slice())?,
            };
        }
    }
    Ok(())
}
