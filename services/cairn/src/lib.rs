//! The `cairn` package: the CLI (`cairn`), `cairn up` (every service in one process) and
//! the distributed services' binaries (`cairn-scheduler`, `cairn-dump-worker`,
//! `cairn-restore-worker`, `cairn-retention-sweeper`), which share `up`'s wiring.

pub mod cli;
pub mod logging;
pub mod runtime;
pub mod services;
pub mod up;
