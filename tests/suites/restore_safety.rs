//! An interrupted restore commits nothing and leaves nothing: `kill -9` or SIGTERM of
//! `cairn up` while a restore loads leaves no loader process, no committed partial data
//! and (after the next start) no staging database; the target is as before. A restore
//! interrupted within the resume window resumes by itself; one found later is
//! dead-lettered with a message asking for an explicit re-run, and the target keeps what
//! was written to it meanwhile.

use cairn_tests::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

const RECOVERY_DEADLINE: Duration = Duration::from_secs(180);
const MID_LOAD_DEADLINE: Duration = Duration::from_secs(120);

/// `cairn restore T --backup B --yes --json` (no wait): the job id.
fn restore_start(app: &App, target: &str, backup: &str) -> String {
    let out = app.cairn(&["restore", target, "--backup", backup, "--yes", "--json"]);
    out.expect_code(0, "restore --json");
    job_id_of(&out.json())
}

/// Processes whose command line mentions `needle`, with their process group.
fn processes_mentioning(needle: &str) -> Vec<procs::Stat> {
    procs::all_pids()
        .into_iter()
        .filter(|pid| {
            let cmdline = procs::read(*pid, "cmdline");
            util::contains_bytes(&cmdline, needle.as_bytes())
        })
        .filter_map(procs::stat)
        .filter(|s| s.state != 'Z')
        .collect()
}

/// Polls until the restore `job` is running with bytes loaded, a staging database
/// named after it exists (`databases()` lists it) and a loader (`tool`) is connected to
/// it. Returns the staging database's name.
///
/// The loader is stopped (SIGSTOP) as soon as it is seen, so that the restore cannot end
/// before the test interrupts it however fast the machine is: cairn fills the pipe and
/// waits, as it would behind a slow server. It gets SIGKILL when cairn dies (stopped or
/// not), and cairn kills it itself when it gives the attempt up.
fn wait_mid_load(app: &App, job: &str, tool: &str, databases: impl Fn() -> Vec<String>) -> String {
    let short = &job.replace('-', "")[24..];
    let suffix = format!("_cairn_restore_{short}");
    poll(
        "the restore to be loading into its staging database",
        MID_LOAD_DEADLINE,
        Duration::from_millis(20),
        || {
            let staging = databases().into_iter().find(|d| d.ends_with(&suffix));
            let loaders: Vec<_> = staging
                .iter()
                .flat_map(|staging| processes_mentioning(staging))
                .filter(|s| s.comm.starts_with(tool))
                .collect();
            for loader in &loaders {
                if loader.state != 'T' {
                    let stopped = std::process::Command::new("kill")
                        .args(["-STOP", &loader.pid.to_string()])
                        .status()
                        .unwrap();
                    assert!(stopped.success(), "kill -STOP {}", loader.pid);
                }
            }
            let view = app.job(job);
            if is_terminal(job_status(&view)) {
                panic!("the restore ended before its loader could be stopped: {view:#}");
            }
            let bytes = view["state"]["bytes_db"].as_u64().unwrap_or(0);
            let staging = staging?;
            if loaders.is_empty() || bytes == 0 {
                return None;
            }
            // The loader runs in a process group of its own: what kills it is its
            // parent's death, not a signal to cairn's group.
            assert!(
                loaders.iter().all(|s| s.pgrp != app.pid()),
                "{tool} shares cairn's process group: {loaders:?}"
            );
            Some(staging)
        },
    )
}

/// Polls until no process mentions `staging` any more.
fn wait_loader_gone(staging: &str) {
    poll(
        "the loader of the interrupted restore to be gone",
        Duration::from_secs(30),
        Duration::from_millis(50),
        || processes_mentioning(staging).is_empty().then_some(()),
    );
}

/// SIGTERM to `cairn up`, then waits until it exited and reaps it.
fn terminate(app: &mut App) {
    let pid = app.pid();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    poll(
        "cairn to exit after SIGTERM",
        Duration::from_secs(60),
        Duration::from_millis(50),
        || {
            procs::stat(pid)
                .is_none_or(|s| s.state == 'Z')
                .then_some(())
        },
    );
    app.kill9();
}

/// When the job's first attempt was claimed (read while the server runs).
fn first_claim(app: &App, job: &str) -> chrono::DateTime<chrono::FixedOffset> {
    let view = app.job(job);
    let claimed = view["state"]["attempts"][0]["claimed_at"]
        .as_str()
        .unwrap_or_else(|| panic!("no first claim in {view:#}"));
    chrono::DateTime::parse_from_rfc3339(claimed).unwrap()
}

