//! `cairn backup TARGET` (start a backup job) and `cairn backups TARGET` (list backups).

use super::queued;
use crate::cli::client::ApiClient;
use crate::cli::error::{CliError, Outcome};
use crate::cli::output::{self, Table};
use crate::cli::{BackupArgs, BackupsArgs};
use cairn_domain::api::{BackupRequest, BackupView, JobCreated};

pub async fn backup(client: &ApiClient, args: BackupArgs, json: bool) -> Result<Outcome, CliError> {
    let request = BackupRequest {
        target: args.target.to_string(),
    };
    let created: JobCreated = client.post("/v1/backups", &request).await?;
    queued(client, created, json, args.wait).await
}

pub async fn list(client: &ApiClient, args: BackupsArgs, json: bool) -> Result<Outcome, CliError> {
    let backups: Vec<BackupView> = client
        .get(&format!("/v1/targets/{}/backups", args.target))
        .await?;
    if json {
        output::json(&backups)?;
        return Ok(Outcome::Success);
    }
    if backups.is_empty() {
        eprintln!(
            "target {} has no backups yet; make one with `cairn backup {}`",
            args.target, args.target
        );
        return Ok(Outcome::Success);
    }
    let mut table = Table::new(&[
        "ID", "CREATED", "SIZE", "STORED", "ENGINE", "VERSION", "TRUST",
    ]);
    for b in &backups {
        table.row(vec![
            b.id.clone(),
            output::time(b.created_at),
            output::bytes(b.size_bytes),
            output::bytes(b.stored_bytes),
            b.engine.to_string(),
            b.server_version.clone(),
            b.trust.to_string(),
        ]);
    }
    table.print()?;
    Ok(Outcome::Success)
}
