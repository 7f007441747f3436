//! Artifacts are private: in a local storage every folder cairn makes is 0700 and every
//! file it commits 0600, whatever the process's umask and whatever made a folder before.
//! A storage whose folder resolves to `/` or into `/proc`, `/sys`, `/dev` is refused.

mod common;

use bytes::Bytes;
use chrono::Utc;
use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn folders_are_0700_and_files_0600() {
    let t = test_store();
    assert_eq!(mode(&t.root), 0o700, "a new storage folder");
    // A target folder made earlier by someone else, world-readable.
    let target = target("orders-db");
    std::fs::create_dir(t.root.join(target.as_str())).unwrap();
    std::fs::set_permissions(
        t.root.join(target.as_str()),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let manifest = store_backup(
        &t.store,
        &target,
        Utc::now(),
        Bytes::from(compressible(300_000, 3)),
    )
    .await;
    let backup_dir = t.root.join(target.as_str()).join(manifest.id.as_str());
    assert_eq!(mode(&t.root.join(target.as_str())), 0o700, "target folder");
    assert_eq!(mode(&backup_dir), 0o700, "backup folder");
    let files: Vec<_> = std::fs::read_dir(&backup_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 2, "artifact and manifest: {files:?}");
    for file in files {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
}

#[test]
fn system_folders_are_refused_even_through_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("innocent");
    std::os::unix::fs::symlink("/proc/self", &link).unwrap();
    let err = cairn_storage::ArtifactStore::local(&link).unwrap_err();
    assert!(err.to_string().contains("/proc"), "{err}");
    let root_link = dir.path().join("root");
    std::os::unix::fs::symlink("/", &root_link).unwrap();
    assert!(cairn_storage::ArtifactStore::local(&root_link).is_err());
}
