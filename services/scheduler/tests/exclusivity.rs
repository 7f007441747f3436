//! Exclusivity per database: two targets naming the same database on the same server
//! (however the host is spelled) never hold claims at the same time; a whole-server target
//! holds every database of its server; a prune only holds its own target.

use cairn_bus::inproc::InProcessBus;
use cairn_bus::{ClaimReply, Control};
use cairn_domain::{
    Attempt, CredentialRef, Endpoint, Failure, JobSpec, StorageName, Target, TargetName, WorkerId,
};
use cairn_keyring::Keyring;
use cairn_ledger::Ledger;
use cairn_scheduler::{Scheduler, Settings};
use std::sync::Arc;

const TARGETS: &[(&str, &str)] = &[
    ("orders", "postgres://postgres@127.0.0.1:5432/orders"),
    ("orders-alias", "postgresql://other@localhost/orders"),
    ("orders-v6", "postgres://postgres@[::1]:5432/orders"),
    ("users", "postgres://postgres@127.0.0.1:5432/users"),
    ("cluster", "postgres://postgres@localhost:5432/"),
    ("elsewhere", "postgres://postgres@127.0.0.1:5433/orders"),
];

async fn scheduler(dir: &tempfile::TempDir) -> Scheduler {
    let ledger = Ledger::open(&dir.path().join("ledger")).unwrap();
    let keyring = Keyring::from_hex(&"44".repeat(32)).unwrap();
    let s = Scheduler::new(
        ledger,
        Arc::new(InProcessBus::new()),
        keyring,
        dir.path(),
        Settings::default(),
    )
    .await
    .unwrap();
    for (name, url) in TARGETS {
        let target = Target {
            name: TargetName::parse(*name).unwrap(),
            endpoint: Endpoint::parse(url).unwrap(),
            credential: CredentialRef::None,
            storage: StorageName::default_storage(),
            created_at: chrono::Utc::now(),
            ca_file: None,
        };
        s.ledger().put_target(&target, None).await.unwrap();
    }
    s
}

fn spec(kind: &str, target: &str) -> JobSpec {
    let target = TargetName::parse(target).unwrap();
    let storage = StorageName::default_storage();
    match kind {
        "backup" => JobSpec::Backup { target, storage },
        "prune" => JobSpec::prune(
            target,
            storage,
            cairn_domain::Keep::last(std::num::NonZeroU32::new(1).unwrap()),
        ),
        _ => unreachable!("{kind}"),
    }
}

fn is_granted(reply: &ClaimReply) -> bool {
    matches!(reply, ClaimReply::Granted(_))
}

/// With a backup of `holder` running, whether a job of `kind` on `other` is held back.
async fn busy_while(holder: &str, kind: &str, other: &str) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let s = scheduler(&dir).await;
    let first = s.enqueue(spec("backup", holder), "test").await.unwrap();
    let second = s.enqueue(spec(kind, other), "test").await.unwrap();
    let w = WorkerId("w1".into());
    assert!(is_granted(&s.claim(first.job_id, &w).await.unwrap()));
    match s
        .claim(second.job_id, &WorkerId("w2".into()))
        .await
        .unwrap()
    {
        ClaimReply::Busy { reason, .. } => {
            assert!(
                reason.contains(holder),
                "the reason names the holder: {reason}"
            );
            true
        }
        ClaimReply::Granted(_) => false,
        denied => panic!("{holder} / {kind} {other}: {denied:?}"),
    }
}

#[tokio::test]
async fn jobs_on_the_same_database_wait_for_each_other() {
    let table: &[(&str, &str, &str, bool)] = &[
        ("orders", "backup", "orders-alias", true),
        ("orders", "backup", "orders-v6", true),
        ("orders-alias", "backup", "orders", true),
        ("orders", "backup", "cluster", true),
        ("cluster", "backup", "users", true),
        ("orders", "backup", "users", false),
        ("orders", "backup", "elsewhere", false),
        // A prune touches storage only: it waits for its own target alone.
        ("orders", "prune", "orders-alias", false),
        ("orders", "prune", "orders", true),
    ];
    for (holder, kind, other, want) in table {
        assert_eq!(
            busy_while(holder, kind, other).await,
            *want,
            "backup of {holder} running, {kind} of {other}"
        );
    }
}

#[tokio::test]
async fn the_second_target_runs_once_the_first_ends() {
    let dir = tempfile::tempdir().unwrap();
    let s = scheduler(&dir).await;
    let first = s.enqueue(spec("backup", "orders"), "test").await.unwrap();
    let second = s
        .enqueue(spec("backup", "orders-alias"), "test")
        .await
        .unwrap();
    let w1 = WorkerId("w1".into());
    let w2 = WorkerId("w2".into());
    assert!(is_granted(&s.claim(first.job_id, &w1).await.unwrap()));
    assert!(!is_granted(&s.claim(second.job_id, &w2).await.unwrap()));
    s.fail(
        first.job_id,
        Attempt(1),
        Failure::permanent("test", "the first backup ends"),
    )
    .await
    .unwrap();
    assert!(is_granted(&s.claim(second.job_id, &w2).await.unwrap()));
}
