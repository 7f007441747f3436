//! A database password given to cairn (stdin, env var or file) never shows up where it
//! could leak: not in any process's argv, not in the environment of the dump tools cairn
//! starts, not in any file under the data dir, not in the server log, not in API output.

use cairn_tests::*;
use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SECRET_VAR: &str = "CAIRN_IT_SECRET_PASSWORD";

/// What the /proc scanner saw while backups ran.
#[derive(Default)]
struct Seen {
    /// `pid comm file` of every place the password was found.
    hits: Vec<String>,
    /// Commands of the server's descendants (proof the scan looked at the dump child).
    children: BTreeSet<String>,
}

/// Scans every process's cmdline, and the environ of every descendant of `server`, until
/// `stop` is set.
fn scan_procs(server: u32, needle: Vec<u8>, stop: Arc<AtomicBool>, seen: Arc<Mutex<Seen>>) {
    while !stop.load(Ordering::Relaxed) {
        for pid in procs::all_pids() {
            if util::contains_bytes(&procs::read(pid, "cmdline"), &needle) {
                let comm = procs::stat(pid).map(|s| s.comm).unwrap_or_default();
                seen.lock()
                    .unwrap()
                    .hits
                    .push(format!("{pid} {comm} cmdline"));
            }
        }
        for child in procs::descendants(server) {
            let environ = procs::read(child.pid, "environ");
            let mut seen = seen.lock().unwrap();
            if util::contains_bytes(&environ, &needle) {
                seen.hits
                    .push(format!("{} {} environ", child.pid, child.comm));
            }
            seen.children.insert(child.comm);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether `needle` occurs in the file, read in chunks that overlap by the needle's length.
fn file_contains(path: &Path, needle: &[u8]) -> bool {
    let Ok(mut file) = std::fs::File::open(path) else {
        return false;
    };
    let mut carry: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        carry.extend_from_slice(&buf[..n]);
        if util::contains_bytes(&carry, needle) {
            return true;
        }
        let keep = needle.len().saturating_sub(1).min(carry.len());
        carry.drain(..carry.len() - keep);
    }
}

#[test]
fn passwords_never_leak_into_argv_env_files_logs_or_output() {
    let my = My::shared();
    let db = my.create_db();
    // About 100 MB: the dump runs for a couple of seconds while /proc is scanned.
    db.sql(
        "CREATE TABLE big (id INT PRIMARY KEY, pad VARCHAR(255)); \
            INSERT INTO big SELECT seq, REPEAT(MD5(seq), 7) FROM seq_1_to_400000;",
    );
    let password = unique("Zq9-secret-");
    let user = my.create_user(&db.name, &password);
    let url = my.url_as(&user.name, Some(&db.name));

    let pw_dir = tempfile::tempdir().expect("tempdir");
    let pw_file = pw_dir.path().join("db-password");
    std::fs::write(&pw_file, &password).expect("write password file");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&pw_file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let pw_file = pw_file.to_str().expect("utf-8 path").to_string();

    let mut options = AppOptions::default();
    options.env.insert(SECRET_VAR.into(), password.clone());
    let app = App::start_with(options);

    app.cairn_stdin(
        &[
            "target",
            "add",
            "s-stdin",
            "--url",
            &url,
            "--password-stdin",
        ],
        format!("{password}\n").as_bytes(),
    )
    .expect_code(0, "target add --password-stdin");
    app.cairn(&[
        "target",
        "add",
        "s-env",
        "--url",
        &url,
        "--password-env",
        SECRET_VAR,
    ])
    .expect_code(0, "target add --password-env");
    app.cairn(&[
        "target",
        "add",
        "s-file",
        "--url",
        &url,
        "--password-file",
        &pw_file,
    ])
    .expect_code(0, "target add --password-file");

    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let scanner = {
        let (stop, seen, needle, pid) = (
            stop.clone(),
            seen.clone(),
            password.clone().into_bytes(),
            app.pid(),
        );
        std::thread::spawn(move || scan_procs(pid, needle, stop, seen))
    };
    let mut job_ids = Vec::new();
    for target in ["s-stdin", "s-env", "s-file"] {
        job_ids.push(job_id_of(&app.backup_wait(target)));
    }
    stop.store(true, Ordering::Relaxed);
    scanner.join().expect("scanner thread");
    let seen = seen.lock().unwrap();
    assert!(
        seen.hits.is_empty(),
        "the password was visible in /proc: {:?}",
        seen.hits
    );
    assert!(
        !seen.children.is_empty(),
        "the scan never saw a child of cairn up (did the backups run a dump tool?)"
    );
    eprintln!(
        "children of cairn up seen during the backups: {:?}",
        seen.children
    );

    let needles = [
        password.as_bytes().to_vec(),
        hex::encode(&password).into_bytes(),
    ];
    for file in util::files_under(&app.data_dir()) {
        for needle in &needles {
            assert!(
                !file_contains(&file, needle),
                "the password (or its hex) is stored in {}",
                file.display()
            );
        }
    }
    assert!(
        !app.log().contains(&password),
        "the server log holds the password"
    );

    let show = |name: &str| {
        let out = app.cairn(&["target", "show", name, "--json"]);
        out.expect_code(0, "target show");
        assert!(
            !out.stdout.contains(&password),
            "target show {name} prints the password"
        );
        out.json()
    };
    assert_eq!(show("s-stdin")["credential"], "sealed");
    assert_eq!(
        show("s-env")["credential"],
        format!("env:{SECRET_VAR}").as_str()
    );
    assert_eq!(
        show("s-file")["credential"],
        format!("file:{pw_file}").as_str()
    );
    let list = app.cairn(&["target", "list", "--json"]);
    assert!(
        !list.stdout.contains(&password),
        "target list prints the password"
    );
    for id in &job_ids {
        let out = app.cairn(&["job", id, "--json"]);
        assert!(
            !out.stdout.contains(&password),
            "job {id} events hold the password"
        );
    }
    let history = app.cairn(&["history", "--json"]);
    assert!(
        !history.stdout.contains(&password),
        "history holds the password"
    );
}
