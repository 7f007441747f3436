//! Targets and storages: created once per name, durable, listed in name order.

mod common;

use cairn_domain::{CredentialRef, Endpoint, StorageConfig, StorageKind, StorageName, Target};
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
        ledger.put_target(&target("orders")).await.unwrap();
        ledger.put_target(&target("billing")).await.unwrap();
        let err = ledger.put_target(&target("orders")).await.unwrap_err();
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
    assert!(ledger.remove_target(&name("orders")).await.unwrap());
    assert!(!ledger.remove_target(&name("orders")).await.unwrap());
    assert_eq!(ledger.target(&name("orders")).unwrap(), None);
    // A removed name can be taken again.
    ledger.put_target(&target("orders")).await.unwrap();
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
