//! Dumping Redis: for each logical db, SCAN the keys and fetch them in pipelines of
//! `DUMP` + `PTTL`, streaming `redis-resp-v1` commands out in chunks of about [`CHUNK`].
//!
//! Expiries are stored as absolute unix milliseconds computed from the server's own
//! `TIME`, read in the same pipeline as the keys, so a restore later (or elsewhere) does
//! not stretch them. Keys that vanish between SCAN and DUMP are skipped. Memory stays
//! bounded: a pipeline asks for as many keys as fit about [`BATCH_BYTES`] at the payload
//! size seen so far, at most [`IN_FLIGHT`] pipelines are outstanding, and output leaves as
//! soon as a chunk is full.

use super::format::NO_EXPIRY;
use super::resp::Encoder;
use super::{connect, failure, time_ms};
use crate::{Connection, Progress, CHUNK};
use ::redis::aio::MultiplexedConnection;
use ::redis::{RedisResult, Value};
use bytes::{Bytes, BytesMut};
use cairn_domain::{Failure, Scope};
use futures::stream::{FuturesOrdered, StreamExt};
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Keys SCAN is asked for per call.
const SCAN_COUNT: usize = 1000;
/// Payload bytes one DUMP pipeline aims for.
const BATCH_BYTES: usize = 2 * 1024 * 1024;
/// Keys the first pipeline of a db fetches, before payload sizes are known.
const FIRST_BATCH: usize = 100;
/// Pipelines sent before the oldest reply is read: the server works while we encode.
const IN_FLIGHT: usize = 3;

/// Streams a dump of the endpoint's scope into `out`.
pub async fn dump(
    conn: &Connection,
    out: mpsc::Sender<Bytes>,
    progress: Arc<Progress>,
) -> Result<(), Failure> {
    let dbs = match &conn.endpoint.scope {
        Scope::RedisDb { index } => vec![*index],
        Scope::Server => databases_with_keys(conn).await?,
        Scope::Database { name } => {
            return Err(Failure::permanent(
                "bad_scope",
                format!("a redis target cannot name database {name:?}; use redis://host:port/N"),
            ))
        }
    };
    let mut sink = Sink {
        buf: BytesMut::with_capacity(2 * CHUNK),
        out,
        progress,
    };
    // A one-db backup holds no SELECT: it loads into whichever db the client picks.
    let mut enc = Encoder::new(conn.endpoint.scope == Scope::Server);
    enc.header(&mut sink.buf);
    for db in dbs {
        dump_db(conn, db, &mut enc, &mut sink).await?;
    }
    tracing::debug!(keys = enc.records(), "redis dump complete");
    enc.trailer(&mut sink.buf);
    sink.finish().await
}

/// The dbs `INFO keyspace` lists (those holding at least one key), ascending.
async fn databases_with_keys(conn: &Connection) -> Result<Vec<u32>, Failure> {
    let mut con = connect(conn, 0).await?;
    let info: String = ::redis::cmd("INFO")
        .arg("keyspace")
        .query_async(&mut con)
        .await
        .map_err(|e| failure(conn, &e))?;
    Ok(parse_keyspace(&info))
}

fn parse_keyspace(info: &str) -> Vec<u32> {
    let mut dbs: Vec<u32> = info
        .lines()
        .filter_map(|line| line.strip_prefix("db")?.split_once(':')?.0.parse().ok())
        .collect();
    dbs.sort_unstable();
    dbs.dedup();
    dbs
}

async fn dump_db(
    conn: &Connection,
    db: u32,
    enc: &mut Encoder,
    sink: &mut Sink,
) -> Result<(), Failure> {
    let mut con = connect(conn, db).await?;
    let mut sizer = BatchSizer::default();
    let mut queue: VecDeque<Vec<u8>> = VecDeque::new();
    let mut cursor = Some(0u64);
    let mut in_flight = FuturesOrdered::new();
    loop {
        if let Some(at) = cursor.filter(|_| queue.len() < SCAN_COUNT) {
            let (next, keys): (u64, Vec<Vec<u8>>) = ::redis::cmd("SCAN")
                .arg(at)
                .arg("COUNT")
                .arg(SCAN_COUNT)
                .query_async(&mut con)
                .await
                .map_err(|e| failure(conn, &e))?;
            queue.extend(keys);
            cursor = (next != 0).then_some(next);
        }
        while in_flight.len() < IN_FLIGHT && !queue.is_empty() {
            let n = sizer.next().min(queue.len());
            in_flight.push_back(fetch(con.clone(), queue.drain(..n).collect()));
        }
        match in_flight.next().await {
            Some((keys, replies)) => {
                let replies = replies.map_err(|e| failure(conn, &e))?;
                let n = keys.len();
                let bytes = encode(db, keys, replies, enc, &mut sink.buf)?;
                sizer.observe(n, bytes);
                sink.send_full().await?;
            }
            None if cursor.is_none() && queue.is_empty() => return Ok(()),
            None => {}
        }
    }
}

