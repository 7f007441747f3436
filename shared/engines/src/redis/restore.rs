//! Restoring Redis: check the artifact's header, empty the target (`FLUSHALL` for a
//! whole server, `FLUSHDB` for one db), then replay every record with pipelined
//! `RESTORE key ttl payload REPLACE [ABSTTL]`.
//!
//! The stream is parsed as it arrives; a record may span any number of chunks. Keys whose
//! absolute expiry has passed on the target's clock are skipped, as Redis does when it
//! loads an RDB file. The target ends up exactly as the backup was only once the trailer
//! has been read and checked; a truncated or damaged stream fails the restore.

use super::format::{FormatError, Item, Record, NO_EXPIRY};
use super::{connect, failure, resp, time_ms, FORMAT, LEGACY_FORMAT};
use crate::{Connection, Progress};
use ::redis::aio::MultiplexedConnection;
use ::redis::{Pipeline, RedisResult, Value};
use bytes::Bytes;
use cairn_domain::{Failure, Manifest, Scope};
use futures::future::BoxFuture;
use futures::stream::{FuturesOrdered, StreamExt};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;

/// Most `RESTORE`s one pipeline carries.
const BATCH_KEYS: usize = 500;
/// Most payload bytes one pipeline carries.
const BATCH_BYTES: usize = 2 * 1024 * 1024;
/// Pipelines sent before the oldest reply is read: the server works while we decode.
const IN_FLIGHT: usize = 3;

/// A sent pipeline: its key count and artifact bytes, and the server's replies.
type Sent = BoxFuture<'static, (usize, u64, RedisResult<Vec<RedisResult<Value>>>)>;

/// Makes the target what the backup was; returns the artifact bytes applied.
pub async fn restore(
    conn: &Connection,
    manifest: &Manifest,
    mut input: mpsc::Receiver<Result<Bytes, Failure>>,
    progress: Arc<Progress>,
) -> Result<u64, Failure> {
    let mut dec = if manifest.format_name == FORMAT.format_name {
        Decoder::Resp(resp::Decoder::new())
    } else if manifest.format_name == LEGACY_FORMAT.format_name {
        Decoder::V1(super::format::Decoder::new())
    } else {
        return Err(Failure::permanent(
            "format_mismatch",
            format!(
                "backup {} is a {:?} artifact, not {:?} (or the earlier {:?}); it cannot be restored onto redis",
                manifest.id, manifest.format_name, FORMAT.format_name, LEGACY_FORMAT.format_name
            ),
        ));
    };
    // The header must be right before the target is touched.
    while !dec.header().map_err(corrupt)? {
        match input.recv().await {
            Some(Ok(chunk)) => dec.push(&chunk),
            Some(Err(f)) => return Err(f),
            None => return Err(corrupt(FormatError::Truncated)),
        }
    }
    let mut target = Target::open(conn, manifest, progress.clone()).await?;
    let applied = async {
        loop {
            while let Some(item) = dec.next_item().map_err(corrupt)? {
                if let Item::Record(record) = item {
                    target.add(record).await?;
                }
            }
            match input.recv().await {
                Some(Ok(chunk)) => dec.push(&chunk),
                Some(Err(f)) => return Err(f),
                None => break,
            }
        }
        dec.finish().map_err(corrupt)?;
        target.finish().await
    }
    .await;
    if let Err(f) = applied {
        return Err(partly_restored(f, conn, target.restored));
    }
    // Header and trailer bytes, which no batch counted.
    progress.add_db(dec.consumed().saturating_sub(target.counted));
    tracing::debug!(
        keys = target.restored,
        expired = target.expired,
        "redis restore complete"
    );
    Ok(dec.consumed())
}

/// The decoder of the artifact's format.
enum Decoder {
    Resp(resp::Decoder),
    V1(super::format::Decoder),
}

