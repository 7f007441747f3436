//! `cairn history` filters and orders jobs (newest first), and `cairn job` shows a
//! backup's whole timeline in sequence.

use cairn_tests::*;
use chrono::{DateTime, Utc};
use serde_json::Value;

fn ids(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e["job_id"].as_str().unwrap_or("?").to_string())
        .collect()
}

fn queued_at(e: &Value) -> DateTime<Utc> {
    e["queued_at"]
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("queued_at is not RFC 3339 in {e}"))
}

#[test]
fn history_filters_and_job_timelines() {
    let pg = Pg::shared().create_db();
    pg.psql("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 100);");
    let my = My::shared();
    let mydb = my.create_db();
    let user = my.create_user(&mydb.name, &unique("right-"));
    let app = App::start();
    app.add_target("alpha", &pg.url());
    app.add_target_with_password(
        "beta",
        &my.url_as(&user.name, Some(&mydb.name)),
        "not-the-password",
    );

    // alpha: backup, (since), backup, restore; beta: a failed backup.
    let first = job_id_of(&app.backup_wait("alpha"));
    let since = Utc::now();
    let second = job_id_of(&app.backup_wait("alpha"));
    let restore = app.restore_wait("alpha", "latest", None);
    restore.expect_code(0, "restore alpha");
    let restore_id = job_id_of(&summary(&restore));
    let failed = app.cairn_limit(&["backup", "beta", "--wait", "--json"], WAIT_LIMIT);
    failed.expect_code(1, "backup of beta with a wrong password");
    let failed_id = job_id_of(&summary(&failed));

    let all = app.history(&[]);
    for pair in all.windows(2) {
        assert!(
            queued_at(&pair[0]) >= queued_at(&pair[1]),
            "newest first: {all:#?}"
        );
    }
    for id in [&first, &second, &restore_id, &failed_id] {
        assert!(ids(&all).contains(id), "{id} in the unfiltered history");
    }

    let alpha_backups = app.history(&["--target", "alpha", "--kind", "backup"]);
    assert_eq!(
        ids(&alpha_backups),
        vec![second.clone(), first.clone()],
        "alpha backups, newest first"
    );
    let restores = app.history(&["--kind", "restore"]);
    assert_eq!(ids(&restores), vec![restore_id.clone()], "restores");
    let failures = app.history(&["--status", "failed"]);
    assert_eq!(ids(&failures), vec![failed_id.clone()], "failed jobs");
    assert!(
        failures[0]["error"].as_str().is_some_and(|e| !e.is_empty()),
        "a failed entry says why: {failures:#?}"
    );
    let beta = app.history(&["--target", "beta"]);
    assert!(
        beta.iter().all(|e| e["target"] == "beta"),
        "--target beta: {beta:#?}"
    );
    assert!(ids(&beta).contains(&failed_id));
    let succeeded_alpha = app.history(&["--target", "alpha", "--status", "succeeded"]);
    assert!(succeeded_alpha
        .iter()
        .all(|e| e["status"] == "succeeded" && e["target"] == "alpha"));
    assert!(ids(&succeeded_alpha).contains(&restore_id));

    let since_text = since.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let recent = app.history(&["--since", &since_text]);
    assert!(
        !ids(&recent).contains(&first),
        "--since {since_text} excludes the first backup"
    );
    for id in [&second, &restore_id, &failed_id] {
        assert!(ids(&recent).contains(id), "--since {since_text} keeps {id}");
    }

    let limited = app.history(&["--limit", "2"]);
    assert_eq!(
        ids(&limited),
        ids(&all)[..2].to_vec(),
        "--limit 2 gives the two newest"
    );

    // A backup's timeline: the documented events, in order, with contiguous seqs.
    let job = app.job(&second);
    assert_contiguous_seqs(&job);
    let types: Vec<String> = event_types(&job)
        .into_iter()
        .filter(|t| t != "JobProgress")
        .collect();
    assert_eq!(
        types,
        [
            "JobQueued",
            "JobClaimed",
            "JobStarted",
            "BackupStored",
            "JobSucceeded"
        ],
        "timeline of a backup (progress events aside)"
    );
    assert_eq!(job_status(&job), "succeeded");
    assert_eq!(job["state"]["job_id"].as_str(), Some(second.as_str()));
    let failed_job = app.job(&failed_id);
    assert_contiguous_seqs(&failed_job);
    assert_eq!(
        event_types(&failed_job).first().map(String::as_str),
        Some("JobQueued")
    );
    assert!(event_types(&failed_job).contains(&"JobFailed".to_string()));
}
