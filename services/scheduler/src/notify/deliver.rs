//! One notification to one webhook: signed, POSTed, retried with backoff, every attempt
//! recorded in the ledger.
//!
//! The host's addresses are resolved and checked (no link-local or metadata address
//! unless the notifier allows it) before each attempt, and the request goes to exactly
//! those addresses, so a DNS answer cannot change between the check and the call.
//! Redirects are not followed. A 5xx, a 429 or no answer is retried; any other answer,
//! a refused address or a missing secret is not.
//!
//! Signature: `X-Cairn-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`
//! with `X-Cairn-Timestamp: <unix seconds>`, so a receiver can refuse old replays.

use crate::Scheduler;
use cairn_domain::notify::endpoint::{check_address, parse_webhook};
use cairn_domain::notify::{Delivery, Notification, Notifier};
use chrono::Utc;
use hmac::{KeyInit, Mac};
use std::time::Duration;

pub const SIGNATURE_HEADER: &str = "X-Cairn-Signature";
pub const TIMESTAMP_HEADER: &str = "X-Cairn-Timestamp";

/// Tries per notification.
const ATTEMPTS: u32 = 5;
/// Wait before the second try; doubled before each further one (1, 2, 4, 8 s).
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Upper bound of one request, connection included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The signature header's value for `body` sent at `timestamp`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = <hmac::Hmac<sha2_mac::Sha256> as KeyInit>::new_from_slice(secret)
        .expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// How one attempt ended.
struct Tried {
    status: Option<u16>,
    error: Option<String>,
    retryable: bool,
}

impl Tried {
    fn refused(error: String) -> Self {
        Tried {
            status: None,
            error: Some(error),
            retryable: false,
        }
    }
    fn delivered(&self) -> bool {
        self.error.is_none()
    }
}

/// Delivers `notification` to `notifier`'s webhook, recording every attempt, from attempt
/// `first` (above 1 when a restart resumes a delivery that was retrying).
pub async fn deliver(s: &Scheduler, notifier: &Notifier, notification: &Notification, first: u32) {
    let body = serde_json::to_vec(notification).expect("a notification serializes");
    let mut backoff = FIRST_BACKOFF * 2u32.pow(first.saturating_sub(1).min(8));
    for attempt in first.max(1)..=ATTEMPTS {
        let tried = attempt_once(s, notifier, &body).await;
        let will_retry = !tried.delivered() && tried.retryable && attempt < ATTEMPTS;
        let record = Delivery {
            id: 0,
            notifier: notifier.name.clone(),
            job_id: notification.job_id,
            outcome: notification.outcome,
            attempt,
            at: Utc::now(),
            delivered: tried.delivered(),
            status: tried.status,
            error: tried.error.clone(),
            will_retry,
        };
        if let Err(e) = s.ledger().record_delivery(&record).await {
            tracing::error!(notifier = %notifier.name, error = %e, "cannot record a delivery");
        }
        match &tried.error {
            None => {
                tracing::info!(notifier = %notifier.name, job_id = %notification.job_id, attempt, "notification delivered");
                return;
            }
            Some(error) => {
                tracing::warn!(notifier = %notifier.name, job_id = %notification.job_id, attempt, will_retry, %error, "notification not delivered")
            }
        }
        if !will_retry {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff *= 2;
    }
}

async fn attempt_once(s: &Scheduler, notifier: &Notifier, body: &[u8]) -> Tried {
    let allow = notifier.allow_private_endpoint;
    let url = match parse_webhook(&notifier.webhook, allow) {
        Ok(url) => url,
        Err(e) => return Tried::refused(e.to_string()),
    };
    let secret = match &notifier.secret_env {
        None => None,
        Some(var) => match s.keyring().policy().read_env(var) {
            Ok(secret) => Some(secret),
            Err(e) => {
                return Tried::refused(format!("not sent unsigned: {e}"));
            }
        },
    };
    let host = url.host_str().unwrap_or_default().to_string();
    let port = url.port_or_known_default().unwrap_or(443);
    let lookup = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let addrs: Vec<std::net::SocketAddr> = match tokio::net::lookup_host((lookup, port)).await {
        Ok(addrs) => addrs.collect(),
        Err(e) => {
            return Tried {
                status: None,
                error: Some(format!("cannot resolve {host}: {e}")),
                retryable: true,
            }
        }
    };
    if let Some(e) = addrs
        .iter()
        .find_map(|a| check_address(a.ip(), allow).err())
    {
        return Tried::refused(format!("{host} resolves to a refused address: {e}"));
    }
    let client = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(REQUEST_TIMEOUT)
        .resolve_to_addrs(&host, &addrs)
        .user_agent(concat!("cairn/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(client) => client,
        Err(e) => return Tried::refused(format!("cannot build an HTTP client: {e}")),
    };
    let timestamp = Utc::now().timestamp();
    let mut request = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(TIMESTAMP_HEADER, timestamp.to_string())
        .body(body.to_vec());
    if let Some(secret) = &secret {
        request = request.header(SIGNATURE_HEADER, sign(secret.as_bytes(), timestamp, body));
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status();
            let code = Some(status.as_u16());
            if status.is_success() {
                return Tried {
                    status: code,
                    error: None,
                    retryable: false,
                };
            }
            let error = if status.is_redirection() {
                format!("the webhook answered {status} (redirects are not followed; give the final URL)")
            } else {
                format!("the webhook answered {status}")
            };
            Tried {
                status: code,
                error: Some(error),
                retryable: status.is_server_error() || status.as_u16() == 429,
            }
        }
        // Only the error's kind: its text may hold the URL, which may hold a token.
        Err(e) => Tried {
            status: None,
            error: Some(format!(
                "no answer from the webhook ({})",
                if e.is_timeout() {
                    "timed out"
                } else if e.is_connect() {
                    "connection failed"
                } else {
                    "request failed"
                }
            )),
            retryable: true,
        },
    }
}