/// Sends one pipeline: the server's `TIME`, then `DUMP` and `PTTL` of every key.
async fn fetch(
    mut con: MultiplexedConnection,
    keys: Vec<Vec<u8>>,
) -> (Vec<Vec<u8>>, RedisResult<Vec<Value>>) {
    let mut pipe = ::redis::pipe();
    pipe.cmd("TIME");
    for key in &keys {
        pipe.cmd("DUMP").arg(key).cmd("PTTL").arg(key);
    }
    let replies = pipe.query_async(&mut con).await;
    (keys, replies)
}

/// Encodes the keys of one pipeline that still exist. Returns the bytes fetched.
fn encode(
    db: u32,
    keys: Vec<Vec<u8>>,
    replies: Vec<Value>,
    enc: &mut Encoder,
    buf: &mut BytesMut,
) -> Result<usize, Failure> {
    let unexpected = |what: &str| {
        Failure::permanent(
            "redis_error",
            format!("unexpected {what} reply while dumping db {db}"),
        )
    };
    let mut replies = replies.into_iter();
    let now = replies
        .next()
        .as_ref()
        .and_then(time_ms)
        .ok_or_else(|| unexpected("TIME"))?;
    let mut bytes = 0;
    for key in keys {
        let (Some(payload), Some(pttl)) = (replies.next(), replies.next()) else {
            return Err(unexpected("pipeline"));
        };
        let payload = match payload {
            Value::Nil => continue, // deleted since SCAN
            Value::BulkString(p) => p,
            _ => return Err(unexpected("DUMP")),
        };
        let expire_at_ms = match pttl {
            Value::Int(-2) => continue, // deleted right after DUMP
            Value::Int(-1) => NO_EXPIRY,
            Value::Int(ms) if ms >= 0 => now + ms,
            _ => return Err(unexpected("PTTL")),
        };
        bytes += key.len() + payload.len();
        enc.record(buf, db, &key, expire_at_ms, &payload)
            .map_err(|e| Failure::permanent("too_large", format!("db {db}: {e}")))?;
    }
    Ok(bytes)
}

/// Picks how many keys the next pipeline fetches, from the payload sizes seen so far.
#[derive(Debug, Default)]
struct BatchSizer {
    keys: u64,
    bytes: u64,
}

impl BatchSizer {
    fn next(&self) -> usize {
        if self.keys == 0 {
            return FIRST_BATCH;
        }
        let avg = (self.bytes / self.keys).max(1);
        (BATCH_BYTES as u64 / avg).clamp(1, SCAN_COUNT as u64) as usize
    }

    fn observe(&mut self, keys: usize, bytes: usize) {
        self.keys += keys as u64;
        self.bytes += bytes as u64;
    }
}

/// Buffers encoded records and sends them on in chunks of [`CHUNK`] bytes.
struct Sink {
    buf: BytesMut,
    out: mpsc::Sender<Bytes>,
    progress: Arc<Progress>,
}

impl Sink {
    async fn send_full(&mut self) -> Result<(), Failure> {
        while self.buf.len() >= CHUNK {
            let chunk = self.buf.split_to(CHUNK).freeze();
            self.send(chunk).await?;
        }
        Ok(())
    }

    async fn finish(mut self) -> Result<(), Failure> {
        self.send_full().await?;
        if !self.buf.is_empty() {
            let chunk = self.buf.split().freeze();
            self.send(chunk).await?;
        }
        Ok(())
    }

    async fn send(&mut self, chunk: Bytes) -> Result<(), Failure> {
        let n = chunk.len() as u64;
        self.out.send(chunk).await.map_err(|_| {
            Failure::retryable(
                "output_closed",
                "the backup upload stopped while the dump was running",
            )
        })?;
        self.progress.add_db(n);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_dbs_from_keyspace_info() {
        let info = "# Keyspace\r\ndb0:keys=3,expires=0,avg_ttl=0\r\ndb7:keys=1,expires=1,avg_ttl=5\r\ndb3:keys=2,expires=0,avg_ttl=0\r\n";
        assert_eq!(parse_keyspace(info), vec![0, 3, 7]);
        assert_eq!(parse_keyspace("# Keyspace\r\n"), Vec::<u32>::new());
    }

    #[test]
    fn sizes_batches_by_payload() {
        let table: &[(usize, usize, usize)] = &[
            (0, 0, FIRST_BATCH),
            (100, 100 * 50, SCAN_COUNT),
            (100, 100 * 64 * 1024, 32),
            (1, 100 * 1024 * 1024, 1),
        ];
        for &(keys, bytes, want) in table {
            let mut s = BatchSizer::default();
            if keys > 0 {
                s.observe(keys, bytes);
            }
            assert_eq!(s.next(), want, "{keys} keys, {bytes} bytes");
        }
    }
}
