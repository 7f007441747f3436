//! Schedules through the real binary: `cairn schedule set|show|next|clear` and
//! `cairn schedules`, bad input refused with exit 2 naming the flag, fire times equal to
//! the domain's computation across a DST change, a scheduled backup fired by `cairn up`,
//! and the prune queued after each successful backup of a target with a policy.

use cairn_domain::schedule::ScheduleFlags;
use cairn_domain::Schedule;
use cairn_tests::*;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use std::time::Duration;

#[test]
fn set_show_next_list_and_clear_a_schedule() {
    let pg = Pg::shared().create_db();
    let app = App::start();
    app.add_target("alpha", &pg.url());

    let set = app.cairn(&[
        "schedule",
        "set",
        "alpha",
        "--at",
        "02:30",
        "--tz",
        "Europe/Berlin",
        "--keep",
        "3",
        "--keep-daily",
        "7",
        "--catch-up",
        "30m",
        "--json",
    ]);
    set.expect_code(0, "schedule set alpha --at 02:30");
    let v1 = set.json();
    assert_eq!(v1["version"], 1, "{v1}");

    // Across the spring-forward of 2026-03-29 in Berlin, 02:30 does not exist: that day
    // fires at 03:00 CEST (01:00 UTC), the first instant after the gap.
    let after = "2026-03-27T00:00:00Z";
    let next = app.cairn(&[
        "schedule", "next", "alpha", "--count", "4", "--after", after, "--json",
    ]);
    next.expect_code(0, "schedule next alpha");
    let got: Vec<String> = serde_json::from_value(next.json()).unwrap();
    assert_eq!(
        got,
        [
            "2026-03-27T01:30:00Z",
            "2026-03-28T01:30:00Z",
            "2026-03-29T01:00:00Z",
            "2026-03-30T00:30:00Z"
        ]
    );
    let domain = Schedule::from_flags(ScheduleFlags {
        at: Some("02:30"),
        tz: Some("Europe/Berlin"),
        ..Default::default()
    })
    .unwrap();
    let after: DateTime<Utc> = after.parse().unwrap();
    let expected: Vec<String> = domain
        .fires_after(after)
        .take(4)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        .collect();
    assert_eq!(
        got, expected,
        "the CLI answers with the domain's computation"
    );

    app.cairn(&["schedule", "set", "alpha", "--cron", "0 4 * * *"])
        .expect_code(0, "schedule set alpha --cron");
    let shown = app.cairn(&["schedule", "show", "alpha", "--json"]);
    shown.expect_code(0, "schedule show alpha");
    let shown = shown.json();
    assert_eq!(shown["version"], 2, "{shown}");
    assert_eq!(shown["policy"]["schedule"]["kind"], "cron", "{shown}");
    assert_eq!(
        shown["policy"]["keep"]["last"], 5,
        "keep is back to its default: {shown}"
    );
    let history = shown["history"].as_array().expect("history");
    assert_eq!(history.len(), 2, "{shown}");
    assert_eq!(history[0]["policy"]["keep"]["last"], 3, "{shown}");
    assert_eq!(history[0]["policy"]["keep"]["daily"], 7, "{shown}");
    let by = shown["set_by"].as_str().expect("set_by names the token");
    assert!(
        history.iter().all(|h| h["by"] == by && h["at"].is_string()),
        "{shown}"
    );
    let text = app.cairn(&["schedule", "show", "alpha"]);
    text.expect_code(0, "schedule show alpha (text)");
    assert!(
        text.stdout.contains("cron 0 4 * * * (UTC)"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("v1 ") && text.stdout.contains(by),
        "{}",
        text.stdout
    );

    let list = app.cairn(&["schedules", "--json"]);
    list.expect_code(0, "schedules");
    let list = list.json();
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["target"], "alpha");

    app.cairn(&["schedule", "clear", "alpha"])
        .expect_code(0, "schedule clear");
    let gone = app.cairn(&["schedule", "show", "alpha"]);
    gone.expect_code(2, "schedule show after clear");
    assert!(gone.stderr.contains("no schedule"), "{}", gone.stderr);
    assert_eq!(
        app.cairn(&["schedules", "--json"]).json(),
        Value::Array(vec![])
    );
    app.cairn(&["schedule", "next", "alpha"])
        .expect_code(2, "next without a schedule");

    // The history answers who changed the schedule of alpha, and when: every change is an
    // event of alpha's configuration stream, in the ledger's global log.
    let changes = app.history(&["--target", "alpha", "--kind", "config"]);
    let types: Vec<&str> = changes
        .iter()
        .map(|c| c["change"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(changes.len(), 4, "added, set, set, cleared: {types:?}");
    assert!(types[0].contains("v3: cleared"), "{types:?}");
    assert!(types[1].contains("v2: cron 0 4 * * *"), "{types:?}");
    assert!(types[3].starts_with("target added"), "{types:?}");
    for c in &changes {
        assert_eq!(c["kind"], "config", "{c}");
        assert_eq!(c["requested_by"], by, "{c}");
        assert!(c["queued_at"].is_string(), "{c}");
    }
    let all = app.history(&["--target", "alpha"]);
    assert!(
        all.iter().any(|e| e["kind"] == "config"),
        "plain history shows configuration changes too: {all:?}"
    );
    let text = app.cairn(&["history", "--target", "alpha"]);
    text.expect_code(0, "history --target alpha");
    assert!(text.stdout.contains("v3: cleared"), "{}", text.stdout);
}

#[test]
fn bad_schedule_input_exits_2_naming_the_field() {
    let pg = Pg::shared().create_db();
    let app = App::start();
    app.add_target("alpha", &pg.url());
    let cases: &[(&[&str], &str)] = &[
        (&["--every", "daily", "--tz", "Mars/Olympus"], "--tz"),
        (&["--at", "25:00"], "--at"),
        (&["--at", "03:00", "--days", "mon,funday"], "--days"),
        (&["--cron", "61 * * * *"], "minute"),
        (&["--cron", "@daily", "--tz", "Europe/Berlin"], "--tz"),
        (&["--every", "daily", "--cron", "@daily"], "only one"),
        (&["--every", "fortnightly"], "--every"),
        (&["--every", "daily", "--keep", "0"], "--keep 0"),
        (&["--every", "daily", "--catch-up", "soon"], "--catch-up"),
        (&["--every", "daily", "--storage", "nowhere"], "nowhere"),
        (&[], "--every"),
    ];
    for (flags, named) in cases {
        let mut args = vec!["schedule", "set", "alpha"];
        args.extend_from_slice(flags);
        let out = app.cairn(&args);
        out.expect_code(2, &format!("schedule set {flags:?}"));
        assert!(
            out.stderr.contains(named),
            "{flags:?} names {named}: {}",
            out.stderr
        );
    }
    let unknown = app.cairn(&["schedule", "set", "nobody", "--every", "daily"]);
    unknown.expect_code(2, "schedule set on an unknown target");
    assert!(unknown.stderr.contains("nobody"), "{}", unknown.stderr);
    let bad_after = app.cairn(&["schedule", "next", "alpha", "--after", "yesterday"]);
    bad_after.expect_code(2, "schedule next --after yesterday");
    assert!(
        bad_after.stderr.contains("RFC 3339"),
        "{}",
        bad_after.stderr
    );
    assert_eq!(
        app.cairn(&["schedules", "--json"]).json(),
        Value::Array(vec![]),
        "nothing was set"
    );
}

fn jobs(app: &App, kind: &str, target: &str) -> Vec<Value> {
    app.history(&["--kind", kind, "--target", target])
}

#[test]
fn cairn_up_fires_the_schedule_and_each_successful_backup_queues_a_prune() {
    let pg = Pg::shared().create_db();
    pg.psql("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1);");
    let app = App::start();
    app.add_target("alpha", &pg.url());
    app.add_target("beta", &pg.url());

    // beta has no policy: its backup queues no prune.
    app.backup_wait("beta");
    app.cairn(&[
        "schedule",
        "set",
        "alpha",
        "--cron",
        "* * * * *",
        "--keep",
        "2",
    ])
    .expect_code(0, "schedule set alpha every minute");
    let manual = job_id_of(&app.backup_wait("alpha"));

    // The next minute's slot fires by itself.
    let scheduled = poll(
        "a scheduled backup of alpha to succeed",
        Duration::from_secs(150),
        Duration::from_millis(500),
        || {
            jobs(&app, "backup", "alpha")
                .into_iter()
                .find(|j| j["requested_by"] == "schedule:alpha" && j["status"] == "succeeded")
        },
    );
    let scheduled = scheduled["job_id"].as_str().unwrap().to_string();
    assert_ne!(scheduled, manual);

    let prunes = poll(
        "a prune after each of alpha's two backups",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || {
            let p = jobs(&app, "prune", "alpha");
            (p.len() >= 2).then_some(p)
        },
    );
    assert!(
        prunes
            .iter()
            .all(|p| p["requested_by"] == "retention:alpha"),
        "{prunes:#?}"
    );
    assert!(jobs(&app, "prune", "beta").is_empty(), "beta has no policy");
}
