//! The HTTP API under `/v1` (axum, JSON). The CLI is its client; the contract is in
//! `docs/api.md`, the OpenAPI document served at `/v1/openapi.json` (`openapi`) and the
//! bodies' schemas in `schemas/`. Every route but `/v1/health` and `/v1/openapi.json` needs
//! a bearer token whose role covers it (see `auth`). `/metrics` (Prometheus) sits beside
//! `/v1`, where scrapers look for it.

pub mod auth;
mod error;
mod extract;
mod jobs;
mod metrics;
mod notifiers;
pub mod openapi;
mod retention;
mod schedules;
mod storages;
mod targets;
mod tokens;

use crate::Scheduler;
use aide::axum::routing::{
    delete_with, get_with, patch_with, post_with, put_with, ApiMethodRouter,
};
use aide::transform::TransformOperation;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{middleware, Extension, Json, Router};
use cairn_domain::api::{JobCreated, StorageView, TargetView, TokenCreated};
use cairn_domain::notify::Notifier;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use auth::{Access, Principal, ROUTES};
pub use axum_server::tls_rustls::RustlsConfig as TlsConfig;
pub use error::ApiError;

/// The Prometheus scrape path: role read, or public under `cairn up --metrics-public`.
pub const METRICS_PATH: &str = "/metrics";

/// All routes of the API, on the given control plane: each entry of [`ROUTES`] with its
/// handler, guarded by the role the entry names. A route exists only through the table.
/// The OpenAPI document is generated from the same registrations (see `openapi`).
pub fn router(scheduler: Scheduler) -> Router {
    openapi::prepare();
    let mut api = openapi::base();
    let router = ROUTES
        .iter()
        .fold(
            aide::axum::ApiRouter::new(),
            |router, (method, path, access)| {
                let public_metrics = *path == METRICS_PATH && scheduler.settings().metrics_public;
                let guard = auth::Guard {
                    scheduler: scheduler.clone(),
                    access: if public_metrics {
                        Access::Public
                    } else {
                        *access
                    },
                };
                let handler = handler(method, path)
                    .route_layer(middleware::from_fn_with_state(guard, auth::authenticate));
                router.api_route(path, handler)
            },
        )
        .finish_api(&mut api);
    openapi::finish(&mut api);
    router
        .layer(Extension::<openapi::Document>(Arc::new(api)))
        .with_state(scheduler)
}

/// A success answer with a JSON body and this status.
fn answer<const N: u16, T: schemars::JsonSchema>(
    op: TransformOperation<'_>,
) -> TransformOperation<'_> {
    op.response::<N, Json<T>>()
}

