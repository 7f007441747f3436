//! Database engines: preflight checks, streaming dumps and streaming restores for
//! PostgreSQL, MySQL/MariaDB/Percona and Redis.
//!
//! An engine never holds a whole dump: `dump` pushes raw chunks into a bounded channel
//! (the storage pipeline compresses, hashes and uploads them) and `restore` pulls raw
//! chunks from one. Every error becomes a [`Failure`] that says whether a retry can help
//! and never contains a credential.

mod child;
mod compat;
mod credentials;
mod leftovers;
mod mysql;
mod pg;
mod progress_sink;
pub mod redis;
pub mod secret;
mod tls;
pub mod version;

use bytes::Bytes;
use cairn_domain::{Endpoint, Engine, Failure, JobId, Manifest, Scope, TlsMode};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

pub use credentials::use_credentials_dir;
pub use leftovers::{staging_job, sweep as sweep_restore_leftovers};
pub use secret::Secret;

/// Size of the raw chunks engines send and receive.
pub const CHUNK: usize = 256 * 1024;

/// How to reach one database: the endpoint and, separately, its password; and the CA
/// certificates to check its TLS certificate against, if not the system's.
#[derive(Debug, Clone)]
pub struct Connection {
    pub endpoint: Endpoint,
    pub password: Option<Secret>,
    pub ca_file: Option<std::path::PathBuf>,
}

impl Connection {
    /// The connection to a target, with its password resolved now (on the worker that runs
    /// the job): opened from its sealed value, or read from the referenced env var or file.
    pub fn for_target(
        target: &cairn_domain::Target,
        keyring: &cairn_keyring::Keyring,
    ) -> Result<Self, Failure> {
        let password = keyring
            .resolve(&target.credential)
            .map_err(|e| Failure::permanent("credential", format!("target {}: {e}", target.name)))?
            .map(Secret::new);
        // Files named in the URL are references too, checked again where they are read.
        for (key, value) in &target.endpoint.params {
            if let Some(path) = cairn_domain::url_rules::file_param(key, value) {
                keyring.policy().check_file(path).map_err(|e| {
                    Failure::permanent(
                        "credential",
                        format!("target {}: the URL's {key} parameter: {e}", target.name),
                    )
                })?;
            }
        }
        Ok(Self {
            endpoint: target.endpoint.clone(),
            password,
            ca_file: target.ca_file.as_ref().map(Into::into),
        })
    }

    /// The TLS mode this connection uses: the URL's, else verify-full when a CA file is
    /// given, else the engine client's default.
    pub fn tls_mode(&self) -> TlsMode {
        TlsMode::effective(
            self.endpoint.tls,
            self.endpoint.engine,
            self.ca_file.is_some(),
        )
    }
}

/// What preflight learned about the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    /// As the server reports it (`15.20`, `10.11.19-MariaDB-0+deb12u1`, `7.0.15`).
    pub version: String,
    /// The major version used for downgrade checks (PostgreSQL 15 → 15; MariaDB 10.11 → 1011; Redis 7.0 → 7).
    pub major: u32,
    /// `mariadb`, `mysql`, `percona`, `postgres`, `redis`.
    pub flavor: String,
}

/// Byte counters an attempt reports as progress; shared between the engine and the pipeline.
#[derive(Debug, Default)]
pub struct Progress {
    /// Uncompressed bytes read from (backup) or written to (restore) the database.
    pub bytes_db: AtomicU64,
    /// Compressed bytes written to (backup) or read from (restore) storage.
    pub bytes_storage: AtomicU64,
}

impl Progress {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
    pub fn add_db(&self, n: u64) {
        self.bytes_db.fetch_add(n, Ordering::Relaxed);
    }
    pub fn add_storage(&self, n: u64) {
        self.bytes_storage.fetch_add(n, Ordering::Relaxed);
    }
    pub fn snapshot(&self) -> (u64, u64) {
        (
            self.bytes_db.load(Ordering::Relaxed),
            self.bytes_storage.load(Ordering::Relaxed),
        )
    }
}

/// What a finished dump says about its artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpFormat {
    /// The artifact file name in the backup folder (`dump.sql.zst`, `dump.redis.zst`).
    pub artifact: &'static str,
    /// Written into the manifest so restore picks the right loader
    /// (`pg_dump-plain`, `pg_dumpall-plain`, `mysqldump-db`, `mysqldump-all`, `cairn-redis-v1`).
    pub format_name: &'static str,
}

/// Checks the server before any work: credentials valid, version read, primary not replica.
pub async fn preflight(conn: &Connection) -> Result<ServerInfo, Failure> {
    match conn.endpoint.engine {
        Engine::Postgres => pg::preflight(conn).await,
        Engine::Mysql => mysql::preflight(conn).await,
        Engine::Redis => redis::preflight(conn).await,
    }
}

/// Checks the dump tool against the server before a backup and returns what the manifest
/// records of it (`pg_dump 17.6`): PostgreSQL's `pg_dump` must be at least the server's
/// major version, so a server newer than every installed client is refused here, naming
/// the package to install. `None` for engines whose version rules need no such check.
pub async fn dump_client(
    endpoint: &Endpoint,
    server: &ServerInfo,
) -> Result<Option<String>, Failure> {
    match endpoint.engine {
        Engine::Postgres => {
            let (_, version) = pg::dump_client(server.major, &server.version).await?;
            Ok(Some(format!("pg_dump {version}")))
        }
        Engine::Mysql | Engine::Redis => Ok(None),
    }
}

