//! A backup of target A restored onto target B (`--from A`): B ends up with A's
//! fingerprint, A is untouched, and B gains no backup of its own.

use cairn_tests::*;

#[test]
fn postgres_backup_of_a_restores_onto_b() {
    let pg = Pg::shared();
    let a = pg.create_db();
    a.load_awkward();
    let b = pg.create_db();
    b.psql("CREATE TABLE only_in_b (x int); INSERT INTO only_in_b VALUES (1);");
    let app = App::start();
    app.add_target("source-a", &a.url());
    app.add_target("dest-b", &b.url());

    app.backup_wait("source-a");
    let fp_a = a.fingerprint();

    let out = app.restore_wait("dest-b", "latest", Some("source-a"));
    out.expect_code(0, "restore dest-b --from source-a --backup latest");
    assert_eq!(status_of(&summary(&out)), "succeeded", "restore summary");

    fp_a.assert_same(&b.fingerprint(), "B after restoring A's backup");
    fp_a.assert_same(
        &a.fingerprint(),
        "A after its backup was restored elsewhere",
    );
    assert_eq!(app.backups("source-a").len(), 1, "A keeps its one backup");
    assert!(
        app.backups("dest-b").is_empty(),
        "a restore makes no backup of B"
    );
}

#[test]
fn mariadb_backup_of_a_restores_onto_b_by_explicit_id() {
    let my = My::shared();
    let a = my.create_db();
    a.load_awkward();
    let b = my.create_db();
    b.sql("CREATE TABLE only_in_b (x INT); INSERT INTO only_in_b VALUES (1);");
    let app = App::start();
    app.add_target("source-a", &a.url());
    app.add_target("dest-b", &b.url());

    app.backup_wait("source-a");
    let id = app.backups("source-a")[0]["id"]
        .as_str()
        .expect("backup id")
        .to_string();
    let fp_a = a.fingerprint();

    let out = app.restore_wait("dest-b", &id, Some("source-a"));
    out.expect_code(0, &format!("restore dest-b --from source-a --backup {id}"));

    fp_a.assert_same(&b.fingerprint(), "B after restoring A's backup");
    fp_a.assert_same(
        &a.fingerprint(),
        "A after its backup was restored elsewhere",
    );
    let restores = app.history(&["--kind", "restore"]);
    assert_eq!(restores.len(), 1, "one restore job: {restores:#?}");
    assert_eq!(restores[0]["target"], "dest-b", "the restore acted on B");
    assert_eq!(
        restores[0]["backup"],
        id.as_str(),
        "the restore used A's backup"
    );
}

#[test]
fn postgres_restore_creates_a_database_that_does_not_exist_yet() {
    let pg = Pg::shared();
    let a = pg.create_db();
    a.load_awkward();
    // A guard for a database that is only created by the restore.
    let b = pg.create_db();
    pg.psql("postgres", &format!("DROP DATABASE {}", b.name));
    let app = App::start();
    app.add_target("source-a", &a.url());
    app.add_target("new-b", &b.url());

    app.backup_wait("source-a");
    let out = app.restore_wait("new-b", "latest", Some("source-a"));
    out.expect_code(0, "restore new-b --from source-a (database missing)");
    a.fingerprint()
        .assert_same(&b.fingerprint(), "the new database after the restore");
}
