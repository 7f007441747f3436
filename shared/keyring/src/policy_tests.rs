//! The reference policy, on real files: links, `..`, cairn's own files, variables.

use super::*;
use std::os::unix::fs::symlink;

struct Fixture {
    _root: tempfile::TempDir,
    data: PathBuf,
    extra: PathBuf,
    outside: PathBuf,
    policy: ReferencePolicy,
}

fn fixture() -> Fixture {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let extra = root.path().join("extra");
    let outside = root.path().join("outside");
    for d in [
        data.join("secrets"),
        data.join("ledger"),
        extra.clone(),
        outside.clone(),
    ] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(data.join("secret.key"), "k".repeat(64)).unwrap();
    std::fs::write(data.join("admin.token"), "token").unwrap();
    std::fs::write(data.join("ledger/db"), "ledger").unwrap();
    std::fs::write(data.join("secrets/pw"), "in-data-secrets\n").unwrap();
    std::fs::write(extra.join("pw"), "in-extra\r\n").unwrap();
    std::fs::write(outside.join("pw"), "outside").unwrap();
    let policy = ReferencePolicy::new(&data).with_secrets_dir(&extra);
    Fixture {
        _root: root,
        data,
        extra,
        outside,
        policy,
    }
}

#[test]
fn files_inside_the_secrets_folders_are_read() {
    let f = fixture();
    assert_eq!(
        f.policy.read_file(f.data.join("secrets/pw")).unwrap(),
        "in-data-secrets"
    );
    assert_eq!(f.policy.read_file(f.extra.join("pw")).unwrap(), "in-extra");
    // A link inside a secrets folder to another file inside one is fine.
    symlink(f.extra.join("pw"), f.data.join("secrets/link")).unwrap();
    assert_eq!(
        f.policy.read_file(f.data.join("secrets/link")).unwrap(),
        "in-extra"
    );
    // A file that does not exist yet, in an allowed folder, passes the check only.
    let later = f.extra.join("later/pw");
    assert_eq!(
        f.policy.check_file(&later).unwrap(),
        later_real(&f, "later/pw")
    );
    assert!(matches!(
        f.policy.read_file(&later),
        Err(RefError::Unreadable(..))
    ));
}

fn later_real(f: &Fixture, rest: &str) -> PathBuf {
    std::fs::canonicalize(&f.extra).unwrap().join(rest)
}

#[test]
fn files_elsewhere_are_refused_however_they_are_named() {
    let f = fixture();
    symlink(f.outside.join("pw"), f.extra.join("escape")).unwrap();
    symlink(&f.outside, f.extra.join("dir-escape")).unwrap();
    symlink("/etc/passwd", f.data.join("secrets/passwd")).unwrap();
    let cases: Vec<PathBuf> = vec![
        "/etc/passwd".into(),
        f.outside.join("pw"),
        f.extra.join("../outside/pw"),
        f.extra.join("missing/../../outside/pw"),
        f.data.join("secrets/../secret.key"),
        f.extra.join("escape"),
        f.extra.join("dir-escape/pw"),
        f.data.join("secrets/passwd"),
        f.extra.clone(),
    ];
    for path in cases {
        let err = f.policy.read_file(&path).unwrap_err();
        assert!(
            matches!(
                err,
                RefError::Outside { .. } | RefError::OwnFile(_) | RefError::Unreadable(..)
            ),
            "{}: {err:?}",
            path.display()
        );
        assert!(f.policy.check_file(&path).is_err(), "{}", path.display());
    }
    let msg = f.policy.check_file("/etc/passwd").unwrap_err().to_string();
    assert!(
        msg.contains("/run/secrets") && msg.contains(&f.extra.display().to_string()),
        "the message names the allowed folders: {msg}"
    );
    assert!(matches!(
        f.policy.check_file("relative/pw"),
        Err(RefError::NotAbsolute(_))
    ));
}

