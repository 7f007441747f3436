//! The OpenAPI document: generated from the handlers, committed as `schemas/openapi.json`
//! (regenerate with `CAIRN_BLESS=1 cargo test -p cairn-scheduler --test openapi`), served
//! at `/v1/openapi.json`, and complete: every route of `api::ROUTES` with its security
//! and its error answers.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use cairn_bus::inproc::InProcessBus;
use cairn_keyring::Keyring;
use cairn_ledger::Ledger;
use cairn_scheduler::api::{self, openapi, Access, ROUTES};
use cairn_scheduler::{Scheduler, Settings};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use tower::ServiceExt;

fn document() -> Value {
    serde_json::to_value(openapi::document()).expect("the document serializes")
}

#[test]
fn the_committed_document_is_current() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas/openapi.json");
    let text = serde_json::to_string_pretty(&document()).unwrap() + "\n";
    if std::env::var_os("CAIRN_BLESS").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == text,
        "{} is stale: regenerate it with CAIRN_BLESS=1 cargo test -p cairn-scheduler --test openapi",
        path.display()
    );
}

#[test]
fn every_route_is_documented_with_its_security_and_errors() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc["components"]["securitySchemes"][openapi::BEARER]["scheme"],
        "bearer"
    );
    let documented: usize = doc["paths"]
        .as_object()
        .expect("paths")
        .values()
        .map(|item| item.as_object().map_or(0, |o| o.len()))
        .sum();
    assert_eq!(documented, ROUTES.len(), "one operation per route, no more");
    for (method, path, access) in ROUTES {
        let op = &doc["paths"][*path][method.to_lowercase()];
        assert!(op.is_object(), "{method} {path} is not in the document");
        let responses = op["responses"].as_object().expect("responses");
        assert!(
            responses.keys().any(|k| k.starts_with('2')),
            "{method} {path} documents no success: {responses:?}"
        );
        // The document itself is a constant: nothing can go wrong serving it.
        assert!(
            *path == "/v1/openapi.json"
                || responses
                    .keys()
                    .any(|k| k.starts_with('4') || k.starts_with('5')),
            "{method} {path} documents no error: {responses:?}"
        );
        let security = op["security"].as_array().expect("security");
        match access {
            Access::Needs(_) => {
                assert_eq!(
                    security,
                    &vec![serde_json::json!({ openapi::BEARER: [] })],
                    "{method} {path}"
                );
                for status in ["401", "403"] {
                    assert!(
                        responses.contains_key(status),
                        "{method} {path} lacks {status}"
                    );
                }
                if *path != "/metrics" {
                    let error = &responses["401"]["content"]["application/json"]["schema"];
                    assert!(
                        error.is_object(),
                        "{method} {path}: 401 without a JSON body"
                    );
                }
            }
            Access::Public => {
                assert_eq!(security, &vec![serde_json::json!({})], "{method} {path}")
            }
        }
        for segment in path.split('/') {
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                let declared = op["parameters"].as_array().is_some_and(|ps| {
                    ps.iter()
                        .any(|p| p["in"] == "path" && p["name"] == name && p["required"] == true)
                });
                assert!(
                    declared,
                    "{method} {path}: path parameter {name} not declared"
                );
            }
        }
    }
}

#[tokio::test]
async fn the_server_serves_the_document_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(&dir.path().join("ledger")).unwrap();
    let s = Scheduler::new(
        ledger,
        Arc::new(InProcessBus::new()),
        Keyring::from_hex(&"33".repeat(32)).unwrap(),
        dir.path(),
        Settings::default(),
    )
    .await
    .unwrap();
    let response = api::router(s)
        .oneshot(
            Request::get("/v1/openapi.json")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(response.into_body(), 8 << 20)
        .await
        .unwrap();
    let served: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(served, document());
}
