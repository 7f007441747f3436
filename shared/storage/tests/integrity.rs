//! Damaged artifacts are caught: a flipped byte, a truncated file, a missing backup.

mod common;

use bytes::Bytes;
use cairn_storage::StorageError;
use chrono::Utc;
use common::*;
use std::io::{Seek, SeekFrom, Write};

async fn stored_backup(t: &TestStore) -> cairn_domain::Manifest {
    let data = Bytes::from(compressible(4 * 1024 * 1024, 21));
    store_backup(&t.store, &target("orders-db"), Utc::now(), data).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_byte_is_a_checksum_mismatch() {
    let t = test_store();
    let manifest = stored_backup(&t).await;
    let path = artifact_file(&t.root, &manifest);
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();

    let err = t.store.verify(&manifest).await.unwrap_err();
    assert!(
        matches!(err, StorageError::ChecksumMismatch { ref expected, .. } if *expected == manifest.sha256),
        "{err:?}"
    );
    let failure = err.to_failure();
    assert_eq!(failure.code, "checksum_mismatch");
    assert!(!failure.retryable);

    let decoded = decompress_all(&t.store, &manifest).await;
    assert!(decoded.is_err(), "zstd's frame checksum catches it too");

    // The one pass of a restore (no verify first): the decoder fails midway, and the
    // failure is still the checksum mismatch, found by reading on to the end.
    let stored = t.store.read_verified(&manifest).await.unwrap();
    let mut rx = cairn_storage::pipeline::decompress(
        stored,
        std::sync::Arc::new(cairn_storage::pipeline::NoProgress),
    );
    let mut last = None;
    while let Some(item) = rx.recv().await {
        last = Some(item);
    }
    let failure = last.expect("an item").unwrap_err();
    assert_eq!(failure.code, "checksum_mismatch", "{failure:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_artifact_is_a_size_mismatch_and_does_not_decompress() {
    let t = test_store();
    let manifest = stored_backup(&t).await;
    let path = artifact_file(&t.root, &manifest);
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(manifest.stored_bytes / 2).unwrap();

    let err = t.store.verify(&manifest).await.unwrap_err();
    assert!(
        matches!(err, StorageError::SizeMismatch { expected, actual, .. }
            if expected == manifest.stored_bytes && actual == manifest.stored_bytes / 2),
        "{err:?}"
    );
    assert!(!err.to_failure().retryable);

    let failure = decompress_all(&t.store, &manifest).await.unwrap_err();
    assert_eq!(failure.code, "corrupt_artifact");
    assert!(!failure.retryable);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_cut_right_before_its_end_is_an_error_not_an_eof() {
    let t = test_store();
    let manifest = stored_backup(&t).await;
    let path = artifact_file(&t.root, &manifest);
    // Drop only the last byte (part of the frame checksum).
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(manifest.stored_bytes - 1).unwrap();
    let failure = decompress_all(&t.store, &manifest).await.unwrap_err();
    assert_eq!(failure.code, "corrupt_artifact");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_instead_of_zstd_is_corrupt() {
    let t = test_store();
    let manifest = stored_backup(&t).await;
    let path = artifact_file(&t.root, &manifest);
    let mut file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.seek(SeekFrom::Start(0)).unwrap();
    file.write_all(b"definitely not zstd").unwrap();
    let failure = decompress_all(&t.store, &manifest).await.unwrap_err();
    assert_eq!(failure.code, "corrupt_artifact");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_backups_are_not_found() {
    let t = test_store();
    let manifest = stored_backup(&t).await;

    std::fs::remove_file(artifact_file(&t.root, &manifest)).unwrap();
    let err = t.store.verify(&manifest).await.unwrap_err();
    assert!(matches!(err, StorageError::NotFound { .. }), "{err:?}");
    assert!(matches!(
        t.store.read_artifact(&manifest).await,
        Err(StorageError::NotFound { .. })
    ));

    let t2 = test_store();
    let err = t2
        .store
        .manifest(&manifest.target, &manifest.id)
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::NotFound { .. }), "{err:?}");
    assert_eq!(err.to_failure().code, "backup_not_found");
    let err = t2.store.verify(&manifest).await.unwrap_err();
    assert!(matches!(err, StorageError::NotFound { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_needs_its_artifact() {
    let t = test_store();
    let manifest = stored_backup(&t).await;
    let t2 = test_store();
    let err = t2.store.write_manifest(&manifest).await.unwrap_err();
    assert!(matches!(err, StorageError::NotFound { .. }), "{err:?}");
    assert!(t2
        .store
        .list_backups(&manifest.target)
        .await
        .unwrap()
        .is_empty());
}
