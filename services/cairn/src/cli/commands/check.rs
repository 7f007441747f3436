//! `cairn check TARGET`: queue a check job, which runs only the target's preflight
//! (connect, credentials, version, primary rather than replica) on a dump worker.

use super::queued;
use crate::cli::client::ApiClient;
use crate::cli::error::{CliError, Outcome};
use crate::cli::CheckArgs;
use cairn_domain::api::{CheckRequest, JobCreated};

pub async fn check(client: &ApiClient, args: CheckArgs, json: bool) -> Result<Outcome, CliError> {
    let request = CheckRequest {
        target: args.target.to_string(),
    };
    let created: JobCreated = client.post("/v1/checks", &request).await?;
    queued(client, created, json, args.wait).await
}
