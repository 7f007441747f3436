//! The sweep of incomplete uploads against a real local storage directory: a backup folder
//! without a manifest is removed once it is older than the grace period, and only then; a
//! complete backup is never touched, however old; a target with a job in flight keeps its
//! incomplete uploads (its attempt may still be writing); a folder cairn did not name is
//! left alone.

use bytes::Bytes;
use cairn_domain::manifest::MANIFEST_FORMAT;
use cairn_domain::{BackupId, Engine, JobId, Manifest, Scope, TargetName};
use cairn_retention_sweeper::sweep_incomplete;
use cairn_storage::{ArtifactStore, IncompleteUpload};
use chrono::{DateTime, Duration, Utc};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::SystemTime;

const ARTIFACT: &str = "dump.sql.zst";

struct Storage {
    store: ArtifactStore,
    root: PathBuf,
    _dir: tempfile::TempDir,
}

impl Storage {
    fn new() -> Storage {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("storage");
        Storage {
            store: ArtifactStore::local(&root).unwrap(),
            root: std::fs::canonicalize(dir.path()).unwrap().join("storage"),
            _dir: dir,
        }
    }

    fn folder(&self, target: &TargetName, id: &BackupId) -> PathBuf {
        self.root.join(target.as_str()).join(id.as_str())
    }

    /// Writes an artifact and no manifest: an upload that never finished.
    async fn incomplete(&self, target: &TargetName) -> BackupId {
        let id = new_id();
        self.write_artifact(target, &id).await;
        id
    }

    /// Writes an artifact, then its manifest: a complete backup.
    async fn complete(&self, target: &TargetName) -> Manifest {
        let id = new_id();
        let (stored_bytes, sha256) = self.write_artifact(target, &id).await;
        let manifest = Manifest {
            format: MANIFEST_FORMAT,
            id: id.clone(),
            target: target.clone(),
            engine: Engine::Postgres,
            server_version: "15.20".into(),
            scope: Scope::Database {
                name: "orders".into(),
            },
            artifact: ARTIFACT.into(),
            size_bytes: stored_bytes,
            stored_bytes,
            sha256,
            compression: "zstd".into(),
            format_name: "pg_dump-plain".into(),
            job_id: job_id_of(&id),
            created_at: Utc::now(),
            duration_seconds: 1.0,
            signature: None,
            client_version: None,
            encryption: None,
        };
        self.store.write_manifest(&manifest).await.unwrap();
        manifest
    }

    async fn write_artifact(&self, target: &TargetName, id: &BackupId) -> (u64, String) {
        let mut upload = self.store.begin_upload(target, id, ARTIFACT).await.unwrap();
        upload
            .write(Bytes::from_static(b"not really zstd, never read"))
            .await
            .unwrap();
        let stored = upload.finish().await.unwrap();
        (stored.stored_bytes, stored.sha256)
    }

    /// Makes a folder and everything in it look last written `ago`.
    fn age(&self, target: &TargetName, id: &BackupId, ago: Duration) {
        set_mtime_tree(&self.folder(target, id), Utc::now() - ago);
    }
}

static NEXT: AtomicU8 = AtomicU8::new(1);

/// A backup id of its own (the short job id differs for every call).
fn new_id() -> BackupId {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    BackupId::new(Utc::now(), JobId::from_bytes([n; 16]))
}

fn job_id_of(id: &BackupId) -> JobId {
    let short = id.as_str().rsplit('-').next().unwrap();
    let n = u8::from_str_radix(&short[..2], 16).unwrap();
    JobId::from_bytes([n; 16])
}

/// Sets the modification time of `path` and, for a folder, of everything under it.
fn set_mtime_tree(path: &Path, at: DateTime<Utc>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap().flatten() {
            set_mtime_tree(&entry.path(), at);
        }
    }
    std::fs::File::open(path)
        .unwrap()
        .set_modified(SystemTime::from(at))
        .unwrap();
}

fn name(s: &str) -> TargetName {
    TargetName::parse(s).unwrap()
}

fn removed_set(removed: &[IncompleteUpload]) -> HashSet<(String, String)> {
    removed
        .iter()
        .map(|u| (u.target.clone(), u.folder.clone()))
        .collect()
}

