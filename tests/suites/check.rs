//! `cairn check TARGET`: a job that runs only the target's preflight on a dump worker
//! (connect, credentials, version, primary), touching no data and no storage; it
//! succeeds with the server version or fails at once (one attempt) with the reason.

use cairn_tests::*;
use std::time::Duration;

/// `cairn check T --wait --json`: the output and its summary.
fn check(app: &App, target: &str) -> (Output, serde_json::Value) {
    let out = app.cairn_limit(&["check", target, "--wait", "--json"], WAIT_LIMIT);
    let summary = summary(&out);
    (out, summary)
}

#[test]
fn check_passes_on_postgres_mariadb_and_redis_without_touching_data() {
    let pg = Pg::shared().create_db();
    let my = My::shared().create_db();
    let redis = RedisServer::start();
    let app = App::start();
    app.add_target("pg", &pg.url());
    app.add_target("maria", &my.url());
    app.add_target("cache", &redis.url(Some(0)));

    // (target, what the server version reported must contain)
    for (target, version_has) in [("pg", "15"), ("maria", "MariaDB"), ("cache", "7.")] {
        let (out, summary) = check(&app, target);
        out.expect_code(0, &format!("check {target} --wait --json"));
        assert_eq!(status_of(&summary), "succeeded", "{summary}");
        assert_eq!(summary["kind"], "check", "{summary}");
        let version = summary["server_version"].as_str().unwrap_or_default();
        assert!(
            version.contains(version_has),
            "{target}: server_version {version:?} should contain {version_has:?}"
        );
        assert_eq!(summary["attempts"], 1);
        let job = app.job(&job_id_of(&summary));
        assert_eq!(
            event_types(&job),
            ["JobQueued", "JobClaimed", "JobStarted", "JobSucceeded"],
            "{target}: the preflight alone"
        );
        assert!(app.backups(target).is_empty(), "{target}: no backup made");
        assert!(
            !app.storage_dir(target).exists(),
            "{target}: nothing written to storage"
        );
    }
    let checks = app.history(&["--kind", "check"]);
    assert_eq!(checks.len(), 3, "history lists the check jobs: {checks:?}");

    // Without --wait it prints the job id, as `cairn backup` does.
    let out = app.cairn(&["check", "pg"]);
    out.expect_code(0, "check pg");
    let id = out.stdout.trim().to_string();
    let job = app.wait_terminal(&id, WAIT_LIMIT);
    assert_eq!(job_status(&job), "succeeded", "{job:#}");
}

#[test]
fn check_of_an_unreachable_target_fails_at_once_with_the_reason() {
    let port = util::free_port();
    let app = App::start();
    app.add_target(
        "nowhere",
        &format!("postgres://postgres@127.0.0.1:{port}/nothing"),
    );

    let (out, summary) = check(&app, "nowhere");
    out.expect_code(1, "check of an unreachable host");
    assert_eq!(status_of(&summary), "failed", "{summary}");
    assert_eq!(summary["attempts"], 1, "a check is not retried: {summary}");
    assert_eq!(summary["failure"]["code"], "unreachable", "{summary}");
    let message = summary["failure"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&port.to_string()),
        "the reason names the address: {message}"
    );

    // For people: the reason on stderr, exit 1.
    let out = app.cairn_limit(&["check", "nowhere", "--wait"], WAIT_LIMIT);
    out.expect_code(1, "check --wait of an unreachable host");
    assert!(
        out.stderr.contains("not available") || out.stderr.contains("unreachable"),
        "{}",
        out.all_text()
    );

    // An unknown target is refused before any job runs.
    let out = app.cairn_limit(&["check", "nosuch", "--wait"], Duration::from_secs(60));
    out.expect_code(2, "check of an unknown target");
    assert!(out.stderr.contains("unknown target"), "{}", out.all_text());
}
