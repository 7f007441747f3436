//! Every route of the API router, called without a token, with an unknown one and with
//! each role: the table of roles (`api::ROUTES`) is what the router enforces, every listed
//! route exists, and each denial is recorded.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use cairn_bus::inproc::InProcessBus;
use cairn_domain::{Role, TokenName};
use cairn_keyring::Keyring;
use cairn_ledger::{Ledger, TokenRecord};
use cairn_scheduler::api::{self, Access, ROUTES};
use cairn_scheduler::{tokens, Scheduler, Settings};
use std::sync::Arc;
use tower::ServiceExt;

async fn scheduler(dir: &std::path::Path) -> Scheduler {
    let ledger = Ledger::open(&dir.join("ledger")).unwrap();
    let keyring = Keyring::from_hex(&"33".repeat(32)).unwrap();
    Scheduler::new(
        ledger,
        Arc::new(InProcessBus::new()),
        keyring,
        dir,
        Settings::default(),
    )
    .await
    .unwrap()
}

async fn token(s: &Scheduler, name: &str, role: Role) -> String {
    let new = tokens::generate();
    let record = TokenRecord {
        name: TokenName::parse(name).unwrap(),
        role,
        sha256: new.sha256,
        created_at: chrono::Utc::now(),
        created_by: None,
        revoked_at: None,
    };
    s.ledger().create_token(&record).await.unwrap();
    new.token
}

/// A concrete path for a routed one.
fn concrete(path: &str) -> String {
    path.replace("{name}", "nobody")
        .replace("{id}", "0190a5b2-7c1e-7000-8000-000000000000")
}

async fn call(
    s: &Scheduler,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> (StatusCode, String) {
    let mut request = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(format!("{}?timeout_ms=1", concrete(path)))
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(t) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let body = if method == "POST" { "{}" } else { "" };
    let response = api::router(s.clone())
        .oneshot(request.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fn denied(status: StatusCode) -> bool {
    status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN
}

#[tokio::test]
async fn every_route_checks_the_token_and_its_role() {
    let dir = tempfile::tempdir().unwrap();
    let s = scheduler(dir.path()).await;
    let read = token(&s, "reader", Role::Read).await;
    let operate = token(&s, "ops", Role::Operate).await;
    let worker = token(&s, "worker", Role::Worker).await;
    let admin = token(&s, "boss", Role::Admin).await;
    let mut guarded = 0;
    for (method, path, access) in ROUTES {
        let needed = match access {
            Access::Public => {
                let (status, _) = call(&s, method, path, None).await;
                assert_eq!(status, StatusCode::OK, "{method} {path} is public");
                continue;
            }
            Access::Needs(role) => *role,
        };
        guarded += 1;
        for presented in [None, Some("cairn_unknown"), Some("")] {
            let (status, body) = call(&s, method, path, presented).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {presented:?}"
            );
            assert!(body.contains("\"code\":\"unauthenticated\""), "{body}");
            assert!(body.contains("Authorization: Bearer"), "{body}");
        }
        for (name, t, role) in [
            ("reader", &read, Role::Read),
            ("ops", &operate, Role::Operate),
            ("worker", &worker, Role::Worker),
            ("boss", &admin, Role::Admin),
        ] {
            let (status, body) = call(&s, method, path, Some(t)).await;
            if role.covers(needed) {
                assert!(
                    !denied(status),
                    "{name} on {method} {path}: {status} {body}"
                );
                // The route exists: not the router's empty 404, nor a 405.
                assert!(
                    !(status == StatusCode::NOT_FOUND && body.is_empty())
                        && status != StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is listed but not routed ({status})"
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{name} on {method} {path}: {body}"
                );
                assert!(body.contains(&format!("needs role {needed}")), "{body}");
            }
        }
    }
    assert!(guarded >= 16, "only {guarded} guarded routes listed");

    let audit = s.ledger().denials(10_000).unwrap();
    assert!(audit
        .iter()
        .any(|e| e.token == "anonymous" && e.status == 401 && e.reason == "missing_token"));
    assert!(audit
        .iter()
        .any(|e| e.token == "reader" && e.status == 403 && e.path == "/v1/backups"));
}

#[tokio::test]
async fn unlisted_methods_and_paths_give_nothing_away() {
    let dir = tempfile::tempdir().unwrap();
    let s = scheduler(dir.path()).await;
    let (status, _) = call(&s, "PUT", "/v1/targets", None).await;
    assert!(
        status == StatusCode::METHOD_NOT_ALLOWED || status == StatusCode::UNAUTHORIZED,
        "{status}"
    );
    let (status, _) = call(&s, "GET", "/v1/nothing-here", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
