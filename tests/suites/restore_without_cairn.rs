//! Backups outlive cairn: the commands of docs/restore-without-cairn.md, run with the
//! stock tools (`age`, `zstd`, `psql`, `mariadb`, `redis-cli`) on artifacts cairn wrote,
//! give back the backed-up data. And encryption through cairn itself: age to recipients
//! and with a passphrase round trip, the manifest records it (and no key), and a storage
//! without the identity refuses the restore before touching the target.

use cairn_tests::util::{have, run, run_ok};
use cairn_tests::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

/// Runs a shell pipeline (`set -o pipefail`) and asserts it succeeded.
#[track_caller]
fn sh(script: &str) -> String {
    let mut cmd = Command::new("bash");
    cmd.args(["-c", &format!("set -euo pipefail; {script}")]);
    run_ok(cmd, None, LIMIT)
}

#[track_caller]
fn need(tools: &[&str]) {
    for tool in tools {
        assert!(
            have(tool),
            "{tool} is not installed: scripts/test installs it (Debian package)"
        );
    }
}

/// A fresh age key pair in `dir`: (identity file, public key).
fn age_key(dir: &Path) -> (PathBuf, String) {
    let key = dir.join("age.key");
    let mut cmd = Command::new("age-keygen");
    cmd.arg("-o").arg(&key);
    let out = run(cmd, None, LIMIT);
    out.expect_code(0, "age-keygen");
    let text = std::fs::read_to_string(&key).expect("read the key");
    let public = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("age-keygen writes the public key")
        .to_string();
    (key, public)
}

/// A server whose secrets folder holds an age key, with a storage `enc` at
/// `<tmp>/enc` that encrypts to it and can decrypt (identity file given).
struct Encrypted {
    app: App,
    _secrets: tempfile::TempDir,
    store: tempfile::TempDir,
    key: PathBuf,
    public: String,
}

impl Encrypted {
    fn start() -> Encrypted {
        let secrets = tempfile::tempdir().expect("secrets dir");
        let store = tempfile::tempdir().expect("storage dir");
        let (key, public) = age_key(secrets.path());
        let app = App::start_with(AppOptions {
            up_args: vec!["--secrets-dir".into(), secrets.path().display().to_string()],
            env: [(
                "AGE_TEST_PASSPHRASE".to_string(),
                "correct horse battery staple".to_string(),
            )]
            .into(),
            ..AppOptions::default()
        });
        let url = format!("file://{}/enc", store.path().display());
        let key_arg = key.display().to_string();
        let out = app.cairn(&[
            "storage",
            "add",
            "enc",
            "--url",
            &url,
            "--encrypt",
            "age",
            "--age-recipient",
            &public,
            "--age-identity-file",
            &key_arg,
        ]);
        out.expect_code(0, "storage add --encrypt age");
        assert!(out.stdout.contains("age (1 recipient(s)"), "{}", out.stdout);
        Encrypted {
            app,
            _secrets: secrets,
            store,
            key,
            public,
        }
    }

    fn add_target(&self, name: &str, url: &str, storage: &str) {
        self.app
            .cairn(&["target", "add", name, "--url", url, "--storage", storage])
            .expect_code(0, &format!("target add {name}"));
    }

    /// Backs up `target` and returns its manifest (as listed) and artifact path.
    fn backup(&self, target: &str, storage_dir: &str) -> (serde_json::Value, PathBuf) {
        self.app.backup_wait(target);
        let listed = self.app.backups(target);
        let id = listed[0]["id"].as_str().expect("id").to_string();
        let dir = self.store.path().join(storage_dir).join(target).join(&id);
        let manifest: serde_json::Value = serde_json::from_slice(
            &std::fs::read(dir.join("manifest.json")).expect("manifest.json"),
        )
        .expect("manifest JSON");
        let artifact = dir.join(manifest["artifact"].as_str().expect("artifact"));
        (manifest, artifact)
    }
}

