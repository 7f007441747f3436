//! Shared harness for the storage tests: a store in a temp dir, test data, and a helper that
//! stores a whole backup the way the dump worker does.
#![allow(dead_code)]

use bytes::Bytes;
use cairn_domain::{BackupId, Engine, JobId, Manifest, Scope, TargetName};
use cairn_storage::pipeline::{self, ProgressSink};
use cairn_storage::ArtifactStore;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

pub const CHUNK: usize = 256 * 1024;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub struct TestStore {
    pub store: ArtifactStore,
    pub root: PathBuf,
    _dir: tempfile::TempDir,
}

pub fn test_store() -> TestStore {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("storage");
    let store = ArtifactStore::local(&root).unwrap();
    TestStore {
        store,
        root,
        _dir: dir,
    }
}

pub fn target(name: &str) -> TargetName {
    TargetName::parse(name).unwrap()
}

/// Counts what the pipeline reports.
#[derive(Default)]
pub struct Counter {
    pub raw: AtomicU64,
    pub stored: AtomicU64,
}

impl ProgressSink for Counter {
    fn raw(&self, n: u64) {
        self.raw.fetch_add(n, Ordering::Relaxed);
    }
    fn stored(&self, n: u64) {
        self.stored.fetch_add(n, Ordering::Relaxed);
    }
}

/// A small fast PRNG, so the tests need no extra dependency.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// Pseudo-random but compressible: tab-separated rows like a plain SQL dump's COPY data.
pub fn compressible(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = XorShift(seed | 1);
    let mut out = Vec::with_capacity(len + 128);
    let mut row = 0u64;
    while out.len() < len {
        let r = rng.next();
        out.extend_from_slice(
            format!(
                "{row}\torder-{:06}\tcustomer {}\t{}.{:02}\t2026-11-{:02}\n",
                r % 1_000_000,
                (r >> 20) % 5000,
                (r >> 32) % 10_000,
                (r >> 48) % 100,
                1 + (r >> 56) % 28
            )
            .as_bytes(),
        );
        row += 1;
    }
    out.truncate(len);
    out
}

/// Incompressible bytes.
pub fn random(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = XorShift(seed | 1);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        out.extend_from_slice(&rng.next().to_le_bytes());
    }
    out.truncate(len);
    out
}

/// `data` cut into `CHUNK`-sized pieces (zero-copy).
pub fn chunks_of(data: &Bytes) -> Vec<Bytes> {
    (0..data.len())
        .step_by(CHUNK)
        .map(|at| data.slice(at..(at + CHUNK).min(data.len())))
        .collect()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

pub fn manifest_for(
    target: &TargetName,
    created_at: DateTime<Utc>,
    stored: &pipeline::Stored,
) -> Manifest {
    // Not JobId::new_random(): a v7 id's first 8 hex digits (the short id in folder
    // names) are its timestamp, so ids drawn within a minute share them.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut rng = XorShift(seed ^ NEXT_ID.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed) | 1);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&rng.next().to_le_bytes());
    bytes[8..].copy_from_slice(&rng.next().to_le_bytes());
    let job_id = JobId::from_bytes(bytes);
    Manifest {
        format: cairn_domain::manifest::MANIFEST_FORMAT,
        id: BackupId::new(created_at, job_id),
        target: target.clone(),
        engine: Engine::Postgres,
        server_version: "15.20".into(),
        scope: Scope::Database {
            name: "orders".into(),
        },
        artifact: "dump.sql.zst".into(),
        size_bytes: stored.size_bytes,
        stored_bytes: stored.stored_bytes,
        sha256: stored.sha256.clone(),
        compression: "zstd".into(),
        format_name: "pg_dump-plain".into(),
        job_id,
        created_at,
        duration_seconds: 1.0,
        signature: None,
        client_version: None,
        encryption: None,
    }
}

/// Feeds `chunks` through compress into a fresh upload, as a producer task would.
pub async fn compress_into(
    store: &ArtifactStore,
    target: &TargetName,
    id: &BackupId,
    chunks: Vec<Bytes>,
    progress: Arc<dyn ProgressSink>,
) -> pipeline::Upload {
    let upload = store
        .begin_upload(target, id, "dump.sql.zst")
        .await
        .unwrap();
    let (tx, rx) = mpsc::channel(4);
    let producer = tokio::spawn(async move {
        for chunk in chunks {
            tx.send(chunk).await.unwrap();
        }
    });
    let upload = pipeline::compress(rx, upload, 3, progress).await.unwrap();
    producer.await.unwrap();
    upload
}

/// Stores a complete backup (artifact, then manifest) of `data`.
pub async fn store_backup(
    store: &ArtifactStore,
    target: &TargetName,
    created_at: DateTime<Utc>,
    data: Bytes,
) -> Manifest {
    // The id depends on the job id, which the manifest draws; make it first.
    let mut manifest = manifest_for(
        target,
        created_at,
        &pipeline::Stored {
            size_bytes: 0,
            stored_bytes: 0,
            sha256: String::new(),
            encryption: None,
        },
    );
    let upload = compress_into(
        store,
        target,
        &manifest.id,
        chunks_of(&data),
        Arc::new(pipeline::NoProgress),
    )
    .await;
    let stored = upload.finish().await.unwrap();
    manifest.size_bytes = stored.size_bytes;
    manifest.stored_bytes = stored.stored_bytes;
    manifest.sha256 = stored.sha256;
    store.write_manifest(&manifest).await.unwrap();
    manifest
}

/// Collects everything `decompress` yields, stopping at the first error.
pub async fn decompress_all(
    store: &ArtifactStore,
    manifest: &Manifest,
) -> Result<Vec<u8>, cairn_domain::Failure> {
    let stored = store.read_artifact(manifest).await.unwrap();
    let mut rx = pipeline::decompress(stored, Arc::new(pipeline::NoProgress));
    let mut out = Vec::new();
    while let Some(item) = rx.recv().await {
        out.extend_from_slice(&item?);
    }
    Ok(out)
}

pub fn artifact_file(root: &std::path::Path, manifest: &Manifest) -> PathBuf {
    root.join(manifest.target.as_str())
        .join(manifest.id.as_str())
        .join(&manifest.artifact)
}
