//! Prometheus metrics: after known jobs on real servers (a PostgreSQL and a Redis backup
//! that succeed, one that is dead-lettered, a refused one, a restore), `/metrics` parsed by
//! the Prometheus client's reference parsers shows exactly those counts; after a restart
//! of `cairn up` it shows the same. `/metrics` needs role read unless `--metrics-public`.
//! The alert rules in docs/ pass `promtool check rules` and their unit tests.

use cairn_tests::http::get;
use cairn_tests::tools::{promtool, repo_root, venv_bin};
use cairn_tests::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

/// One sample: metric name, labels, value.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses an exposition with `prometheus_client`'s parser of `format`
/// (`openmetrics`|`prometheus`); panics with the parser's message if it is malformed.
fn parse(text: &str, format: &str) -> Vec<Sample> {
    let script = repo_root().join("tests/fixtures/parse_metrics.py");
    let mut child = Command::new(venv_bin("python"))
        .arg(&script)
        .arg(format)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the metrics parser");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("feed the parser");
    let out = child.wait_with_output().expect("run the metrics parser");
    assert!(
        out.status.success(),
        "the {format} parser refused the exposition: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let samples: Vec<Value> = serde_json::from_slice(&out.stdout).expect("parser JSON");
    samples
        .into_iter()
        .map(|s| Sample {
            name: s["name"].as_str().expect("name").to_string(),
            labels: serde_json::from_value(s["labels"].clone()).expect("labels"),
            value: s["value"].as_f64().expect("value"),
        })
        .collect()
}

/// Scrapes `/metrics` as Prometheus does (OpenMetrics), with `token` if given.
fn scrape(app: &App, token: Option<&str>) -> Vec<Sample> {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![(
        "Accept",
        "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
    )];
    if let Some(auth) = &auth {
        headers.push(("Authorization", auth.as_str()));
    }
    let answer = get(app.port, "/metrics", &headers);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        answer
            .content_type
            .starts_with("application/openmetrics-text"),
        "{}",
        answer.content_type
    );
    parse(&answer.body, "openmetrics")
}

/// The value of the sample `name` with exactly these labels, if there is one.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    samples
        .iter()
        .find(|s| s.name == name && s.labels == want)
        .map(|s| s.value)
}

fn jobs(samples: &[Sample], kind: &str, engine: &str, target: &str, outcome: &str) -> f64 {
    value(
        samples,
        "cairn_jobs_total",
        &[
            ("kind", kind),
            ("engine", engine),
            ("target", target),
            ("outcome", outcome),
        ],
    )
    .unwrap_or(0.0)
}

