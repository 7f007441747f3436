//! S3 storage against a real S3 server (moto) started by the test: round trips of every
//! engine through a bucket folder, the layout and manifest as on local disk, a
//! connection cut mid-upload (nothing listed, no multipart upload left behind, the next
//! backup works), the sweep of an incomplete upload, keys never shown, and endpoints at
//! metadata addresses refused.

use cairn_tests::s3::{CutProxy, S3Server, ACCESS_KEY, SECRET_KEY};
use cairn_tests::*;
use std::collections::BTreeMap;
use std::time::Duration;

/// The environment the server reads the S3 keys from.
fn key_env() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("S3_TEST_ACCESS".to_string(), ACCESS_KEY.to_string()),
        ("S3_TEST_SECRET".to_string(), SECRET_KEY.to_string()),
    ])
}

fn app_with_keys(up_args: &[&str]) -> App {
    App::start_with(AppOptions {
        env: key_env(),
        up_args: up_args.iter().map(|s| s.to_string()).collect(),
        ..AppOptions::default()
    })
}

/// `cairn storage add NAME --url s3://bucket/prefix --endpoint … --*-key-env …`.
fn add_s3_storage(app: &App, name: &str, s3: &S3Server, prefix: &str, endpoint: &str) {
    let url = format!("s3://{}/{prefix}", s3.bucket);
    app.cairn(&[
        "storage",
        "add",
        name,
        "--url",
        &url,
        "--endpoint",
        endpoint,
        "--region",
        "eu-west-1",
        "--access-key-env",
        "S3_TEST_ACCESS",
        "--secret-key-env",
        "S3_TEST_SECRET",
    ])
    .expect_code(0, "storage add (s3)");
}

fn add_target_to(app: &App, name: &str, url: &str, storage: &str) {
    app.cairn(&["target", "add", name, "--url", url, "--storage", storage])
        .expect_code(0, &format!("target add {name} --storage {storage}"));
}

