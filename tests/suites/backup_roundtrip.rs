//! Back up, change, restore: per engine and scope, the restored database has exactly the
//! fingerprint it had at backup time (objects made after the backup are gone); Redis keys
//! also keep their TTL values, counted down from backup time.

use cairn_tests::ops::assert_listed_backup;
use cairn_tests::*;

/// The shared scenario: fingerprint, add the target, back up and check the listing,
/// change the data, restore `latest`, compare fingerprints.
fn round_trip(
    app: &App,
    target: &str,
    url: &str,
    engine: &str,
    fingerprint: &dyn Fn() -> Fingerprint,
    mutate: &dyn Fn(),
) {
    let before = fingerprint();
    app.add_target(target, url);

    let job_id = job_id_of(&app.backup_wait(target));
    let backups = app.backups(target);
    assert_eq!(backups.len(), 1, "one backup listed: {backups:#?}");
    assert_listed_backup(app, target, &backups[0], engine, &job_id);

    mutate();
    assert!(
        !fingerprint().diff(&before).is_empty(),
        "the changes after the backup should show in the fingerprint"
    );

    let out = app.restore_wait(target, "latest", None);
    out.expect_code(0, &format!("restore {target} --backup latest --yes --wait"));
    assert_eq!(status_of(&summary(&out)), "succeeded", "restore summary");

    before.assert_same(&fingerprint(), &format!("{engine} {target} after restore"));
}

#[test]
fn postgres_database_round_trips_awkward_data() {
    let db = Pg::shared().create_db();
    db.load_awkward();
    let app = App::start();
    round_trip(
        &app,
        "pg-db",
        &db.url(),
        "postgres",
        &|| db.fingerprint(),
        &|| db.mutate(),
    );
}

#[test]
fn mariadb_database_round_trips_awkward_data() {
    let db = My::shared().create_db();
    db.load_awkward();
    let app = App::start();
    round_trip(
        &app,
        "my-db",
        &db.url(),
        "mysql",
        &|| db.fingerprint(),
        &|| db.mutate(),
    );
}

#[test]
fn redis_whole_server_round_trips_every_db() {
    let redis = RedisServer::start();
    for db in [0, 1, 5] {
        redis.load_awkward(db);
    }
    let app = App::start();
    let dbs: Vec<u32> = (0..16).collect();
    let ttls = redis.ttls(&dbs);
    round_trip(
        &app,
        "redis-all",
        &redis.url(None),
        "redis",
        &|| redis.fingerprint(),
        &|| {
            redis.mutate(0);
            redis.mutate(5);
            redis.load_awkward(9); // a db that was empty at backup time
        },
    );
    ttls.assert_counted_down_to(&redis.ttls(&dbs), "redis whole server");
}

#[test]
fn redis_single_db_round_trips_and_leaves_other_dbs_alone() {
    let redis = RedisServer::start();
    redis.load_awkward(3);
    redis.load_awkward(0);
    let app = App::start();
    let ttls = redis.ttls(&[3]);
    round_trip(
        &app,
        "redis-3",
        &redis.url(Some(3)),
        "redis",
        &|| {
            let mut fp = Fingerprint::default();
            fp.insert("db3", redis.db_fingerprint(3));
            fp
        },
        &|| {
            redis.mutate(3);
            redis.mutate(0);
        },
    );
    ttls.assert_counted_down_to(&redis.ttls(&[3]), "redis db 3");
    // db 0 changed after the backup and is not part of the target: a restore of /3
    // must not have touched it.
    let db0 = redis.db_fingerprint(0);
    assert!(
        db0.contains(&hex::encode("db0:added-after-backup")),
        "restore of redis://…/3 touched db 0:\n{db0}"
    );
}

#[test]
fn postgres_whole_server_round_trips_databases_and_roles() {
    let Some(server) = PrivatePg::start_or_fail() else {
        return; // CAIRN_TEST_ALLOW_SKIP=whole-server, said so on stderr
    };
    let srv = &server.pg;
    srv.query("postgres", "CREATE ROLE cairn_it_reader LOGIN");
    srv.query("postgres", "CREATE DATABASE awkward OWNER cairn_it_reader");
    srv.psql("awkward", pg::AWKWARD_SQL);
    srv.query("postgres", "CREATE DATABASE second");
    srv.psql("second", "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 1000) g;");
    let app = App::start();
    round_trip(
        &app,
        "pg-server",
        &srv.url(None),
        "postgres",
        &|| srv.server_fingerprint(),
        &|| {
            srv.query("postgres", "DROP DATABASE second");
            srv.query("postgres", "CREATE DATABASE added_after_backup");
            srv.query("postgres", "CREATE ROLE added_after_backup");
            srv.psql("awkward", "DELETE FROM public.\"Mixed Case\" WHERE v > 50;");
        },
    );
}

#[test]
fn mariadb_all_databases_round_trip() {
    let Some(server) = PrivateMy::start_or_fail() else {
        return; // CAIRN_TEST_ALLOW_SKIP=whole-server, said so on stderr
    };
    let my = &server.my;
    my.sql(
        None,
        "CREATE DATABASE awkward CHARACTER SET utf8mb4; CREATE DATABASE second;",
    );
    my.sql(Some("awkward"), mysql::AWKWARD_SQL);
    my.sql(Some("second"), "CREATE TABLE t (id INT PRIMARY KEY, v TEXT); INSERT INTO t SELECT seq, CONCAT('v', seq) FROM seq_1_to_1000;");
    let app = App::start();
    round_trip(
        &app,
        "my-server",
        &my.url(None),
        "mysql",
        &|| my.server_fingerprint(),
        &|| {
            my.sql(
                None,
                "DROP DATABASE second; CREATE DATABASE added_after_backup;",
            );
            my.sql(Some("awkward"), "DELETE FROM plain_parent WHERE id > 10;");
        },
    );
}
