//! The right client for the server: `pg_dump` must be at least the server's major
//! version. cairn runs the newest client installed (`/usr/lib/postgresql/<N>/bin`),
//! records it in the manifest (`client_version`), and refuses a server newer than every
//! installed client before dumping, naming the package to install.
//!
//! This machine's Debian release (bookworm) ships PostgreSQL 15 clients only; its
//! `postgresql-client-17` would come from the PostgreSQL project's apt repository, which
//! is not reachable here. So the local `cairn up` must refuse PostgreSQL 17, while cairn's
//! image (trixie, clients 17) backs it up. Should a machine have clients 17 installed, the
//! local backup must instead succeed and record them.

use cairn_matrix::*;
use cairn_tests::{job_id_of, App};
use std::path::Path;

/// The newest major under /usr/lib/postgresql on this machine that has `pg_dump`.
fn newest_local_client() -> u32 {
    std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL client tools under /usr/lib/postgresql")
        .flatten()
        .filter_map(|e| {
            let major: u32 = e.file_name().to_str()?.parse().ok()?;
            e.path().join("bin/pg_dump").is_file().then_some(major)
        })
        .max()
        .expect("a pg_dump under /usr/lib/postgresql/<N>/bin")
}

#[test]
fn postgres_17_needs_pg_dump_17_here() {
    let server = postgres("17");
    let db = server.pg.create_db();
    db.psql("CREATE TABLE t (id int); INSERT INTO t VALUES (1);");
    let version = db.query("SHOW server_version");
    let app = App::start();
    app.add_target("pg17", &db.url());
    if newest_local_client() >= 17 {
        let summary = Cli::backup_wait(&app, "pg17");
        let manifest = app.only_manifest("pg17");
        assert!(
            manifest["client_version"]
                .as_str()
                .is_some_and(|v| v.starts_with("pg_dump 17")),
            "{summary} {manifest}"
        );
        return;
    }
    let out = app.backup_try("pg17");
    assert_eq!(out.code, 1, "the backup job must fail:\n{}", out.all_text());
    let text = out.all_text();
    for needle in [version.as_str(), "postgresql-client-17", "client_too_old"] {
        assert!(
            text.contains(needle),
            "the refusal should name {needle:?}:\n{text}"
        );
    }
    // Refused before dumping: no backup folder, not even an incomplete one.
    let dir = app.storage_dir("pg17");
    let folders = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
    assert_eq!(folders, 0, "nothing may be stored under {}", dir.display());
    let job = app.job(&job_id_of(&cairn_tests::summary(&out)));
    assert_eq!(
        cairn_tests::failure_codes(&job),
        vec!["client_too_old"],
        "{job}"
    );
}

#[test]
fn the_manifest_records_the_newest_local_client() {
    let server = postgres("13");
    let db = server.pg.create_db();
    db.psql("CREATE TABLE t (id int);");
    let app = App::start();
    app.add_target("pg13", &db.url());
    Cli::backup_wait(&app, "pg13");
    let manifest = app.only_manifest("pg13");
    let want = format!("pg_dump {}.", newest_local_client());
    assert!(
        manifest["client_version"]
            .as_str()
            .is_some_and(|v| v.starts_with(&want)),
        "client_version should start with {want:?}: {manifest}"
    );
    assert!(manifest["server_version"]
        .as_str()
        .is_some_and(|v| v.starts_with("13.")));
}

#[test]
fn the_cairn_image_dumps_postgres_13_with_pg_dump_17() {
    let server = postgres("13");
    let db = server.pg.create_db();
    db.psql("CREATE TABLE t (id int);");
    let cairn = Remote::start();
    cairn.add_target("pg13", &db.url());
    cairn.backup_wait("pg13");
    let manifest = cairn.only_manifest("pg13");
    assert!(
        manifest["client_version"]
            .as_str()
            .is_some_and(|v| v.starts_with("pg_dump 17.")),
        "{manifest}"
    );
    assert!(Path::new(&cairn.storage_dir("pg13")).is_dir());
}
