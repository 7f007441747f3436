//! The benchmark's datasets, generated reproducibly (fixed seeds, deterministic hashes)
//! into databases of their own, and skipped when a marker says they are already there
//! with the same parameters: PostgreSQL `cairn_bench_pg`, MariaDB `cairn_bench_my`,
//! Redis db 14 (bare restores into db 15); the smoke run's have names of their own
//! (`…_smoke`, Redis db 12 and 13), so it never replaces the full datasets. Never
//! anything the test suites use.
//!
//! The data is not all blanks: besides pgbench's tables (whose filler compresses ~100×)
//! there are rows of text drawn from a vocabulary, jsonb, and random bytes, so the dump
//! compresses about as much as business data does.

use crate::shell::{sh, MY, PG, REDIS};
use anyhow::{Context, Result};

/// Dataset sizes derived from the flags.
#[derive(Debug, Clone)]
pub struct Sizes {
    pg_db: &'static str,
    my_db: &'static str,
    redis_db: u32,
    pgbench_scale: u64,
    pg_docs: u64,
    my_rows: u64,
    redis_keys: u64,
}

impl Sizes {
    pub fn new(pg_gb: f64, my_mb: u64, redis_keys: u64, smoke: bool) -> Self {
        if smoke {
            return Self {
                pg_db: "cairn_bench_pg_smoke",
                my_db: "cairn_bench_my_smoke",
                redis_db: 12,
                pgbench_scale: 1,
                pg_docs: 5_000,
                my_rows: 5_000,
                redis_keys,
            };
        }
        // Per GB on disk: pgbench scale 20 (≈300 MB, most of it blank filler) and 1.2 M
        // rows of documents (≈700 MB with their index). MariaDB: ≈3,400 rows per MB.
        Self {
            pg_db: "cairn_bench_pg",
            my_db: "cairn_bench_my",
            redis_db: 14,
            pgbench_scale: ((pg_gb * 20.0).round() as u64).max(1),
            pg_docs: ((pg_gb * 1_200_000.0) as u64).max(1_000),
            my_rows: (my_mb * 3_400).max(1_000),
            redis_keys,
        }
    }
}

/// A generated dataset: where it is and how big.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub url: String,
    /// The database's name, or the Redis db number.
    pub db: String,
    /// On-disk size (PostgreSQL, MariaDB) or number of keys (Redis).
    pub size: u64,
    pub description: String,
    /// Redis only: the file of commands that recreates the data (`redis-cli --pipe`).
    pub commands: Option<String>,
}

const WORDS: [&str; 64] = [
    "order",
    "customer",
    "invoice",
    "shipped",
    "pending",
    "refund",
    "delivery",
    "warehouse",
    "account",
    "payment",
    "credit",
    "debit",
    "balance",
    "item",
    "quantity",
    "price",
    "total",
    "discount",
    "coupon",
    "address",
    "street",
    "city",
    "country",
    "postal",
    "phone",
    "email",
    "status",
    "priority",
    "express",
    "standard",
    "return",
    "exchange",
    "supplier",
    "product",
    "category",
    "stock",
    "batch",
    "serial",
    "warranty",
    "service",
    "ticket",
    "resolved",
    "opened",
    "closed",
    "note",
    "comment",
    "review",
    "rating",
    "tea",
    "coffee",
    "paper",
    "chair",
    "table",
    "lamp",
    "cable",
    "screen",
    "keyboard",
    "window",
    "door",
    "garden",
    "kitchen",
    "monday",
    "friday",
    "weekend",
];

fn psql(db: &str, sql: &str) -> Result<String> {
    sh(&format!(
        "{PG} psql -X -q -A -t -v ON_ERROR_STOP=1 -d {db} <<'CAIRN_SQL'\n{sql}\nCAIRN_SQL"
    ))
}

