//! 300 MB of incompressible data go through compress while this process's resident memory
//! is sampled: the pipeline's buffers (channels, parts in flight, zstd's own) must stay
//! small whatever the dump's size. One test per binary, so no other test shares the RSS.

mod common;

use bytes::Bytes;
use cairn_storage::pipeline;
use common::*;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOTAL: usize = 300 * 1000 * 1000;
const POOL: usize = 64 * 1024 * 1024;
const LIMIT_MIB: u64 = 96;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressing_300_mb_keeps_memory_bounded() {
    let t = test_store();
    let target = target("big");
    let manifest = manifest_for(
        &target,
        chrono::Utc::now(),
        &pipeline::Stored {
            size_bytes: 0,
            stored_bytes: 0,
            sha256: String::new(),
            encryption: None,
        },
    );
    // Random bytes, cycled: the pool is far bigger than zstd's window at level 3, so the
    // stream stays incompressible. Generated before the baseline is taken.
    let pool = Bytes::from(random(POOL, 42));
    let chunks: Vec<Bytes> = (0..TOTAL)
        .step_by(CHUNK)
        .map(|at| {
            let start = at % POOL;
            let len = CHUNK.min(TOTAL - at).min(POOL - start);
            pool.slice(start..start + len)
        })
        .collect();
    let total: usize = chunks.iter().map(|c| c.len()).sum();

    let baseline = rss_kib();
    let peak = Arc::new(AtomicU64::new(baseline));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, stop) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };

    let started = Instant::now();
    let upload = compress_into(
        &t.store,
        &target,
        &manifest.id,
        chunks,
        Arc::new(pipeline::NoProgress),
    )
    .await;
    let compress_secs = started.elapsed().as_secs_f64();
    let stored = upload.finish().await.unwrap();
    let with_finish_secs = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();

    assert_eq!(stored.size_bytes, total as u64);
    assert!(
        stored.stored_bytes >= total as u64,
        "random data does not shrink"
    );
    let growth_mib = peak.load(Ordering::Relaxed).saturating_sub(baseline) / 1024;
    eprintln!(
        "incompressible: {} MB in {compress_secs:.2} s = {:.0} MB/s compress ({:.0} MB/s including finish/fsync); peak RSS growth {growth_mib} MiB",
        total / 1_000_000,
        total as f64 / 1e6 / compress_secs,
        total as f64 / 1e6 / with_finish_secs,
    );
    assert!(
        growth_mib < LIMIT_MIB,
        "peak RSS grew by {growth_mib} MiB (limit {LIMIT_MIB} MiB)"
    );
}
