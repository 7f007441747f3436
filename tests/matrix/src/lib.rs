//! Harness of the version matrix: database servers of every supported version in
//! containers (`cairn_testcontainers::Database`, images from `scripts/images`), wrapped in
//! the end-to-end harness's handles (`Pg`, `My`, `RedisServer`) so the same fixtures and
//! fingerprints apply; and cairn either as a local `cairn up` (`App`, with this machine's
//! client tools) or in its own container (`Remote`, with PostgreSQL 17 / MariaDB 11.8
//! clients), both driven through the real `cairn` CLI.

pub mod cli;
pub mod servers;

pub use cli::{Cli, Remote};
pub use servers::{mariadb, postgres, redis, valkey, MyServer, PgServer, RedisBox};
