//! `Control` over NATS request/reply on `cairn.ctl.*`: [`ControlClient`] (workers) sends
//! each call with the worker's token in an `Authorization: Bearer` header;
//! [`serve_control`] (the scheduler) checks the token and maps each call to the
//! scheduler's own [`Control`].

use crate::wire::{
    self, AppendRequest, ClaimRequest, FailRequest, HelloReply, HelloRequest, Reply, WireError,
};
use crate::AUTHORIZATION;
use async_nats::HeaderMap;
use async_trait::async_trait;
use cairn_bus::{AppendReply, ClaimReply, Control, ControlError, FailReply};
use cairn_domain::{Attempt, EventPayload, Failure, JobId, Role, WorkerId};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;
use std::sync::Arc;

/// Largest control request the scheduler reads (an append carries a few events).
const MAX_REQUEST: usize = 256 * 1024;
/// How long a control call waits for a scheduler to answer at all (a restart).
const NO_RESPONDER_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);
/// Control calls the scheduler answers at once.
const IN_FLIGHT: usize = 64;

/// A worker's control plane: the scheduler, over NATS.
#[derive(Clone)]
pub struct ControlClient {
    client: async_nats::Client,
    /// `Bearer <token>`; never logged.
    authorization: String,
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
            authorization: format!("Bearer {}", token.trim()),
        }
    }

    async fn call<Q: Serialize, R: DeserializeOwned>(
        &self,
        subject: &'static str,
        request: &Q,
    ) -> Result<R, WireError> {
        let body = serde_json::to_vec(request).map_err(|e| WireError::Invalid {
            message: e.to_string(),
        })?;
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, self.authorization.as_str());
        let unavailable = |cause: String| WireError::Control {
            error: ControlError::Unavailable(format!("{subject}: {cause}")),
        };
        let body = bytes::Bytes::from(body);
        let started = std::time::Instant::now();
        let reply = loop {
            match self
                .client
                .request_with_headers(subject, headers.clone(), body.clone())
                .await
            {
                Ok(reply) => break reply,
                // No scheduler listens right now (restarting): the call was not carried
                // out, so it is safe to send it again for a while.
                Err(e)
                    if e.kind() == async_nats::RequestErrorKind::NoResponders
                        && started.elapsed() < NO_RESPONDER_PATIENCE =>
                {
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                }
                Err(e) => return Err(unavailable(e.to_string())),
            }
        };
        match serde_json::from_slice::<Reply<R>>(&reply.payload) {
            Ok(Reply::Ok(r)) => Ok(r),
            Ok(Reply::Err(e)) => Err(e),
            Err(e) => Err(unavailable(format!("unreadable reply: {e}"))),
        }
    }

    /// Checks the token with the scheduler; a worker refuses to start when this fails.
    pub async fn hello(&self, worker: &WorkerId) -> Result<HelloReply, WireError> {
        let request = HelloRequest {
            worker_id: worker.clone(),
        };
        self.call(wire::HELLO, &request).await
    }
}

fn control_error(e: WireError) -> ControlError {
    match e {
        WireError::Control { error } => error,
        // A token revoked while the worker runs: nothing it does counts any more.
        other => ControlError::Unavailable(other.to_string()),
    }
}

#[async_trait]
impl Control for ControlClient {
    async fn claim(&self, job_id: JobId, worker: &WorkerId) -> Result<ClaimReply, ControlError> {
        let request = ClaimRequest {
            job_id,
            worker_id: worker.clone(),
        };
        self.call(wire::CLAIM, &request)
            .await
            .map_err(control_error)
    }

    async fn append(
        &self,
        job_id: JobId,
        attempt: Attempt,
        events: Vec<EventPayload>,
    ) -> Result<AppendReply, ControlError> {
        let request = AppendRequest {
            job_id,
            attempt,
            events,
        };
        self.call(wire::APPEND, &request)
            .await
            .map_err(control_error)
    }

    async fn fail(
        &self,
        job_id: JobId,
        attempt: Attempt,
        failure: Failure,
    ) -> Result<FailReply, ControlError> {
        let request = FailRequest {
            job_id,
            attempt,
            failure,
        };
        self.call(wire::FAIL, &request).await.map_err(control_error)
    }
}

/// Who may make control calls: the scheduler checks a presented bearer token against its
/// token store and records refusals in its audit.
#[async_trait]
pub trait Authorize: Send + Sync + 'static {
    /// The accepted token's name, or why the call is refused.
    async fn authorize(
        &self,
        authorization: Option<&str>,
        subject: &str,
        needed: Role,
    ) -> Result<String, WireError>;
}

/// The bearer token of an `Authorization` header value.
pub fn bearer(value: Option<&str>) -> Option<&str> {
    let (scheme, token) = value?.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
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

fn encode<T: Serialize>(reply: Reply<T>) -> Vec<u8> {
    serde_json::to_vec(&reply).unwrap_or_else(|e| {
        serde_json::to_vec(&Reply::<()>::Err(WireError::Invalid {
            message: format!("cannot encode the reply: {e}"),
        }))
        .unwrap_or_default()
    })
}

fn reply_of<T: Serialize>(r: Result<T, ControlError>) -> Vec<u8> {
    encode(match r {
        Ok(v) => Reply::Ok(v),
        Err(error) => Reply::Err(WireError::Control { error }),
    })
}

fn parse<T: DeserializeOwned>(subject: &str, payload: &[u8]) -> Result<T, WireError> {
    if payload.len() > MAX_REQUEST {
        return Err(WireError::Invalid {
            message: format!("{subject}: the request is larger than {MAX_REQUEST} bytes"),
        });
    }
    serde_json::from_slice(payload).map_err(|e| WireError::Invalid {
        message: format!("{subject}: {e}"),
    })
}

async fn answer(
    message: &async_nats::Message,
    control: &dyn Control,
    auth: &dyn Authorize,
) -> Vec<u8> {
    let subject = message.subject.as_str();
    let authorization = message
        .headers
        .as_ref()
        .and_then(|h| h.get(AUTHORIZATION))
        .map(|v| v.as_str());
    let token = match auth.authorize(authorization, subject, Role::Worker).await {
        Ok(token) => token,
        Err(e) => return encode(Reply::<()>::Err(e)),
    };
    let payload = &message.payload;
    let outcome: Result<Vec<u8>, WireError> = async {
        Ok(match subject {
            wire::HELLO => {
                let _: HelloRequest = parse(subject, payload)?;
                encode(Reply::Ok(HelloReply { token }))
            }
            wire::CLAIM => {
                let r: ClaimRequest = parse(subject, payload)?;
                reply_of(control.claim(r.job_id, &r.worker_id).await)
            }
            wire::APPEND => {
                let r: AppendRequest = parse(subject, payload)?;
                reply_of(control.append(r.job_id, r.attempt, r.events).await)
            }
            wire::FAIL => {
                let r: FailRequest = parse(subject, payload)?;
                reply_of(control.fail(r.job_id, r.attempt, r.failure).await)
            }
            other => {
                return Err(WireError::Invalid {
                    message: format!("unknown control subject {other:?}"),
                })
            }
        })
    }
    .await;
    outcome.unwrap_or_else(|e| encode(Reply::<()>::Err(e)))
}
