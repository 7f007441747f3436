//! The start-up sweep of staging databases, against the shared PostgreSQL and MariaDB:
//! those of idle jobs (known, not running) go; those of other jobs and every other
//! database stay.

use cairn_domain::{CredentialRef, Endpoint, StorageName, Target, TargetName};
use cairn_keyring::Keyring;
use std::collections::HashSet;
use std::process::Command;

fn target(name: &str, url: &str) -> Target {
    Target {
        name: TargetName::parse(name).unwrap(),
        endpoint: Endpoint::parse(url).unwrap(),
        credential: CredentialRef::None,
        storage: StorageName::default_storage(),
        created_at: chrono::Utc::now(),
        ca_file: None,
    }
}

fn psql(sql: &str) -> String {
    let out = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-c",
            sql,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn mariadb(sql: &str) -> String {
    let out = Command::new("mariadb")
        .args(["-h", "127.0.0.1", "-u", "root", "-N", "-e", sql])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Eight hex digits unique to this run.
fn hex8() -> String {
    format!("{:08x}", rand_u32())
}

fn rand_u32() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    nanos ^ std::process::id().rotate_left(16)
}

#[tokio::test]
async fn staging_databases_of_idle_jobs_are_dropped_and_no_others() {
    let gone = hex8();
    let kept = format!("{:08x}", rand_u32().wrapping_add(1));
    let base = format!("cairn_sw_{gone}");
    let names = [
        format!("{base}_cairn_restore_{gone}"),
        format!("{base}_cairn_restore_{gone}_old"),
        format!("{base}_cairn_restore_{kept}"),
        base.clone(),
    ];
    for n in &names {
        psql(&format!("CREATE DATABASE \"{n}\""));
        mariadb(&format!("CREATE DATABASE `{n}`"));
    }
    let dir = tempfile::tempdir().unwrap();
    let keyring = Keyring::load_or_create(dir.path()).unwrap();
    let targets = [
        target("pg", "postgres://postgres@127.0.0.1:5432/x"),
        target("pg-same-server", "postgres://postgres@127.0.0.1:5432/y"),
        target("my", "mysql://root@127.0.0.1:3306/x"),
        target("cache", "redis://127.0.0.1:6379/0"),
    ];
    let idle = HashSet::from([gone.clone()]);
    let dropped = cairn_retention_sweeper::sweep_restore_databases(&targets, &keyring, &idle).await;

    let pg_left = psql(&format!(
        "SELECT datname FROM pg_database WHERE datname LIKE '{base}%' ORDER BY 1"
    ));
    let my_left = mariadb(&format!("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '{base}%' ORDER BY 1"));
    for n in &names {
        psql(&format!("DROP DATABASE IF EXISTS \"{n}\""));
        mariadb(&format!("DROP DATABASE IF EXISTS `{n}`"));
    }
    let mut want_dropped = vec![names[0].clone(), names[1].clone()];
    want_dropped.sort();
    // Both servers had them; each name appears once.
    let ours: Vec<String> = dropped
        .into_iter()
        .filter(|d| d.starts_with(&base))
        .collect();
    assert_eq!(ours, want_dropped);
    let want_left = format!("{base}\n{}\n", names[2]);
    assert_eq!(pg_left, want_left);
    assert_eq!(my_left, want_left);
}