pub fn postgres(s: &Sizes) -> Result<Dataset> {
    let pg_db = s.pg_db;
    let params = format!("v1 scale={} docs={}", s.pgbench_scale, s.pg_docs);
    let exists = psql(
        "postgres",
        &format!("SELECT 1 FROM pg_database WHERE datname = '{pg_db}'"),
    )? == "1";
    let marker = if exists {
        psql(pg_db, "SELECT params FROM cairn_bench_meta").unwrap_or_default()
    } else {
        String::new()
    };
    if marker != params {
        eprintln!("generating PostgreSQL dataset ({params}) in {pg_db}");
        psql(
            "postgres",
            &format!("DROP DATABASE IF EXISTS {pg_db} WITH (FORCE);\nCREATE DATABASE {pg_db};"),
        )?;
        sh(&format!(
            "{PG} pgbench -i -q -s {} {pg_db} >/dev/null 2>&1",
            s.pgbench_scale
        ))?;
        let words = WORDS
            .iter()
            .map(|w| format!("'{w}'"))
            .collect::<Vec<_>>()
            .join(",");
        psql(
            pg_db,
            &format!(
                "SET max_parallel_workers_per_gather = 0;
SELECT setseed(0.42);
CREATE TABLE docs (id bigint PRIMARY KEY, title text NOT NULL, body text NOT NULL,
                   meta jsonb NOT NULL, blob bytea NOT NULL, created timestamptz NOT NULL);
INSERT INTO docs
SELECT g,
       'doc ' || substr(md5(random()::text), 1, 12),
       array_to_string(ARRAY(SELECT (ARRAY[{words}])[1 + floor(random() * 64)::int]
                             FROM generate_series(1, 20 + (g % 40))), ' '),
       jsonb_build_object('n', g, 'score', round(random()::numeric, 6),
                          'tags', jsonb_build_array(substr(md5(random()::text), 1, 8),
                                                    substr(md5(random()::text), 1, 8)),
                          'paid', random() < 0.5),
       decode(md5(random()::text) || md5(random()::text), 'hex'),
       timestamptz '2024-01-01' + random() * interval '700 days'
FROM generate_series(1, {docs}) AS g;
ANALYZE;
CREATE TABLE cairn_bench_meta (params text);
INSERT INTO cairn_bench_meta VALUES ('{params}');",
                docs = s.pg_docs
            ),
        )?;
    }
    let size: u64 = psql("postgres", &format!("SELECT pg_database_size('{pg_db}')"))?
        .parse()
        .context("pg_database_size")?;
    Ok(Dataset {
        url: format!("postgres://postgres@127.0.0.1:5432/{pg_db}"),
        db: pg_db.to_string(),
        size,
        description: format!(
            "PostgreSQL {pg_db}: pgbench scale {} + {} documents (text, jsonb, bytea)",
            s.pgbench_scale, s.pg_docs
        ),
        commands: None,
    })
}

fn mariadb(db: Option<&str>, sql: &str) -> Result<String> {
    sh(&format!(
        "{MY} -N -B {} <<'CAIRN_SQL'\n{sql}\nCAIRN_SQL",
        db.unwrap_or("")
    ))
}