#[test]
fn cairns_own_files_stay_unreachable_even_when_a_folder_covers_them() {
    let f = fixture();
    let covering = ReferencePolicy::new(&f.data).with_secrets_dir(&f.data);
    for own in ["secret.key", "admin.token", "ledger/db"] {
        let err = covering.read_file(f.data.join(own)).unwrap_err();
        assert!(matches!(err, RefError::OwnFile(_)), "{own}: {err:?}");
    }
    // Through a link from an allowed folder, too.
    symlink(f.data.join("secret.key"), f.extra.join("key")).unwrap();
    assert!(matches!(
        f.policy.read_file(f.extra.join("key")),
        Err(RefError::OwnFile(_))
    ));
    // A key kept outside the data directory is marked as cairn's own.
    std::fs::write(f.extra.join("signing.key"), "k").unwrap();
    let marked = f.policy.clone().with_own_path(f.extra.join("signing.key"));
    assert!(matches!(
        marked.read_file(f.extra.join("signing.key")),
        Err(RefError::OwnFile(_))
    ));
    assert_eq!(
        covering.read_file(f.data.join("secrets/pw")).unwrap(),
        "in-data-secrets"
    );
}

#[test]
fn a_secrets_folder_that_resolves_to_the_root_allows_nothing() {
    let f = fixture();
    let link = f.extra.join("to-root");
    symlink("/", &link).unwrap();
    let policy = ReferencePolicy::default().with_secrets_dir(&link);
    assert!(matches!(
        policy.check_file("/etc/passwd"),
        Err(RefError::Outside { .. })
    ));
    assert!(matches!(
        ReferencePolicy::default()
            .with_secrets_dir("/")
            .check_file("/etc/passwd"),
        Err(RefError::Outside { .. })
    ));
}

#[test]
fn only_regular_files_are_read() {
    let f = fixture();
    std::fs::create_dir(f.extra.join("sub")).unwrap();
    assert!(matches!(
        f.policy.read_file(f.extra.join("sub")),
        Err(RefError::NotAFile(_))
    ));
    let dev = ReferencePolicy::default().with_secrets_dir("/dev");
    assert!(matches!(
        dev.read_file("/dev/null"),
        Err(RefError::NotAFile(_))
    ));
}

#[test]
fn environment_references() {
    let open = ReferencePolicy::default();
    open.check_env("PGPASSWORD_ORDERS").unwrap();
    open.check_env("orders_pw").unwrap();
    for own in [
        "CAIRN_SECRET_KEY",
        "CAIRN_TOKEN",
        "cairn_secret_key",
        "Cairn_X",
    ] {
        assert!(
            matches!(open.check_env(own), Err(RefError::OwnVariable(_))),
            "{own}"
        );
    }
    for bad in ["", "1PW", "A-B", "A=B", "A\nB", "A B"] {
        let err = open.check_env(bad).unwrap_err();
        assert!(matches!(err, RefError::BadVariable(_)), "{bad:?}");
        assert!(!err.to_string().contains('\n'));
    }
    let prefixed = ReferencePolicy::default()
        .with_env_prefix("DB_")
        .with_env_prefix("PG");
    prefixed.check_env("DB_ORDERS").unwrap();
    prefixed.check_env("PGPASS_ORDERS").unwrap();
    let err = prefixed.check_env("HOME").unwrap_err();
    assert!(
        err.to_string().contains("DB_, PG"),
        "the message names the prefixes: {err}"
    );
    // cairn's own settings stay refused even under an allowed prefix.
    let cairn_prefix = ReferencePolicy::default().with_env_prefix("CAIRN_");
    assert!(matches!(
        cairn_prefix.check_env("CAIRN_SECRET_KEY"),
        Err(RefError::OwnVariable(_))
    ));
    assert!(matches!(
        open.read_env("CAIRN_TEST_SURELY_UNSET_VAR"),
        Err(RefError::OwnVariable(_))
    ));
    assert!(matches!(
        open.read_env("SURELY_UNSET_VAR_OF_CAIRN_TESTS"),
        Err(RefError::Unset(_))
    ));
}
