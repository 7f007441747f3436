//! Staging databases of restores, and sweeping those whose job is gone.
//!
//! A database restore loads into a staging database named after the target database
//! and the job: `<name>_cairn_restore_<job>` (the job's 8-hex-digit short id), and a
//! MySQL restore moves the replaced tables aside into `<name>_cairn_restore_<job>_old`.
//! The name says whose it is, so on start cairn drops every such database of a job it
//! knows and that is not running ([`sweep`]): the leftovers of a cairn that was killed
//! mid-restore. Staging databases of jobs it does not know (another cairn's, on a shared
//! server) are left alone.
//! Names stay within 63 bytes (PostgreSQL's limit; MySQL allows 64 characters): a long
//! database name is cut, never the suffix.

use crate::{mysql, pg, Connection};
use cairn_domain::{Engine, Failure};

const MARK: &str = "_cairn_restore_";
/// The suffix of the database a MySQL restore moves the replaced tables into.
pub(crate) const OLD: &str = "_old";
const MAX_NAME: usize = 63;

/// `<name…>_cairn_restore_<job><extra>`, at most 63 bytes.
pub(crate) fn staging_name(name: &str, job: &str, extra: &str) -> String {
    let suffix = format!("{MARK}{job}{extra}");
    let mut end = name.len().min(MAX_NAME.saturating_sub(suffix.len()));
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{suffix}", &name[..end])
}

/// The job short id of a staging database's name, or `None` for any other name.
pub fn staging_job(name: &str) -> Option<&str> {
    let at = name.rfind(MARK)?;
    let rest = &name[at + MARK.len()..];
    let job = rest.strip_suffix(OLD).unwrap_or(rest);
    let hex = job.len() == 8
        && job
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    hex.then_some(job)
}

/// Drops, on the server `conn` points at, every staging database whose job (given by
/// its short id) is `idle`: known and not running. Returns the names dropped; one that
/// cannot be dropped (another user's) is logged and skipped. Redis has none.
pub async fn sweep(
    conn: &Connection,
    idle: &(dyn Fn(&str) -> bool + Sync),
) -> Result<Vec<String>, Failure> {
    let all = match conn.endpoint.engine {
        Engine::Postgres => pg::list_databases(conn).await?,
        Engine::Mysql => mysql::list_databases(conn).await?,
        Engine::Redis => return Ok(Vec::new()),
    };
    let mut dropped = Vec::new();
    for name in all {
        let Some(job) = staging_job(&name) else {
            continue;
        };
        if !idle(job) {
            continue;
        }
        let result = match conn.endpoint.engine {
            Engine::Postgres => pg::drop_database(conn, &name).await,
            _ => mysql::drop_database(conn, &name).await,
        };
        if let Err(f) = result {
            tracing::warn!(database = %name, server = %conn.endpoint, error = %f, "could not drop the staging database of a restore that is no longer running");
            continue;
        }
        tracing::info!(database = %name, server = %conn.endpoint, "dropped the staging database of a restore that is no longer running");
        dropped.push(name);
    }
    Ok(dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_and_parse_back() {
        let long = "é".repeat(31) + "x"; // 63 bytes
        for name in ["orders", long.as_str(), "a_cairn_restore_x"] {
            for extra in ["", OLD] {
                let s = staging_name(name, "0123abcd", extra);
                assert!(s.len() <= MAX_NAME, "{s}");
                assert_eq!(staging_job(&s), Some("0123abcd"), "{s}");
            }
        }
        assert_eq!(
            staging_name("orders", "0123abcd", ""),
            "orders_cairn_restore_0123abcd"
        );
        for other in [
            "orders",
            "orders_cairn_restore_",
            "orders_cairn_restore_0123ABCD",
            "orders_cairn_restore_0123abcd_new",
            "orders_cairn_restore_0123abc",
            "cairn_restore_0123abcd_orders",
        ] {
            assert_eq!(staging_job(other), None, "{other}");
        }
    }
}
