//! API tokens and the audit of denied requests: names used once, lookups by hash only for
//! active tokens, the last admin token kept, and everything durable across a reopen.

use cairn_domain::api::AuditEntry;
use cairn_domain::{Role, TokenName};
use cairn_ledger::{Ledger, LedgerError, Revocation, TokenRecord};
use chrono::Utc;

fn record(name: &str, role: Role, hash_byte: u8) -> TokenRecord {
    TokenRecord {
        name: TokenName::parse(name).unwrap(),
        role,
        sha256: [hash_byte; 32],
        created_at: Utc::now(),
        created_by: None,
        revoked_at: None,
    }
}

fn denial(path: &str) -> AuditEntry {
    AuditEntry {
        at: Utc::now(),
        token: "anonymous".into(),
        method: "GET".into(),
        path: path.into(),
        status: 401,
        reason: "missing_token".into(),
    }
}

#[tokio::test]
async fn tokens_are_found_by_hash_until_revoked_and_names_are_never_reused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let ledger = Ledger::open(dir.path()).unwrap();
        ledger
            .create_token(&record("admin", Role::Admin, 1))
            .await
            .unwrap();
        ledger
            .create_token(&record("ci", Role::Operate, 2))
            .await
            .unwrap();
        let err = ledger
            .create_token(&record("ci", Role::Read, 3))
            .await
            .unwrap_err();
        assert!(matches!(err, LedgerError::Exists(_)), "{err}");
        assert!(ledger.token_by_hash(&[3; 32]).unwrap().is_none());
        let ci = ledger.token_by_hash(&[2; 32]).unwrap().expect("ci by hash");
        assert_eq!((ci.name.as_str(), ci.role), ("ci", Role::Operate));

        let ci_name = TokenName::parse("ci").unwrap();
        assert_eq!(
            ledger.revoke_token(&ci_name, Utc::now()).await.unwrap(),
            Revocation::Revoked
        );
        assert!(ledger.token_by_hash(&[2; 32]).unwrap().is_none());
        assert_eq!(
            ledger.revoke_token(&ci_name, Utc::now()).await.unwrap(),
            Revocation::AlreadyRevoked
        );
        let err = ledger
            .create_token(&record("ci", Role::Read, 4))
            .await
            .unwrap_err();
        assert!(
            matches!(err, LedgerError::Exists(_)),
            "a revoked name is not reused"
        );
        let nobody = TokenName::parse("nobody").unwrap();
        assert_eq!(
            ledger.revoke_token(&nobody, Utc::now()).await.unwrap(),
            Revocation::Unknown
        );
    }
    let ledger = Ledger::open(dir.path()).unwrap();
    let names: Vec<_> = ledger
        .tokens()
        .unwrap()
        .into_iter()
        .map(|t| (t.name.to_string(), t.is_active()))
        .collect();
    assert_eq!(names, [("admin".into(), true), ("ci".into(), false)]);
    assert!(ledger.token_by_hash(&[1; 32]).unwrap().is_some());
}

#[tokio::test]
async fn the_last_active_admin_token_cannot_be_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path()).unwrap();
    let admin = TokenName::parse("admin").unwrap();
    ledger
        .create_token(&record("admin", Role::Admin, 1))
        .await
        .unwrap();
    ledger
        .create_token(&record("ops", Role::Operate, 2))
        .await
        .unwrap();
    assert_eq!(
        ledger.revoke_token(&admin, Utc::now()).await.unwrap(),
        Revocation::LastAdmin
    );
    ledger
        .create_token(&record("root-2", Role::Admin, 3))
        .await
        .unwrap();
    assert_eq!(
        ledger.revoke_token(&admin, Utc::now()).await.unwrap(),
        Revocation::Revoked
    );
    let second = TokenName::parse("root-2").unwrap();
    assert_eq!(
        ledger.revoke_token(&second, Utc::now()).await.unwrap(),
        Revocation::LastAdmin
    );
}

#[tokio::test]
async fn denials_are_kept_newest_first_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let ledger = Ledger::open(dir.path()).unwrap();
        for path in ["/v1/a", "/v1/b"] {
            ledger.record_denial(&denial(path)).await.unwrap();
        }
    }
    let ledger = Ledger::open(dir.path()).unwrap();
    ledger.record_denial(&denial("/v1/c")).await.unwrap();
    let paths: Vec<_> = ledger
        .denials(10)
        .unwrap()
        .into_iter()
        .map(|e| e.path)
        .collect();
    assert_eq!(paths, ["/v1/c", "/v1/b", "/v1/a"]);
    assert_eq!(ledger.denials(1).unwrap().len(), 1);
}
