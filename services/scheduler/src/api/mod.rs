//! The HTTP API under `/v1` (axum, JSON). The CLI is its client; the contract is in
//! `docs/api.md` and the bodies' schemas in `schemas/`.

mod error;
mod jobs;
mod targets;

use crate::Scheduler;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use std::future::Future;

pub use error::ApiError;

/// All routes of the API, on the given control plane.
pub fn router(scheduler: Scheduler) -> Router {
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/targets", post(targets::add).get(targets::list))
        .route(
            "/v1/targets/{name}",
            get(targets::show).delete(targets::remove),
        )
        .route("/v1/targets/{name}/backups", get(targets::backups))
        .route(
            "/v1/storages",
            post(targets::add_storage).get(targets::list_storages),
        )
        .route("/v1/backups", post(jobs::backup))
        .route("/v1/restores", post(jobs::restore))
        .route("/v1/jobs/{id}", get(jobs::show))
        .route("/v1/jobs/{id}/wait", get(jobs::wait))
        .route("/v1/history", get(jobs::history))
        .with_state(scheduler)
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
