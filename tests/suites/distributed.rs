//! cairn as separate processes on a real NATS JetStream (a private nats-server 2.15 per
//! test): `cairn-scheduler` plus `cairn-dump-worker` processes, driven by the CLI and by
//! NATS clients. Build first: `cargo build -p cairn --bins`.

use cairn_tests::nats::{NatsServer, WorkerProc};
use cairn_tests::stack::{claimed_by, count_type, Stack};
use cairn_tests::*;
use futures::StreamExt;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(240);

fn small_db(rows: u32) -> PgDb {
    let db = Pg::shared().create_db();
    db.psql(&format!(
        "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, {rows}) g"
    ));
    db
}

fn succeeded(jobs: &[Value]) -> usize {
    jobs.iter().filter(|j| job_status(j) == "succeeded").count()
}

#[test]
fn three_dump_workers_share_thirty_backups_and_each_succeeds_once() {
    let stack = Stack::start(15);
    let dbs: Vec<PgDb> = (0..5).map(|_| small_db(200)).collect();
    let targets: Vec<String> = (0..5).map(|i| format!("share{i}")).collect();
    for (t, db) in targets.iter().zip(&dbs) {
        stack.app.add_target(t, &db.url());
    }
    let workers: Vec<WorkerProc> = (1..=3)
        .map(|i| stack.dump_worker(&format!("dump-{i}"), &["--concurrency", "2"]))
        .collect();
    let ids: Vec<String> = (0..30)
        .map(|i| stack.app.backup_start(&targets[i % targets.len()]))
        .collect();
    let jobs = stack.wait_all(&ids, DEADLINE);

    let mut by_worker: BTreeMap<String, usize> = BTreeMap::new();
    for job in &jobs {
        assert_eq!(job_status(job), "succeeded", "every job succeeds: {job:#}");
        assert_eq!(
            count_type(job, "JobSucceeded"),
            1,
            "one JobSucceeded: {job:#}"
        );
        assert_eq!(
            count_type(job, "BackupStored"),
            1,
            "one BackupStored: {job:#}"
        );
        assert_contiguous_seqs(job);
        for w in claimed_by(job) {
            *by_worker.entry(w).or_default() += 1;
        }
    }
    eprintln!("claims per worker: {by_worker:?}");
    assert!(
        by_worker.len() > 1,
        "more than one worker process did work: {by_worker:?}"
    );
    assert!(
        by_worker.keys().all(|w| w.starts_with("dump-")),
        "only the dump workers claimed: {by_worker:?}"
    );
    let ours: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
    let mut listed = BTreeSet::new();
    for t in &targets {
        let backups = stack.app.backups(t);
        assert_eq!(backups.len(), 6, "six backups of {t}: {backups:#?}");
        for b in backups {
            let job = b["job_id"]
                .as_str()
                .expect("backup names its job")
                .to_string();
            assert!(ours.contains(job.as_str()), "backup of an unknown job: {b}");
            assert!(listed.insert(job), "two backups of one job: {b}");
        }
    }
    assert_eq!(listed.len(), 30);
    drop(workers);
}

