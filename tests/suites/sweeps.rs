//! Crashes and sweeps of the retention sweeper through the real binary: a `kill -9` of
//! `cairn up` between two deletions of a prune leaves no listed backup without its
//! artifact and the prune completes after the restart; the periodic sweep (not only the
//! one at start) removes an incomplete upload older than the grace period while cairn runs.

use cairn_tests::*;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

fn ids(backups: &[Value]) -> Vec<String> {
    backups
        .iter()
        .map(|b| b["id"].as_str().unwrap_or("?").to_string())
        .collect()
}

/// Every file of a backup folder but the manifest: its artifact.
fn has_artifact(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("dump."))
        })
        .unwrap_or(false)
}

#[test]
fn a_kill_between_two_deletions_of_a_prune_leaves_every_listed_backup_whole() {
    let pg = Pg::shared().create_db();
    pg.psql("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 10);");
    let hold_dir = tempfile::tempdir().unwrap();
    let hold = hold_dir.path().join("hold");
    let marker = hold_dir.path().join("hold.deleted");
    let mut app = App::start_with(AppOptions {
        env: [(
            "CAIRN_TEST_PRUNE_HOLD".to_string(),
            hold.display().to_string(),
        )]
        .into(),
        ..AppOptions::default()
    });
    app.add_target("orders", &pg.url());
    for _ in 0..4 {
        app.backup_wait("orders");
    }
    let all = ids(&app.backups("orders"));
    assert_eq!(all.len(), 4, "{all:?}");

    // The prune deletes three; after the first deletion it holds while `hold` exists.
    std::fs::write(&hold, b"").unwrap();
    let mut prune = Command::new(cairn_bin())
        .args([
            "--server",
            &app.server_url(),
            "prune",
            "orders",
            "--keep",
            "1",
        ])
        .env("CAIRN_TOKEN", app.admin_token())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    poll(
        "the prune's first deletion",
        Duration::from_secs(120),
        Duration::from_millis(50),
        || marker.exists().then_some(()),
    );
    app.kill9();
    let _ = prune.kill();
    let _ = prune.wait();

    // Stopped between deletions: one backup is gone, the other doomed ones are still there.
    let dirs: Vec<String> = std::fs::read_dir(app.storage_dir("orders"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(
        all.iter().filter(|id| dirs.contains(id)).count(),
        3,
        "killed after exactly one deletion: {dirs:?}"
    );

    // Listed means "has a manifest": every such folder still has its artifact.
    for id in &dirs {
        let dir = app.backup_dir("orders", id);
        if dir.join("manifest.json").exists() {
            assert!(
                has_artifact(&dir),
                "listed backup {id} has no artifact after the crash"
            );
        }
    }

    std::fs::remove_file(&hold).unwrap();
    app.restart();
    // The interrupted prune is retried and completes: only the newest stays.
    let prunes = app.history(&["--kind", "prune", "--target", "orders"]);
    assert_eq!(prunes.len(), 1, "{prunes:?}");
    let job = prunes[0]["job_id"].as_str().unwrap().to_string();
    let done = app.wait_terminal(&job, WAIT_LIMIT);
    assert_eq!(job_status(&done), "succeeded", "{done:#}");
    let left = ids(&app.backups("orders"));
    assert_eq!(left, all[..1].to_vec(), "the newest stays");
    assert!(has_artifact(&app.backup_dir("orders", &all[0])));
    let deleted: Vec<&str> = done["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "BackupDeleted")
        .filter_map(|e| e["payload"]["backup"].as_str())
        .collect();
    for id in &all[1..] {
        assert!(deleted.contains(&id.as_str()), "{id} recorded: {deleted:?}");
        assert!(
            !app.backup_dir("orders", id).exists(),
            "{id} is gone from storage"
        );
    }
}

#[test]
fn the_periodic_sweep_removes_an_old_incomplete_upload_while_cairn_runs() {
    let pg = Pg::shared().create_db();
    pg.psql("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 10);");
    let app = App::start_with(AppOptions {
        up_args: vec![
            "--sweep-every".into(),
            "1s".into(),
            "--incomplete-grace".into(),
            "1h".into(),
        ],
        ..AppOptions::default()
    });
    app.add_target("orders", &pg.url());
    app.backup_wait("orders");
    let kept = ids(&app.backups("orders"));

    // Two uploads without a manifest, left after start (so not the start-up sweep's): one
    // last written two hours ago, one just now.
    let folder = |name: &str, age: Duration| {
        let dir = app.storage_dir("orders").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let file = std::fs::File::create(dir.join("dump.sql.zst")).unwrap();
        file.set_modified(SystemTime::now() - age).unwrap();
        // The folder's own time counts too (creating the file just set it).
        std::fs::File::open(&dir)
            .unwrap()
            .set_modified(SystemTime::now() - age)
            .unwrap();
        dir
    };
    let old = folder("20200101T000000Z-0badc0de", Duration::from_secs(7200));
    let fresh = folder("20200101T000001Z-0badc0df", Duration::ZERO);
    poll(
        "the periodic sweep to remove the old incomplete upload",
        Duration::from_secs(120),
        Duration::from_millis(200),
        || (!old.exists()).then_some(()),
    );
    assert!(fresh.exists(), "an upload younger than the grace stays");
    assert!(
        app.log().contains("removed an incomplete upload"),
        "the sweep is logged"
    );
    assert_eq!(
        ids(&app.backups("orders")),
        kept,
        "the complete backup stays"
    );
}
