//! Secondary indexes for history queries, and the queries that walk them.
//!
//! Every index key ends in `queued_at (8 B) ++ job_id (16 B)`, so walking a prefix
//! backwards yields jobs newest first. Values are empty: the job state is read from the
//! `jobs` tree, which also answers the filters an index does not cover.
//! - `idx_time`: `queued_at ++ job_id`
//! - `idx_target`: `target ++ 0x00 ++ queued_at ++ job_id`
//! - `idx_kind_status`: `kind ++ 0x00 ++ status ++ 0x00 ++ queued_at ++ job_id`

use crate::codec::{self, corrupt, kind_tag, status_tag, time_key};
use crate::config::Trees;
use crate::{HistoryQuery, LedgerError};
use cairn_domain::{JobId, JobKind, JobState, JobStatus};
use std::collections::HashSet;

/// Length of the common suffix `queued_at ++ job_id`.
const SUFFIX_LEN: usize = 24;

/// A history query without a limit answers this many jobs.
pub const DEFAULT_LIMIT: usize = 100;

/// The three index keys of one job state.
pub struct IndexKeys {
    pub time: Vec<u8>,
    pub target: Vec<u8>,
    pub kind_status: Vec<u8>,
}

impl IndexKeys {
    pub fn of(state: &JobState) -> Self {
        let suffix = suffix(state);
        let mut target = target_prefix(state.spec.target().as_str());
        target.extend_from_slice(&suffix);
        let mut kind_status = kind_status_prefix(state.kind(), state.status);
        kind_status.extend_from_slice(&suffix);
        Self {
            time: suffix,
            target,
            kind_status,
        }
    }
}

fn suffix(state: &JobState) -> Vec<u8> {
    let mut s = Vec::with_capacity(SUFFIX_LEN);
    s.extend_from_slice(&time_key(state.queued_at));
    s.extend_from_slice(state.job_id.as_bytes());
    s
}

fn target_prefix(target: &str) -> Vec<u8> {
    let mut p = target.as_bytes().to_vec();
    p.push(0);
    p
}

fn kind_status_prefix(kind: JobKind, status: JobStatus) -> Vec<u8> {
    let mut p = kind_tag(kind).to_vec();
    p.push(0);
    p.extend_from_slice(status_tag(status));
    p.push(0);
    p
}

/// Jobs matching `query`, newest first.
pub fn history(
    trees: &Trees,
    path: &str,
    query: &HistoryQuery,
) -> Result<Vec<JobState>, LedgerError> {
    let limit = if query.limit == 0 {
        DEFAULT_LIMIT
    } else {
        query.limit
    };
    let since = query.since.map(time_key);
    let (tree, prefixes) = match (&query.target, query.kind, query.status) {
        (Some(target), _, _) => (&trees.by_target, vec![target_prefix(target.as_str())]),
        (None, Some(kind), Some(status)) => (
            &trees.by_kind_status,
            vec![kind_status_prefix(kind, status)],
        ),
        (None, None, Some(status)) => (
            &trees.by_kind_status,
            JobKind::ALL
                .iter()
                .map(|k| kind_status_prefix(*k, status))
                .collect(),
        ),
        _ => (&trees.by_time, vec![Vec::new()]),
    };
    let matches = |s: &JobState| {
        query.target.as_ref().is_none_or(|t| s.spec.target() == t)
            && query.kind.is_none_or(|k| s.kind() == k)
            && query.status.is_none_or(|st| s.status == st)
            && query.since.is_none_or(|t| s.queued_at >= t)
    };
    walk(trees, path, tree, &prefixes, since, limit, matches)
}

/// All jobs in one of `statuses`, newest first, from the kind+status index.
pub fn jobs_in(
    trees: &Trees,
    path: &str,
    statuses: &[JobStatus],
) -> Result<Vec<JobState>, LedgerError> {
    let prefixes: Vec<Vec<u8>> = JobKind::ALL
        .iter()
        .flat_map(|k| statuses.iter().map(|s| kind_status_prefix(*k, *s)))
        .collect();
    let wanted = |s: &JobState| statuses.contains(&s.status);
    walk(
        trees,
        path,
        &trees.by_kind_status,
        &prefixes,
        None,
        usize::MAX,
        wanted,
    )
}

/// Walks several index prefixes backwards at once, merging them newest first, and keeps
/// the jobs whose current state passes `keep`. The state is re-checked because the index
/// and the state are read at slightly different moments while appends go on.
fn walk(
    trees: &Trees,
    path: &str,
    tree: &sled::Tree,
    prefixes: &[Vec<u8>],
    since: Option<[u8; 8]>,
    limit: usize,
    keep: impl Fn(&JobState) -> bool,
) -> Result<Vec<JobState>, LedgerError> {
    let mut cursors: Vec<_> = prefixes
        .iter()
        .map(|p| {
            let mut start = p.clone();
            if let Some(since) = since {
                start.extend_from_slice(&since);
            }
            let iter = match prefix_end(p) {
                Some(end) => tree.range(start..end),
                None => tree.range(start..),
            };
            iter.rev().peekable()
        })
        .collect();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    while out.len() < limit {
        // The cursor whose next key has the greatest suffix is the newest job.
        let mut best: Option<(usize, Vec<u8>)> = None;
        for (i, cursor) in cursors.iter_mut().enumerate() {
            let key = match cursor.peek() {
                None => continue,
                Some(Err(_)) => return Err(cursor.next().expect("peeked").unwrap_err().into()),
                Some(Ok((key, _))) => key,
            };
            if key.len() < SUFFIX_LEN {
                return Err(corrupt(path, "an index key is shorter than its suffix"));
            }
            let sfx = &key[key.len() - SUFFIX_LEN..];
            if best.as_ref().is_none_or(|(_, b)| sfx > b.as_slice()) {
                best = Some((i, sfx.to_vec()));
            }
        }
        let Some((i, sfx)) = best else { break };
        cursors[i].next();
        let id: [u8; 16] = sfx[8..].try_into().expect("16 bytes");
        let job_id = JobId::from_bytes(id);
        if !seen.insert(job_id) {
            continue;
        }
        if let Some(state) = load_job(trees, path, job_id)? {
            if keep(&state) {
                out.push(state);
            }
        }
    }
    Ok(out)
}

/// The first key after every key starting with `prefix`, if there is one.
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// A job's folded state from the `jobs` tree, checksum verified.
pub fn load_job(trees: &Trees, path: &str, job_id: JobId) -> Result<Option<JobState>, LedgerError> {
    match trees.jobs.get(job_id.as_bytes())? {
        None => Ok(None),
        Some(bytes) => codec::decode(&bytes)
            .map(Some)
            .map_err(|e| corrupt(path, format!("the state of job {job_id}: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[1, 255]), Some(vec![2]));
        assert_eq!(prefix_end(&[255, 255]), None);
        assert_eq!(prefix_end(b""), None);
    }
}
