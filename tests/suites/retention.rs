//! Retention end to end: `cairn prune` keeps exactly the newest N in storage and in
//! `cairn backups`, a dry run deletes nothing and says why each backup stays, failed
//! backups never cause a deletion, GFS buckets keep the right ones, and `cairn forget`
//! deletes one backup with --yes only. Every deletion is a `BackupDeleted` event.

use cairn_tests::*;
use serde_json::Value;

fn ids(backups: &[Value]) -> Vec<String> {
    backups
        .iter()
        .map(|b| b["id"].as_str().unwrap_or("?").to_string())
        .collect()
}

/// The backups a job's `BackupDeleted` events name, in order.
fn deleted_by(app: &App, job: &str) -> Vec<String> {
    let view = app.job(job);
    view["events"]
        .as_array()
        .unwrap_or_else(|| panic!("no events in {view}"))
        .iter()
        .filter(|e| e["type"] == "BackupDeleted")
        .map(|e| e["payload"]["backup"].as_str().unwrap_or("?").to_string())
        .collect()
}

fn prune(app: &App, args: &[&str]) -> Value {
    let mut all = vec!["prune"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = app.cairn_limit(&all, WAIT_LIMIT);
    out.expect_code(0, &format!("{all:?}"));
    summary(&out)
}

#[test]
fn prune_dry_run_failures_gfs_and_forget() {
    let pg = Pg::shared().create_db();
    pg.psql("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 10);");
    let app = App::start_with(AppOptions {
        up_args: vec!["--max-attempts".into(), "1".into()],
        ..AppOptions::default()
    });
    app.add_target("orders", &pg.url());
    for _ in 0..5 {
        app.backup_wait("orders");
    }
    let all = ids(&app.backups("orders"));
    assert_eq!(all.len(), 5, "{all:?}");

    // A dry run shows the plan and deletes nothing.
    let out = app.cairn(&["prune", "orders", "--keep", "3", "--dry-run", "--json"]);
    out.expect_code(0, "prune --dry-run");
    let plan = out.json();
    let verdicts: Vec<(String, String)> = plan
        .as_array()
        .unwrap_or_else(|| panic!("plan is not an array: {plan}"))
        .iter()
        .map(|e| {
            (
                e["backup"].as_str().unwrap_or("?").to_string(),
                e["verdict"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = all
        .iter()
        .enumerate()
        .map(|(i, id)| {
            (
                id.clone(),
                if i < 3 { "keep" } else { "remove" }.to_string(),
            )
        })
        .collect();
    assert_eq!(verdicts, expected);
    assert_eq!(plan[0]["reasons"], serde_json::json!(["last"]), "{plan}");
    let text = app.cairn(&["prune", "orders", "--keep", "3", "--dry-run"]);
    text.expect_code(0, "prune --dry-run (text)");
    assert!(text.stdout.contains("among the newest"), "{}", text.stdout);
    assert!(
        text.all_text().contains("nothing was deleted"),
        "{}",
        text.all_text()
    );
    assert_eq!(
        ids(&app.backups("orders")),
        all,
        "a dry run deleted something"
    );

    // keep 3 of 5: exactly the newest three stay, in the listing and on disk.
    let done = prune(&app, &["orders", "--keep", "3"]);
    assert_eq!(status_of(&done), "succeeded", "{done}");
    assert_eq!(ids(&app.backups("orders")), all[..3].to_vec());
    for (i, id) in all.iter().enumerate() {
        assert_eq!(
            app.backup_dir("orders", id).exists(),
            i < 3,
            "folder of {id}"
        );
    }
    let mut gone = deleted_by(&app, &job_id_of(&done));
    gone.sort();
    let mut expected_gone = all[3..].to_vec();
    expected_gone.sort();
    assert_eq!(gone, expected_gone, "one BackupDeleted event per deletion");

    // Failed backups count for nothing: two failures, then keep 3 deletes nothing.
    pg.pg.psql(
        "postgres",
        &format!("DROP DATABASE {} WITH (FORCE)", pg.name),
    );
    for _ in 0..2 {
        let out = app.cairn_limit(&["backup", "orders", "--wait", "--json"], WAIT_LIMIT);
        assert_eq!(
            out.code,
            1,
            "a backup of a dropped database fails: {}",
            out.all_text()
        );
    }
    let done = prune(&app, &["orders", "--keep", "3"]);
    assert!(deleted_by(&app, &job_id_of(&done)).is_empty());
    assert_eq!(ids(&app.backups("orders")), all[..3].to_vec());

    // GFS: all three are of the same day, so --keep-daily 2 keeps the newest and (as
    // restic does, the rule reaching the oldest backup) the oldest; --keep 1 the newest.
    let out = app.cairn(&[
        "prune",
        "orders",
        "--keep",
        "1",
        "--keep-daily",
        "2",
        "--dry-run",
        "--json",
    ]);
    out.expect_code(0, "gfs dry run");
    let plan = out.json();
    let reasons: Vec<Value> = plan
        .as_array()
        .unwrap_or_else(|| panic!("{plan}"))
        .iter()
        .map(|e| e["reasons"].clone())
        .collect();
    assert_eq!(
        reasons,
        vec![
            serde_json::json!(["last", "daily"]),
            Value::Null,
            serde_json::json!(["daily"]),
        ],
        "{plan}"
    );
    prune(&app, &["orders", "--keep", "1", "--keep-daily", "2"]);
    assert_eq!(
        ids(&app.backups("orders")),
        vec![all[0].clone(), all[2].clone()]
    );

    // forget: refused without --yes (saying what it would delete), then done and recorded.
    let refused = app.cairn(&["forget", "orders", &all[2]]);
    refused.expect_code(2, "forget without --yes");
    assert!(refused.stderr.contains(&all[2]), "{}", refused.stderr);
    assert!(refused.stderr.contains("--yes"), "{}", refused.stderr);
    assert_eq!(ids(&app.backups("orders")).len(), 2);
    let out = app.cairn_limit(
        &["forget", "orders", &all[2], "--yes", "--json"],
        WAIT_LIMIT,
    );
    out.expect_code(0, "forget --yes");
    let forgot = summary(&out);
    assert_eq!(deleted_by(&app, &job_id_of(&forgot)), vec![all[2].clone()]);
    assert_eq!(ids(&app.backups("orders")), vec![all[0].clone()]);
    assert!(!app.backup_dir("orders", &all[2]).exists());
    let unknown = app.cairn(&["forget", "orders", &all[2], "--yes"]);
    assert_eq!(unknown.code, 2, "{}", unknown.all_text());
    assert!(unknown.stderr.contains("not found"), "{}", unknown.stderr);
}

#[test]
fn keep_zero_is_refused() {
    let app = App::start();
    let out = app.cairn(&["prune", "orders", "--keep", "0"]);
    out.expect_code(2, "prune --keep 0");
    assert!(out.stderr.contains("--keep"), "{}", out.stderr);
}

/// `cairn target remove` keeps the backups: still listed under the old name, and
/// restorable onto another target with `--from`.
#[test]
fn a_removed_targets_backups_stay_listed_and_restorable() {
    let pg = Pg::shared().create_db();
    pg.psql("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 42);");
    let elsewhere = Pg::shared().create_db();
    let app = App::start();
    app.add_target("gone", &pg.url());
    app.add_target("copy", &elsewhere.url());
    let backup = job_id_of(&app.backup_wait("gone"));
    let listed = ids(&app.backups("gone"));
    assert_eq!(listed.len(), 1, "backup job {backup}: {listed:?}");
    app.cairn(&["target", "remove", "gone"])
        .expect_code(0, "target remove");
    assert_eq!(ids(&app.backups("gone")), listed, "listed after remove");
    let out = app.restore_wait("copy", &listed[0], Some("gone"));
    out.expect_code(0, "restore --from a removed target");
    assert_eq!(elsewhere.query("SELECT count(*) FROM t").trim(), "42");
    let unknown = app.cairn(&["backups", "never-was"]);
    assert_eq!(unknown.code, 2, "{}", unknown.all_text());
    assert!(
        unknown.stderr.contains("unknown target"),
        "{}",
        unknown.stderr
    );
}

/// `cairn target update` changes the URL and the password; backups then go to the new
/// database, and the password appears in no output, log line or event.
#[test]
fn target_update_changes_the_target_without_showing_the_password() {
    let first = Pg::shared().create_db();
    let second = Pg::shared().create_db();
    second.psql("CREATE TABLE moved (id int); INSERT INTO moved VALUES (7);");
    let app = App::start();
    app.add_target("orders", &first.url());
    let secret = "update-pw-5d1e";
    let out = app.cairn_stdin(
        &[
            "target",
            "update",
            "orders",
            "--url",
            &second.url(),
            "--password-stdin",
            "--json",
        ],
        format!("{secret}\n").as_bytes(),
    );
    out.expect_code(0, "target update");
    let view = out.json();
    assert_eq!(view["url"].as_str(), Some(second.url().as_str()), "{view}");
    assert!(!out.all_text().contains(secret));
    let backup = app.backup_wait("orders");
    let listed = app.backups("orders");
    assert_eq!(listed.len(), 1, "{backup}");
    let id = listed[0]["id"].as_str().unwrap_or("?").to_string();
    let restored = Pg::shared().create_db();
    app.add_target("check", &restored.url());
    app.restore_wait("check", &id, Some("orders"))
        .expect_code(0, "restore of the updated target's backup");
    assert_eq!(restored.query("SELECT id FROM moved").trim(), "7");
    let history = app.cairn(&["history", "--json"]);
    assert!(!history.all_text().contains(secret));
    assert!(app.log().contains("target updated"), "the change is logged");
    assert!(!app.log().contains(secret), "the password is in the log");
    let nothing = app.cairn(&["target", "update", "orders"]);
    nothing.expect_code(2, "update without changes");
    assert!(
        nothing.stderr.contains("nothing to change"),
        "{}",
        nothing.stderr
    );
    let bad = app.cairn(&[
        "target",
        "update",
        "orders",
        "--url",
        "postgres://u:pw@h/db",
    ]);
    bad.expect_code(2, "a password in the URL");
}

/// `cairn target remove --purge --yes` deletes the backups too, each recorded.
#[test]
fn remove_with_purge_deletes_the_backups() {
    let pg = Pg::shared().create_db();
    pg.psql("CREATE TABLE t (id int); INSERT INTO t VALUES (1);");
    let app = App::start();
    app.add_target("doomed", &pg.url());
    app.backup_wait("doomed");
    app.backup_wait("doomed");
    let listed = ids(&app.backups("doomed"));
    assert_eq!(listed.len(), 2);
    let refused = app.cairn(&["target", "remove", "doomed", "--purge"]);
    refused.expect_code(2, "purge without --yes");
    assert!(refused.stderr.contains("2 backup(s)"), "{}", refused.stderr);
    assert_eq!(
        ids(&app.backups("doomed")),
        listed,
        "refusal deleted something"
    );
    app.cairn_limit(
        &["target", "remove", "doomed", "--purge", "--yes"],
        WAIT_LIMIT,
    )
    .expect_code(0, "remove --purge --yes");
    for id in &listed {
        assert!(!app.backup_dir("doomed", id).exists(), "{id} still on disk");
    }
    let gone = app.cairn(&["backups", "doomed"]);
    assert_eq!(gone.code, 2, "{}", gone.all_text());
    let prunes = app.history(&["--kind", "prune"]);
    assert_eq!(prunes.len(), 1, "{prunes:?}");
    let mut deleted = deleted_by(&app, &job_id_of(&prunes[0]));
    deleted.sort();
    let mut expected = listed.clone();
    expected.sort();
    assert_eq!(deleted, expected);
    let view = app.job(&job_id_of(&prunes[0]));
    assert!(view.to_string().contains("\"purged\""), "{view}");
}
