//! What a job holds on a database server, so that two targets naming the same database
//! never run at the same time.
//!
//! Exclusivity is per database, not per target name: `orders` and `orders-copy` pointing at
//! `postgres://localhost/orders` and `postgres://127.0.0.1:5432/orders` hold the same
//! database. A whole-server target holds every database of its server, a Redis whole-server
//! target every `/N` of it.

use crate::endpoint::{Endpoint, Engine, Scope};
use crate::job::JobKind;
use std::net::IpAddr;

/// One database server: engine, host (normalized) and port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerKey {
    pub engine: Engine,
    /// Lower case, without a trailing dot; the loopback names and addresses (`localhost`,
    /// `127.0.0.1`, `::1`, `::ffff:127.0.0.1`) are one host, `loopback`; IP addresses are
    /// in their canonical form (`0:0::1` is `::1`).
    pub host: String,
    pub port: u16,
}

/// The part of a server a target's backups and restores hold.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Resource {
    /// Every database of the server.
    Server(ServerKey),
    /// One SQL database (MySQL names compared without case: a server may fold them).
    Database(ServerKey, String),
    /// One Redis logical database.
    RedisDb(ServerKey, u32),
}

/// The host as one name per machine address.
pub fn normalize_host(host: &str) -> String {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if host == "localhost" || host.ends_with(".localhost") {
        return "loopback".into();
    }
    match host.parse::<IpAddr>() {
        Ok(ip) => {
            let ip = match ip {
                IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
                v4 => v4,
            };
            if ip == IpAddr::from([127, 0, 0, 1]) || ip == IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1])
            {
                "loopback".into()
            } else {
                ip.to_string()
            }
        }
        Err(_) => host,
    }
}

impl Resource {
    /// What a job on `endpoint` holds.
    pub fn of(endpoint: &Endpoint) -> Self {
        let server = ServerKey {
            engine: endpoint.engine,
            host: normalize_host(&endpoint.host),
            port: endpoint.port,
        };
        match &endpoint.scope {
            Scope::Server => Resource::Server(server),
            Scope::Database { name } if endpoint.engine == Engine::Mysql => {
                Resource::Database(server, name.to_lowercase())
            }
            Scope::Database { name } => Resource::Database(server, name.clone()),
            Scope::RedisDb { index } => Resource::RedisDb(server, *index),
        }
    }

    pub fn server(&self) -> &ServerKey {
        match self {
            Resource::Server(s) | Resource::Database(s, _) | Resource::RedisDb(s, _) => s,
        }
    }

    /// Whether two jobs holding these could touch the same data.
    pub fn conflicts_with(&self, other: &Resource) -> bool {
        if self.server() != other.server() {
            return false;
        }
        match (self, other) {
            (Resource::Server(_), _) | (_, Resource::Server(_)) => true,
            (a, b) => a == b,
        }
    }
}

/// Whether a job of this kind works on its target's database (a prune only touches storage,
/// which per-target exclusivity covers).
pub fn touches_database(kind: JobKind) -> bool {
    matches!(kind, JobKind::Backup | JobKind::Restore)
}

/// Whether jobs on these two endpoints must not run at the same time.
pub fn endpoints_conflict(a: &Endpoint, b: &Endpoint) -> bool {
    Resource::of(a).conflicts_with(&Resource::of(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_table() {
        let table: &[(&str, &str, bool)] = &[
            // Same database, spelled differently.
            (
                "postgres://u@localhost/orders",
                "postgres://v@127.0.0.1:5432/orders",
                true,
            ),
            (
                "postgres://localhost:5432/orders",
                "postgresql://[::1]/orders",
                true,
            ),
            (
                "postgres://LOCALHOST./orders",
                "postgres://127.0.0.1/orders",
                true,
            ),
            (
                "postgres://[::ffff:127.0.0.1]/orders",
                "postgres://localhost/orders",
                true,
            ),
            (
                "postgres://db.example/orders",
                "postgres://DB.example./orders",
                true,
            ),
            (
                "postgres://[0:0::1]/orders",
                "postgres://[::1]/orders",
                true,
            ),
            ("mysql://h/Shop", "mariadb://h:3306/shop", true),
            // Different databases, ports or hosts.
            ("postgres://h/orders", "postgres://h/orders2", false),
            ("postgres://h/Orders", "postgres://h/orders", false),
            (
                "postgres://h:5432/orders",
                "postgres://h:5433/orders",
                false,
            ),
            ("postgres://h1/orders", "postgres://h2/orders", false),
            (
                "postgres://127.0.0.2/orders",
                "postgres://127.0.0.1/orders",
                false,
            ),
            ("postgres://h:3306/orders", "mysql://h:3306/orders", false),
            // A whole server holds each of its databases.
            ("postgres://h/", "postgres://h/orders", true),
            ("postgres://h/orders", "postgres://localhost/", false),
            ("postgres://localhost/", "postgres://127.0.0.1/orders", true),
            ("mysql://h/", "mysql://h/", true),
            ("redis://h", "redis://h/3", true),
            ("redis://h/3", "redis://localhost/3", false),
            ("redis://localhost/3", "redis://127.0.0.1:6379/3", true),
            ("redis://h/3", "redis://h/4", false),
            ("redis://h:6380", "redis://h/3", false),
        ];
        for (a, b, want) in table {
            let (ea, eb) = (Endpoint::parse(a).unwrap(), Endpoint::parse(b).unwrap());
            assert_eq!(endpoints_conflict(&ea, &eb), *want, "{a} vs {b}");
            assert_eq!(
                endpoints_conflict(&eb, &ea),
                *want,
                "{b} vs {a} (symmetric)"
            );
        }
    }
}