pub fn mysql(s: &Sizes) -> Result<Dataset> {
    let my_db = s.my_db;
    let params = format!("v1 rows={}", s.my_rows);
    let marker = mariadb(Some(my_db), "SELECT params FROM cairn_bench_meta").unwrap_or_default();
    if marker != params {
        eprintln!("generating MariaDB dataset ({params}) in {my_db}");
        mariadb(
            None,
            &format!("DROP DATABASE IF EXISTS {my_db}; CREATE DATABASE {my_db};"),
        )?;
        // One word per byte of two MD5s of the row number: deterministic, and text that
        // compresses like text.
        let words = WORDS
            .iter()
            .map(|w| format!("'{w}'"))
            .collect::<Vec<_>>()
            .join(",");
        let body = (0..32)
            .map(|k| {
                let (h, at) = if k < 16 { ("h1", k) } else { ("h2", k - 16) };
                format!(
                    "ELT(1 + CONV(SUBSTR({h}, {}, 2), 16, 10) % 64, {words})",
                    at * 2 + 1
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        mariadb(
            Some(my_db),
            "CREATE TABLE orders (id INT PRIMARY KEY, customer VARCHAR(64) NOT NULL,
                body TEXT NOT NULL, amount DECIMAL(12,2) NOT NULL, created DATETIME NOT NULL,
                payload VARBINARY(32) NOT NULL, KEY (customer)) ENGINE=InnoDB;
             CREATE TABLE cairn_bench_meta (params TEXT);",
        )?;
        let batch = 200_000;
        let mut from = 1;
        while from <= s.my_rows {
            let to = (from + batch - 1).min(s.my_rows);
            mariadb(
                Some(my_db),
                &format!(
                    "INSERT INTO orders
SELECT seq, CONCAT('customer-', SUBSTR(h1, 1, 6)), CONCAT_WS(' ', {body}),
       CONV(SUBSTR(h2, 1, 6), 16, 10) / 100, '2024-01-01' + INTERVAL CONV(SUBSTR(h2, 7, 5), 16, 10) MINUTE,
       UNHEX(CONCAT(h1, h2))
FROM (SELECT seq, MD5(seq) AS h1, MD5(CONCAT('b', seq)) AS h2 FROM seq_{from}_to_{to}) AS s;"
                ),
            )?;
            from = to + 1;
        }
        mariadb(
            Some(my_db),
            &format!("INSERT INTO cairn_bench_meta VALUES ('{params}'); ANALYZE TABLE orders;"),
        )?;
    }
    let size: u64 = mariadb(
        None,
        &format!(
            "SELECT SUM(data_length + index_length) FROM information_schema.tables WHERE table_schema = '{my_db}'"
        ),
    )?
    .parse()
    .context("MariaDB size")?;
    Ok(Dataset {
        url: format!("mysql://root@127.0.0.1:3306/{my_db}"),
        db: my_db.to_string(),
        size,
        description: format!("MariaDB {my_db}: {} orders rows", s.my_rows),
        commands: None,
    })
}

/// Redis: `keys` keys of mixed types (half strings, the rest hashes, lists, sets and
/// sorted sets of 5 elements), a tenth with a TTL, from a fixed-seed generator. The
/// commands are also kept in a file for the bare restore (`redis-cli --pipe`).
pub fn redis(s: &Sizes, work: &crate::shell::WorkDir) -> Result<Dataset> {
    let redis_db = s.redis_db;
    let params = format!("v1 keys={}", s.redis_keys);
    let file = work.file("redis-commands.resp");
    write_redis_commands(&file, s.redis_keys)?;
    let marker = sh(&format!("{REDIS} -n {redis_db} GET cairn-bench:meta"))?;
    let count: u64 = sh(&format!("{REDIS} -n {redis_db} DBSIZE"))?.parse()?;
    if marker != params || count != s.redis_keys + 1 {
        eprintln!("generating Redis dataset ({params}) in db {redis_db}");
        sh(&format!("{REDIS} -n {redis_db} FLUSHDB >/dev/null"))?;
        sh(&format!("{REDIS} -n {redis_db} --pipe < {file} >/dev/null"))?;
        sh(&format!(
            "{REDIS} -n {redis_db} SET cairn-bench:meta '{params}' >/dev/null"
        ))?;
    }
    Ok(Dataset {
        url: format!("redis://127.0.0.1:6379/{redis_db}"),
        db: redis_db.to_string(),
        size: s.redis_keys + 1,
        description: format!("Redis db {redis_db}: {} keys of mixed types", s.redis_keys),
        commands: Some(file),
    })
}

fn write_redis_commands(path: &str, keys: u64) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let cmd = |out: &mut dyn Write, args: &[&[u8]]| -> std::io::Result<()> {
        write!(out, "*{}\r\n", args.len())?;
        for a in args {
            write!(out, "${}\r\n", a.len())?;
            out.write_all(a)?;
            out.write_all(b"\r\n")?;
        }
        Ok(())
    };
    for i in 0..keys {
        let key = format!("bench:{i}");
        let kind = rng.next() % 10;
        let word = |r: &mut XorShift| WORDS[(r.next() % 64) as usize].as_bytes().to_vec();
        let hex = |r: &mut XorShift| format!("{:016x}{:016x}", r.next(), r.next()).into_bytes();
        match kind {
            0..=4 => {
                let mut value = Vec::new();
                for _ in 0..(4 + rng.next() % 12) {
                    value.extend(word(&mut rng));
                    value.push(b' ');
                }
                value.extend(hex(&mut rng));
                cmd(&mut out, &[b"SET", key.as_bytes(), &value])?;
            }
            5 | 6 => {
                let mut args: Vec<Vec<u8>> = vec![b"HSET".to_vec(), key.clone().into_bytes()];
                for f in 0..5 {
                    args.push(format!("field{f}").into_bytes());
                    args.push(if f % 2 == 0 {
                        word(&mut rng)
                    } else {
                        hex(&mut rng)
                    });
                }
                let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
                cmd(&mut out, &refs)?;
            }
            7 => {
                let mut args: Vec<Vec<u8>> = vec![b"RPUSH".to_vec(), key.clone().into_bytes()];
                args.extend((0..5).map(|_| word(&mut rng)));
                let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
                cmd(&mut out, &refs)?;
            }
            8 => {
                let mut args: Vec<Vec<u8>> = vec![b"SADD".to_vec(), key.clone().into_bytes()];
                args.extend((0..5).map(|_| hex(&mut rng)));
                let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
                cmd(&mut out, &refs)?;
            }
            _ => {
                let mut args: Vec<Vec<u8>> = vec![b"ZADD".to_vec(), key.clone().into_bytes()];
                for _ in 0..5 {
                    args.push((rng.next() % 100_000).to_string().into_bytes());
                    args.push(word(&mut rng));
                }
                let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
                cmd(&mut out, &refs)?;
            }
        }
        if i % 10 == 3 {
            let ttl = (86_400 * 30 + i).to_string();
            cmd(&mut out, &[b"EXPIRE", key.as_bytes(), ttl.as_bytes()])?;
        }
    }
    out.flush()?;
    Ok(())
}

/// xorshift64: a fixed, dependency-free sequence.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}
