//! Containers for tests that need cairn or the database servers it protects.
//!
//! [`Cairn`] starts cairn itself (`cairn up` in the `cairn-local/cairn:dev` image) and gives
//! its API address and admin token; [`Database`] starts PostgreSQL 13/15/17, MariaDB
//! 10.5/10.11/11.8, Redis 6.0/7.0/8.0 or Valkey 8.1. The images are built locally by the
//! repository's `scripts/images` (no registry is needed). Every container runs with host
//! networking and listens on a free port of 127.0.0.1 only.
//!
//! See the crate's README for a complete test.

mod cairn;
mod database;
mod engine;
mod port;

pub use cairn::{Cairn, CliOutput, RunningCairn, CAIRN_IMAGE, CAIRN_TAG};
pub use database::{Database, Kind};
pub use engine::{ensure_engine, EngineError};
pub use port::free_port;
pub use testcontainers;

/// Errors of this crate: the engine cannot be used, a container did not start, or cairn in
/// it did not become ready.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("container: {0}")]
    Container(#[from] testcontainers::TestcontainersError),
    #[error("{0}")]
    NotReady(String),
    #[error("command in the container failed: {0}")]
    Failed(String),
}