impl Decoder {
    fn push(&mut self, chunk: &[u8]) {
        match self {
            Decoder::Resp(d) => d.push(chunk),
            Decoder::V1(d) => d.push(chunk),
        }
    }
    fn header(&mut self) -> Result<bool, FormatError> {
        match self {
            Decoder::Resp(d) => d.header(),
            Decoder::V1(d) => d.header(),
        }
    }
    fn next_item(&mut self) -> Result<Option<Item>, FormatError> {
        match self {
            Decoder::Resp(d) => d.next_item(),
            Decoder::V1(d) => d.next_item(),
        }
    }
    fn finish(&self) -> Result<(), FormatError> {
        match self {
            Decoder::Resp(d) => d.finish(),
            Decoder::V1(d) => d.finish(),
        }
    }
    fn consumed(&self) -> u64 {
        match self {
            Decoder::Resp(d) => d.consumed(),
            Decoder::V1(d) => d.consumed(),
        }
    }
}

/// Redis has no transaction that could hold a whole restore: once emptied, the target
/// holds what was restored up to the failure. The message says so, and advises running
/// the restore again only when that can help.
fn partly_restored(f: Failure, conn: &Connection, restored: u64) -> Failure {
    let emptied = match &conn.endpoint.scope {
        Scope::RedisDb { index } => format!("db {index} was emptied (FLUSHDB)"),
        _ => "the server was emptied (FLUSHALL)".to_string(),
    };
    let advice = if f.retryable {
        "; running the restore again replaces them all"
    } else {
        ""
    };
    Failure {
        message: format!(
            "{}; the target is partly restored: {emptied} and holds only the keys restored before this error ({restored} confirmed){advice}",
            f.message
        ),
        ..f
    }
}

fn corrupt(e: FormatError) -> Failure {
    Failure::permanent("corrupt_artifact", format!("cannot restore: {e}"))
}

/// The target server during a restore: one connection per db, and the batch being built.
struct Target<'a> {
    conn: &'a Connection,
    manifest: &'a Manifest,
    progress: Arc<Progress>,
    /// For a one-db target every record goes to that db, whatever db it came from.
    only_db: Option<u32>,
    cons: HashMap<u32, MultiplexedConnection>,
    batch: Batch,
    /// Pipelines sent whose replies were not read yet, oldest first.
    in_flight: FuturesOrdered<Sent>,
    /// The target's clock: its `TIME` when the restore began, advanced locally.
    clock: (i64, Instant),
    /// Artifact bytes of the records applied (or skipped) so far.
    counted: u64,
    restored: u64,
    expired: u64,
}

struct Batch {
    db: u32,
    pipe: Pipeline,
    keys: usize,
    bytes: usize,
    artifact_bytes: u64,
}

impl Batch {
    fn new() -> Self {
        Self {
            db: 0,
            pipe: Pipeline::with_capacity(BATCH_KEYS),
            keys: 0,
            bytes: 0,
            artifact_bytes: 0,
        }
    }
}

impl<'a> Target<'a> {
    /// Connects and empties what the restore will replace.
    async fn open(
        conn: &'a Connection,
        manifest: &'a Manifest,
        progress: Arc<Progress>,
    ) -> Result<Self, Failure> {
        let only_db = match &conn.endpoint.scope {
            Scope::RedisDb { index } => Some(*index),
            Scope::Server => None,
            Scope::Database { name } => {
                return Err(Failure::permanent(
                    "bad_scope",
                    format!(
                        "a redis target cannot name database {name:?}; use redis://host:port/N"
                    ),
                ))
            }
        };
        let first_db = only_db.unwrap_or(0);
        let mut con = connect(conn, first_db).await?;
        let now: Value = ::redis::cmd("TIME")
            .query_async(&mut con)
            .await
            .map_err(|e| failure(conn, &e))?;
        let now = time_ms(&now).ok_or_else(|| {
            Failure::permanent("redis_error", "the target's TIME reply was not understood")
        })?;
        let flush = if only_db.is_some() {
            "FLUSHDB"
        } else {
            "FLUSHALL"
        };
        // `SYNC` came with Redis 6.2; before it the bare command is synchronous (and is
        // what an older server answers "syntax error" to `SYNC` with).
        let flushed: Result<(), _> = ::redis::cmd(flush).arg("SYNC").query_async(&mut con).await;
        match flushed {
            Err(e) if e.to_string().contains("syntax error") => {
                let _: () = ::redis::cmd(flush)
                    .query_async(&mut con)
                    .await
                    .map_err(|e| failure(conn, &e))?;
            }
            other => other.map_err(|e| failure(conn, &e))?,
        }
        tracing::info!(command = flush, "redis target emptied");
        Ok(Self {
            conn,
            manifest,
            progress,
            only_db,
            cons: HashMap::from([(first_db, con)]),
            batch: Batch::new(),
            in_flight: FuturesOrdered::new(),
            clock: (now, Instant::now()),
            counted: 0,
            restored: 0,
            expired: 0,
        })
    }