/// Back up, check the layout in the bucket, change, restore, compare.
fn round_trip(
    app: &App,
    s3: &S3Server,
    prefix: &str,
    target: &str,
    fingerprint: &dyn Fn() -> Fingerprint,
    mutate: &dyn Fn(),
) {
    let before = fingerprint();
    let job = job_id_of(&app.backup_wait(target));
    let backups = app.backups(target);
    assert_eq!(backups.len(), 1, "{backups:#?}");
    let id = backups[0]["id"].as_str().expect("backup id").to_string();
    let short = id.rsplit('-').next().unwrap_or_default();
    assert!(job.ends_with(short), "backup {id} of job {job}");

    // The layout of local storage, under the bucket folder.
    let keys = s3.keys();
    let folder = format!("{prefix}/{target}/{id}/");
    let manifest_key = format!("{folder}manifest.json");
    assert!(keys.contains(&manifest_key), "{manifest_key} in {keys:#?}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&s3.get(&manifest_key)).expect("manifest JSON");
    let artifact = manifest["artifact"].as_str().expect("artifact name");
    let stored = s3.get(&format!("{folder}{artifact}"));
    assert_eq!(
        cairn_tests::util::sha256_hex(&stored),
        manifest["sha256"].as_str().unwrap(),
        "the artifact in the bucket is what the manifest signs"
    );
    assert!(manifest["signature"]["mac"].is_string(), "{manifest}");
    assert!(s3.multipart_uploads().is_empty(), "no upload left open");

    mutate();
    assert!(!fingerprint().diff(&before).is_empty(), "the change shows");
    let out = app.restore_wait(target, "latest", None);
    out.expect_code(0, &format!("restore {target} from S3"));
    before.assert_same(&fingerprint(), &format!("{target} restored from S3"));
}

#[test]
fn postgres_mariadb_and_redis_round_trip_through_s3() {
    let s3 = S3Server::start();
    let app = app_with_keys(&[]);
    add_s3_storage(&app, "offsite", &s3, "cairn/prod", &s3.endpoint());

    let pg = Pg::shared().create_db();
    pg.load_awkward();
    add_target_to(&app, "pg-s3", &pg.url(), "offsite");
    round_trip(
        &app,
        &s3,
        "cairn/prod",
        "pg-s3",
        &|| pg.fingerprint(),
        &|| pg.mutate(),
    );

    let my = My::shared().create_db();
    my.load_awkward();
    add_target_to(&app, "my-s3", &my.url(), "offsite");
    round_trip(
        &app,
        &s3,
        "cairn/prod",
        "my-s3",
        &|| my.fingerprint(),
        &|| my.mutate(),
    );

    let redis = RedisServer::start();
    redis.load_awkward(0);
    redis.load_awkward(4);
    add_target_to(&app, "redis-s3", &redis.url(None), "offsite");
    round_trip(
        &app,
        &s3,
        "cairn/prod",
        "redis-s3",
        &|| redis.fingerprint(),
        &|| {
            redis.mutate(0);
            redis.mutate(4);
        },
    );

    // Keys are references: never in the server's log, the storage view or an event.
    let listed = app.cairn(&["storage", "list", "--json"]);
    listed.expect_code(0, "storage list");
    assert!(
        listed.stdout.contains("env:S3_TEST_SECRET"),
        "{}",
        listed.stdout
    );
    let history = serde_json::to_string(&app.history(&[])).unwrap();
    for text in [app.log(), listed.stdout.clone(), history] {
        assert!(!text.contains(SECRET_KEY), "the secret key leaked");
        assert!(!text.contains(ACCESS_KEY), "the access key leaked");
    }
}

/// Random, incompressible rows: an artifact of several MiB (more than the proxy passes).
fn fill_incompressible(db: &PgDb, mib: u32) {
    db.psql(&format!(
        "CREATE TABLE blob (id int PRIMARY KEY, b bytea);
         INSERT INTO blob SELECT g, decode(string_agg(md5(random()::text || g || s), ''), 'hex')
           FROM generate_series(1, {rows}) g, generate_series(1, 64) s GROUP BY g;",
        rows = mib * 1024
    ));
}

#[test]
fn a_connection_cut_mid_upload_leaves_nothing_behind_and_the_next_backup_works() {
    let s3 = S3Server::start();
    // Every connection that carries more than 256 KiB towards the server is cut: small
    // requests pass, every part of the upload breaks, retries included.
    let proxy = CutProxy::start(s3.port, 256 * 1024);
    let app = app_with_keys(&["--max-attempts", "1"]);
    add_s3_storage(&app, "flaky", &s3, "cut", &proxy.endpoint());
    let db = Pg::shared().create_db();
    fill_incompressible(&db, 3);
    let before = db.fingerprint();
    add_target_to(&app, "pg-cut", &db.url(), "flaky");

    let job = app.backup_start("pg-cut");
    let state = app.wait_terminal(&job, WAIT_LIMIT);
    assert_eq!(job_status(&state), "failed", "{state:#}");
    assert!(proxy.cuts() > 0, "the proxy cut no connection");
    assert!(
        app.backups("pg-cut").is_empty(),
        "a failed upload is listed"
    );
    assert!(
        s3.multipart_uploads().is_empty(),
        "multipart uploads left behind: {:?}",
        s3.multipart_uploads()
    );
    let keys = s3.keys();
    assert!(
        !keys.iter().any(|k| k.starts_with("cut/pg-cut/")),
        "objects left behind: {keys:?}"
    );

    // The network heals: the next backup goes through the same proxy and restores.
    proxy.disarm();
    app.backup_wait("pg-cut");
    assert_eq!(app.backups("pg-cut").len(), 1);
    db.psql("DELETE FROM blob WHERE id % 2 = 0; CREATE TABLE later (x int);");
    assert!(!db.fingerprint().diff(&before).is_empty());
    app.restore_wait("pg-cut", "latest", None)
        .expect_code(0, "restore after the cut");
    before.assert_same(&db.fingerprint(), "restored after a cut upload");
    assert!(s3.multipart_uploads().is_empty());
}

#[test]
fn an_incomplete_upload_in_the_bucket_is_swept() {
    let s3 = S3Server::start();
    let mut app = app_with_keys(&[]);
    add_s3_storage(&app, "swept", &s3, "sw", &s3.endpoint());
    let db = Pg::shared().create_db();
    add_target_to(&app, "pg-sw", &db.url(), "swept");
    app.backup_wait("pg-sw");
    // A folder without a manifest: what a worker killed mid-upload leaves.
    let stray = "sw/pg-sw/20200101T000000Z-0badc0de/dump.sql.zst";
    let (status, body) = s3
        .request("PUT", &format!("/{}/{stray}", s3.bucket))
        .expect("put a stray object");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        app.backups("pg-sw").len(),
        1,
        "the stray folder is not listed"
    );
    // The sweep at start removes leftovers of the last run.
    app.kill9();
    app.restart();
    poll(
        "the incomplete upload to be swept",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || (!s3.keys().iter().any(|k| k == stray)).then_some(()),
    );
    assert_eq!(app.backups("pg-sw").len(), 1, "the complete backup stays");
}

