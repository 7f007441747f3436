//! Targets and storages: created once per name, durable, listed in name order.

mod common;

use cairn_domain::{
    config_stream_id, CredentialRef, Endpoint, EventPayload, StorageConfig, StorageKind,
    StorageName, StreamKind, Target, TokenName,
};
use cairn_ledger::{Ledger, LedgerError};
use chrono::Utc;
use common::name;

fn target(n: &str) -> Target {
    Target {
        name: name(n),
        endpoint: Endpoint::parse("postgres://db.example:5432/orders").unwrap(),
        credential: CredentialRef::Env {
            var: "ORDERS_PASSWORD".into(),
        },
        storage: StorageName::default_storage(),
        created_at: Utc::now(),
        ca_file: None,
    }
}

#[tokio::test]
async fn targets_are_created_once_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let ledger = Ledger::open(&dir.path().join("ledger")).unwrap();
        ledger.put_target(&target("orders"), None).await.unwrap();
        ledger.put_target(&target("billing"), None).await.unwrap();
        let err = ledger
            .put_target(&target("orders"), None)
            .await
            .unwrap_err();
        assert!(matches!(err, LedgerError::Exists(_)), "{err}");
        assert!(err.to_string().contains("orders"), "{err}");
    }
    let ledger = Ledger::open(&dir.path().join("ledger")).unwrap();
    let names: Vec<String> = ledger
        .targets()
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    assert_eq!(names, ["billing", "orders"]);
    assert_eq!(
        ledger.target(&name("orders")).unwrap(),
        Some(target("orders")).map(|mut t| {
            t.created_at = ledger.target(&name("orders")).unwrap().unwrap().created_at;
            t
        })
    );
    assert!(ledger.remove_target(&name("orders"), None).await.unwrap());
    assert!(!ledger.remove_target(&name("orders"), None).await.unwrap());
    assert_eq!(ledger.target(&name("orders")).unwrap(), None);
    // A removed name can be taken again.
    ledger.put_target(&target("orders"), None).await.unwrap();
}

/// Every change of a target is an event of its configuration stream, in the global log,
/// naming the token that made it, and never carrying the password.
#[tokio::test]
async fn target_changes_are_events_in_the_global_log() {
    let (ledger, _dir) = common::ledger();
    let admin = TokenName::parse("admin").unwrap();
    let orders = name("orders");
    ledger
        .put_target(&target("orders"), Some(&admin))
        .await
        .unwrap();
    let mut changed = target("orders");
    changed.credential = CredentialRef::Sealed {
        sealed: "c2VjcmV0LXNlYWxlZC1ieXRlcw".into(),
    };
    assert!(ledger
        .replace_target(&changed, &["password"], Some(&admin))
        .await
        .unwrap());
    let mut ghost = target("ghost");
    ghost.name = name("ghost");
    assert!(!ledger.replace_target(&ghost, &["url"], None).await.unwrap());
    let policy = cairn_domain::api::ScheduleSetRequest {
        every: Some("daily".into()),
        ..Default::default()
    }
    .to_policy()
    .unwrap();
    ledger
        .set_policy(&orders, Some(policy), Some(admin.clone()), Utc::now())
        .await
        .unwrap();
    assert!(ledger.remove_target(&orders, Some(&admin)).await.unwrap());
    assert_eq!(
        ledger.policy(&orders).unwrap(),
        None,
        "removal stops the schedule"
    );

    let log = ledger.events_after(0, 100).unwrap();
    let types: Vec<_> = log.iter().map(|e| e.payload.type_name()).collect();
    assert_eq!(
        types,
        [
            "TargetAdded",
            "TargetUpdated",
            "ScheduleSet",
            "ScheduleCleared",
            "TargetRemoved"
        ]
    );
    for (i, e) in log.iter().enumerate() {
        assert_eq!(e.global_seq, i as u64 + 1);
        assert_eq!(e.seq, i as u64 + 1);
        assert_eq!(e.kind, StreamKind::Config);
        assert_eq!(e.job_id, config_stream_id(&orders));
        assert_eq!(e.actor.token.as_ref(), Some(&admin));
        let json = serde_json::to_string(e).unwrap();
        assert!(!json.contains("c2VjcmV0"), "no sealed password in {json}");
    }
    match &log[1].payload {
        EventPayload::TargetUpdated { changed, settings } => {
            assert_eq!(changed, &["password"]);
            assert_eq!(settings.credential, "sealed");
        }
        other => panic!("{other:?}"),
    }
    let newest = ledger.config_history(Some(&orders), None, 2).unwrap();
    assert_eq!(newest[0].payload.type_name(), "TargetRemoved");
    assert_eq!(newest.len(), 2);
}

#[tokio::test]
async fn storages_are_created_once() {
    let (ledger, _dir) = common::ledger();
    let storage = StorageConfig {
        name: StorageName::parse("offsite").unwrap(),
        kind: StorageKind::Local {
            path: "/srv/backups".into(),
        },
        created_at: Utc::now(),
        encryption: None,
    };
    ledger.put_storage(&storage).await.unwrap();
    let err = ledger.put_storage(&storage).await.unwrap_err();
    assert!(matches!(err, LedgerError::Exists(_)), "{err}");
    assert_eq!(
        ledger.storage(&storage.name).unwrap(),
        Some(storage.clone())
    );
    assert_eq!(ledger.storages().unwrap(), vec![storage]);
    assert_eq!(
        ledger
            .storage(&StorageName::parse("nope").unwrap())
            .unwrap(),
        None
    );
}

/// `rebuild --from-stream` imports the global log as it was: job events and configuration
/// events alike, and the rebuilt ledger opens (its folds check out) with the same log.
#[tokio::test]
async fn importing_the_global_log_rebuilds_jobs_and_configuration_streams() {
    let (source, _a) = common::ledger();
    source.put_target(&target("orders"), None).await.unwrap();
    let job = cairn_domain::JobId::new_random();
    source
        .append(
            job,
            0,
            vec![
                common::queued("orders", cairn_domain::JobKind::Backup),
                common::claim(1),
            ],
        )
        .await
        .unwrap();
    source.remove_target(&name("orders"), None).await.unwrap();
    let log = source.events_after(0, usize::MAX).unwrap();
    assert!(log.iter().any(|e| e.kind == StreamKind::Config));
    assert!(log.iter().any(|e| e.kind == StreamKind::Backup));

    let dir = tempfile::tempdir().unwrap();
    {
        let rebuilt = Ledger::open(&dir.path().join("ledger")).unwrap();
        for event in &log {
            rebuilt.import(event).await.unwrap();
        }
        // Importing the same event again is refused, not duplicated.
        assert!(rebuilt.import(&log[0]).await.is_err());
    }
    let rebuilt = Ledger::open(&dir.path().join("ledger")).unwrap();
    let again = rebuilt.events_after(0, usize::MAX).unwrap();
    let ids = |v: &[cairn_domain::EventEnvelope]| {
        v.iter()
            .map(|e| (e.event_id, e.global_seq, e.seq, e.job_id))
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&again), ids(&log));
    assert_eq!(rebuilt.job(job).unwrap().unwrap().seq, 2);
}
