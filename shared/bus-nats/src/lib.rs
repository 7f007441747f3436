//! The JetStream side of cairn's bus: job messages on stream `CAIRN_JOBS`, committed
//! events on stream `CAIRN_EVENTS`, and the control plane (`cairn.ctl.*`) as NATS
//! request/reply. The in-process bus (`cairn_bus::inproc`) has the same semantics for
//! `cairn up` without NATS.
//!
//! - [`jobs::JetStreamBus`]: a [`cairn_bus::JobBus`] over `CAIRN_JOBS` (WorkQueue, one
//!   message per subject `cairn.jobs.<kind>.<target>.<job_id>`, `Nats-Msg-Id` = job id),
//!   one durable pull consumer per worker kind shared by its replicas;
//! - [`ctl::ControlClient`] / [`ctl::serve_control`]: a [`cairn_bus::Control`] over
//!   `cairn.ctl.*`, every request carrying a bearer token in an `Authorization` header;
//! - [`streams`]: stream names, subjects and their creation.

pub mod ctl;
pub mod jobs;
pub mod streams;
pub mod wire;

use std::time::Duration;

/// The header every cairn request on NATS carries its token in (as HTTP does).
pub const AUTHORIZATION: &str = "Authorization";

#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    #[error("cannot connect to NATS at {url}: {cause}")]
    Connect { url: String, cause: String },
    #[error("JetStream: {0}")]
    JetStream(String),
}

/// Connects to NATS, retrying the first connection and reconnecting for ever afterwards
/// (a restarted nats-server is picked up again by every service). A user and password in
/// the URL (`nats://user:pass@host:4222`, percent-encoded) log in as that NATS user.
pub async fn connect(url: &str, name: &str) -> Result<async_nats::Client, NatsError> {
    let bad_url = |cause: &str| NatsError::Connect {
        url: redact(url),
        cause: cause.to_string(),
    };
    let addr: async_nats::ServerAddr = url
        .parse()
        .map_err(|_| bad_url("not a NATS URL; expected nats://[user:password@]host:port"))?;
    let mut options = async_nats::ConnectOptions::new();
    if let Some(user) = addr.username() {
        let decode = |part: &str| {
            percent_encoding::percent_decode_str(part)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| bad_url("the user or password in the URL is not UTF-8 once decoded"))
        };
        options = options.user_and_password(decode(user)?, decode(addr.password().unwrap_or(""))?);
    }
    let options = options
        .name(name)
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(5))
        .request_timeout(Some(Duration::from_secs(10)))
        .event_callback(|event| async move {
            match event {
                async_nats::Event::Disconnected => {
                    tracing::warn!("disconnected from NATS; reconnecting")
                }
                async_nats::Event::Connected => tracing::info!("connected to NATS"),
                other => tracing::debug!(event = %other, "NATS event"),
            }
        });
    let client = options.connect(url).await.map_err(|e| NatsError::Connect {
        url: redact(url),
        cause: e.to_string(),
    })?;
    Ok(client)
}

/// A NATS URL without its user info (a URL may carry a password).
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(super::redact("nats://u:p@h:4222"), "nats://***@h:4222");
        assert_eq!(super::redact("nats://h:4222"), "nats://h:4222");
    }
}
