//! `Control` over NATS request/reply on `cairn.ctl.*`: [`ControlClient`] (workers) wraps
//! each call in a `CtlRequest` carrying the worker's token; [`serve_control`] (the
//! scheduler) checks the token, then maps the call to the scheduler's own [`Control`].

use crate::wire::{self, HelloReply, HelloRequest};
use async_trait::async_trait;
use cairn_bus::{
    AppendReply, AppendRequest, ClaimReply, ClaimRequest, Control, ControlError, FailReply,
    FailRequest, RenewReply, RenewRequest,
};
use cairn_domain::control::{CtlRequest, CtlResponse};
use cairn_domain::{Role, WorkerId};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Largest control request the scheduler reads (an append carries a few events).
const MAX_REQUEST: usize = 256 * 1024;
/// How long a control call waits for a scheduler to answer at all (a restart).
const NO_RESPONDER_PATIENCE: Duration = Duration::from_secs(30);
/// Control calls the scheduler answers at once.
const IN_FLIGHT: usize = 64;

/// A worker's control plane: the scheduler, over NATS.
#[derive(Clone)]
pub struct ControlClient {
    client: async_nats::Client,
    /// Never logged.
    token: String,
}

impl std::fmt::Debug for ControlClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlClient").finish_non_exhaustive()
    }
}

impl ControlClient {
    pub fn new(client: async_nats::Client, token: &str) -> Self {
        Self {
            client,
            token: token.trim().to_string(),
        }
    }

    async fn call<Q: Serialize, R: DeserializeOwned>(
        &self,
        subject: &'static str,
        body: Q,
    ) -> Result<R, ControlError> {
        let request = CtlRequest {
            token: self.token.clone(),
            body,
        };
        let payload = bytes::Bytes::from(serde_json::to_vec(&request).map_err(|e| {
            ControlError::Invalid {
                reason: e.to_string(),
            }
        })?);
        let unavailable = |cause: String| ControlError::Unavailable {
            reason: format!("{subject}: {cause}"),
        };
        let started = std::time::Instant::now();
        let reply = loop {
            match self.client.request(subject, payload.clone()).await {
                Ok(reply) => break reply,
                // No scheduler listens right now (restarting): the call was not carried
                // out, so it is safe to send it again for a while.
                Err(e)
                    if e.kind() == async_nats::RequestErrorKind::NoResponders
                        && started.elapsed() < NO_RESPONDER_PATIENCE =>
                {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => return Err(unavailable(e.to_string())),
            }
        };
        match serde_json::from_slice::<CtlResponse<R>>(&reply.payload) {
            Ok(r) => r.into(),
            Err(e) => Err(unavailable(format!("unreadable reply: {e}"))),
        }
    }

    /// Checks the token with the scheduler; a worker refuses to start when this fails.
    pub async fn hello(&self, worker: &WorkerId) -> Result<HelloReply, ControlError> {
        let request = HelloRequest {
            worker_id: worker.clone(),
        };
        self.call(wire::HELLO, request).await
    }
}

#[async_trait]
impl Control for ControlClient {
    async fn claim(&self, req: ClaimRequest) -> Result<ClaimReply, ControlError> {
        self.call(wire::CLAIM, req).await
    }
    async fn renew(&self, req: RenewRequest) -> Result<RenewReply, ControlError> {
        self.call(wire::RENEW, req).await
    }
    async fn append(&self, req: AppendRequest) -> Result<AppendReply, ControlError> {
        self.call(wire::APPEND, req).await
    }
    async fn fail(&self, req: FailRequest) -> Result<FailReply, ControlError> {
        self.call(wire::FAIL, req).await
    }
}

/// Who may make control calls: the scheduler checks a presented token against its token
/// store and records refusals in its audit.
#[async_trait]
pub trait Authorize: Send + Sync + 'static {
    /// The accepted token's name, or why the call is refused (`Unauthorized`).
    async fn authorize(
        &self,
        token: Option<&str>,
        subject: &str,
        needed: Role,
    ) -> Result<String, ControlError>;
}

