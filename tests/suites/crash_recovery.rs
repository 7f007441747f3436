//! `kill -9` of `cairn up` (and its dump child) in the middle of a backup: after a
//! restart the job is retried and succeeds as its second attempt (attempts remain, so
//! giving up would be wrong), the first attempt's partial upload is gone, exactly one
//! backup is listed, and the next backup works.

use cairn_tests::*;
use std::time::Duration;

/// Long enough for a restarted server to notice the dead attempt (lease expiry) and
/// run the second one.
const RECOVERY_DEADLINE: Duration = Duration::from_secs(120);

#[test]
fn a_backup_killed_mid_dump_recovers_and_leaves_no_partial_backup() {
    let db = Pg::shared().create_db();
    // ~450 MB: pg_dump of it takes several seconds here.
    pg::pgbench_fill(&db, 30);
    let mut app = App::start();
    app.add_target("big", &db.url());

    let job_id = app.backup_start("big");
    let running = poll(
        "the backup to be running with bytes read",
        Duration::from_secs(60),
        Duration::from_millis(100),
        || {
            let job = app.job(&job_id);
            let bytes = job["state"]["bytes_db"].as_u64().unwrap_or(0);
            if is_terminal(job_status(&job)) {
                panic!("the backup ended before it could be killed (make the database bigger): {job:#}");
            }
            (job_status(&job) == "running" && bytes > 0).then_some(job)
        },
    );
    let attempt_before = running["state"]["attempt"].as_u64().unwrap_or(0);
    let dump_children: Vec<String> = procs::descendants(app.pid())
        .into_iter()
        .map(|s| s.comm)
        .collect();

    app.kill9();
    app.restart();

    let job = app.wait_terminal(&job_id, RECOVERY_DEADLINE);
    let status = job_status(&job).to_string();
    eprintln!(
        "children at kill time: {dump_children:?}; job ended {status} after {} attempt(s): {:?}",
        job["state"]["attempt"],
        event_types(&job)
    );
    assert_contiguous_seqs(&job);
    assert_eq!(
        status, "succeeded",
        "a backup killed with attempts left is retried until it succeeds: {job:#}"
    );
    assert_eq!(
        job["state"]["attempt"].as_u64(),
        Some(attempt_before + 1),
        "the retry after the crash is the next attempt: {job:#}"
    );

    // Exactly the retried backup is listed, complete and verified; the killed attempt's
    // partial upload was cleaned before the retry started.
    let listed = app.backups("big");
    assert_eq!(
        listed.len(),
        1,
        "listed backups after the crash: {listed:#?}"
    );
    assert_eq!(listed[0]["job_id"].as_str(), Some(job_id.as_str()));
    app.assert_backup_verifies("big", &listed[0]);
    let incomplete: Vec<String> = std::fs::read_dir(app.storage_dir("big"))
        .expect("the target's storage folder")
        .flatten()
        .filter(|e| !e.path().join("manifest.json").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        incomplete.is_empty(),
        "partial uploads left after the retry succeeded: {incomplete:?}"
    );

    let summary = app.backup_wait("big");
    let after = app.backups("big");
    assert_eq!(after.len(), 2, "the new backup is listed: {after:#?}");
    let new_id = job_id_of(&summary);
    let newest = &after[0];
    assert_eq!(
        newest["job_id"].as_str(),
        Some(new_id.as_str()),
        "newest first"
    );
    app.assert_backup_verifies("big", newest);
}
