//! `cairn key id|export|import` work on data directories alone: an exported key imported
//! elsewhere gives the same key id, nothing is overwritten by accident, files are 0600.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn cairn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(args)
        .env_remove("CAIRN_SECRET_KEY")
        .env_remove("CAIRN_DATA_DIR")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run cairn")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{out:?}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn key_id(dir: &Path) -> String {
    ok(&cairn(&["key", "id", "--data-dir", dir.to_str().unwrap()]))
        .trim()
        .to_string()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn export_then_import_carries_the_key_and_refuses_to_clobber() {
    let root = tempfile::tempdir().unwrap();
    let old = root.path().join("old");
    let new = root.path().join("new");
    let other = root.path().join("other");
    for d in [&old, &other] {
        std::fs::create_dir_all(d).unwrap();
        // A data dir's first key, as `cairn up` would create it.
        cairn_keyring::Keyring::load_or_create(d).unwrap();
    }
    let exported = root.path().join("key.hex");
    let exported_s = exported.to_str().unwrap();

    // No key in an empty dir: a usage error, and nothing is created.
    let empty = root.path().join("empty");
    let out = cairn(&["key", "id", "--data-dir", empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(!empty.join("secret.key").exists());

    ok(&cairn(&[
        "key",
        "export",
        "--data-dir",
        old.to_str().unwrap(),
        "--out",
        exported_s,
    ]));
    assert_eq!(mode(&exported), 0o600);
    // An existing file is never overwritten.
    let out = cairn(&[
        "key",
        "export",
        "--data-dir",
        old.to_str().unwrap(),
        "--out",
        exported_s,
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");

    ok(&cairn(&[
        "key",
        "import",
        exported_s,
        "--data-dir",
        new.to_str().unwrap(),
    ]));
    assert_eq!(key_id(&new), key_id(&old));
    assert_eq!(mode(&new.join("secret.key")), 0o600);
    assert_eq!(
        std::fs::read_to_string(new.join("secret.key"))
            .unwrap()
            .trim(),
        std::fs::read_to_string(old.join("secret.key"))
            .unwrap()
            .trim()
    );

    // Another key is not replaced unless asked.
    assert_ne!(key_id(&other), key_id(&old));
    let out = cairn(&[
        "key",
        "import",
        exported_s,
        "--data-dir",
        other.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--replace"));
    ok(&cairn(&[
        "key",
        "import",
        exported_s,
        "--data-dir",
        other.to_str().unwrap(),
        "--replace",
    ]));
    assert_eq!(key_id(&other), key_id(&old));

    // Garbage is refused.
    let bad = root.path().join("bad");
    std::fs::write(&bad, "not a key").unwrap();
    let out = cairn(&[
        "key",
        "import",
        bad.to_str().unwrap(),
        "--data-dir",
        new.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}