#[test]
fn a_platform_request_on_nats_queues_a_backup_and_sees_every_event() {
    let stack = Stack::start(15);
    let db = small_db(100);
    stack.app.add_target("platform", &db.url());
    let operate = stack.app.create_token("platform", "operate");
    let _worker = stack.dump_worker("dump-1", &[]);
    let client = stack.client();
    let mut events = stack.block_on(async {
        let sub = client
            .subscribe("cairn.events.>")
            .await
            .expect("subscribe to events");
        client.flush().await.expect("flush");
        sub
    });
    let request = |token: Option<&str>, subject: &str, body: Value| -> Value {
        let client = client.clone();
        let subject = subject.to_string();
        let token = token.map(|t| format!("Bearer {t}"));
        stack.block_on(async move {
            let mut headers = async_nats::HeaderMap::new();
            if let Some(t) = token {
                headers.insert("Authorization", t.as_str());
            }
            let reply = client
                .request_with_headers(subject, headers, body.to_string().into())
                .await
                .expect("the scheduler answers");
            serde_json::from_slice(&reply.payload).expect("a JSON reply")
        })
    };

    let reply = request(
        Some(&operate),
        "cairn.requests.backup",
        json!({"target": "platform"}),
    );
    let job_id = reply["job_id"]
        .as_str()
        .unwrap_or_else(|| panic!("a job id in {reply}"))
        .to_string();
    let job = stack.app.wait_terminal(&job_id, DEADLINE);
    assert_eq!(job_status(&job), "succeeded", "{job:#}");
    let ledger: Vec<(String, u64)> = job["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            (
                e["event_id"].as_str().unwrap_or("").to_string(),
                e["global_seq"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    // Every event of the job reaches the subscriber, on its subject, in order.
    let seen: Vec<(String, u64)> = stack.block_on(async {
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + DEADLINE;
        while seen.len() < ledger.len() {
            let m = tokio::time::timeout_at(deadline, events.next())
                .await
                .expect("the job's events arrive on cairn.events.>")
                .expect("subscription open");
            let e: Value = serde_json::from_slice(&m.payload).expect("an event is JSON");
            if e["job_id"] != json!(job_id) {
                continue;
            }
            let ty = e["type"].as_str().unwrap_or("");
            assert_eq!(
                m.subject.as_str(),
                format!("cairn.events.platform.backup.{ty}"),
                "event subject"
            );
            let header = m
                .headers
                .as_ref()
                .and_then(|h| h.get("Cairn-Global-Seq"))
                .map(|v| v.as_str().to_string());
            assert_eq!(header, e["global_seq"].as_u64().map(|g| g.to_string()));
            seen.push((
                e["event_id"].as_str().unwrap_or("").to_string(),
                e["global_seq"].as_u64().unwrap_or(0),
            ));
        }
        seen
    });
    assert_eq!(
        seen, ledger,
        "the subscriber saw the job's ledger events, in order"
    );

    // A malformed request names the field; an unknown target is rejected and recorded;
    // no token, or a read token, is refused and audited.
    let bad = request(
        Some(&operate),
        "cairn.requests.backup",
        json!({"targ": "platform"}),
    );
    let message = bad["error"]
        .as_str()
        .unwrap_or_else(|| panic!("an error in {bad}"));
    assert!(
        message.contains("target"),
        "the error names the field: {bad}"
    );
    let unknown = request(
        Some(&operate),
        "cairn.requests.backup",
        json!({"target": "nope"}),
    );
    assert_eq!(unknown["code"], "not_found", "{unknown}");
    let rejected = unknown["job_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{unknown}"));
    assert!(event_types(&stack.app.job(rejected)).contains(&"JobRejected".to_string()));
    let anonymous = request(None, "cairn.requests.backup", json!({"target": "platform"}));
    assert_eq!(anonymous["code"], "unauthenticated", "{anonymous}");
    let reader = stack.app.create_token("reader", "read");
    let forbidden = request(
        Some(&reader),
        "cairn.requests.restore",
        json!({"target": "platform", "backup": "latest"}),
    );
    assert_eq!(forbidden["code"], "forbidden", "{forbidden}");
    // The control plane refuses a call without a worker token too, and one whose token
    // has another role.
    let claim = request(
        None,
        "cairn.ctl.claim",
        json!({"job_id": job_id, "worker_id": "intruder"}),
    );
    assert_eq!(claim["error"]["code"], "unauthorized", "{claim}");
    let claim = request(
        None,
        "cairn.ctl.claim",
        json!({"token": operate, "job_id": job_id, "worker_id": "intruder"}),
    );
    assert_eq!(
        claim["error"]["code"], "unauthorized",
        "an operate token is no worker: {claim}"
    );
    assert!(
        claim["error"]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("role worker"),
        "{claim}"
    );
    let audit = stack.app.cairn(&["audit", "--json"]);
    audit.expect_code(0, "audit");
    let audit = audit.all_text();
    for needle in ["cairn.ctl.claim", "/v1/backups", "/v1/restores"] {
        assert!(
            audit.contains(needle),
            "the audit records the refusal on {needle}: {audit}"
        );
    }
}

#[test]
fn events_stream_equals_the_ledger_after_the_scheduler_is_killed() {
    let mut stack = Stack::start(10);
    let dbs: Vec<PgDb> = (0..2).map(|_| small_db(20_000)).collect();
    for (i, db) in dbs.iter().enumerate() {
        stack.app.add_target(&format!("relay{i}"), &db.url());
    }
    let _w: Vec<WorkerProc> = (1..=2)
        .map(|i| stack.dump_worker(&format!("dump-{i}"), &[]))
        .collect();
    let ids: Vec<String> = (0..10)
        .map(|i| stack.app.backup_start(&format!("relay{}", i % 2)))
        .collect();
    poll(
        "a few backups to succeed before the kill",
        DEADLINE,
        Duration::from_millis(200),
        || {
            let done = ids
                .iter()
                .filter(|id| job_status(&stack.app.job(id)) == "succeeded")
                .count();
            (done >= 2).then_some(())
        },
    );
    stack.app.kill9();
    stack.app.restart();
    let jobs = stack.wait_all(&ids, DEADLINE);
    assert_eq!(
        succeeded(&jobs),
        ids.len(),
        "every job finishes after the restart"
    );

    let mut ledger: Vec<(u64, String)> = stack
        .all_jobs()
        .iter()
        .flat_map(|j| j["events"].as_array().cloned().unwrap_or_default())
        .map(|e| {
            (
                e["global_seq"].as_u64().unwrap_or(0),
                e["event_id"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    ledger.sort();
    let stream = poll(
        "CAIRN_EVENTS to hold every ledger event",
        DEADLINE,
        Duration::from_millis(200),
        || {
            // Configuration events (TargetAdded, …) are relayed too; `all_jobs` holds jobs.
            let msgs: Vec<_> = stack
                .stream_messages("CAIRN_EVENTS")
                .into_iter()
                .filter(|(_, _, body)| body["kind"] != "config")
                .collect();
            (msgs.len() >= ledger.len()).then_some(msgs)
        },
    );
    let relayed: Vec<(u64, String)> = stream
        .iter()
        .map(|(_, headers, body)| {
            let header: u64 = headers
                .get("Cairn-Global-Seq")
                .and_then(|v| v.as_str().parse().ok())
                .expect("every event has a Cairn-Global-Seq header");
            assert_eq!(Some(header), body["global_seq"].as_u64());
            (header, body["event_id"].as_str().unwrap_or("").to_string())
        })
        .collect();
    assert_eq!(
        relayed, ledger,
        "CAIRN_EVENTS holds the ledger's events exactly once, in global order"
    );
}

#[test]
fn the_same_job_message_twice_runs_the_dump_once() {
    let stack = Stack::start(15);
    let db = small_db(100);
    stack.app.add_target("twice", &db.url());
    let job_id = stack.app.backup_start("twice");
    poll(
        "the job message on CAIRN_JOBS",
        DEADLINE,
        Duration::from_millis(100),
        || (stack.stream_len("CAIRN_JOBS") == 1).then_some(()),
    );
    let client = stack.client();
    let body = json!({"job_id": job_id, "kind": "backup", "target": "twice"}).to_string();
    let subject = format!("cairn.jobs.backup.twice.{job_id}.copy");
    stack.block_on(async move {
        let js = async_nats::jetstream::new(client);
        js.publish(subject, body.into())
            .await
            .expect("publish a copy")
            .await
            .expect("the copy is stored");
    });
    assert_eq!(stack.stream_len("CAIRN_JOBS"), 2, "two messages of one job");
    let _worker = stack.dump_worker("dump-1", &["--concurrency", "2"]);
    let job = stack.app.wait_terminal(&job_id, DEADLINE);
    assert_eq!(job_status(&job), "succeeded", "{job:#}");
    // Both messages are settled (the duplicate acked after its claim was denied).
    poll(
        "CAIRN_JOBS to hold no message of the job",
        DEADLINE,
        Duration::from_millis(200),
        || {
            let left = stack.stream_messages("CAIRN_JOBS");
            (!left.iter().any(|(s, _, _)| s.contains(&job_id))).then_some(())
        },
    );
    let job = stack.app.job(&job_id);
    assert_eq!(count_type(&job, "JobClaimed"), 1, "one claim: {job:#}");
    assert_eq!(count_type(&job, "JobSucceeded"), 1, "{job:#}");
    assert_eq!(stack.app.backups("twice").len(), 1, "the dump ran once");
}

#[test]
fn a_purged_jobs_stream_gets_its_queued_jobs_back_from_the_ledger() {
    let stack = Stack::start(15);
    let db = small_db(100);
    stack.app.add_target("purged", &db.url());
    let ids: Vec<String> = (0..3).map(|_| stack.app.backup_start("purged")).collect();
    poll(
        "three job messages",
        DEADLINE,
        Duration::from_millis(100),
        || (stack.stream_len("CAIRN_JOBS") == 3).then_some(()),
    );
    let client = stack.client();
    stack.block_on(async move {
        let js = async_nats::jetstream::new(client);
        let stream = js.get_stream("CAIRN_JOBS").await.expect("stream");
        stream.purge().await.expect("purge");
    });
    assert_eq!(stack.stream_len("CAIRN_JOBS"), 0, "purged");
    poll(
        "the queued jobs to be published again",
        DEADLINE,
        Duration::from_millis(200),
        || (stack.stream_len("CAIRN_JOBS") == 3).then_some(()),
    );
    let _worker = stack.dump_worker("dump-1", &[]);
    let jobs = stack.wait_all(&ids, DEADLINE);
    assert_eq!(succeeded(&jobs), 3, "{jobs:#?}");
}

#[test]
fn services_reconnect_when_nats_restarts_and_no_job_is_lost() {
    let mut stack = Stack::start(15);
    let dbs: Vec<PgDb> = (0..2).map(|_| small_db(20_000)).collect();
    for (i, db) in dbs.iter().enumerate() {
        stack.app.add_target(&format!("bounce{i}"), &db.url());
    }
    let _w: Vec<WorkerProc> = (1..=2)
        .map(|i| stack.dump_worker(&format!("dump-{i}"), &[]))
        .collect();
    let ids: Vec<String> = (0..8)
        .map(|i| stack.app.backup_start(&format!("bounce{}", i % 2)))
        .collect();
    poll(
        "a backup to succeed before the restart",
        DEADLINE,
        Duration::from_millis(200),
        || {
            ids.iter()
                .any(|id| job_status(&stack.app.job(id)) == "succeeded")
                .then_some(())
        },
    );
    stack.nats.restart();
    let jobs = stack.wait_all(&ids, DEADLINE);
    assert_eq!(succeeded(&jobs), ids.len(), "{jobs:#?}");
    // And the bus works after the restart for new jobs too.
    let after = stack.app.backup_start("bounce0");
    let job = stack.app.wait_terminal(&after, DEADLINE);
    assert_eq!(job_status(&job), "succeeded", "{job:#}");
}

/// Polls until the job runs on `worker` with bytes read.
fn running_on(stack: &Stack, job_id: &str, worker: &str) -> Value {
    poll(
        "the backup to be running with bytes read",
        DEADLINE,
        Duration::from_millis(100),
        || {
            let job = stack.app.job(job_id);
            if is_terminal(job_status(&job)) {
                panic!("the backup ended too early (make the database bigger): {job:#}");
            }
            let bytes = job["state"]["bytes_db"].as_u64().unwrap_or(0);
            (job_status(&job) == "running"
                && bytes > 0
                && claimed_by(&job).last().map(String::as_str) == Some(worker))
            .then_some(job)
        },
    )
}

#[test]
fn a_dump_worker_killed_mid_dump_hands_the_job_to_another_as_attempt_two() {
    let stack = Stack::start(5);
    let db = Pg::shared().create_db();
    pg::pgbench_fill(&db, 30);
    stack.app.add_target("big", &db.url());
    let mut first = stack.dump_worker("dump-a", &[]);
    let job_id = stack.app.backup_start("big");
    running_on(&stack, &job_id, "dump-a");
    let _second = stack.dump_worker("dump-b", &[]);
    first.kill9();
    let job = stack.app.wait_terminal(&job_id, DEADLINE);
    assert_eq!(job_status(&job), "succeeded", "{job:#}");
    assert_eq!(job["state"]["attempt"].as_u64(), Some(2), "{job:#}");
    assert_eq!(claimed_by(&job), ["dump-a", "dump-b"], "{job:#}");
    assert_contiguous_seqs(&job);
    let listed = stack.app.backups("big");
    assert_eq!(listed.len(), 1, "{listed:#?}");
    stack.app.assert_backup_verifies("big", &listed[0]);
    let incomplete: Vec<String> = std::fs::read_dir(stack.app.storage_dir("big"))
        .expect("the target's storage folder")
        .flatten()
        .filter(|e| !e.path().join("manifest.json").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        incomplete.is_empty(),
        "attempt 1's partial upload is gone: {incomplete:?}"
    );
}

#[test]
fn a_stopped_worker_past_its_lease_is_fenced_when_it_wakes() {
    let stack = Stack::start(5);
    let db = Pg::shared().create_db();
    pg::pgbench_fill(&db, 30);
    stack.app.add_target("frozen", &db.url());
    let stale = stack.dump_worker("dump-stale", &[]);
    let job_id = stack.app.backup_start("frozen");
    running_on(&stack, &job_id, "dump-stale");
    stale.stop();
    let _fresh = stack.dump_worker("dump-fresh", &[]);
    let job = stack.app.wait_terminal(&job_id, DEADLINE);
    assert_eq!(job_status(&job), "succeeded", "{job:#}");
    assert_eq!(claimed_by(&job), ["dump-stale", "dump-fresh"], "{job:#}");
    stale.cont();
    poll(
        "the stale worker to learn it was fenced",
        DEADLINE,
        Duration::from_millis(200),
        || stale.log().contains("fenced").then_some(()),
    );
    let job = stack.app.job(&job_id);
    assert_eq!(job_status(&job), "succeeded", "{job:#}");
    assert_eq!(count_type(&job, "JobSucceeded"), 1, "{job:#}");
    assert_eq!(count_type(&job, "BackupStored"), 1, "{job:#}");
    let after_end = job["events"]
        .as_array()
        .expect("events")
        .iter()
        .skip_while(|e| e["type"] != "JobSucceeded")
        .skip(1)
        .filter(|e| e["attempt"].as_u64() == Some(1))
        .count();
    assert_eq!(after_end, 0, "nothing of attempt 1 after the end: {job:#}");
    assert_eq!(stack.app.backups("frozen").len(), 1);
}

#[test]
fn a_worker_refuses_to_start_without_key_or_token_or_with_a_bad_token() {
    let stack = Stack::start(15);
    let bin = cairn_tests::nats::sibling_bin("cairn-dump-worker");
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(&bin);
        cmd.args(["--nats", &stack.nats.url(), "--work-dir"])
            .arg(stack.app.data_dir().join("worker-tmp"))
            .args(args)
            .env_remove("CAIRN_TOKEN")
            .env_remove("CAIRN_SECRET_KEY");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cairn_tests::util::run(cmd, None, Duration::from_secs(60))
    };
    let key = stack.key_file().display().to_string();
    let no_key = run(&[], &[("CAIRN_TOKEN", &stack.worker_token)]);
    assert_ne!(no_key.code, 0);
    assert!(
        no_key.stderr.contains("CAIRN_SECRET_KEY"),
        "{}",
        no_key.stderr
    );
    let no_token = run(&["--secret-key-file", &key], &[]);
    assert_ne!(no_token.code, 0);
    assert!(
        no_token.stderr.contains("CAIRN_TOKEN"),
        "{}",
        no_token.stderr
    );
    let bad = run(
        &["--secret-key-file", &key],
        &[("CAIRN_TOKEN", "cairn_not_a_real_token")],
    );
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("refused"), "{}", bad.stderr);
    assert!(
        !bad.all_text().contains("cairn_not_a_real_token"),
        "the token is not echoed"
    );
    let audit = stack.app.cairn(&["audit", "--json"]).all_text();
    assert!(
        audit.contains("cairn.ctl.hello"),
        "the refusal is audited: {audit}"
    );
}

#[test]
fn rebuild_from_the_events_stream_gives_an_equal_ledger() {
    let stack = Stack::start(15);
    let db = small_db(1000);
    stack.app.add_target("rebuilt", &db.url());
    let _worker = stack.dump_worker("dump-1", &[]);
    let _sweeper = stack.worker("cairn-retention-sweeper", "sweeper-1", &[]);
    let ids: Vec<String> = (0..3).map(|_| stack.app.backup_start("rebuilt")).collect();
    let jobs = stack.wait_all(&ids, DEADLINE);
    assert_eq!(succeeded(&jobs), 3, "{jobs:#?}");
    let rejected = stack.app.cairn(&["backup", "no-such-target", "--json"]);
    assert_ne!(
        rejected.code, 0,
        "a rejected request is part of the history too"
    );
    // Every job ended, and the relay caught up.
    let original = poll(
        "every job to end and CAIRN_EVENTS to hold every event",
        DEADLINE,
        Duration::from_millis(300),
        || {
            let all = stack.all_jobs();
            let events: usize = all
                .iter()
                .map(|j| j["events"].as_array().map_or(0, Vec::len))
                .sum::<usize>()
                // and the configuration events (one per target added)
                + stack
                    .app
                    .history(&["--kind", "config", "--limit", "1000"])
                    .len();
            (all.iter().all(|j| is_terminal(job_status(j)))
                && stack.stream_len("CAIRN_EVENTS") as usize == events)
                .then_some(all)
        },
    );
    assert!(
        original.len() >= 4,
        "the backups and the rejection: {original:#?}"
    );

    let new_dir = tempfile::tempdir().expect("a new data dir");
    let data = new_dir.path().join("data");
    let mut cmd = std::process::Command::new(cairn_tests::nats::sibling_bin("cairn-scheduler"));
    cmd.args([
        "rebuild",
        "--from-stream",
        "--nats",
        &stack.nats.url(),
        "--data-dir",
    ])
    .arg(&data);
    let out = cairn_tests::util::run(cmd, None, Duration::from_secs(120));
    out.expect_code(0, "rebuild --from-stream");
    // A second rebuild into the same folder is refused.
    let mut again = std::process::Command::new(cairn_tests::nats::sibling_bin("cairn-scheduler"));
    again
        .args([
            "rebuild",
            "--from-stream",
            "--nats",
            &stack.nats.url(),
            "--data-dir",
        ])
        .arg(&data);
    let again = cairn_tests::util::run(again, None, Duration::from_secs(60));
    assert_ne!(again.code, 0, "rebuilding over a ledger is refused");

    // The rebuilt ledger, served by a scheduler on its own NATS, shows the same jobs,
    // events and history.
    let other_nats = cairn_tests::nats::NatsServer::start();
    let rebuilt = App::start_with(AppOptions {
        scheduler_only: true,
        data_dir: Some(data.clone()),
        up_args: vec!["--nats".into(), other_nats.url()],
        ..AppOptions::default()
    });
    let history = |app: &App| -> Vec<Value> { app.history(&["--limit", "1000"]) };
    assert_eq!(history(&rebuilt), history(&stack.app), "equal history");
    for job in &original {
        let id = job_id_of(&job["state"]);
        assert_eq!(
            &rebuilt.job(&id),
            job,
            "job {id} is equal, with every event"
        );
    }
}

#[test]
fn cairn_up_with_nats_runs_everything_in_one_process_on_jetstream() {
    let nats = cairn_tests::nats::NatsServer::start();
    let app = App::start_with(AppOptions {
        up_args: vec!["--nats".into(), nats.url()],
        ..AppOptions::default()
    });
    let db = small_db(100);
    app.add_target("onebox", &db.url());
    let summary = app.backup_wait("onebox");
    let job = app.job(&job_id_of(&summary));
    // The job's events and the target's configuration events (TargetAdded) are all in the
    // ledger's global log: the job went through CAIRN_JOBS and every event reaches
    // CAIRN_EVENTS.
    let config_events = app.history(&["--kind", "config", "--limit", "1000"]).len();
    assert!(config_events >= 1, "adding the target is recorded");
    let events = job["events"].as_array().expect("events").len() + config_events;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let relayed = poll(
        "the job's events on CAIRN_EVENTS",
        DEADLINE,
        Duration::from_millis(200),
        || {
            let n = rt.block_on(async {
                let client = async_nats::connect(nats.url()).await.expect("connect");
                let js = async_nats::jetstream::new(client);
                let mut stream = js.get_stream("CAIRN_EVENTS").await.expect("stream");
                stream.info().await.expect("info").state.messages
            });
            (n as usize >= events).then_some(n)
        },
    );
    assert_eq!(relayed as usize, events, "every event relayed once");
    let consumers = rt.block_on(async {
        let client = async_nats::connect(nats.url()).await.expect("connect");
        let js = async_nats::jetstream::new(client);
        let stream = js
            .get_stream("CAIRN_JOBS")
            .await
            .expect("CAIRN_JOBS exists");
        let mut info = stream
            .get_consumer::<async_nats::jetstream::consumer::pull::Config>("cairn-backup")
            .await
            .expect("the backup consumer exists");
        info.info()
            .await
            .expect("consumer info")
            .delivered
            .stream_sequence
    });
    assert!(
        consumers >= 1,
        "the backup was delivered through CAIRN_JOBS"
    );
}

#[test]
fn a_worker_stops_cleanly_on_sigterm() {
    let stack = Stack::start(15);
    let mut worker = stack.dump_worker("dump-term", &[]);
    poll(
        "the worker to be up",
        DEADLINE,
        Duration::from_millis(100),
        || worker.log().contains("worker is up").then_some(()),
    );
    let status = worker.terminate().expect("the worker was running");
    assert!(
        status.success(),
        "exit status {status}; log:\n{}",
        worker.log()
    );
    assert!(worker.log().contains("worker stopped"), "{}", worker.log());
}

#[test]
fn every_service_binary_has_help_naming_its_variables() {
    for (bin, needles) in [
        (
            "cairn-scheduler",
            &[
                "--nats",
                "CAIRN_NATS",
                "--data-dir",
                "CAIRN_DATA_DIR",
                "--log-format",
                "rebuild",
            ][..],
        ),
        (
            "cairn-dump-worker",
            &[
                "--nats",
                "CAIRN_NATS",
                "--concurrency",
                "CAIRN_CONCURRENCY",
                "--id",
                "--secret-key-file",
                "--token-file",
                "--log-format",
            ][..],
        ),
        (
            "cairn-restore-worker",
            &["--nats", "CAIRN_NATS", "--secret-key-file", "--token-file"][..],
        ),
        (
            "cairn-retention-sweeper",
            &["--nats", "CAIRN_NATS", "--token-file"][..],
        ),
    ] {
        let mut cmd = std::process::Command::new(cairn_tests::nats::sibling_bin(bin));
        cmd.arg("--help");
        let out = cairn_tests::util::run(cmd, None, Duration::from_secs(30));
        out.expect_code(0, &format!("{bin} --help"));
        for needle in needles {
            assert!(
                out.stdout.contains(needle),
                "{bin} --help names {needle}:\n{}",
                out.stdout
            );
        }
    }
}

/// When an event was recorded.
fn event_at(e: &Value) -> chrono::DateTime<chrono::Utc> {
    e["at"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_else(|| panic!("event without an RFC 3339 `at`: {e}"))
}

/// A job's events of type `ty`, in order.
fn events_of<'a>(job: &'a Value, ty: &str) -> Vec<&'a Value> {
    job["events"]
        .as_array()
        .map(|events| events.iter().filter(|e| e["type"] == ty).collect())
        .unwrap_or_default()
}

/// Four attempts at most, a 2 s backoff doubling after each failure (2 s, 4 s, 8 s).
const MAX_ATTEMPTS: usize = 4;
const BACKOFF: Duration = Duration::from_secs(2);

fn retry_stack() -> Stack {
    Stack::start_with(
        15,
        &[
            "--max-attempts",
            &MAX_ATTEMPTS.to_string(),
            "--retry-backoff-seconds",
            &BACKOFF.as_secs().to_string(),
        ],
    )
}

/// The job ended failed after `attempts` claims and failures, with the scheduler's
/// `--max-attempts` in its state.
#[track_caller]
fn assert_failed_after(job: &Value, attempts: usize) {
    assert_eq!(job_status(job), "failed", "{job:#}");
    assert_eq!(count_type(job, "JobClaimed"), attempts, "{job:#}");
    assert_eq!(count_type(job, "JobFailed"), attempts, "{job:#}");
    assert_eq!(
        job["state"]["max_attempts"].as_u64(),
        Some(MAX_ATTEMPTS as u64),
        "the scheduler's --max-attempts reached the job: {job:#}"
    );
    assert_contiguous_seqs(job);
}

/// A permanent failure (a refused password) is dead-lettered after its first attempt: no
/// retry time, no second claim. As docs/monitoring.md tells apart, the job's outcome is
/// `failed` (its dead letter says `permanent`), not `dead_lettered` (out of attempts).
#[test]
fn a_permanent_failure_is_dead_lettered_after_one_attempt() {
    let stack = retry_stack();
    let my = My::shared();
    let db = my.create_db();
    db.sql("CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (1);");
    let right = unique("right-");
    let user = my.create_user(&db.name, &right);
    let url = my.url_as(&user.name, Some(&db.name));
    stack
        .app
        .add_target_with_password("wrong-pw", &url, &unique("wrong-"));
    let _worker = stack.dump_worker("dump-1", &[]);

    let id = stack.app.backup_start("wrong-pw");
    let job = stack.app.wait_terminal(&id, DEADLINE);
    assert_failed_after(&job, 1);
    assert_eq!(failure_codes(&job), ["auth_failed"], "{job:#}");
    let failed = events_of(&job, "JobFailed");
    assert_eq!(
        failed[0]["payload"]["failure"]["retryable"], false,
        "{job:#}"
    );
    assert!(
        failed[0]["payload"]
            .get("retry_at")
            .is_none_or(Value::is_null),
        "a permanent failure has no retry time: {job:#}"
    );
    let types = event_types(&job);
    assert_eq!(
        &types[types.len() - 2..],
        ["JobFailed", "JobDeadLettered"],
        "the failure is dead-lettered at once: {types:?}"
    );
    let dead = events_of(&job, "JobDeadLettered");
    assert_eq!(dead[0]["payload"]["permanent"], true, "{job:#}");
    assert_eq!(dead[0]["payload"]["attempts"], 1, "{job:#}");
    assert_eq!(job["state"]["dead_lettered"], true, "{job:#}");
    assert!(stack.app.backups("wrong-pw").is_empty(), "no backup listed");
    assert!(
        !job.to_string().contains(&right),
        "the password reached the events"
    );
}

#[test]
fn a_retryable_failure_is_dead_lettered_after_max_attempts_with_doubling_delays() {
    let stack = retry_stack();
    // A MariaDB target on a port nothing listens on: connection refused, `unreachable`.
    let port = util::free_port();
    stack
        .app
        .add_target("nowhere", &format!("mysql://root@127.0.0.1:{port}/nothing"));
    let _worker = stack.dump_worker("dump-1", &[]);

    let id = stack.app.backup_start("nowhere");
    let job = stack.app.wait_terminal(&id, DEADLINE);
    assert_failed_after(&job, MAX_ATTEMPTS);
    let dead = events_of(&job, "JobDeadLettered");
    assert_eq!(dead.len(), 1, "one JobDeadLettered: {job:#}");
    assert_eq!(
        dead[0]["payload"]["attempts"].as_u64(),
        Some(MAX_ATTEMPTS as u64),
        "the dead letter counts the attempts: {job:#}"
    );
    assert_eq!(
        event_types(&job).last().map(String::as_str),
        Some("JobDeadLettered"),
        "the dead letter is the job's last event: {:?}",
        event_types(&job)
    );
    assert_eq!(job["state"]["dead_lettered"], true, "{job:#}");
    assert!(
        failure_codes(&job).iter().all(|c| c == "unreachable"),
        "every attempt failed unreachable: {:?}",
        failure_codes(&job)
    );

    let claimed = events_of(&job, "JobClaimed");
    let failed = events_of(&job, "JobFailed");
    for (i, (c, f)) in claimed.iter().zip(&failed).enumerate() {
        let n = (i + 1) as u64;
        assert_eq!(c["payload"]["attempt"].as_u64(), Some(n), "{job:#}");
        assert_eq!(f["payload"]["attempt"].as_u64(), Some(n), "{job:#}");
        assert_eq!(f["payload"]["failure"]["retryable"], true, "{job:#}");
        assert!(event_at(c) <= event_at(f), "claim before failure: {job:#}");
    }
    // The last failure ends the job; every earlier one names a retry time.
    assert!(
        failed[MAX_ATTEMPTS - 1]["payload"]
            .get("retry_at")
            .is_none_or(Value::is_null),
        "the last failure schedules no retry: {job:#}"
    );
    // One scheduler's clock, but the retry time is chosen just before the ledger stamps
    // the failure: slack for that commit on busy cores (well under the 2 s step).
    let slack = chrono::Duration::milliseconds(500);
    let mut gaps = Vec::new();
    for i in 0..MAX_ATTEMPTS - 1 {
        let delay = chrono::Duration::from_std(BACKOFF * (1 << i)).expect("small delay");
        let failed_at = event_at(failed[i]);
        let retry_at = failed[i]["payload"]["retry_at"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .unwrap_or_else(|| panic!("failure {} without retry_at: {job:#}", i + 1));
        let planned = retry_at.with_timezone(&chrono::Utc) - failed_at;
        assert!(
            (planned - delay).abs() <= slack,
            "attempt {} planned a {planned} delay, the policy says {delay}: {job:#}",
            i + 1
        );
        let gap = event_at(claimed[i + 1]) - failed_at;
        assert!(
            gap + slack >= delay,
            "attempt {} was claimed {gap} after failure {}, before its {delay} backoff: {job:#}",
            i + 2,
            i + 1
        );
        gaps.push(gap);
    }
    eprintln!("gaps between a failure and the next claim: {gaps:?}");
    assert!(
        gaps.windows(2).all(|w| w[1] + slack >= w[0]),
        "the delays grow: {gaps:?}"
    );
    assert!(stack.app.backups("nowhere").is_empty(), "no backup listed");
}

/// The NATS accounts example of docs/services.md, read from the page itself, with its
/// password variables replaced by `passwords` (user → password).
fn documented_nats_accounts(passwords: &[(&str, &str)]) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/services.md");
    let page = std::fs::read_to_string(&path).expect("docs/services.md");
    let section = page
        .split("## NATS accounts and permissions on top")
        .nth(1)
        .expect("docs/services.md has the NATS accounts section");
    let mut config = section
        .split("```")
        .nth(1)
        .expect("the section shows a server configuration")
        .to_string();
    for (user, password) in passwords {
        let var = format!("${}_PASS", user.to_uppercase());
        assert!(config.contains(&var), "the example names {var}: {config}");
        config = config.replace(&var, &format!("\"{password}\""));
    }
    config
}

/// The documented accounts and permissions work as written: the scheduler, a dump worker
/// and a platform client each on their own NATS user run a backup requested on NATS and
/// see its events; a platform user cannot make control calls or read the jobs stream.
#[test]
fn the_documented_nats_accounts_run_a_backup_and_refuse_the_rest() {
    let pw = |u: &str| unique(&format!("{u}-"));
    // The scheduler's password needs percent-encoding in its URL.
    let sched_pw = format!("{}@:/%", pw("s"));
    let (worker_pw, platform_pw) = (pw("w"), pw("p"));
    let sched_pw_encoded = sched_pw
        .replace('%', "%25")
        .replace('@', "%40")
        .replace(':', "%3A")
        .replace('/', "%2F");
    let nats = NatsServer::start_with_config(&documented_nats_accounts(&[
        ("scheduler", &sched_pw),
        ("worker", &worker_pw),
        ("platform", &platform_pw),
    ]));
    let app = App::start_with(AppOptions {
        scheduler_only: true,
        up_args: vec![
            "--nats".into(),
            nats.url_as("scheduler", &sched_pw_encoded),
            "--lease-seconds".into(),
            "15".into(),
        ],
        ..AppOptions::default()
    });
    let worker_token = app.create_token("workers", "worker");
    let operate = app.create_token("platform", "operate");
    let db = small_db(100);
    app.add_target("acct", &db.url());
    let worker = WorkerProc::start(
        "cairn-dump-worker",
        "dump-1",
        &nats.url_as("worker", &worker_pw),
        &worker_token,
        &app.data_dir().join("secret.key"),
        &[],
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    // async-nats ignores a URL's user info: the client logs in explicitly.
    let (nats_url, platform_pw2) = (nats.url(), platform_pw.clone());
    let (job_id, succeeded, claim) = rt.block_on(async {
        let client =
            async_nats::ConnectOptions::with_user_and_password("platform".into(), platform_pw2)
                .request_timeout(Some(Duration::from_secs(10)))
                .connect(nats_url)
                .await
                .expect("the platform user connects");
        let mut events = client
            .subscribe("cairn.events.acct.>")
            .await
            .expect("subscribe to the target's events");
        client.flush().await.expect("flush");
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Authorization", format!("Bearer {operate}").as_str());
        let reply = client
            .request_with_headers(
                "cairn.requests.backup",
                headers,
                json!({"target": "acct"}).to_string().into(),
            )
            .await
            .expect("the scheduler answers the platform user");
        let reply: Value = serde_json::from_slice(&reply.payload).expect("a JSON reply");
        let job_id = reply["job_id"]
            .as_str()
            .unwrap_or_else(|| panic!("a job id in {reply}"))
            .to_string();
        let deadline = tokio::time::Instant::now() + DEADLINE;
        let succeeded = loop {
            let m = tokio::time::timeout_at(deadline, events.next())
                .await
                .expect("the job's events reach the platform user")
                .expect("subscription open");
            if m.subject.as_str() == "cairn.events.acct.backup.JobSucceeded" {
                break serde_json::from_slice::<Value>(&m.payload).expect("an event is JSON");
            }
        };
        // Not allowed to publish on cairn.ctl.>: the scheduler never sees the call.
        let claim = client
            .request(
                "cairn.ctl.claim",
                json!({"job_id": job_id, "worker_id": "intruder"})
                    .to_string()
                    .into(),
            )
            .await
            .map(|m| String::from_utf8_lossy(&m.payload).to_string());
        (job_id, succeeded, claim)
    });
    assert_eq!(succeeded["job_id"], json!(job_id), "{succeeded}");
    let job = app.wait_terminal(&job_id, DEADLINE);
    assert_eq!(job_status(&job), "succeeded", "{job:#}\n{}", worker.log());
    assert_eq!(claimed_by(&job), ["dump-1"], "{job:#}");
    assert!(
        claim.is_err(),
        "the platform user reached the control plane: {claim:?}"
    );
    let log = nats.log();
    assert!(
        log.contains("Publish Violation") && log.contains("cairn.ctl.claim"),
        "nats-server refused the platform user's control call:\n{log}"
    );
    for secret in [&sched_pw, &sched_pw_encoded, &worker_pw, &platform_pw] {
        assert!(
            !app.log().contains(secret.as_str()),
            "a NATS password in the scheduler log"
        );
        assert!(
            !worker.log().contains(secret.as_str()),
            "a NATS password in the worker log"
        );
    }
}
