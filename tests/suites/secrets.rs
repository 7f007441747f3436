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

const SECRET_VAR: &str = "IT_SECRET_PASSWORD_OF_CAIRN";

/// What the /proc scanner saw while backups ran.
#[derive(Default)]
struct Seen {
    /// `pid comm cmdline` / `pid comm environ VAR` of every place the password was found.
    hits: BTreeSet<String>,
    /// Commands of the server's descendants (proof the scan looked at the dump child).
    children: BTreeSet<String>,
}

/// Scans every process's cmdline, and the environ of every descendant of `server` that
/// runs a program of its own (exec'd), until `stop` is set.
fn scan_procs(server: u32, needle: Vec<u8>, stop: Arc<AtomicBool>, seen: Arc<Mutex<Seen>>) {
    let server_image = image_of(server);
    assert!(server_image.is_some(), "cannot read /proc/{server}/exe");
    while !stop.load(Ordering::Relaxed) {
        for pid in procs::all_pids() {
            if util::contains_bytes(&procs::read(pid, "cmdline"), &needle) {
                let comm = procs::stat(pid).map(|s| s.comm).unwrap_or_default();
                let hit = format!("{pid} {comm} cmdline");
                seen.lock().unwrap().hits.insert(hit);
            }
        }
        for child in procs::descendants(server) {
            let image = image_of(child.pid);
            let environ = procs::read(child.pid, "environ");
            if image.is_none() || image != image_of(child.pid) || image == server_image {
                // Gone, exec'd while being read, or not exec'd yet: then the environment
                // read is the parent's (cairn's own, which holds the test's secret
                // variable), not the one the child runs with. The next pass looks again.
                continue;
            }
            let mut seen = seen.lock().unwrap();
            for var in environ.split(|b| *b == 0) {
                if util::contains_bytes(var, &needle) {
                    let name = var.split(|b| *b == b'=').next().unwrap_or_default();
                    let name = String::from_utf8_lossy(name);
                    let hit = format!("{} {} environ {name}", child.pid, child.comm);
                    seen.hits.insert(hit);
                }
            }
            seen.children.insert(child.comm);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// What a process runs: its executable and command line. A child between fork and exec
/// still shows its parent's.
fn image_of(pid: u32) -> Option<(std::path::PathBuf, Vec<u8>)> {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    Some((exe, procs::read(pid, "cmdline")))
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
    options.up_args = vec!["--secrets-dir".into(), pw_dir.path().display().to_string()];
    let app = App::start_with(options);

    app.add_target_with_password("s-stdin", &url, &password);
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
        !seen.children.is_empty(),
        "the scan never saw a child of cairn up (did the backups run a dump tool?)"
    );
    eprintln!(
        "children of cairn up seen during the backups: {:?}",
        seen.children
    );

    // Every leak is collected first, so one run reports all of them.
    let mut leaks: Vec<String> = seen
        .hits
        .iter()
        .map(|h| format!("visible in /proc: {h}"))
        .collect();
    let needles = [
        password.as_bytes().to_vec(),
        hex::encode(&password).into_bytes(),
    ];
    for file in util::files_under(&app.data_dir()) {
        if needles.iter().any(|n| file_contains(&file, n)) {
            leaks.push(format!("stored (raw or hex) in {}", file.display()));
        }
    }
    if app.log().contains(&password) {
        leaks.push("written to the server log".into());
    }
    let mut credentials = Vec::new();
    for name in ["s-stdin", "s-env", "s-file"] {
        let out = app.cairn(&["target", "show", name, "--json"]);
        out.expect_code(0, "target show");
        if out.stdout.contains(&password) {
            leaks.push(format!("printed by `target show {name}`"));
        }
        credentials.push(out.json()["credential"].as_str().unwrap_or("?").to_string());
    }
    let mut outputs = vec![
        (
            "target list".to_string(),
            app.cairn(&["target", "list", "--json"]),
        ),
        ("history".to_string(), app.cairn(&["history", "--json"])),
    ];
    for id in &job_ids {
        outputs.push((format!("job {id}"), app.cairn(&["job", id, "--json"])));
    }
    for (what, out) in outputs {
        if out.all_text().contains(&password) {
            leaks.push(format!("printed by `{what}`"));
        }
    }
    assert!(
        leaks.is_empty(),
        "the password leaked:\n{}",
        leaks.join("\n")
    );
    assert_eq!(
        credentials,
        [
            "sealed".to_string(),
            format!("env:{SECRET_VAR}"),
            format!("file:{pw_file}")
        ],
        "credential column of target show (stdin, env, file)"
    );
}
