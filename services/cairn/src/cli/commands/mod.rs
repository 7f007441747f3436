//! One module per command; each takes the API client and its parsed flags.

pub mod audit;
pub mod backup;
pub mod check;
pub mod history;
pub mod job;
pub mod key;
pub mod notify;
pub mod restore;
pub mod retention;
pub mod schedule;
pub mod storage;
pub mod target;
pub mod token;

use super::client::ApiClient;
use super::error::{CliError, Outcome};
use super::{output, wait};
use cairn_domain::api::JobCreated;

/// After a job was queued: print its id (or the `JobCreated` object), or wait for it.
pub(crate) async fn queued(
    client: &ApiClient,
    created: JobCreated,
    json: bool,
    wait_for_it: bool,
) -> Result<Outcome, CliError> {
    if wait_for_it {
        // With --json, stdout carries only the status lines and the summary.
        eprintln!("{} job {} queued", created.kind, created.job_id);
        return wait::wait(client, created.job_id, json).await;
    }
    if json {
        output::json(&created)?;
    } else {
        output::line(&created.job_id.to_string())?;
    }
    Ok(Outcome::Success)
}
