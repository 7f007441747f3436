//! The measurements of each engine: bare pipeline and cairn alternating, `runs` times each.

use crate::cairn::Up;
use crate::datasets::Dataset;
use crate::measure::Timed;
use crate::shell::{file_size, sh, timed, WorkDir, MY, PG, REDIS};
use anyhow::{ensure, Result};

/// Timings of one operation: the bare pipeline(s) and cairn.
#[derive(Debug, Default)]
pub struct Compare {
    /// Each bare pipeline by its label, in order; the fastest median is the reference.
    pub bare: Vec<(String, Vec<Timed>)>,
    pub cairn: Vec<Timed>,
    /// Bytes cairn's server wrote to local disk besides the artifact, the most of any run.
    pub cairn_disk: u64,
}

/// What was measured for one engine.
#[derive(Debug)]
pub struct EngineResult {
    pub engine: &'static str,
    pub dataset: String,
    /// Size on disk (bytes) or keys (Redis).
    pub size: u64,
    pub backup: Compare,
    pub restore: Compare,
    pub stored_bare: u64,
    pub stored_cairn: u64,
    /// Redis: the number of keys, for keys/s.
    pub keys: Option<u64>,
}

fn checkpoint() -> Result<()> {
    sh(&format!("{PG} psql -X -q -d postgres -c checkpoint"))?;
    Ok(())
}

/// Runs a cairn job, checks it left nothing on local disk but the artifact, and records it.
fn cairn_job(up: &Up, into: &mut Compare, args: &[&str], artifact: u64) -> Result<()> {
    let (t, written) = up.timed(args)?;
    into.cairn.push(t);
    into.cairn_disk = into.cairn_disk.max(written.saturating_sub(artifact));
    Ok(())
}

fn push(c: &mut Compare, label: &str, t: Timed) {
    match c.bare.iter_mut().find(|(l, _)| l == label) {
        Some((_, v)) => v.push(t),
        None => c.bare.push((label.to_string(), vec![t])),
    }
}

pub fn postgres(up: &Up, work: &WorkDir, ds: &Dataset, runs: usize) -> Result<EngineResult> {
    let pg_db = ds.db.as_str();
    let target = "bench-pg";
    up.target(target, &ds.url)?;
    let zst = work.file("pg.sql.zst");
    let custom = work.file("pg.dump");
    let bare_db = format!("{pg_db}_bare");
    let mut backup = Compare::default();
    let mut stored_cairn = 0;
    for _ in 0..runs {
        checkpoint()?;
        let t = timed(&format!(
            "{PG} pg_dump -d {pg_db} | zstd -3 -T0 -q -f -o {zst}"
        ))?;
        push(&mut backup, "pg_dump | zstd -3 -T0", t);
        checkpoint()?;
        let (t, written) = up.timed(&["backup", target, "--wait"])?;
        stored_cairn = up.latest_stored_bytes(target)?;
        backup.cairn.push(t);
        backup.cairn_disk = backup.cairn_disk.max(written.saturating_sub(stored_cairn));
    }
    // The custom-format file pg_restore -j2 reads (not timed).
    sh(&format!("{PG} pg_dump -Fc -d {pg_db} -f {custom}"))?;
    let fresh = || {
        sh(&format!(
            "{PG} psql -X -q -d postgres -c 'DROP DATABASE IF EXISTS {bare_db}' -c 'CREATE DATABASE {bare_db}' -c checkpoint"
        ))
    };
    let before = rows(pg_db)?;
    let mut restore = Compare::default();
    for _ in 0..runs {
        fresh()?;
        let t = timed(&format!(
            "zstd -dc -q {zst} | {PG} psql -X -q -v ON_ERROR_STOP=1 -d {bare_db} >/dev/null"
        ))?;
        push(&mut restore, "zstd -dc | psql", t);
        fresh()?;
        let t = timed(&format!("{PG} pg_restore -j2 -d {bare_db} {custom}"))?;
        push(&mut restore, "pg_restore -j2", t);
        checkpoint()?;
        cairn_job(
            up,
            &mut restore,
            &["restore", target, "--backup", "latest", "--yes", "--wait"],
            0,
        )?;
        // cairn drops the replaced copy after the job: let that finish before the next
        // measurement, so that it slows neither side.
        wait_replaced_dropped(pg_db)?;
    }
    sh(&format!(
        "{PG} psql -X -q -d postgres -c 'DROP DATABASE IF EXISTS {bare_db}'"
    ))?;
    ensure!(
        rows(pg_db)? == before,
        "the restored {pg_db} does not hold the rows it had"
    );
    Ok(EngineResult {
        engine: "postgres",
        dataset: ds.description.clone(),
        size: ds.size,
        backup,
        restore,
        stored_bare: file_size(&zst)?,
        stored_cairn,
        keys: None,
    })
}

