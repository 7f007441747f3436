//! A restore only ever loads data, and only from backups this cairn signed.
//!
//! - A hand-made backup placed in storage is refused without `--trust-unsigned` (the job
//!   fails, the target is untouched, the message names the flag); with the flag its `\!`
//!   payload still never runs and the job fails.
//! - A real backup whose manifest was changed is refused, with or without the flag; an
//!   untouched real backup restores normally.
//! - Disaster recovery: a fresh cairn with the old server's key (its `secret.key` copied
//!   into the new data dir, or `CAIRN_SECRET_KEY`) restores the old server's backups from
//!   the old storage without `--trust-unsigned`; a cairn with another key refuses them
//!   unless told `--trust-unsigned`.

use cairn_tests::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// `cairn restore … --yes --wait --json [extra]`.
fn restore(app: &App, target: &str, backup: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "restore", target, "--backup", backup, "--yes", "--wait", "--json",
    ];
    args.extend_from_slice(extra);
    app.cairn_limit(&args, WAIT_LIMIT)
}

/// The failed restore's failure `{code, message}` from its summary.
#[track_caller]
fn failure_of(out: &Output) -> (String, String) {
    out.expect_code(1, "a refused restore");
    let s = summary(out);
    assert_eq!(status_of(&s), "failed", "{s}");
    let code = s["failure"]["code"].as_str().unwrap_or("?").to_string();
    let message = s["failure"]["message"].as_str().unwrap_or("?").to_string();
    (code, message)
}

/// Writes a backup folder by hand, as someone with write access to the storage could:
/// the SQL compressed as the artifact, and an unsigned manifest modelled on `like`.
fn plant_backup(target_dir: &Path, like: &Value, sql: &str) -> String {
    let job = uuid::Uuid::now_v7();
    let short = &job.simple().to_string()[..8];
    let id = format!("20991231T000000Z-{short}");
    let dir = target_dir.join(&id);
    std::fs::create_dir_all(&dir).unwrap();
    let artifact = zstd::encode_all(sql.as_bytes(), 3).unwrap();
    std::fs::write(dir.join("dump.sql.zst"), &artifact).unwrap();
    let mut manifest = like.clone();
    let m = manifest.as_object_mut().unwrap();
    m.remove("signature");
    m.insert("id".into(), id.clone().into());
    m.insert("job_id".into(), job.to_string().into());
    m.insert("size_bytes".into(), sql.len().into());
    m.insert("stored_bytes".into(), artifact.len().into());
    m.insert(
        "sha256".into(),
        cairn_tests::util::sha256_hex(&artifact).into(),
    );
    m.insert("created_at".into(), "2099-12-31T00:00:00Z".into());
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec_pretty(&manifest).unwrap(),
    )
    .unwrap();
    id
}

