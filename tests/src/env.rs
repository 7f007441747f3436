//! Where the database servers for the suites come from.
//!
//! By default the machine's own servers: `CAIRN_TEST_PG` (default
//! `postgres://postgres@127.0.0.1:5432`), `CAIRN_TEST_MYSQL` (default
//! `mysql://root@127.0.0.1:3306`) and `CAIRN_TEST_REDIS` (default `redis://127.0.0.1:6379`),
//! each a URL without a database path and without a password.
//!
//! `CAIRN_TESTCONTAINERS=1` means "the servers are containers": the `testcontainers` crate
//! is not linked (it pulls a Docker client stack that is heavy to build, and no Docker
//! engine runs on the project machine), so in that mode the three `CAIRN_TEST_*` URLs must
//! point at containers you started, e.g. with `compose/`. Whole-server tests that need a
//! private `initdb`/`mariadbd` cannot run in that mode: they fail unless
//! `CAIRN_TEST_ALLOW_SKIP=whole-server` is set too (see `private.rs`).

/// The base URLs of the servers the suites use.
#[derive(Debug, Clone)]
pub struct Servers {
    pub pg: String,
    pub mysql: String,
    pub redis: String,
}

pub fn containers_mode() -> bool {
    std::env::var("CAIRN_TESTCONTAINERS").is_ok_and(|v| v == "1")
}

/// The servers to use, from the environment.
pub fn servers() -> Servers {
    let get = |var: &str, default: &str| -> String {
        match std::env::var(var) {
            Ok(v) if !v.is_empty() => v.trim_end_matches('/').to_string(),
            _ if containers_mode() => panic!(
                "CAIRN_TESTCONTAINERS=1: this harness does not start containers itself; \
                 set {var} to the URL of a running container (see tests/src/env.rs)"
            ),
            _ => default.to_string(),
        }
    };
    Servers {
        pg: get("CAIRN_TEST_PG", "postgres://postgres@127.0.0.1:5432"),
        mysql: get("CAIRN_TEST_MYSQL", "mysql://root@127.0.0.1:3306"),
        redis: get("CAIRN_TEST_REDIS", "redis://127.0.0.1:6379"),
    }
}

/// Host, port and user of a `scheme://user@host:port` base URL.
#[derive(Debug, Clone)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
    pub user: String,
}

pub fn host_port(base: &str, default_port: u16, default_user: &str) -> HostPort {
    let url = url::Url::parse(base).unwrap_or_else(|e| panic!("bad server URL {base:?}: {e}"));
    assert!(
        url.password().is_none(),
        "server URL {base:?} must not hold a password"
    );
    HostPort {
        host: url.host_str().unwrap_or("127.0.0.1").to_string(),
        port: url.port().unwrap_or(default_port),
        user: if url.username().is_empty() {
            default_user.to_string()
        } else {
            url.username().to_string()
        },
    }
}
