//! The API keeps its published contract: schemathesis (PyPI, in the tools venv) generates
//! requests from the served `/v1/openapi.json` against a running `cairn up` with the admin
//! token, and finds no 5xx and no answer the document does not describe (status, content
//! type, headers, body schema), nor a guarded route that ignores its token.
//!
//! Its `positive_data_acceptance` check is left out: the document's types are looser than
//! the server's checks (names, URLs, schedules are validated beyond their JSON type), so a
//! schema-valid request may rightly be refused with 400.
//!
//! A fixed seed and pinned versions (scripts/test) keep the run reproducible
//! (`CAIRN_ST_SEED` picks another; `CAIRN_ST_EXAMPLES` more examples per operation).

use cairn_tests::tools::venv_bin;
use cairn_tests::*;
use std::process::Command;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(300);

#[test]
fn schemathesis_finds_no_server_error_and_no_answer_outside_the_document() {
    let pg = Pg::shared().create_db();
    let app = App::start();
    // Something to find: a target, a backup of it, a schedule.
    app.add_target("shop", &pg.url());
    app.backup_wait("shop");
    app.cairn(&["schedule", "set", "shop", "--every", "daily"])
        .expect_code(0, "schedule set");

    let work = tempfile::tempdir().expect("tempdir");
    let seed = std::env::var("CAIRN_ST_SEED").unwrap_or_else(|_| "20261202".into());
    let examples = std::env::var("CAIRN_ST_EXAMPLES").unwrap_or_else(|_| "25".into());
    let mut st = Command::new(venv_bin("st"));
    st.current_dir(work.path())
        .env("NO_COLOR", "1")
        .arg("run")
        .arg(format!("{}/v1/openapi.json", app.server_url()))
        .arg("--header")
        .arg(format!(
            "Authorization: Bearer {}",
            app.admin_token().trim()
        ))
        .args([
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
        ])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", &examples, "--seed", &seed])
        // One worker: with two, hypothesis describes its filters by parsing source with
        // `ast` from two threads at once, and Python 3.11's parser state is not shared
        // safely ("AST constructor recursion depth mismatch"): a tool error reported as
        // a failed run now and then, seen with seed 4.
        .args(["--request-timeout", "30", "--workers", "1"]);
    let out = util::run(st, None, LIMIT);
    assert_eq!(
        out.code,
        0,
        "schemathesis found answers outside the document (seed {seed}):\n{}\n{}\nserver log:\n{}",
        out.stdout,
        out.stderr,
        app.log()
    );
    assert!(
        out.stdout.contains("passed"),
        "schemathesis ran no test case:\n{}",
        out.stdout
    );
    // The server is still well after the run.
    app.cairn(&["target", "list", "--json"])
        .expect_code(0, "target list after the run");
}