/// Polls (up to 10 minutes) until no database replaced by a cairn restore is left.
fn wait_replaced_dropped(pg_db: &str) -> Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    loop {
        let left = sh(&format!(
            "{PG} psql -X -A -t -d postgres -c \"SELECT count(*) FROM pg_database WHERE datname LIKE '{pg_db}\\_cairn\\_restore\\_%\\_old'\""
        ))?;
        if left == "0" {
            return Ok(());
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "the database the restore replaced was not dropped in 10 minutes"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// Row counts of the PostgreSQL dataset's tables, as one string.
fn rows(db: &str) -> Result<String> {
    sh(&format!(
        "{PG} psql -X -A -t -d {db} -c 'SELECT (SELECT count(*) FROM pgbench_accounts), (SELECT count(*) FROM docs), (SELECT sum(length(blob)) FROM docs)'"
    ))
}

const MY_DUMP_ARGS: &str = "--single-transaction --routines --triggers --events --hex-blob \
    --default-character-set=utf8mb4 --max-allowed-packet=1073741824 --quick --skip-dump-date --no-tablespaces";

pub fn mysql(up: &Up, work: &WorkDir, ds: &Dataset, runs: usize) -> Result<EngineResult> {
    let my_db = ds.db.as_str();
    let target = "bench-mysql";
    up.target(target, &ds.url)?;
    let zst = work.file("my.sql.zst");
    let bare_db = format!("{my_db}_bare");
    let mut backup = Compare::default();
    let mut stored_cairn = 0;
    for _ in 0..runs {
        let t = timed(&format!(
            "mariadb-dump -h 127.0.0.1 -u root {MY_DUMP_ARGS} {my_db} | zstd -3 -T0 -q -f -o {zst}"
        ))?;
        push(&mut backup, "mariadb-dump | zstd -3 -T0", t);
        let (t, written) = up.timed(&["backup", target, "--wait"])?;
        stored_cairn = up.latest_stored_bytes(target)?;
        backup.cairn.push(t);
        backup.cairn_disk = backup.cairn_disk.max(written.saturating_sub(stored_cairn));
    }
    let count = |db: &str| {
        sh(&format!(
            "{MY} -N -B {db} -e 'SELECT COUNT(*), SUM(LENGTH(body)) FROM orders'"
        ))
    };
    let before = count(my_db)?;
    let mut restore = Compare::default();
    for _ in 0..runs {
        sh(&format!(
            "{MY} -e 'DROP DATABASE IF EXISTS {bare_db}; CREATE DATABASE {bare_db}'"
        ))?;
        let t = timed(&format!("zstd -dc -q {zst} | {MY} {bare_db}"))?;
        push(&mut restore, "zstd -dc | mariadb", t);
        cairn_job(
            up,
            &mut restore,
            &["restore", target, "--backup", "latest", "--yes", "--wait"],
            0,
        )?;
    }
    ensure!(count(&bare_db)? == before, "the bare restore lost rows");
    sh(&format!("{MY} -e 'DROP DATABASE IF EXISTS {bare_db}'"))?;
    ensure!(count(my_db)? == before, "the restored {my_db} lost rows");
    Ok(EngineResult {
        engine: "mariadb",
        dataset: ds.description.clone(),
        size: ds.size,
        backup,
        restore,
        stored_bare: file_size(&zst)?,
        stored_cairn,
        keys: None,
    })
}

pub fn redis(up: &Up, work: &WorkDir, ds: &Dataset, runs: usize) -> Result<EngineResult> {
    let redis_db: u32 = ds.db.parse()?;
    let target = "bench-redis";
    up.target(target, &ds.url)?;
    let rdb = work.file("dump.rdb");
    let commands = ds.commands.clone().unwrap_or_default();
    let bare_db = redis_db + 1;
    let mut backup = Compare::default();
    let mut stored_cairn = 0;
    for _ in 0..runs {
        let t = timed(&format!("{REDIS} --rdb {rdb} >/dev/null"))?;
        push(&mut backup, "redis-cli --rdb", t);
        let (t, written) = up.timed(&["backup", target, "--wait"])?;
        stored_cairn = up.latest_stored_bytes(target)?;
        backup.cairn.push(t);
        backup.cairn_disk = backup.cairn_disk.max(written.saturating_sub(stored_cairn));
    }
    let mut restore = Compare::default();
    for _ in 0..runs {
        sh(&format!("{REDIS} -n {bare_db} FLUSHDB >/dev/null"))?;
        let t = timed(&format!(
            "{REDIS} -n {bare_db} --pipe < {commands} >/dev/null"
        ))?;
        push(&mut restore, "redis-cli --pipe (writes)", t);
        cairn_job(
            up,
            &mut restore,
            &["restore", target, "--backup", "latest", "--yes", "--wait"],
            0,
        )?;
    }
    sh(&format!("{REDIS} -n {bare_db} FLUSHDB >/dev/null"))?;
    let keys: u64 = sh(&format!("{REDIS} -n {redis_db} DBSIZE"))?.parse()?;
    ensure!(
        keys == ds.size,
        "the restored db {redis_db} holds {keys} keys, not {}",
        ds.size
    );
    Ok(EngineResult {
        engine: "redis",
        dataset: ds.description.clone(),
        size: ds.size,
        backup,
        restore,
        stored_bare: file_size(&rdb)?,
        stored_cairn,
        keys: Some(ds.size),
    })
}