#[test]
fn endpoints_at_metadata_addresses_are_refused_unless_allowed() {
    let app = app_with_keys(&[]);
    for endpoint in [
        "http://169.254.169.254",
        "http://169.254.3.4:9000",
        "http://[::ffff:169.254.169.254]",
        "http://[fd00:ec2::254]",
    ] {
        let out = app.cairn(&[
            "storage",
            "add",
            "meta",
            "--url",
            "s3://bucket/x",
            "--endpoint",
            endpoint,
            "--access-key-env",
            "S3_TEST_ACCESS",
            "--secret-key-env",
            "S3_TEST_SECRET",
        ]);
        out.expect_code(2, &format!("storage add --endpoint {endpoint}"));
        assert!(
            out.stderr.contains("--allow-private-endpoint"),
            "{endpoint}: {}",
            out.stderr
        );
    }
    let listed = app.cairn(&["storage", "list", "--json"]);
    assert!(!listed.stdout.contains("\"meta\""), "{}", listed.stdout);
}

#[test]
fn an_s3_storage_needs_key_references_and_a_working_bucket() {
    let s3 = S3Server::start();
    let app = app_with_keys(&[]);
    let add = |extra: &[&str]| {
        let url = format!("s3://{}/x", s3.bucket);
        let endpoint = s3.endpoint();
        let mut args = vec![
            "storage",
            "add",
            "s",
            "--url",
            &url,
            "--endpoint",
            &endpoint,
        ];
        args.extend_from_slice(extra);
        app.cairn(&args)
    };
    let out = add(&["--secret-key-env", "S3_TEST_SECRET"]);
    out.expect_code(2, "no access key");
    assert!(out.stderr.contains("--access-key-env"), "{}", out.stderr);
    let out = add(&[
        "--access-key-env",
        "CAIRN_SECRET_KEY",
        "--secret-key-env",
        "S3_TEST_SECRET",
    ]);
    out.expect_code(2, "cairn's own variable");
    let out = add(&[
        "--access-key-env",
        "S3_TEST_ACCESS",
        "--secret-key-env",
        "S3_TEST_UNSET_VARIABLE",
    ]);
    out.expect_code(2, "an unset variable");
    assert!(
        out.stderr.contains("S3_TEST_UNSET_VARIABLE"),
        "{}",
        out.stderr
    );
    let missing_bucket = "s3://no-such-bucket-here/x".to_string();
    let endpoint = s3.endpoint();
    let out = app.cairn(&[
        "storage",
        "add",
        "s",
        "--url",
        &missing_bucket,
        "--endpoint",
        &endpoint,
        "--access-key-env",
        "S3_TEST_ACCESS",
        "--secret-key-env",
        "S3_TEST_SECRET",
    ]);
    out.expect_code(2, "a missing bucket");
    assert!(!out.all_text().contains(SECRET_KEY));
}