#[tokio::test]
async fn old_incomplete_uploads_go_and_everything_else_stays() {
    let s = Storage::new();
    let grace = Duration::hours(1);
    let (orders, users, busy) = (name("orders"), name("users"), name("busy"));

    let old_orders = s.incomplete(&orders).await;
    s.age(&orders, &old_orders, Duration::hours(2));
    let old_users = s.incomplete(&users).await;
    s.age(&users, &old_users, Duration::minutes(61));
    let fresh = s.incomplete(&orders).await;
    s.age(&orders, &fresh, Duration::minutes(59));
    let complete = s.complete(&orders).await;
    s.age(&orders, &complete.id, Duration::days(30));
    let old_busy = s.incomplete(&busy).await;
    s.age(&busy, &old_busy, Duration::days(1));
    // Not named like a backup: nothing cairn made, so nothing the sweeper may remove.
    let foreign = s.root.join("orders").join("notes");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("readme.txt"), "kept by an operator").unwrap();
    set_mtime_tree(&foreign, Utc::now() - Duration::days(3));

    let in_flight = HashSet::from([busy.clone()]);
    let removed = sweep_incomplete(&s.store, grace, &in_flight, Utc::now())
        .await
        .unwrap();

    assert_eq!(
        removed_set(&removed),
        HashSet::from([
            ("orders".to_string(), old_orders.to_string()),
            ("users".to_string(), old_users.to_string()),
        ]),
        "removed: {removed:#?}"
    );
    assert!(!s.folder(&orders, &old_orders).exists());
    assert!(!s.folder(&users, &old_users).exists());
    assert!(
        s.folder(&orders, &fresh).join(ARTIFACT).is_file(),
        "an upload newer than the grace period is kept"
    );
    assert!(
        s.folder(&busy, &old_busy).join(ARTIFACT).is_file(),
        "a busy target's upload is kept, however old"
    );
    assert!(
        foreign.join("readme.txt").is_file(),
        "a foreign folder is kept"
    );

    // The complete backup is untouched: still listed, and its artifact still verifies.
    let listed = s.store.list_backups(&orders).await.unwrap();
    assert_eq!(listed, vec![complete.clone()]);
    s.store.verify(&complete).await.unwrap();

    // What is left over is still incomplete, and a second sweep removes nothing more.
    let left = s.store.incomplete_uploads(None).await.unwrap();
    assert_eq!(
        removed_set(&left),
        HashSet::from([
            ("orders".to_string(), fresh.to_string()),
            ("busy".to_string(), old_busy.to_string()),
        ])
    );
    let again = sweep_incomplete(&s.store, grace, &in_flight, Utc::now())
        .await
        .unwrap();
    assert!(again.is_empty(), "second sweep removed {again:#?}");

    // Once the target is idle and the fresh upload has aged, both go.
    s.age(&orders, &fresh, Duration::hours(2));
    let removed = sweep_incomplete(&s.store, grace, &HashSet::new(), Utc::now())
        .await
        .unwrap();
    assert_eq!(
        removed_set(&removed),
        HashSet::from([
            ("orders".to_string(), fresh.to_string()),
            ("busy".to_string(), old_busy.to_string()),
        ])
    );
    assert_eq!(s.store.list_backups(&orders).await.unwrap(), vec![complete]);
    assert!(s.store.incomplete_uploads(None).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_upload_still_being_written_is_never_stale() {
    // A staging file keeps the folder fresh while the upload runs, even if the folder
    // itself is old (a retry writing into an aged folder).
    let s = Storage::new();
    let orders = name("orders");
    let id = new_id();
    let mut upload = s.store.begin_upload(&orders, &id, ARTIFACT).await.unwrap();
    upload
        .write(Bytes::from(vec![7u8; 9 * 1024 * 1024]))
        .await
        .unwrap();
    let folder = s.folder(&orders, &id);
    let staging: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        staging.iter().any(|n| n.starts_with("dump.sql.zst#")),
        "an upload in progress has a staging file: {staging:?}"
    );
    std::fs::File::open(&folder)
        .unwrap()
        .set_modified(SystemTime::from(Utc::now() - Duration::days(1)))
        .unwrap();
    let removed = sweep_incomplete(&s.store, Duration::hours(1), &HashSet::new(), Utc::now())
        .await
        .unwrap();
    assert!(removed.is_empty(), "removed a live upload: {removed:#?}");
    assert!(folder.exists());
    upload.finish().await.unwrap();
    assert!(folder.join(ARTIFACT).is_file());
}

#[tokio::test]
async fn a_deleted_backup_is_neither_listed_nor_left_on_disk() {
    let s = Storage::new();
    let orders = name("orders");
    let kept = s.complete(&orders).await;
    let gone = s.complete(&orders).await;
    s.store.delete_backup(&orders, &gone.id).await.unwrap();
    let listed: Vec<BackupId> = s
        .store
        .list_backups(&orders)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(listed, vec![kept.id.clone()]);
    assert!(!s.folder(&orders, &gone.id).exists());
    assert!(s.folder(&orders, &kept.id).join(ARTIFACT).exists());
}

/// A crash between the two steps of a deletion (manifest gone, artifact still there) leaves
/// an incomplete upload: never listed, and swept once the grace period has passed.
#[tokio::test]
async fn a_deletion_interrupted_after_the_manifest_leaves_nothing_listed() {
    let s = Storage::new();
    let orders = name("orders");
    let half = s.complete(&orders).await;
    std::fs::remove_file(
        s.folder(&orders, &half.id)
            .join(cairn_storage::MANIFEST_FILE),
    )
    .unwrap();
    assert!(s.folder(&orders, &half.id).join(ARTIFACT).exists());
    assert!(s.store.list_backups(&orders).await.unwrap().is_empty());
    s.age(&orders, &half.id, Duration::hours(2));
    let removed = sweep_incomplete(&s.store, Duration::hours(1), &HashSet::new(), Utc::now())
        .await
        .unwrap();
    assert_eq!(
        removed_set(&removed),
        HashSet::from([("orders".to_string(), half.id.to_string())])
    );
    assert!(!s.folder(&orders, &half.id).exists());
}

#[tokio::test]
async fn the_plan_keeps_the_newest_listed_backups() {
    let s = Storage::new();
    let orders = name("orders");
    let mut made = Vec::new();
    for _ in 0..4 {
        made.push(s.complete(&orders).await.id);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let listed = s.store.list_backups(&orders).await.unwrap();
    let keep = cairn_domain::Keep::last(std::num::NonZeroU32::new(2).unwrap());
    let plan = cairn_retention_sweeper::plan(&listed, &keep, cairn_domain::Zone::UTC);
    let kept: Vec<BackupId> = plan
        .iter()
        .filter(|(_, v)| v.is_keep())
        .map(|(m, _)| m.id.clone())
        .collect();
    assert_eq!(kept, vec![made[3].clone(), made[2].clone()]);
    assert_eq!(plan.len(), 4);
}