/// The artifact is age, its manifest says so and signs it, and holds no key material.
fn assert_encrypted(manifest: &serde_json::Value, artifact: &Path, secret_words: &[&str]) {
    assert_eq!(manifest["encryption"], "age", "{manifest:#}");
    let bytes = std::fs::read(artifact).expect("artifact");
    assert!(
        bytes.starts_with(b"age-encryption.org/v1\n"),
        "the stored artifact is not an age file"
    );
    let text = manifest.to_string();
    for word in secret_words {
        assert!(!text.contains(word), "the manifest holds {word}");
    }
}

#[test]
fn postgres_and_mariadb_restore_with_age_zstd_and_the_client() {
    need(&["age", "zstd", "psql", "mariadb"]);
    let e = Encrypted::start();
    let identity = std::fs::read_to_string(&e.key).unwrap();
    let secret_line = identity
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap()
        .to_string();

    // PostgreSQL: age -d -i KEY FILE | zstd -d | psql
    let pg = Pg::shared().create_db();
    pg.load_awkward();
    let pg_before = pg.fingerprint();
    e.add_target("pg-enc", &pg.url(), "enc");
    let (manifest, artifact) = e.backup("pg-enc", "enc");
    assert_encrypted(&manifest, &artifact, &[&secret_line, "AGE-SECRET-KEY"]);
    pg.pg.psql(
        "postgres",
        &format!(
            "DROP DATABASE \"{0}\" WITH (FORCE); CREATE DATABASE \"{0}\";",
            pg.name
        ),
    );
    sh(&format!(
        "age -d -i '{key}' '{file}' | zstd -d | psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -d '{db}' >/dev/null",
        key = e.key.display(),
        file = artifact.display(),
        db = pg.name
    ));
    pg_before.assert_same(
        &pg.fingerprint(),
        "postgres restored with age | zstd | psql",
    );

    // MariaDB: age -d -i KEY FILE | zstd -d | mariadb DB
    let my = My::shared().create_db();
    my.load_awkward();
    let before = my.fingerprint();
    e.add_target("my-enc", &my.url(), "enc");
    let (manifest, artifact) = e.backup("my-enc", "enc");
    assert_encrypted(&manifest, &artifact, &[&secret_line]);
    my.my.sql(
        None,
        &format!(
            "DROP DATABASE `{0}`; CREATE DATABASE `{0}` CHARACTER SET utf8mb4;",
            my.name
        ),
    );
    sh(&format!(
        "age -d -i '{key}' '{file}' | zstd -d | mariadb --binary-mode -h 127.0.0.1 -P 3306 -u root '{db}'",
        key = e.key.display(),
        file = artifact.display(),
        db = my.name
    ));
    before.assert_same(
        &my.fingerprint(),
        "mariadb restored with age | zstd | mariadb",
    );

    // And through cairn: the storage's identity file decrypts.
    pg.mutate();
    e.app
        .restore_wait("pg-enc", "latest", None)
        .expect_code(0, "cairn restore of an encrypted backup");
    pg_before.assert_same(&pg.fingerprint(), "postgres restored by cairn from age");
    assert!(
        !e.app.log().contains(&secret_line),
        "the key reached the log"
    );
}