/// Answers `cairn.ctl.*` with `control` until `shutdown` (queue group: several schedulers
/// would share the calls; the ledger's fencing orders them).
pub async fn serve_control(
    client: async_nats::Client,
    control: Arc<dyn Control>,
    auth: Arc<dyn Authorize>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), crate::NatsError> {
    let mut requests = client
        .queue_subscribe(wire::ALL, wire::QUEUE_GROUP.to_string())
        .await
        .map_err(|e| crate::NatsError::JetStream(format!("subscribing to {}: {e}", wire::ALL)))?;
    let slots = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let mut tasks = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let message = tokio::select! {
            _ = &mut shutdown => break,
            m = requests.next() => match m { Some(m) => m, None => break },
        };
        let Some(reply_to) = message.reply.clone() else {
            continue;
        };
        let Ok(permit) = slots.clone().acquire_owned().await else {
            break;
        };
        let (client, control, auth) = (client.clone(), control.clone(), auth.clone());
        tasks.spawn(async move {
            let body = answer(&message, control.as_ref(), auth.as_ref()).await;
            if let Err(e) = client.publish(reply_to, body.into()).await {
                tracing::warn!(error = %e, "answering a control call failed");
            }
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
    }
    let _ = requests.unsubscribe().await;
    while tasks.join_next().await.is_some() {}
    Ok(())
}

fn encode<T: Serialize>(r: Result<T, ControlError>) -> Vec<u8> {
    serde_json::to_vec(&CtlResponse::from(r)).unwrap_or_else(|e| {
        let error: Result<(), _> = Err(ControlError::Invalid {
            reason: format!("cannot encode the reply: {e}"),
        });
        serde_json::to_vec(&CtlResponse::from(error)).unwrap_or_default()
    })
}

/// The body of a request, after its token was accepted.
fn parse<T: DeserializeOwned>(subject: &str, payload: &[u8]) -> Result<T, ControlError> {
    serde_json::from_slice::<CtlRequest<T>>(payload)
        .map(|r| r.body)
        .map_err(|e| ControlError::Invalid {
            reason: format!("{subject}: {e}"),
        })
}

/// Only the token of a request, read before anything else.
#[derive(Deserialize)]
struct TokenOnly {
    token: Option<String>,
}

async fn answer(
    message: &async_nats::Message,
    control: &dyn Control,
    auth: &dyn Authorize,
) -> Vec<u8> {
    let subject = message.subject.as_str();
    let payload = &message.payload;
    if payload.len() > MAX_REQUEST {
        return encode::<()>(Err(ControlError::Invalid {
            reason: format!("{subject}: the request is larger than {MAX_REQUEST} bytes"),
        }));
    }
    let token = serde_json::from_slice::<TokenOnly>(payload)
        .ok()
        .and_then(|t| t.token);
    let name = match auth
        .authorize(token.as_deref(), subject, Role::Worker)
        .await
    {
        Ok(name) => name,
        Err(e) => return encode::<()>(Err(e)),
    };
    match subject {
        wire::HELLO => {
            encode(parse::<HelloRequest>(subject, payload).map(|_| HelloReply { token: name }))
        }
        wire::CLAIM => match parse(subject, payload) {
            Ok(r) => encode(control.claim(r).await),
            Err(e) => encode::<()>(Err(e)),
        },
        wire::RENEW => match parse(subject, payload) {
            Ok(r) => encode(control.renew(r).await),
            Err(e) => encode::<()>(Err(e)),
        },
        wire::APPEND => match parse(subject, payload) {
            Ok(r) => encode(control.append(r).await),
            Err(e) => encode::<()>(Err(e)),
        },
        wire::FAIL => match parse(subject, payload) {
            Ok(r) => encode(control.fail(r).await),
            Err(e) => encode::<()>(Err(e)),
        },
        other => encode::<()>(Err(ControlError::Invalid {
            reason: format!("unknown control subject {other:?}"),
        })),
    }
}
