//! Harness for cairn's end-to-end suites (`tests/suites/*.rs`).
//!
//! Each suite starts its own `cairn up` (`App::start`) on a free port with a fresh data
//! directory, creates its own databases on the real servers (`pg::Pg`, `mysql::My`) or
//! starts private ones (`redis_fx::RedisServer`, `private::*`), and drives everything
//! through the `cairn` CLI exactly as an operator would. Build the binary first:
//! `cargo build -p cairn && cargo test -p cairn-tests`.

pub mod app;
pub mod env;
pub mod fingerprint;
pub mod http;
pub mod mysql;
pub mod nats;
pub mod ops;
pub mod pg;
pub mod private;
pub mod procs;
pub mod redis_fx;
pub mod s3;
#[cfg(test)]
mod selftest;
pub mod stack;
pub mod tools;
pub mod util;
pub mod webhook;

pub use app::{cairn_bin, App, AppOptions};
pub use fingerprint::Fingerprint;
pub use mysql::{My, MyDb, MyUser};
pub use ops::{
    assert_contiguous_seqs, event_types, failure_codes, is_terminal, job_id_of, job_status,
    status_of, summary, WAIT_LIMIT,
};
pub use pg::{Pg, PgDb};
pub use private::{PrivateMy, PrivatePg};
pub use redis_fx::RedisServer;
pub use util::{poll, sha256_file, unique, Output};