/// The artifact format a dump of this endpoint produces.
pub fn dump_format(endpoint: &Endpoint) -> DumpFormat {
    let server = endpoint.scope == Scope::Server;
    match (endpoint.engine, server) {
        (Engine::Postgres, false) => pg::FORMAT_DATABASE,
        (Engine::Postgres, true) => pg::FORMAT_SERVER,
        (Engine::Mysql, false) => mysql::FORMAT_DATABASE,
        (Engine::Mysql, true) => mysql::FORMAT_SERVER,
        (Engine::Redis, _) => redis::FORMAT,
    }
}

/// Streams a dump of `conn` into `out` as raw chunks. Returns when the dump tool has
/// exited successfully and every byte was sent; any non-zero exit, error output of the
/// tool, or closed channel is an error (the caller then discards the partial upload).
pub async fn dump(
    conn: &Connection,
    out: mpsc::Sender<Bytes>,
    progress: Arc<Progress>,
) -> Result<(), Failure> {
    match conn.endpoint.engine {
        Engine::Postgres => pg::dump(conn, out, progress).await,
        Engine::Mysql => mysql::dump(conn, out, progress).await,
        Engine::Redis => redis::dump(conn, out, progress).await,
    }
}

/// Refuses a restore before touching the target: engine mismatch, newer-major backup onto
/// an older server, a scope the target cannot take.
pub fn check_restore(
    manifest: &Manifest,
    target: &Endpoint,
    server: &ServerInfo,
) -> Result<(), Failure> {
    compat::check_restore(manifest, target, server)
}

/// Makes the target exactly what the backup was, reading raw (decompressed) chunks from
/// `input`; an `Err` item or a channel closed early means the artifact could not be read:
/// stop, and leave the target as safe as the engine allows. Returns the bytes applied.
/// Objects created after the backup are gone afterwards.
///
/// Staging databases are named after a fresh job id; a job's restore runs through
/// [`restore_for_job`], so that its leftovers can be told apart.
pub async fn restore(
    conn: &Connection,
    manifest: &Manifest,
    input: mpsc::Receiver<Result<Bytes, Failure>>,
    progress: Arc<Progress>,
) -> Result<u64, Failure> {
    let (bytes, afterwards) =
        restore_for_job(conn, manifest, &JobId::new_random(), input, progress).await?;
    afterwards.run().await;
    Ok(bytes)
}

/// Whether a restore of `endpoint` loads into a staging copy that replaces the target
/// only after the input ended with the manifest's size and checksum (a database of
/// PostgreSQL or MySQL/MariaDB). Then the artifact needs no checksum pass before the
/// load: a mismatch found at the end of the one pass leaves the target untouched.
/// Restores that load in place (whole servers, Redis) must check first.
pub fn verifies_while_loading(endpoint: &Endpoint) -> bool {
    matches!(endpoint.scope, Scope::Database { .. })
        && matches!(endpoint.engine, Engine::Postgres | Engine::Mysql)
}

/// What is left after a restore succeeded, off the job's critical path: dropping the
/// copy it replaced. Dropped unrun, the start-up sweep finds that copy by its name.
#[derive(Debug, Default)]
#[must_use = "the replaced copy stays until `run`"]
pub struct Afterwards {
    replaced: Option<(Connection, String)>,
}

impl Afterwards {
    /// Drops the replaced copy (a warning in the log when that fails).
    pub async fn run(self) {
        if let Some((conn, name)) = self.replaced {
            tracing::info!(database = %name, "dropping the database the restore replaced");
            pg::drop_logged(conn, name).await;
        }
    }
}

/// [`restore`] on behalf of `job`: its staging databases carry the job's short id, and
/// the input must end exactly at the manifest's size, without an error item, for the
/// load to commit. Returns the bytes applied and what is left to do once the job is
/// recorded as done ([`Afterwards::run`]).
pub async fn restore_for_job(
    conn: &Connection,
    manifest: &Manifest,
    job: &JobId,
    input: mpsc::Receiver<Result<Bytes, Failure>>,
    progress: Arc<Progress>,
) -> Result<(u64, Afterwards), Failure> {
    let job = job.short();
    let expected = dump_format(&conn.endpoint);
    if manifest.engine != conn.endpoint.engine || manifest.format_name != expected.format_name {
        return Err(Failure::permanent(
            "unsupported_format",
            format!(
                "backup {} ({} {:?}) cannot be loaded into {}",
                manifest.id, manifest.engine, manifest.format_name, conn.endpoint
            ),
        ));
    }
    match conn.endpoint.engine {
        Engine::Postgres => {
            let (bytes, old) =
                pg::restore(conn, &job, manifest.size_bytes, input, progress).await?;
            let replaced = old.map(|name| (conn.clone(), name));
            Ok((bytes, Afterwards { replaced }))
        }
        Engine::Mysql => mysql::restore(conn, &job, manifest.size_bytes, input, progress)
            .await
            .map(|b| (b, Afterwards::default())),
        Engine::Redis => redis::restore(conn, manifest, input, progress)
            .await
            .map(|b| (b, Afterwards::default())),
    }
}

#[doc(hidden)]
pub fn _engine_name(e: Engine) -> &'static str {
    e.as_str()
}
