//! Redis fixtures: a private `redis-server` on a free port (killed on drop), an awkward
//! data set of every type, the fingerprint (keys, types, content hashes, TTL presence),
//! and TTL values read at known instants ([`Ttls`]), compared across a restore.

use crate::fingerprint::Fingerprint;
use crate::util::{free_port, poll, sha256_hex};
use redis::{Commands, Connection};
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How far a restored TTL may stray from "the backed-up TTL, counted down since": the
/// time a PTTL round trip takes, and the dump reading TIME and PTTL a moment apart.
const TTL_SLACK: Duration = Duration::from_millis(1000);

/// A `redis-server` of this test alone, so whole-server restores (FLUSHALL) touch
/// nothing else.
pub struct RedisServer {
    pub port: u16,
    /// `None` for a server this handle did not start (`RedisServer::at`).
    child: Option<Child>,
    _dir: Option<tempfile::TempDir>,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        let dir = tempfile::Builder::new()
            .prefix("cairn-it-redis-")
            .tempdir()
            .expect("tempdir for redis");
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--port")
            .arg(port.to_string())
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server (is it installed?)");
        let server = RedisServer {
            port,
            child: Some(child),
            _dir: Some(dir),
        };
        poll(
            "redis-server to answer PING",
            Duration::from_secs(20),
            Duration::from_millis(50),
            || {
                let mut c = server.try_conn(0)?;
                redis::cmd("PING").query::<String>(&mut c).ok()
            },
        );
        server
    }

    /// A handle on a server that runs elsewhere on 127.0.0.1:`port` (a container): the
    /// same fixtures and fingerprints; dropping it stops nothing.
    pub fn at(port: u16) -> RedisServer {
        RedisServer {
            port,
            child: None,
            _dir: None,
        }
    }

    /// `redis://127.0.0.1:PORT` (whole server) or `…/N`.
    pub fn url(&self, db: Option<u32>) -> String {
        match db {
            Some(n) => format!("redis://127.0.0.1:{}/{n}", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    fn try_conn(&self, db: u32) -> Option<Connection> {
        let client = redis::Client::open(self.url(Some(db))).ok()?;
        client.get_connection().ok()
    }

    /// A connection with `db` selected.
    pub fn conn(&self, db: u32) -> Connection {
        self.try_conn(db)
            .unwrap_or_else(|| panic!("cannot connect to redis on port {}", self.port))
    }

    /// Loads the awkward data set into `db`: binary keys and values, every type, a
    /// stream with consumer groups and pending entries, TTLs.
    pub fn load_awkward(&self, db: u32) {
        let mut c = self.conn(db);
        let every_byte: Vec<u8> = (0..=255u8).collect();
        let tag = format!("db{db}");
        let k = |name: &str| format!("{tag}:{name}");
        let _: () = c
            .set(b"bin\x00\xff\r\nkey".as_slice(), every_byte.as_slice())
            .unwrap();
        let _: () = c.set("ünïcødé ☃", "värde 😀").unwrap();
        let _: () = c.set(k("int"), 12345).unwrap();
        let _: () = c.pset_ex(k("ttl-string"), "expires", 3_600_000).unwrap();
        let _: () = c.rpush(k("list"), &["a", "b", "\u{0}\u{ff}"]).unwrap();
        let long: Vec<String> = (0..1000).map(|i| format!("item-{i}")).collect();
        let _: () = c.rpush(k("long-list"), &long).unwrap();
        let _: () = c.sadd(k("set"), &["x", "y", "z"]).unwrap();
        let ints: Vec<i64> = (0..300).collect();
        let _: () = c.sadd(k("intset"), &ints).unwrap();
        let _: () = redis::cmd("ZADD")
            .arg(k("zset"))
            .arg("-inf")
            .arg("minus")
            .arg(1.5)
            .arg("one and a half")
            .arg("+inf")
            .arg("plus")
            .query(&mut c)
            .unwrap();
        let _: () = c
            .hset_multiple(k("hash"), &[("f1", "v1"), ("ü", "☃")])
            .unwrap();
        let fields: Vec<(String, String)> = (0..1000)
            .map(|i| (format!("field-{i}"), format!("value-{i}")))
            .collect();
        let _: () = c.hset_multiple(k("big-hash"), &fields).unwrap();
        let _: () = c.pexpire(k("big-hash"), 7_200_000).unwrap();
        let _: () = redis::cmd("PFADD")
            .arg(k("hll"))
            .arg(&["a", "b", "c"])
            .query(&mut c)
            .unwrap();
        for i in 0..20 {
            let _: String = redis::cmd("XADD")
                .arg(k("stream"))
                .arg("*")
                .arg("n")
                .arg(i)
                .arg("bin")
                .arg(b"\x00\xff".as_slice())
                .query(&mut c)
                .unwrap();
        }
        let _: () = redis::cmd("XGROUP")
            .arg(&["CREATE", &k("stream"), "readers", "0"])
            .query(&mut c)
            .unwrap();
        let _: () = redis::cmd("XGROUP")
            .arg(&["CREATE", &k("stream"), "latecomers", "$"])
            .query(&mut c)
            .unwrap();
        let _: redis::Value = redis::cmd("XREADGROUP")
            .arg(&[
                "GROUP",
                "readers",
                "alice",
                "COUNT",
                "5",
                "STREAMS",
                &k("stream"),
                ">",
            ])
            .query(&mut c)
            .unwrap();
    }

    /// Changes made after a backup that a restore must undo.
    pub fn mutate(&self, db: u32) {
        let mut c = self.conn(db);
        let tag = format!("db{db}");
        let _: () = c.del(format!("{tag}:hash")).unwrap();
        let _: () = c.rpush(format!("{tag}:list"), "added").unwrap();
        let _: () = c.set(format!("{tag}:added-after-backup"), "new").unwrap();
        let _: () = c.persist(format!("{tag}:ttl-string")).unwrap();
        // Another TTL value (presence unchanged), and a TTL on a key that had none.
        let _: () = c.pexpire(format!("{tag}:big-hash"), 60_000).unwrap();
        let _: () = c.pexpire(format!("{tag}:int"), 600_000).unwrap();
    }

    /// Every key's remaining TTL in `dbs`, each with the instant it was read.
    pub fn ttls(&self, dbs: &[u32]) -> Ttls {
        let mut out = BTreeMap::new();
        for &db in dbs {
            let mut c = self.conn(db);
            let keys: Vec<Vec<u8>> = redis::cmd("KEYS").arg("*").query(&mut c).unwrap();
            for key in keys {
                let pttl: i64 = redis::cmd("PTTL").arg(&key).query(&mut c).unwrap();
                let read_at = Instant::now();
                let ttl = match pttl {
                    -2 => continue, // expired or removed meanwhile
                    -1 => None,
                    ms => Some(Duration::from_millis(ms as u64)),
                };
                out.insert((db, key), (ttl, read_at));
            }
        }
        Ttls(out)
    }

    /// Every db of the server: see `db_fingerprint`.
    pub fn fingerprint(&self) -> Fingerprint {
        let mut c = self.conn(0);
        let dbs: Vec<String> = redis::cmd("CONFIG")
            .arg(&["GET", "databases"])
            .query(&mut c)
            .unwrap();
        let count: u32 = dbs.get(1).and_then(|n| n.parse().ok()).unwrap_or(16);
        let mut fp = Fingerprint::default();
        for db in 0..count {
            fp.insert(format!("db{db}"), self.db_fingerprint(db));
        }
        fp
    }

    /// One db: per key (sorted), its type, a hash of its logical content and whether it
    /// has a TTL, one key per line.
    ///
    /// Not the `DUMP` bytes: for hashtable-encoded sets and hashes they follow the dict's
    /// iteration order, which a faithful `RESTORE` does not keep (checked on 7.0: DUMP,
    /// RESTORE, DUMP gives other bytes), so content is read in a canonical order instead.
    pub fn db_fingerprint(&self, db: u32) -> String {
        let mut c = self.conn(db);
        let mut keys: Vec<Vec<u8>> = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("COUNT")
                .arg(1000)
                .query(&mut c)
                .unwrap();
            keys.extend(batch);
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        keys.sort();
        keys.dedup();
        let mut lines = Vec::new();
        for key in keys {
            let kind: String = redis::cmd("TYPE").arg(&key).query(&mut c).unwrap();
            let content = content(&mut c, &key, &kind);
            let pttl: i64 = redis::cmd("PTTL").arg(&key).query(&mut c).unwrap();
            lines.push(format!(
                "{} {kind} {} {}",
                hex::encode(&key),
                sha256_hex(content.as_bytes()),
                if pttl > 0 { "ttl" } else { "no-ttl" }
            ));
        }
        lines.join("\n")
    }
}

/// Remaining TTLs (`None`: the key does not expire) by db and key, with the instant each
/// was read.
#[derive(Debug, Clone)]
pub struct Ttls(pub BTreeMap<(u32, Vec<u8>), (Option<Duration>, Instant)>);

impl Ttls {
    /// Panics unless `after` (read after a restore of a backup taken after `self` was read)
    /// has the same keys, each key without a TTL still has none, and each TTL went on
    /// counting down from where it was: restored ≤ original, and within [`TTL_SLACK`] of
    /// the original minus the time between the two reads of that key.
    #[track_caller]
    pub fn assert_counted_down_to(&self, after: &Ttls, what: &str) {
        let mut wrong = Vec::new();
        let name = |db: &u32, key: &[u8]| format!("db {db} key {}", String::from_utf8_lossy(key));
        for ((db, key), (ttl, read_at)) in &self.0 {
            let Some((restored, restored_at)) = after.0.get(&(*db, key.clone())) else {
                wrong.push(format!("{}: missing after the restore", name(db, key)));
                continue;
            };
            match (ttl, restored) {
                (None, None) => {}
                (Some(_), None) => wrong.push(format!("{}: lost its TTL", name(db, key))),
                (None, Some(r)) => wrong.push(format!("{}: gained a TTL of {r:?}", name(db, key))),
                (Some(t), Some(r)) => {
                    let elapsed = restored_at.saturating_duration_since(*read_at);
                    let expected = t.saturating_sub(elapsed);
                    let low = expected.saturating_sub(TTL_SLACK);
                    let high = (*t).min(expected + TTL_SLACK);
                    if !(low..=high).contains(r) {
                        wrong.push(format!(
                            "{}: TTL {r:?} after the restore; it was {t:?} {elapsed:?} earlier, \
                             so between {low:?} and {high:?} was expected",
                            name(db, key)
                        ));
                    }
                }
            }
        }
        for (db, key) in after.0.keys().filter(|k| !self.0.contains_key(*k)) {
            wrong.push(format!("{}: not there before", name(db, key)));
        }
        assert!(
            wrong.is_empty(),
            "{what}: TTLs differ:\n{}",
            wrong.join("\n")
        );
    }
}

/// A key's value as canonical text: members sorted where the type has no order.
fn content(c: &mut Connection, key: &[u8], kind: &str) -> String {
    let q = |c: &mut Connection, args: &[&[u8]]| -> redis::Value {
        let mut cmd = redis::cmd(std::str::from_utf8(args[0]).unwrap());
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query(c).unwrap()
    };
    match kind {
        "string" => show(&q(c, &[b"GET", key])),
        "list" => show(&q(c, &[b"LRANGE", key, b"0", b"-1"])),
        "set" => sorted(q(c, &[b"SMEMBERS", key])),
        "zset" => show(&q(c, &[b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"])),
        "hash" => {
            let mut pairs: Vec<String> = match q(c, &[b"HGETALL", key]) {
                redis::Value::Array(items) => items
                    .chunks(2)
                    .map(|p| p.iter().map(show).collect::<Vec<_>>().join("="))
                    .collect(),
                redis::Value::Map(items) => items
                    .iter()
                    .map(|(k, v)| format!("{}={}", show(k), show(v)))
                    .collect(),
                other => vec![show(&other)],
            };
            pairs.sort();
            pairs.join(",")
        }
        "stream" => stream_content(c, key),
        other => format!("unknown type {other}"),
    }
}

/// Entries, stream metadata, groups, consumers and pending entries; no idle times.
fn stream_content(c: &mut Connection, key: &[u8]) -> String {
    let mut out = Vec::new();
    let entries: redis::Value = redis::cmd("XRANGE")
        .arg(key)
        .arg("-")
        .arg("+")
        .query(c)
        .unwrap();
    out.push(show(&entries));
    let info = pairs(redis::cmd("XINFO").arg("STREAM").arg(key).query(c).unwrap());
    for field in [
        "length",
        "last-generated-id",
        "max-deleted-entry-id",
        "entries-added",
        "recorded-first-entry-id",
    ] {
        out.push(format!(
            "{field}={}",
            info.get(field).cloned().unwrap_or_default()
        ));
    }
    let groups: Vec<redis::Value> = redis::cmd("XINFO").arg("GROUPS").arg(key).query(c).unwrap();
    for group in groups {
        let g = pairs(group);
        let name = g.get("name").cloned().unwrap_or_default();
        for field in [
            "name",
            "consumers",
            "pending",
            "last-delivered-id",
            "entries-read",
        ] {
            out.push(format!(
                "group {field}={}",
                g.get(field).cloned().unwrap_or_default()
            ));
        }
        let consumers: Vec<redis::Value> = redis::cmd("XINFO")
            .arg("CONSUMERS")
            .arg(key)
            .arg(&name)
            .query(c)
            .unwrap();
        for consumer in consumers {
            let m = pairs(consumer);
            out.push(format!(
                "consumer {}={}",
                m.get("name").cloned().unwrap_or_default(),
                m.get("pending").cloned().unwrap_or_default()
            ));
        }
        let pending: Vec<Vec<redis::Value>> = redis::cmd("XPENDING")
            .arg(key)
            .arg(&name)
            .arg("-")
            .arg("+")
            .arg(10_000)
            .query(c)
            .unwrap();
        for p in pending {
            // id, consumer, idle ms (varies), delivery count
            out.push(format!(
                "pending {} {} {}",
                p.first().map(show).unwrap_or_default(),
                p.get(1).map(show).unwrap_or_default(),
                p.get(3).map(show).unwrap_or_default()
            ));
        }
    }
    out.join("\n")
}

/// A RESP map or flat key/value array as field → shown value.
fn pairs(v: redis::Value) -> std::collections::BTreeMap<String, String> {
    match v {
        redis::Value::Array(items) => items
            .chunks(2)
            .filter(|p| p.len() == 2)
            .map(|p| (show(&p[0]), show(&p[1])))
            .collect(),
        redis::Value::Map(items) => items.iter().map(|(k, v)| (show(k), show(v))).collect(),
        _ => Default::default(),
    }
}

fn sorted(v: redis::Value) -> String {
    let mut items: Vec<String> = match v {
        redis::Value::Array(items) | redis::Value::Set(items) => items.iter().map(show).collect(),
        other => vec![show(&other)],
    };
    items.sort();
    items.join(",")
}

/// Lossless text of a reply: bulk strings as hex, arrays bracketed.
fn show(v: &redis::Value) -> String {
    match v {
        redis::Value::Nil => "nil".into(),
        redis::Value::Int(i) => i.to_string(),
        redis::Value::BulkString(b) => match std::str::from_utf8(b) {
            Ok(s) if s.chars().all(|ch| !ch.is_control()) => s.to_string(),
            _ => format!("0x{}", hex::encode(b)),
        },
        redis::Value::SimpleString(s) => s.clone(),
        redis::Value::Okay => "OK".into(),
        redis::Value::Array(items) | redis::Value::Set(items) => {
            format!("[{}]", items.iter().map(show).collect::<Vec<_>>().join(","))
        }
        redis::Value::Map(items) => format!(
            "{{{}}}",
            items
                .iter()
                .map(|(k, v)| format!("{}:{}", show(k), show(v)))
                .collect::<Vec<_>>()
                .join(",")
        ),
        redis::Value::Double(d) => d.to_string(),
        other => format!("{other:?}"),
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