/// Polls until `window` has passed since `claimed`.
fn wait_past_window(claimed: chrono::DateTime<chrono::FixedOffset>, window: Duration) {
    let until = claimed + chrono::Duration::from_std(window).unwrap();
    poll(
        "the resume window to pass",
        window + Duration::from_secs(30),
        Duration::from_millis(100),
        || (chrono::Utc::now() > until).then_some(()),
    );
}

fn assert_dead_lettered_for_lateness(job: &Value, target: &str) {
    assert_eq!(job_status(job), "failed", "{job:#}");
    assert_eq!(job["state"]["dead_lettered"], Value::Bool(true), "{job:#}");
    let failure = &job["state"]["failure"];
    assert_eq!(failure["code"], "interrupted", "{job:#}");
    let message = failure["message"].as_str().unwrap_or_default();
    for needle in [
        "not resumed automatically",
        "run it again",
        &format!("cairn restore {target} --backup "),
    ] {
        assert!(message.contains(needle), "{needle:?} in {message}");
    }
    assert_eq!(job["state"]["attempt"], 1, "no second attempt ran: {job:#}");
}

struct PgCase {
    pg: Pg,
    db: PgDb,
    backup: String,
}

/// A database big enough to be mid-load for a few seconds, backed up, then changed.
fn pg_case(app: &App) -> PgCase {
    let pg = Pg::shared();
    let db = pg.create_db();
    // ~300 MB of rows: psql needs several seconds to load it.
    pg::pgbench_fill(&db, 20);
    db.psql("CREATE TABLE marker (note text);");
    app.add_target("big", &db.url());
    app.backup_wait("big");
    let backup = app.backups("big")[0]["id"].as_str().unwrap().to_string();
    db.psql("INSERT INTO marker VALUES ('written after the backup');");
    PgCase { pg, db, backup }
}

impl PgCase {
    /// Row counts that tell the backup's state from the target's current one.
    fn counts(&self) -> String {
        self.db.query(
            "SELECT (SELECT count(*) FROM pgbench_accounts) || ' ' || (SELECT count(*) FROM marker) \
             || ' ' || (SELECT coalesce(string_agg(note, ',' ORDER BY note), '') FROM marker)",
        )
    }
    fn staging(&self) -> Vec<String> {
        self.pg
            .databases()
            .into_iter()
            .filter(|d| d.starts_with(&self.db.name) && d.contains("_cairn_restore_"))
            .collect()
    }
    /// Tables visible in a staging database (committed ones only), or `None` when it
    /// does not exist (any more).
    fn committed_tables(&self, staging: &str) -> Option<String> {
        let out = std::process::Command::new("psql")
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-h",
                &self.pg.host,
                "-U",
                &self.pg.user,
            ])
            .args(["-p", &self.pg.port.to_string(), "-d", staging, "-c"])
            .arg(
                "SELECT count(*) FROM pg_class WHERE relname LIKE 'pgbench%' OR relname = 'marker'",
            )
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() && stderr.contains("does not exist") {
            return None;
        }
        assert!(out.status.success(), "{stderr}");
        Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }
}

#[test]
fn a_postgres_restore_killed_mid_load_commits_nothing_and_resumes_within_the_window() {
    let mut app = App::start();
    let case = pg_case(&app);
    let before = case.counts();
    let job = restore_start(&app, "big", &case.backup);
    let staging = wait_mid_load(&app, &job, "psql", || case.staging());

    app.kill9();
    wait_loader_gone(&staging);
    assert_eq!(
        case.committed_tables(&staging).as_deref(),
        Some("0"),
        "nothing of the load is committed in {staging}"
    );
    assert_eq!(case.counts(), before, "the target is as before");

    // Restarted at once: well within the default window, the restore resumes.
    app.restart();
    let ended = app.wait_terminal(&job, RECOVERY_DEADLINE);
    assert_eq!(job_status(&ended), "succeeded", "{ended:#}");
    assert_eq!(ended["state"]["attempt"], 2, "{ended:#}");
    let restored = case.counts();
    assert_eq!(
        restored.split_whitespace().nth(1),
        Some("0"),
        "the target is the backup again (no marker row): {restored}"
    );
    // The replaced copy (`…_old`) is dropped after the job ended: poll for it to go.
    let left = cairn_tests::util::poll_until(RECOVERY_DEADLINE, Duration::from_millis(200), || {
        let left = case.staging();
        left.is_empty().then_some(())
    });
    assert!(
        left.is_some(),
        "no staging database left: {:?}",
        case.staging()
    );
}