    async fn add(&mut self, record: Record) -> Result<(), Failure> {
        let db = self.only_db.unwrap_or(record.db);
        if self.batch.keys > 0 && self.batch.db != db {
            self.flush().await?;
        }
        self.batch.db = db;
        self.batch.artifact_bytes += record.encoded_len() as u64;
        if record.expire_at_ms != NO_EXPIRY && record.expire_at_ms <= self.now_ms() {
            self.expired += 1;
            return Ok(());
        }
        let cmd = self.batch.pipe.cmd("RESTORE").arg(&record.key[..]);
        match record.expire_at_ms {
            NO_EXPIRY => cmd.arg(0).arg(&record.value[..]).arg("REPLACE"),
            at => cmd
                .arg(at)
                .arg(&record.value[..])
                .arg("REPLACE")
                .arg("ABSTTL"),
        };
        self.batch.keys += 1;
        self.batch.bytes += record.key.len() + record.value.len();
        if self.batch.keys >= BATCH_KEYS || self.batch.bytes >= BATCH_BYTES {
            self.flush().await?;
        }
        Ok(())
    }

    /// Sends the batch being built; reads the oldest reply once [`IN_FLIGHT`] are out.
    async fn flush(&mut self) -> Result<(), Failure> {
        let mut batch = std::mem::replace(&mut self.batch, Batch::new());
        if batch.keys == 0 {
            // Only expired keys: nothing to send.
            self.counted += batch.artifact_bytes;
            self.progress.add_db(batch.artifact_bytes);
            return Ok(());
        }
        let mut con = match self.cons.get(&batch.db) {
            Some(con) => con.clone(),
            None => {
                let con = connect(self.conn, batch.db).await?;
                self.cons.entry(batch.db).or_insert(con).clone()
            }
        };
        self.in_flight.push_back(Box::pin(async move {
            let replies = batch.pipe.ignore_errors().query_async(&mut con).await;
            (batch.keys, batch.artifact_bytes, replies)
        }));
        while self.in_flight.len() >= IN_FLIGHT {
            self.settle_one().await?;
        }
        Ok(())
    }

    /// Sends what is left and waits for every reply.
    async fn finish(&mut self) -> Result<(), Failure> {
        self.flush().await?;
        while !self.in_flight.is_empty() {
            self.settle_one().await?;
        }
        Ok(())
    }

    /// Reads the oldest outstanding reply and checks every `RESTORE` in it.
    async fn settle_one(&mut self) -> Result<(), Failure> {
        let Some((keys, artifact_bytes, replies)) = self.in_flight.next().await else {
            return Ok(());
        };
        let replies = replies.map_err(|e| failure(self.conn, &e))?;
        if let Some(e) = replies.into_iter().find_map(Result::err) {
            return Err(self.restore_failure(&e));
        }
        self.restored += keys as u64;
        self.counted += artifact_bytes;
        self.progress.add_db(artifact_bytes);
        Ok(())
    }

    fn restore_failure(&self, e: &::redis::RedisError) -> Failure {
        if e.to_string()
            .contains("payload version or checksum are wrong")
        {
            return Failure::permanent(
                "incompatible_payload",
                format!(
                    "the target redis cannot read the backup's key payloads: they come from redis {} \
                     (a newer RDB format than the target's) or are damaged; restore onto redis {} or newer",
                    self.manifest.server_version, self.manifest.server_version
                ),
            );
        }
        failure(self.conn, e)
    }

    fn now_ms(&self) -> i64 {
        let (base, at) = self.clock;
        base + at.elapsed().as_millis() as i64
    }
}