#[test]
fn redis_restores_with_redis_cli_pipe_in_clear_and_encrypted() {
    need(&["age", "zstd", "redis-cli"]);
    let e = Encrypted::start();
    let redis = RedisServer::start();
    redis.load_awkward(0);
    redis.load_awkward(7);
    let before = redis.fingerprint();

    // In clear, in the default storage: zstd -dc FILE | redis-cli --pipe
    e.app.add_target("redis-plain", &redis.url(None));
    e.app.backup_wait("redis-plain");
    let id = e.app.backups("redis-plain")[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let plain = e.app.artifact_path("redis-plain", &id);
    assert!(plain.to_string_lossy().ends_with("dump.resp.zst"));
    redis.mutate(0);
    redis.load_awkward(9);
    sh(&format!(
        "redis-cli -p {port} FLUSHALL >/dev/null && zstd -dc '{file}' | redis-cli -p {port} --pipe",
        port = redis.port,
        file = plain.display()
    ));
    before.assert_same(
        &redis.fingerprint(),
        "redis restored with zstd | redis-cli --pipe",
    );

    // Encrypted: age -d -i KEY FILE | zstd -d | redis-cli --pipe
    e.add_target("redis-enc", &redis.url(None), "enc");
    let (manifest, artifact) = e.backup("redis-enc", "enc");
    assert_encrypted(&manifest, &artifact, &["AGE-SECRET-KEY"]);
    assert_eq!(manifest["format_name"], "redis-resp-v1");
    redis.mutate(7);
    sh(&format!(
        "redis-cli -p {port} FLUSHALL >/dev/null && age -d -i '{key}' '{file}' | zstd -d | redis-cli -p {port} --pipe",
        port = redis.port,
        key = e.key.display(),
        file = artifact.display()
    ));
    before.assert_same(
        &redis.fingerprint(),
        "redis restored with age | zstd | redis-cli",
    );
}

#[test]
fn without_the_identity_a_restore_is_refused_before_touching_the_target() {
    let e = Encrypted::start();
    // The same folder, registered again without the identity file.
    let url = format!("file://{}/enc", e.store.path().display());
    e.app
        .cairn(&[
            "storage",
            "add",
            "enc-noid",
            "--url",
            &url,
            "--encrypt",
            "age",
            "--age-recipient",
            &e.public,
        ])
        .expect_code(0, "storage add without identity");
    let db = Pg::shared().create_db();
    db.load_awkward();
    e.add_target("pg-noid", &db.url(), "enc-noid");
    e.app.backup_wait("pg-noid");
    db.mutate();
    let changed = db.fingerprint();
    let out = e.app.restore_wait("pg-noid", "latest", None);
    assert_eq!(out.code, 1, "{}", out.all_text());
    let job = e.app.job(&job_id_of(&summary(&out)));
    assert_eq!(
        failure_codes(&job),
        vec!["encryption".to_string()],
        "{job:#}"
    );
    let text = job.to_string();
    assert!(text.contains("--age-identity-file"), "{text}");
    assert!(
        !event_types(&job).iter().any(|t| t == "JobStarted"),
        "the target was touched: {:?}",
        event_types(&job)
    );
    changed.assert_same(&db.fingerprint(), "the target after a refused restore");
}

#[test]
fn a_passphrase_storage_round_trips_and_bad_settings_are_refused() {
    let e = Encrypted::start();
    let url = format!("file://{}/pass", e.store.path().display());
    e.app
        .cairn(&[
            "storage",
            "add",
            "pass",
            "--url",
            &url,
            "--encrypt",
            "age",
            "--age-passphrase-env",
            "AGE_TEST_PASSPHRASE",
        ])
        .expect_code(0, "storage add --age-passphrase-env");
    let db = Pg::shared().create_db();
    db.load_awkward();
    let before = db.fingerprint();
    e.add_target("pg-pass", &db.url(), "pass");
    let (manifest, artifact) = e.backup("pg-pass", "pass");
    assert_encrypted(
        &manifest,
        &artifact,
        &["correct horse", "AGE_TEST_PASSPHRASE"],
    );
    db.mutate();
    e.app
        .restore_wait("pg-pass", "latest", None)
        .expect_code(0, "restore with the passphrase");
    before.assert_same(&db.fingerprint(), "restored from a passphrase storage");
    assert!(!e.app.log().contains("correct horse"));

    for (args, why) in [
        (vec!["--encrypt", "age"], "nothing to encrypt to"),
        (
            vec!["--encrypt", "age", "--age-recipient", "age1notakey"],
            "a bad recipient",
        ),
        (
            vec![
                "--encrypt",
                "age",
                "--age-identity-file",
                "/etc/passwd",
                "--age-passphrase-env",
                "AGE_TEST_PASSPHRASE",
            ],
            "an identity file outside the secrets folders",
        ),
    ] {
        let bad = format!("file://{}/bad", e.store.path().display());
        let mut full = vec!["storage", "add", "bad", "--url", bad.as_str()];
        full.extend(args);
        let out = e.app.cairn(&full);
        assert_eq!(out.code, 2, "{why}: {}", out.all_text());
    }
}