fn no_content(op: TransformOperation<'_>) -> TransformOperation<'_> {
    op.response_with::<204, (), _>(|r| r.description("done"))
}

fn same(op: TransformOperation<'_>) -> TransformOperation<'_> {
    op
}

/// The handler of one entry of [`ROUTES`], with what its types do not say for the
/// OpenAPI document (answers built from a status and a body).
fn handler(method: &str, path: &str) -> ApiMethodRouter<Scheduler> {
    match (method, path) {
        ("GET", "/v1/health") => get_with(health, |op| {
            answer::<200, serde_json::Value>(op).response_with::<503, Json<serde_json::Value>, _>(
                |r| r.description("the ledger cannot write now"),
            )
        }),
        ("GET", "/v1/openapi.json") => get_with(openapi::serve, |op| {
            op.response_with::<200, Json<serde_json::Value>, _>(|r| {
                r.description("this document (OpenAPI 3.1)")
            })
        }),
        ("POST", "/v1/targets") => post_with(targets::add, answer::<201, TargetView>),
        ("GET", "/v1/targets") => get_with(targets::list, same),
        ("GET", "/v1/targets/{name}") => get_with(targets::show, same),
        ("DELETE", "/v1/targets/{name}") => delete_with(targets::remove, no_content),
        ("PATCH", "/v1/targets/{name}") => patch_with(targets::update, same),
        ("GET", "/v1/targets/{name}/backups") => get_with(targets::backups, same),
        ("POST", "/v1/storages") => post_with(targets::add_storage, answer::<201, StorageView>),
        ("GET", "/v1/storages") => get_with(targets::list_storages, same),
        ("POST", "/v1/backups") => post_with(jobs::backup, answer::<202, JobCreated>),
        ("POST", "/v1/restores") => post_with(jobs::restore, answer::<202, JobCreated>),
        ("POST", "/v1/checks") => post_with(jobs::check, answer::<202, JobCreated>),
        ("GET", "/v1/jobs/{id}") => get_with(jobs::show, same),
        ("GET", "/v1/jobs/{id}/wait") => get_with(jobs::wait, same),
        ("GET", "/v1/history") => get_with(jobs::history, same),
        ("POST", "/v1/tokens") => post_with(tokens::create, answer::<201, TokenCreated>),
        ("GET", "/v1/tokens") => get_with(tokens::list, same),
        ("DELETE", "/v1/tokens/{name}") => delete_with(tokens::revoke, no_content),
        ("GET", "/v1/audit") => get_with(tokens::audit, same),
        ("GET", "/v1/schedules") => get_with(schedules::list, same),
        ("GET", "/v1/schedules/{name}") => get_with(schedules::show, same),
        ("PUT", "/v1/schedules/{name}") => put_with(schedules::set, same),
        ("DELETE", "/v1/schedules/{name}") => delete_with(schedules::clear, same),
        ("GET", "/v1/schedules/{name}/next") => get_with(schedules::next, same),
        ("POST", "/v1/prunes") => post_with(retention::prune, answer::<202, JobCreated>),
        ("GET", "/v1/targets/{name}/prune") => get_with(retention::plan, same),
        ("POST", "/v1/forgets") => post_with(retention::forget, answer::<202, JobCreated>),
        ("POST", "/v1/notifiers") => post_with(notifiers::add, answer::<201, Notifier>),
        ("GET", "/v1/notifiers") => get_with(notifiers::list, same),
        ("DELETE", "/v1/notifiers/{name}") => delete_with(notifiers::remove, no_content),
        ("GET", "/v1/deliveries") => get_with(notifiers::deliveries, same),
        ("GET", METRICS_PATH) => get_with(metrics::scrape, |op| {
            op.response_with::<200, String, _>(|r| {
                r.description(
                    "the metrics in the Prometheus text format, or OpenMetrics when asked for \
                     (docs/monitoring.md)",
                )
            })
        }),
        _ => unreachable!("api::ROUTES lists {method} {path}, which has no handler"),
    }
}

/// 200 `{"status":"ok"}` while the server can do its work; 503 `{"status":"degraded",
/// "ledger":"cannot write: …"}` while its ledger cannot write (it recovers by itself).
async fn health(State(scheduler): State<Scheduler>) -> (StatusCode, Json<serde_json::Value>) {
    let version = env!("CARGO_PKG_VERSION");
    match scheduler.ledger().write_problem() {
        None => (
            StatusCode::OK,
            Json(serde_json::json!({ "status": "ok", "version": version })),
        ),
        Some(cause) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({
                "status": "degraded",
                "ledger": format!("cannot write: {cause}"),
                "version": version,
            })),
        ),
    }
}

/// Serves the API on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    scheduler: Scheduler,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(scheduler))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Reads a PEM certificate chain and private key for [`serve_tls`].
pub async fn load_tls(cert: &std::path::Path, key: &std::path::Path) -> std::io::Result<TlsConfig> {
    TlsConfig::from_pem_file(cert, key).await
}

/// Serves the API over HTTPS (rustls) on `listener` until `shutdown` completes; open
/// requests then get `grace` to finish.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    tls: TlsConfig,
    scheduler: Scheduler,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopper.graceful_shutdown(Some(grace));
    });
    axum_server::from_tcp_rustls(listener.into_std()?, tls)?
        .handle(handle)
        .serve(router(scheduler).into_make_service())
        .await
}