fn read_manifest(app: &App, target: &str, id: &str) -> Value {
    let path = app.backup_dir(target, id).join("manifest.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A file the hostile payload would create.
struct Marker(PathBuf);

impl Marker {
    fn new() -> Self {
        Self(std::env::temp_dir().join(unique("cairn_pwned")))
    }
}

impl Drop for Marker {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn entry<'a>(list: &'a [Value], id: &str) -> &'a Value {
    list.iter()
        .find(|b| b["id"] == id)
        .unwrap_or_else(|| panic!("backup {id} is not listed: {list:#?}"))
}

#[test]
fn a_hand_made_backup_is_refused_and_its_shell_command_never_runs() {
    let pg = Pg::shared();
    let db = pg.create_db();
    db.psql("CREATE TABLE kept (x int); INSERT INTO kept VALUES (1), (2);");
    let app = App::start();
    app.add_target("orders", &db.url());
    let made = app.backup_wait("orders");
    let real_id = made["backup"]["id"].as_str().unwrap().to_string();
    assert_eq!(made["backup"]["trust"], "signed", "{made}");
    let before = db.fingerprint();

    let marker = Marker::new();
    let sql = format!(
        "CREATE TABLE evil (x int);\n\\! touch {}\n",
        marker.0.display()
    );
    let like = read_manifest(&app, "orders", &real_id);
    assert!(like["signature"]["mac"].is_string(), "{like}");
    let planted = plant_backup(&app.storage_dir("orders"), &like, &sql);

    let list = app.backups("orders");
    assert_eq!(entry(&list, &real_id)["trust"], "signed");
    assert_eq!(entry(&list, &real_id)["signed"], true);
    assert_eq!(entry(&list, &planted)["trust"], "unsigned");
    assert_eq!(entry(&list, &planted)["signed"], false);

    // The preview (no --yes) already says so.
    let preview = app.cairn(&["restore", "orders", "--backup", &planted]);
    preview.expect_code(2, "restore preview without --yes");
    assert!(
        preview.stderr.contains("unsigned") && preview.stderr.contains("--trust-unsigned"),
        "{}",
        preview.stderr
    );

    // Refused outright: nothing is loaded.
    let (code, message) = failure_of(&restore(&app, "orders", &planted, &[]));
    assert_eq!(code, "backup_unsigned", "{message}");
    assert!(message.contains("--trust-unsigned"), "{message}");
    assert!(!marker.0.exists(), "the payload ran");
    before.assert_same(&db.fingerprint(), "after the refused restore");

    // Trusted by the operator: loaded, but psql refuses the shell command and the load
    // is rolled back.
    let out = restore(&app, "orders", &planted, &["--trust-unsigned"]);
    let (code, message) = failure_of(&out);
    assert_eq!(code, "unsafe_artifact", "{message}");
    assert!(!marker.0.exists(), "the payload ran");
    before.assert_same(&db.fingerprint(), "after the trusted but hostile restore");
    let job = app.job(&job_id_of(&summary(&out)));
    let queued = &job["events"][0];
    assert_eq!(queued["type"], "JobQueued");
    assert_eq!(
        queued["payload"]["spec"]["trust_unsigned"], true,
        "{queued}"
    );
}

#[test]
fn a_changed_manifest_is_refused_and_a_real_backup_restores() {
    let pg = Pg::shared();
    let db = pg.create_db();
    db.load_awkward();
    let app = App::start();
    app.add_target("orders", &db.url());
    let first = app.backup_wait("orders")["backup"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let second = app.backup_wait("orders")["backup"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let backed_up = db.fingerprint();
    db.mutate();
    let changed = db.fingerprint();

    // One byte of the manifest's claims changes: the size, then the sha256 (as if the
    // artifact had been swapped together with a recomputed checksum).
    let path = app.backup_dir("orders", &first).join("manifest.json");
    let original = std::fs::read(&path).unwrap();
    let mut m: Value = serde_json::from_slice(&original).unwrap();
    m["size_bytes"] = (m["size_bytes"].as_u64().unwrap() + 1).into();
    std::fs::write(&path, serde_json::to_vec(&m).unwrap()).unwrap();
    assert_eq!(entry(&app.backups("orders"), &first)["trust"], "tampered");
    for extra in [&[][..], &["--trust-unsigned"][..]] {
        let (code, message) = failure_of(&restore(&app, "orders", &first, extra));
        assert_eq!(code, "backup_tampered", "{extra:?}: {message}");
    }
    let mut m: Value = serde_json::from_slice(&original).unwrap();
    m["sha256"] = "0".repeat(64).into();
    std::fs::write(&path, serde_json::to_vec(&m).unwrap()).unwrap();
    let (code, _) = failure_of(&restore(&app, "orders", &first, &[]));
    assert_eq!(code, "backup_tampered");
    changed.assert_same(&db.fingerprint(), "after the refused restores");

    let out = restore(&app, "orders", &second, &[]);
    out.expect_code(0, "restore of the untouched backup");
    backed_up.assert_same(&db.fingerprint(), "after restoring the real backup");
}

/// Starts a cairn whose only link to the lost server is `vault` (its storage) and,
/// maybe, its key; registers the storage and the target under their old names.
fn recovering_app(options: AppOptions, vault: &Path, url: &str) -> App {
    let app = App::start_with(options);
    let vault_url = format!("file://{}", vault.display());
    app.cairn(&["storage", "add", "vault", "--url", &vault_url])
        .expect_code(0, "storage add vault");
    app.cairn(&[
        "target",
        "add",
        "orders",
        "--url",
        url,
        "--storage",
        "vault",
    ])
    .expect_code(0, "target add orders");
    app
}

#[test]
fn disaster_recovery_restores_the_old_servers_backups_with_its_key() {
    let pg = Pg::shared();
    let db = pg.create_db();
    db.load_awkward();
    let vault = tempfile::Builder::new()
        .prefix("cairn-it-vault-")
        .tempdir()
        .unwrap();
    let vault_url = format!("file://{}", vault.path().display());

    // Server A backs up into the vault, then is lost with its whole data dir.
    let old_key = {
        let a = App::start();
        a.cairn(&["storage", "add", "vault", "--url", &vault_url])
            .expect_code(0, "storage add vault");
        a.cairn(&[
            "target",
            "add",
            "orders",
            "--url",
            &db.url(),
            "--storage",
            "vault",
        ])
        .expect_code(0, "target add orders");
        a.backup_wait("orders");
        std::fs::read(a.data_dir().join("secret.key")).expect("A's secret.key")
    };
    let backed_up = db.fingerprint();
    db.mutate();

    // B: a fresh data dir holding a copy of A's secret.key.
    let b = recovering_app(
        AppOptions {
            data_files: vec![("secret.key".into(), old_key.clone())],
            ..AppOptions::default()
        },
        vault.path(),
        &db.url(),
    );
    assert_eq!(b.backups("orders")[0]["trust"], "signed");
    restore(&b, "orders", "latest", &[]).expect_code(0, "B restores A's backup");
    backed_up.assert_same(&db.fingerprint(), "after B's restore");
    drop(b);

    // B': the key given as CAIRN_SECRET_KEY instead.
    db.mutate();
    let hex_key = String::from_utf8(old_key).unwrap().trim().to_string();
    let b2 = recovering_app(
        AppOptions {
            env: [("CAIRN_SECRET_KEY".to_string(), hex_key)].into(),
            ..AppOptions::default()
        },
        vault.path(),
        &db.url(),
    );
    restore(&b2, "orders", "latest", &[]).expect_code(0, "B' restores A's backup");
    backed_up.assert_same(&db.fingerprint(), "after B''s restore");
    drop(b2);

    // C: another key. A's backups are foreign there.
    db.mutate();
    let mutated = db.fingerprint();
    let c = recovering_app(AppOptions::default(), vault.path(), &db.url());
    assert_eq!(c.backups("orders")[0]["trust"], "foreign");
    let (code, message) = failure_of(&restore(&c, "orders", "latest", &[]));
    assert_eq!(code, "backup_foreign", "{message}");
    assert!(message.contains("--trust-unsigned"), "{message}");
    mutated.assert_same(&db.fingerprint(), "after C's refusal");
    restore(&c, "orders", "latest", &["--trust-unsigned"])
        .expect_code(0, "C restores A's backup when told to trust it");
    backed_up.assert_same(&db.fingerprint(), "after C's trusted restore");
}
