//! Throughput of the pipeline on compressible data (SQL-dump-like rows), printed for the
//! record: compress into storage, then read back and decompress.

mod common;

use bytes::Bytes;
use cairn_storage::pipeline;
use common::*;
use std::sync::Arc;
use std::time::Instant;

const TOTAL: usize = 128 * 1024 * 1024;
const POOL: usize = 32 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressible_throughput() {
    let t = test_store();
    let target = target("rows");
    let mut manifest = manifest_for(
        &target,
        chrono::Utc::now(),
        &pipeline::Stored {
            size_bytes: 0,
            stored_bytes: 0,
            sha256: String::new(),
            encryption: None,
        },
    );
    let pool = Bytes::from(compressible(POOL, 5));
    let chunks: Vec<Bytes> = (0..TOTAL)
        .step_by(CHUNK)
        .map(|at| pool.slice(at % POOL..at % POOL + CHUNK))
        .collect();

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
    assert_eq!(stored.size_bytes, TOTAL as u64);
    manifest.size_bytes = stored.size_bytes;
    manifest.stored_bytes = stored.stored_bytes;
    manifest.sha256 = stored.sha256.clone();
    t.store.write_manifest(&manifest).await.unwrap();

    let started = Instant::now();
    t.store.verify(&manifest).await.unwrap();
    let verify_secs = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let stored_stream = t.store.read_artifact(&manifest).await.unwrap();
    let mut rx = pipeline::decompress(stored_stream, Arc::new(pipeline::NoProgress));
    let mut raw = 0usize;
    while let Some(chunk) = rx.recv().await {
        let chunk = chunk.unwrap();
        assert!(chunk[..] == pool[raw % POOL..raw % POOL + chunk.len()]);
        raw += chunk.len();
    }
    let decompress_secs = started.elapsed().as_secs_f64();
    assert_eq!(raw, TOTAL);

    let mb = TOTAL as f64 / 1e6;
    eprintln!(
        "compressible: {mb:.0} MB -> {:.1} MB (ratio {:.2}); compress {:.0} MB/s, verify {:.0} MB/s (stored), decompress {:.0} MB/s (raw)",
        stored.stored_bytes as f64 / 1e6,
        TOTAL as f64 / stored.stored_bytes as f64,
        mb / compress_secs,
        stored.stored_bytes as f64 / 1e6 / verify_secs,
        mb / decompress_secs,
    );
}
