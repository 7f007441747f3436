//! `GET /metrics`: the Prometheus metrics (see `cairn-metrics` and docs/monitoring.md),
//! in OpenMetrics when the scraper asks for it, else the Prometheus text format.

use crate::Scheduler;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use cairn_metrics::Format;

pub async fn scrape(State(s): State<Scheduler>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = Format::from_accept(accept);
    let text = s.metrics_text(format).await;
    ([(header::CONTENT_TYPE, format.content_type())], text).into_response()
}
