//! Staging databases of restores that are no longer running: a restore loads into
//! `<db>_cairn_restore_<job>` before swapping it in, and a cairn killed mid-restore
//! leaves that database behind (empty or partly loaded, never committed into the
//! target). On start, cairn drops those of every job of its own that is not running, on
//! every database server a target names; those of jobs it does not know (another cairn
//! sharing the server) stay.

use cairn_domain::{Engine, Scope, Target};
use cairn_engines::Connection;
use cairn_keyring::Keyring;
use std::collections::HashSet;

/// Drops the staging databases whose job's short id is in `idle` (restore jobs of this
/// ledger that are not running), on the server of every PostgreSQL and MySQL target
/// (each server once per user). Returns the names dropped; a server that cannot be
/// reached is logged and skipped.
pub async fn sweep_restore_databases(
    targets: &[Target],
    keyring: &Keyring,
    idle: &HashSet<String>,
) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut sweeps = Vec::new();
    for target in targets {
        let ep = &target.endpoint;
        if ep.engine == Engine::Redis
            || !seen.insert((ep.engine, ep.host.clone(), ep.port, ep.user.clone()))
        {
            continue;
        }
        let conn = match Connection::for_target(target, keyring) {
            Ok(c) => c,
            Err(f) => {
                tracing::warn!(target = %target.name, error = %f, "skipping the staging database sweep of this target");
                continue;
            }
        };
        let server = Connection {
            endpoint: cairn_domain::Endpoint {
                scope: Scope::Server,
                ..conn.endpoint
            },
            password: conn.password,
            ca_file: conn.ca_file,
        };
        let name = target.name.clone();
        sweeps.push(async move {
            let idle = |job: &str| idle.contains(job);
            match cairn_engines::sweep_restore_leftovers(&server, &idle).await {
                Ok(dropped) => dropped,
                Err(f) => {
                    tracing::warn!(target = %name, error = %f, "could not sweep staging databases");
                    Vec::new()
                }
            }
        });
    }
    let mut dropped: Vec<String> = futures::future::join_all(sweeps)
        .await
        .into_iter()
        .flatten()
        .collect();
    dropped.sort();
    dropped.dedup();
    dropped
}
