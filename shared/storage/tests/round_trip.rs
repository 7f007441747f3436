//! A backup goes in, is listed, verifies, and comes back out byte for byte.

mod common;

use bytes::Bytes;
use cairn_storage::pipeline;
use chrono::Utc;
use common::*;
use std::sync::atomic::Ordering;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_megabytes_round_trip_exactly() {
    let t = test_store();
    let target = target("orders-db");
    let data = Bytes::from(compressible(20 * 1024 * 1024 + 12_345, 7));
    let created_at = Utc::now();

    let mut manifest = manifest_for(
        &target,
        created_at,
        &pipeline::Stored {
            size_bytes: 0,
            stored_bytes: 0,
            sha256: String::new(),
            encryption: None,
        },
    );
    let counter = Arc::new(Counter::default());
    let upload = compress_into(
        &t.store,
        &target,
        &manifest.id,
        chunks_of(&data),
        counter.clone(),
    )
    .await;
    assert!(
        t.store.list_backups(&target).await.unwrap().is_empty(),
        "nothing is listed before the manifest"
    );
    let stored = upload.finish().await.unwrap();

    assert_eq!(stored.size_bytes, data.len() as u64);
    assert_eq!(counter.raw.load(Ordering::Relaxed), data.len() as u64);
    assert_eq!(counter.stored.load(Ordering::Relaxed), stored.stored_bytes);
    assert!(
        stored.stored_bytes < stored.size_bytes / 2,
        "compressible data compresses: {stored:?}"
    );
    let on_disk = std::fs::read(artifact_file(&t.root, &manifest)).unwrap();
    assert_eq!(on_disk.len() as u64, stored.stored_bytes);
    assert_eq!(sha256_hex(&on_disk), stored.sha256);

    manifest.size_bytes = stored.size_bytes;
    manifest.stored_bytes = stored.stored_bytes;
    manifest.sha256 = stored.sha256.clone();
    t.store.write_manifest(&manifest).await.unwrap();

    assert_eq!(
        t.store.list_backups(&target).await.unwrap(),
        vec![manifest.clone()]
    );
    assert_eq!(
        t.store.manifest(&target, &manifest.id).await.unwrap(),
        manifest
    );
    assert!(t.store.incomplete_uploads(None).await.unwrap().is_empty());
    t.store.verify(&manifest).await.unwrap();

    let restored = decompress_all(&t.store, &manifest).await.unwrap();
    assert_eq!(restored.len(), data.len());
    assert!(
        restored == data[..],
        "decompressed bytes differ from the input"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decompress_reports_progress_in_both_units() {
    let t = test_store();
    let target = target("cache");
    let data = Bytes::from(compressible(3 * 1024 * 1024, 3));
    let manifest = store_backup(&t.store, &target, Utc::now(), data.clone()).await;

    let counter = Arc::new(Counter::default());
    let stored = t.store.read_artifact(&manifest).await.unwrap();
    let mut rx = pipeline::decompress(stored, counter.clone());
    let mut total = 0;
    while let Some(chunk) = rx.recv().await {
        total += chunk.unwrap().len();
    }
    assert_eq!(total, data.len());
    assert_eq!(counter.raw.load(Ordering::Relaxed), data.len() as u64);
    assert_eq!(
        counter.stored.load(Ordering::Relaxed),
        manifest.stored_bytes
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_dump_is_a_valid_backup() {
    let t = test_store();
    let target = target("empty");
    let manifest = store_backup(&t.store, &target, Utc::now(), Bytes::new()).await;
    assert_eq!(manifest.size_bytes, 0);
    assert!(
        manifest.stored_bytes > 0,
        "even an empty zstd frame has a header"
    );
    t.store.verify(&manifest).await.unwrap();
    assert!(decompress_all(&t.store, &manifest)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uncompressed_writes_are_hashed_and_counted_too() {
    let t = test_store();
    let target = target("raw");
    let manifest = manifest_for(
        &target,
        Utc::now(),
        &pipeline::Stored {
            size_bytes: 0,
            stored_bytes: 0,
            sha256: String::new(),
            encryption: None,
        },
    );
    let data = Bytes::from(random(17 * 1024 * 1024 + 3, 11));
    let mut upload = t
        .store
        .begin_upload(&target, &manifest.id, "dump.sql.zst")
        .await
        .unwrap();
    for chunk in chunks_of(&data) {
        upload.write(chunk).await.unwrap();
    }
    assert_eq!(upload.stored_bytes(), data.len() as u64);
    let stored = upload.finish().await.unwrap();
    assert_eq!(stored.stored_bytes, data.len() as u64);
    assert_eq!(stored.sha256, sha256_hex(&data));
    let on_disk = std::fs::read(artifact_file(&t.root, &manifest)).unwrap();
    assert!(on_disk == data[..]);
}
