//! The scheduler on NATS: it answers the control plane (`cairn.ctl.*`) and platform
//! requests (`cairn.requests.*`), relays every committed event to `CAIRN_EVENTS`, and
//! (through the reconcile loop and the JetStream job bus) keeps `CAIRN_JOBS` in step
//! with the ledger.

mod auth;
mod relay;
mod requests;

pub use auth::TokenAuthorizer;
pub use relay::run_relay;
pub use requests::serve_requests;

use crate::Scheduler;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Starts everything the scheduler does on NATS; the tasks stop when `stop` is cancelled.
pub async fn spawn(
    scheduler: &Scheduler,
    client: async_nats::Client,
    stop: CancellationToken,
    tasks: &mut tokio::task::JoinSet<()>,
) -> Result<(), cairn_bus_nats::NatsError> {
    let js = async_nats::jetstream::new(client.clone());
    cairn_bus_nats::streams::ensure_streams(&js).await?;
    {
        let control: Arc<dyn cairn_bus::Control> = Arc::new(scheduler.clone());
        let auth = Arc::new(TokenAuthorizer::new(scheduler.clone()));
        let (client, stop) = (client.clone(), stop.clone());
        tasks.spawn(async move {
            if let Err(e) =
                cairn_bus_nats::ctl::serve_control(client, control, auth, stop.cancelled_owned())
                    .await
            {
                tracing::error!(error = %e, "the control plane on NATS stopped");
            }
        });
    }
    {
        let (scheduler, client, stop) = (scheduler.clone(), client.clone(), stop.clone());
        tasks.spawn(async move {
            if let Err(e) = serve_requests(scheduler, client, stop.cancelled_owned()).await {
                tracing::error!(error = %e, "platform requests on NATS stopped");
            }
        });
    }
    {
        let (scheduler, stop) = (scheduler.clone(), stop.clone());
        tasks.spawn(async move { run_relay(scheduler, js, stop).await });
    }
    Ok(())
}