#[test]
fn a_postgres_restore_stopped_by_sigterm_and_found_late_is_dead_lettered() {
    let window = Duration::from_secs(2);
    let env = BTreeMap::from([("CAIRN_RESTORE_RESUME_WINDOW".to_string(), "2s".to_string())]);
    let mut app = App::start_with(AppOptions {
        env,
        ..AppOptions::default()
    });
    let case = pg_case(&app);
    let before = case.counts();
    let job = restore_start(&app, "big", &case.backup);
    let staging = wait_mid_load(&app, &job, "psql", || case.staging());
    let claimed = first_claim(&app, &job);

    terminate(&mut app);
    wait_loader_gone(&staging);
    assert!(
        matches!(case.committed_tables(&staging).as_deref(), None | Some("0")),
        "nothing of the load is committed in {staging}"
    );
    assert_eq!(case.counts(), before, "the target is as before");

    // Applications write on; the restore is found only after its window.
    case.db
        .psql("INSERT INTO marker VALUES ('written after the interrupted restore');");
    let after_kill = case.counts();
    wait_past_window(claimed, window);
    app.restart();
    let ended = app.wait_terminal(&job, RECOVERY_DEADLINE);
    assert_dead_lettered_for_lateness(&ended, "big");
    assert_eq!(
        case.counts(),
        after_kill,
        "the target keeps what was written"
    );
    assert_eq!(
        case.staging(),
        Vec::<String>::new(),
        "the start-up sweep dropped the staging database"
    );
}

#[test]
fn a_mariadb_restore_killed_midway_leaves_the_target_intact() {
    let env = BTreeMap::from([("CAIRN_RESTORE_RESUME_WINDOW".to_string(), "2s".to_string())]);
    let mut app = App::start_with(AppOptions {
        env,
        ..AppOptions::default()
    });
    let my = My::shared();
    let db = my.create_db();
    my.sql(
        Some(&db.name),
        "CREATE TABLE big (id INT PRIMARY KEY, pad VARCHAR(200)); \
         INSERT INTO big SELECT seq, REPEAT('x', 150) FROM seq_1_to_800000; \
         CREATE TABLE marker (note VARCHAR(100));",
    );
    app.add_target("mbig", &my.url(Some(&db.name)));
    app.backup_wait("mbig");
    let backup = app.backups("mbig")[0]["id"].as_str().unwrap().to_string();
    my.sql(
        Some(&db.name),
        "INSERT INTO marker VALUES ('written after the backup'); DELETE FROM big WHERE id <= 1000;",
    );
    let counts = || {
        my.sql(
            Some(&db.name),
            "SELECT (SELECT COUNT(*) FROM big), (SELECT COUNT(*) FROM marker); CHECKSUM TABLE big",
        )
    };
    let staging_of = || -> Vec<String> {
        my.databases()
            .into_iter()
            .filter(|d| d.starts_with(&db.name) && d.contains("_cairn_restore_"))
            .collect()
    };
    let before = counts();
    let job = restore_start(&app, "mbig", &backup);
    let staging = wait_mid_load(&app, &job, "mariadb", staging_of);
    let claimed = first_claim(&app, &job);

    app.kill9();
    wait_loader_gone(&staging);
    assert_eq!(counts(), before, "the target is as before");

    wait_past_window(claimed, Duration::from_secs(2));
    app.restart();
    let ended = app.wait_terminal(&job, RECOVERY_DEADLINE);
    assert_dead_lettered_for_lateness(&ended, "mbig");
    assert_eq!(counts(), before, "the target is still as before");
    assert_eq!(
        staging_of(),
        Vec::<String>::new(),
        "staging dropped on restart"
    );

    // An explicit re-run restores the backup, swapped in whole.
    let out = app.restore_wait("mbig", &backup, None);
    out.expect_code(0, "restore --wait");
    let restored = my.sql(
        Some(&db.name),
        "SELECT (SELECT COUNT(*) FROM big), (SELECT COUNT(*) FROM marker)",
    );
    assert_eq!(
        restored.split_whitespace().collect::<Vec<_>>(),
        ["800000", "0"]
    );
    assert_eq!(staging_of(), Vec::<String>::new());
}
