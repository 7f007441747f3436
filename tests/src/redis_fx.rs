//! Redis fixtures: a private `redis-server` on a free port (killed on drop), an awkward
//! data set of every type, and the fingerprint (keys, types, DUMP hashes, TTL presence).

use crate::fingerprint::Fingerprint;
use crate::util::{free_port, poll, sha256_hex};
use redis::{Commands, Connection};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `redis-server` of this test alone, so whole-server restores (FLUSHALL) touch
/// nothing else.
pub struct RedisServer {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
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
            child,
            _dir: dir,
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
    }

    /// Every db of the server: sorted keys with type, DUMP sha256 and whether a TTL is set.
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

    /// One db's keys with type, DUMP sha256 and TTL presence, one per line, sorted.
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
            let dump: Vec<u8> = redis::cmd("DUMP").arg(&key).query(&mut c).unwrap();
            let pttl: i64 = redis::cmd("PTTL").arg(&key).query(&mut c).unwrap();
            lines.push(format!(
                "{} {kind} {} {}",
                hex::encode(&key),
                sha256_hex(&dump),
                if pttl > 0 { "ttl" } else { "no-ttl" }
            ));
        }
        lines.join("\n")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
