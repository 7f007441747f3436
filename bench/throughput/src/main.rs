//! cairn's throughput benchmark: backup and restore of PostgreSQL, MariaDB and Redis
//! through a real `cairn up` (ledger, storage, workers) against the bare tool pipelines
//! an operator would otherwise write, alternating in one run, with medians, peak memory,
//! stored bytes and local disk written. See bench/README.md.

mod cairn;
mod datasets;
mod measure;
mod report;
mod runs;
mod shell;

use anyhow::Result;
use clap::{Parser, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Which {
    All,
    Pg,
    Mysql,
    Redis,
}

/// Benchmarks cairn's backup and restore against the bare tool pipelines.
#[derive(Debug, Parser)]
#[command(name = "cairn-bench")]
struct Args {
    /// Which engines to measure.
    #[arg(value_enum, default_value = "all")]
    which: Which,
    /// Size of the PostgreSQL dataset in GB (on disk, approximately).
    #[arg(long, default_value_t = 1.0)]
    pg_gb: f64,
    /// Size of the MariaDB dataset in MB (on disk, approximately).
    #[arg(long, default_value_t = 350)]
    my_mb: u64,
    /// Number of Redis keys.
    #[arg(long, default_value_t = 600_000)]
    redis_keys: u64,
    /// Runs of each measurement (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Tiny datasets and one run each: checks that the benchmark works, in seconds.
    #[arg(long)]
    smoke: bool,
    /// Generate the datasets (when missing) and stop.
    #[arg(long)]
    generate_only: bool,
    /// The cairn binary (default: built now, next to this benchmark's own binary).
    #[arg(long)]
    cairn: Option<std::path::PathBuf>,
}

fn main() -> Result<()> {
    let mut args = Args::parse();
    if args.smoke {
        args.pg_gb = 0.0;
        args.my_mb = 0;
        args.redis_keys = 2_000;
        args.runs = 1;
    }
    anyhow::ensure!(args.runs >= 1, "--runs must be at least 1");
    let sizes = datasets::Sizes::new(args.pg_gb, args.my_mb, args.redis_keys, args.smoke);
    let run = |w: Which| args.which == Which::All || args.which == w;
    if args.generate_only {
        let work = shell::WorkDir::new()?;
        if run(Which::Pg) {
            datasets::postgres(&sizes)?;
        }
        if run(Which::Mysql) {
            datasets::mysql(&sizes)?;
        }
        if run(Which::Redis) {
            datasets::redis(&sizes, &work)?;
        }
        return Ok(());
    }
    let bin = cairn::binary(args.cairn.clone())?;
    let load_before = measure::loadavg();
    let mut results = Vec::new();
    let work = shell::WorkDir::new()?;
    let up = cairn::Up::start(&bin, &work)?;
    if run(Which::Pg) {
        let ds = datasets::postgres(&sizes)?;
        results.push(runs::postgres(&up, &work, &ds, args.runs)?);
    }
    if run(Which::Mysql) {
        let ds = datasets::mysql(&sizes)?;
        results.push(runs::mysql(&up, &work, &ds, args.runs)?);
    }
    if run(Which::Redis) {
        let ds = datasets::redis(&sizes, &work)?;
        results.push(runs::redis(&up, &work, &ds, args.runs)?);
    }
    let hwm = up.hwm_kib();
    drop(up);
    let load_after = measure::loadavg();
    report::print(&results, hwm, &load_before, &load_after, args.runs);
    Ok(())
}
