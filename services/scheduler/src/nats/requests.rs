//! Platform requests without HTTP: `cairn.requests.backup` and `cairn.requests.restore`
//! take the bodies of `POST /v1/backups` and `POST /v1/restores` with an `Authorization:
//! Bearer <token>` NATS header, and reply `{"job_id": …, …}` or `{"error": …, "code": …}`
//! (with `job_id` when the refusal was recorded as a rejected job); see
//! `schemas/platform-reply.json`.
//!
//! Each request goes through the HTTP API's own router (in memory, no socket): the same
//! token check and audit of refusals, the same validation, the same `JobRejected` record.

use crate::Scheduler;
use axum::body::Body;
use axum::http::{header, Method, Request};
use cairn_bus_nats::AUTHORIZATION;
use futures::StreamExt;
use std::future::Future;
use tower::ServiceExt;

use cairn_domain::control::subjects::{REQUEST_BACKUP as BACKUP, REQUEST_RESTORE as RESTORE};
/// Largest request body read.
const MAX_BODY: usize = 64 * 1024;

/// Answers platform requests until `shutdown`.
pub async fn serve_requests(
    scheduler: Scheduler,
    client: async_nats::Client,
    shutdown: impl Future<Output = ()>,
) -> Result<(), async_nats::SubscribeError> {
    let mut requests = client
        .queue_subscribe("cairn.requests.*", "cairn-scheduler".to_string())
        .await?;
    let router = crate::api::router(scheduler);
    tokio::pin!(shutdown);
    loop {
        let message = tokio::select! {
            _ = &mut shutdown => break,
            m = requests.next() => match m { Some(m) => m, None => break },
        };
        let Some(reply_to) = message.reply.clone() else {
            continue;
        };
        let (router, client) = (router.clone(), client.clone());
        tokio::spawn(async move {
            let body = answer(router, &message).await;
            if let Err(e) = client.publish(reply_to, body.into()).await {
                tracing::warn!(error = %e, "answering a platform request failed");
            }
        });
    }
    let _ = requests.unsubscribe().await;
    Ok(())
}

fn error(code: &str, message: impl Into<String>) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "error": message.into(), "code": code }))
        .unwrap_or_default()
}

async fn answer(router: axum::Router, message: &async_nats::Message) -> Vec<u8> {
    let path = match message.subject.as_str() {
        BACKUP => "/v1/backups",
        RESTORE => "/v1/restores",
        other => {
            return error(
                "invalid",
                format!("unknown subject {other:?}; use {BACKUP} or {RESTORE}"),
            )
        }
    };
    if message.payload.len() > MAX_BODY {
        return error(
            "invalid",
            format!("the request is larger than {MAX_BODY} bytes"),
        );
    }
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(value) = message.headers.as_ref().and_then(|h| h.get(AUTHORIZATION)) {
        request = request.header(header::AUTHORIZATION, value.as_str());
    }
    let request = match request.body(Body::from(message.payload.clone())) {
        Ok(r) => r,
        Err(e) => return error("invalid", format!("unusable request header: {e}")),
    };
    let response = match router.oneshot(request).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let status = response.status();
    let bytes = match axum::body::to_bytes(response.into_body(), MAX_BODY).await {
        Ok(b) => b,
        Err(e) => return error("internal", e.to_string()),
    };
    if status.is_success() {
        return bytes.to_vec();
    }
    // API errors are `{"code", "message", "job_id"?}`; body rejections are plain text
    // naming the field.
    match serde_json::from_slice::<cairn_domain::api::ErrorBody>(&bytes) {
        Ok(body) => {
            let mut reply = serde_json::json!({ "error": body.message, "code": body.code });
            if let Some(job_id) = body.job_id {
                reply["job_id"] = serde_json::json!(job_id);
            }
            serde_json::to_vec(&reply).unwrap_or_default()
        }
        Err(_) => error("invalid", String::from_utf8_lossy(&bytes).into_owned()),
    }
}
