//! The HTTP API under `/v1` (axum, JSON). The CLI is its client; the contract is in
//! `docs/api.md` and the bodies' schemas in `schemas/`. Every route but `/v1/health` needs
//! a bearer token whose role covers it (see `auth`).

pub mod auth;
mod error;
mod jobs;
mod notifiers;
mod retention;
mod schedules;
mod storages;
mod targets;
mod tokens;

use crate::Scheduler;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, patch, post, put, MethodRouter};
use axum::{middleware, Json, Router};
use std::future::Future;
use std::time::Duration;

pub use auth::{Access, Principal, ROUTES};
pub use axum_server::tls_rustls::RustlsConfig as TlsConfig;
pub use error::ApiError;

/// All routes of the API, on the given control plane: each entry of [`ROUTES`] with its
/// handler, guarded by the role the entry names. A route exists only through the table.
pub fn router(scheduler: Scheduler) -> Router {
    ROUTES
        .iter()
        .fold(Router::new(), |router, (method, path, access)| {
            let guard = auth::Guard {
                scheduler: scheduler.clone(),
                access: *access,
            };
            let handler = handler(method, path)
                .route_layer(middleware::from_fn_with_state(guard, auth::authenticate));
            router.route(path, handler)
        })
        .with_state(scheduler)
}

/// The handler of one entry of [`ROUTES`].
fn handler(method: &str, path: &str) -> MethodRouter<Scheduler> {
    match (method, path) {
        ("GET", "/v1/health") => get(health),
        ("POST", "/v1/targets") => post(targets::add),
        ("GET", "/v1/targets") => get(targets::list),
        ("GET", "/v1/targets/{name}") => get(targets::show),
        ("DELETE", "/v1/targets/{name}") => delete(targets::remove),
        ("PATCH", "/v1/targets/{name}") => patch(targets::update),
        ("GET", "/v1/targets/{name}/backups") => get(targets::backups),
        ("POST", "/v1/storages") => post(targets::add_storage),
        ("GET", "/v1/storages") => get(targets::list_storages),
        ("POST", "/v1/backups") => post(jobs::backup),
        ("POST", "/v1/restores") => post(jobs::restore),
        ("GET", "/v1/jobs/{id}") => get(jobs::show),
        ("GET", "/v1/jobs/{id}/wait") => get(jobs::wait),
        ("GET", "/v1/history") => get(jobs::history),
        ("POST", "/v1/tokens") => post(tokens::create),
        ("GET", "/v1/tokens") => get(tokens::list),
        ("DELETE", "/v1/tokens/{name}") => delete(tokens::revoke),
        ("GET", "/v1/audit") => get(tokens::audit),
        ("GET", "/v1/schedules") => get(schedules::list),
        ("GET", "/v1/schedules/{name}") => get(schedules::show),
        ("PUT", "/v1/schedules/{name}") => put(schedules::set),
        ("DELETE", "/v1/schedules/{name}") => delete(schedules::clear),
        ("GET", "/v1/schedules/{name}/next") => get(schedules::next),
        ("POST", "/v1/prunes") => post(retention::prune),
        ("GET", "/v1/targets/{name}/prune") => get(retention::plan),
        ("POST", "/v1/forgets") => post(retention::forget),
        ("POST", "/v1/notifiers") => post(notifiers::add),
        ("GET", "/v1/notifiers") => get(notifiers::list),
        ("DELETE", "/v1/notifiers/{name}") => delete(notifiers::remove),
        ("GET", "/v1/deliveries") => get(notifiers::deliveries),
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
