//! What is listed: complete backups newest first; incomplete uploads for the sweeper;
//! aborted and removed uploads leave nothing behind.

mod common;

use bytes::Bytes;
use cairn_domain::BackupId;
use cairn_storage::{pipeline, StorageError};
use chrono::{Duration, TimeZone, Utc};
use common::*;
use std::sync::Arc;

fn blank_manifest(target: &cairn_domain::TargetName) -> cairn_domain::Manifest {
    manifest_for(
        target,
        Utc::now(),
        &pipeline::Stored {
            size_bytes: 0,
            stored_bytes: 0,
            sha256: String::new(),
            encryption: None,
        },
    )
}

fn entries(dir: &std::path::Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_are_listed_newest_first_and_garbage_is_skipped() {
    let t = test_store();
    let target = target("orders-db");
    let base = Utc.with_ymd_and_hms(2026, 11, 26, 3, 0, 0).unwrap();
    let small = || Bytes::from(compressible(10_000, 5));
    // Written out of order; two share a created_at and are ordered by id.
    let b2 = store_backup(&t.store, &target, base + Duration::hours(2), small()).await;
    let b0 = store_backup(&t.store, &target, base, small()).await;
    let b3a = store_backup(&t.store, &target, base + Duration::hours(3), small()).await;
    let b3b = store_backup(&t.store, &target, base + Duration::hours(3), small()).await;
    let b1 = store_backup(&t.store, &target, base + Duration::hours(1), small()).await;
    // Another target's backup is not listed here.
    store_backup(&t.store, &target_of("other"), base, small()).await;

    // A folder with an unparsable manifest, and one with a stray non-backup name.
    let garbage = t.root.join("orders-db").join("20261126T040000Z-deadbeef");
    std::fs::create_dir_all(&garbage).unwrap();
    std::fs::write(garbage.join("manifest.json"), b"{ not json").unwrap();
    std::fs::create_dir_all(t.root.join("orders-db").join("lost+found")).unwrap();

    let (newer, older) = if b3a.id > b3b.id {
        (b3a, b3b)
    } else {
        (b3b, b3a)
    };
    let listed = t.store.list_backups(&target).await.unwrap();
    assert_eq!(listed, vec![newer, older, b2, b1, b0]);

    let err = t
        .store
        .manifest(
            &target,
            &BackupId::parse("20261126T040000Z-deadbeef").unwrap(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::BadManifest(..)), "{err:?}");
    // A folder with a manifest, even a bad one, is not an incomplete upload.
    assert!(t.store.incomplete_uploads(None).await.unwrap().is_empty());
}

fn target_of(name: &str) -> cairn_domain::TargetName {
    target(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_an_unknown_target_is_empty() {
    let t = test_store();
    assert!(t
        .store
        .list_backups(&target("nobody"))
        .await
        .unwrap()
        .is_empty());
    assert!(t
        .store
        .incomplete_uploads(Some(&target("nobody")))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_leaves_nothing_behind() {
    let t = test_store();
    let target = target("orders-db");
    let manifest = blank_manifest(&target);
    // 20 MiB of random data: several 8 MiB parts are written before the abort.
    let data = Bytes::from(random(20 * 1024 * 1024, 9));
    let upload = compress_into(
        &t.store,
        &target,
        &manifest.id,
        chunks_of(&data),
        Arc::new(pipeline::NoProgress),
    )
    .await;
    let folder = t.root.join("orders-db").join(manifest.id.as_str());
    assert!(
        entries(&folder)
            .iter()
            .any(|n| n.starts_with("dump.sql.zst#")),
        "the upload is staged before it finishes: {:?}",
        entries(&folder)
    );
    upload.abort().await.unwrap();

    assert!(!artifact_file(&t.root, &manifest).exists());
    assert_eq!(
        entries(&folder),
        Vec::<String>::new(),
        "folder is empty or gone"
    );
    assert!(t.store.list_backups(&target).await.unwrap().is_empty());
    assert!(t.store.incomplete_uploads(None).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folders_without_manifest_are_incomplete_uploads() {
    let t = test_store();
    let target = target("orders-db");
    let complete = store_backup(&t.store, &target, Utc::now(), Bytes::from("x")).await;

    // Finished artifact, no manifest: a worker died between the two.
    let orphan = blank_manifest(&target);
    let upload = compress_into(
        &t.store,
        &target,
        &orphan.id,
        vec![Bytes::from("partial")],
        Arc::new(pipeline::NoProgress),
    )
    .await;
    upload.finish().await.unwrap();

    // Still uploading: only a staging file exists, and it is fresh.
    let running = blank_manifest(&target);
    let mut in_progress = t
        .store
        .begin_upload(&target, &running.id, "dump.sql.zst")
        .await
        .unwrap();
    in_progress.write(Bytes::from("streaming")).await.unwrap();

    let before = Utc::now() - Duration::minutes(1);
    let listed = t.store.list_backups(&target).await.unwrap();
    assert_eq!(listed, vec![complete]);

    let mut incomplete = t.store.incomplete_uploads(Some(&target)).await.unwrap();
    incomplete.sort_by(|a, b| a.folder.cmp(&b.folder));
    let mut expected = vec![orphan.id.to_string(), running.id.to_string()];
    expected.sort();
    let folders: Vec<_> = incomplete.iter().map(|i| i.folder.clone()).collect();
    assert_eq!(folders, expected);
    assert!(incomplete.iter().all(|i| i.target == "orders-db"));
    assert!(incomplete.iter().all(|i| i.last_modified > before));
    assert_eq!(t.store.incomplete_uploads(None).await.unwrap().len(), 2);

    // The sweeper (or attempt N+1) cleans both folders, staging file included.
    for id in [&orphan.id, &running.id] {
        t.store.remove_folder(&target, id.as_str()).await.unwrap();
        assert!(!t.root.join("orders-db").join(id.as_str()).exists());
    }
    drop(in_progress);
    assert!(t.store.incomplete_uploads(None).await.unwrap().is_empty());
    assert_eq!(t.store.list_backups(&target).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_folder_deletes_a_complete_backup_and_refuses_odd_names() {
    let t = test_store();
    let target = target("orders-db");
    let backup = store_backup(&t.store, &target, Utc::now(), Bytes::from("abc")).await;
    t.store
        .remove_folder(&target, backup.id.as_str())
        .await
        .unwrap();
    assert!(t.store.list_backups(&target).await.unwrap().is_empty());
    assert!(!t.root.join("orders-db").join(backup.id.as_str()).exists());
    // Removing it again is fine.
    t.store
        .remove_folder(&target, backup.id.as_str())
        .await
        .unwrap();

    for bad in ["..", "../x", "", "a/b"] {
        let err = t.store.remove_folder(&target, bad).await.unwrap_err();
        assert!(
            matches!(err, StorageError::InvalidName(_)),
            "{bad:?}: {err:?}"
        );
    }
    assert!(t.root.exists());
}