/// What the jobs of the test must show, before and after a restart.
fn assert_known_jobs(m: &[Sample], backup_at: f64, stored_bytes: f64, what: &str) {
    assert_eq!(
        jobs(m, "backup", "postgres", "shop", "succeeded"),
        1.0,
        "{what}"
    );
    assert_eq!(
        jobs(m, "backup", "redis", "cache", "succeeded"),
        1.0,
        "{what}"
    );
    assert_eq!(
        jobs(m, "restore", "postgres", "shop", "succeeded"),
        1.0,
        "{what}"
    );
    assert_eq!(
        jobs(m, "backup", "postgres", "gone", "dead_lettered"),
        1.0,
        "{what}"
    );
    assert_eq!(
        jobs(m, "backup", "postgres", "gone", "failed"),
        0.0,
        "{what}"
    );
    assert_eq!(
        jobs(m, "backup", "unknown", "nosuch", "rejected"),
        1.0,
        "{what}"
    );
    // Each successful backup of a target with no policy queues no prune.
    let ended: f64 = m
        .iter()
        .filter(|s| s.name == "cairn_jobs_total")
        .map(|s| s.value)
        .sum();
    assert_eq!(ended, 5.0, "{what}: exactly the five jobs ended: {m:?}");
    assert_eq!(
        value(
            m,
            "cairn_last_success_timestamp_seconds",
            &[("kind", "backup"), ("target", "shop")]
        ),
        Some(backup_at),
        "{what}"
    );
    assert_eq!(
        value(m, "cairn_last_backup_size_bytes", &[("target", "shop")]),
        Some(stored_bytes),
        "{what}"
    );
    assert!(
        value(
            m,
            "cairn_last_success_timestamp_seconds",
            &[("kind", "backup"), ("target", "gone")]
        )
        .is_none(),
        "{what}: a target that never succeeded has no last success"
    );
    // Worked jobs are timed: two PostgreSQL backups (one succeeded, one dead), one Redis.
    let count = |engine| {
        value(
            m,
            "cairn_job_duration_seconds_count",
            &[("kind", "backup"), ("engine", engine)],
        )
    };
    assert_eq!(count("postgres"), Some(2.0), "{what}");
    assert_eq!(count("redis"), Some(1.0), "{what}");
    for kind in ["backup", "restore", "prune"] {
        assert_eq!(
            value(m, "cairn_jobs_in_progress", &[("kind", kind)]),
            Some(0.0),
            "{what}: {kind}"
        );
    }
    assert_eq!(
        value(
            m,
            "cairn_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0),
        "{what}"
    );
    // No label carries a job or backup id.
    for s in m {
        for (k, v) in &s.labels {
            assert!(
                uuid::Uuid::parse_str(v).is_err() && !v.contains("Z-"),
                "{what}: {} has an id in label {k}={v}",
                s.name
            );
        }
    }
}

#[test]
fn metrics_count_known_jobs_and_survive_a_restart() {
    let pg = Pg::shared().create_db();
    pg.psql("CREATE TABLE t (x int); INSERT INTO t SELECT generate_series(1, 100);");
    let redis = RedisServer::start();
    redis.load_awkward(0);
    let mut app = App::start_with(AppOptions {
        up_args: vec!["--max-attempts".into(), "1".into()],
        ..AppOptions::default()
    });

    // Before any job: role read is needed, and every kind shows nothing in progress.
    let denied = get(app.port, "/metrics", &[]);
    assert_eq!(denied.status, 401, "{}", denied.body);
    let reader = app.create_token("prometheus", "read");
    let empty = scrape(&app, Some(&reader));
    assert_eq!(
        value(&empty, "cairn_jobs_in_progress", &[("kind", "backup")]),
        Some(0.0)
    );
    assert!(
        empty.iter().all(|s| s.name != "cairn_jobs_total"),
        "{empty:?}"
    );

    app.add_target("shop", &pg.url());
    app.add_target("cache", &redis.url(None));
    app.add_target(
        "gone",
        &format!("postgres://postgres@127.0.0.1:{}/gone", util::free_port()),
    );
    app.backup_wait("shop");
    app.backup_wait("cache");
    app.cairn_limit(&["backup", "gone", "--wait"], WAIT_LIMIT)
        .expect_code(1, "backup of a server nobody runs");
    app.cairn(&["backup", "nosuch"])
        .expect_code(2, "backup of an unknown target");
    let out = app.restore_wait("shop", "latest", None);
    out.expect_code(0, "restore shop latest");

    let shop = app.history(&["--target", "shop", "--kind", "backup"]);
    let backup = &shop[0];
    let job = app.job(backup["job_id"].as_str().expect("job_id"));
    let ended_at = job["state"]["updated_at"].as_str().expect("updated_at");
    let ended_at = chrono::DateTime::parse_from_rfc3339(ended_at)
        .expect("RFC 3339")
        .timestamp_millis() as f64
        / 1000.0;
    let stored = job["state"]["backup"]["stored_bytes"]
        .as_f64()
        .expect("stored_bytes");

    let before = scrape(&app, Some(&reader));
    assert_known_jobs(&before, ended_at, stored, "before the restart");
    let events_before = value(&before, "cairn_ledger_events_total", &[]).expect("events");
    assert!(events_before >= 15.0, "{events_before}");

    // The plain Prometheus text format parses too, with the same counts.
    let plain = get(
        app.port,
        "/metrics",
        &[("Authorization", &format!("Bearer {reader}"))],
    );
    assert!(
        plain.content_type.starts_with("text/plain"),
        "{}",
        plain.content_type
    );
    let plain = parse(&plain.body, "prometheus");
    assert_eq!(jobs(&plain, "backup", "redis", "cache", "succeeded"), 1.0);

    // A restart folds the ledger again: the same figures, now without a token.
    app.kill9();
    app.set_server_args(vec![
        "--max-attempts".into(),
        "1".into(),
        "--metrics-public".into(),
    ]);
    app.restart();
    let after = scrape(&app, None);
    assert_known_jobs(&after, ended_at, stored, "after the restart");
    let events_after = value(&after, "cairn_ledger_events_total", &[]).expect("events");
    assert!(
        events_after >= events_before,
        "{events_after} < {events_before}"
    );

    // The next job moves the counters on from there.
    app.backup_wait("shop");
    let more = scrape(&app, None);
    assert_eq!(jobs(&more, "backup", "postgres", "shop", "succeeded"), 2.0);

    // A schedule shows its interval, for the overdue alert.
    app.cairn(&["schedule", "set", "shop", "--every", "daily"])
        .expect_code(0, "schedule set");
    let scheduled = scrape(&app, None);
    assert_eq!(
        value(
            &scheduled,
            "cairn_schedule_interval_seconds",
            &[("target", "shop")]
        ),
        Some(86400.0)
    );
    // Every metric the alert rules and the dashboard name is exposed.
    for doc in [
        "docs/prometheus/alerts.yml",
        "docs/grafana/cairn-dashboard.json",
    ] {
        let text = std::fs::read_to_string(repo_root().join(doc)).expect("read doc");
        for name in metric_names(&text) {
            assert!(
                scheduled.iter().any(|s| s.name == name),
                "{doc} uses {name}, which /metrics does not expose"
            );
        }
    }
}

/// The `cairn_…` metric names a text mentions.
fn metric_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("cairn_") && w.len() > "cairn_".len())
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    assert!(!names.is_empty(), "no metric named");
    names
}

/// The alert rules shipped in docs/ are valid and their unit tests pass.
#[test]
fn alert_rules_pass_promtool() {
    let rules = repo_root().join("docs/prometheus/alerts.yml");
    let tests = repo_root().join("docs/prometheus/alerts_test.yml");
    for (args, what) in [
        (
            vec![
                "check".to_string(),
                "rules".into(),
                rules.display().to_string(),
            ],
            "check rules",
        ),
        (
            vec![
                "test".to_string(),
                "rules".into(),
                tests.display().to_string(),
            ],
            "test rules",
        ),
    ] {
        let out = util::run(
            {
                let mut c = Command::new(promtool());
                c.args(&args);
                c
            },
            None,
            Duration::from_secs(60),
        );
        out.expect_code(0, &format!("promtool {what}"));
    }
}
