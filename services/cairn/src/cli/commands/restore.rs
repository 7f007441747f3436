//! `cairn restore TARGET --backup ID|latest [--from SOURCE] --yes`.
//!
//! A restore overwrites a database, so without `--yes` nothing that changes state is sent:
//! the command only reads what would be overwritten and with what, and says so.

use super::queued;
use crate::cli::client::ApiClient;
use crate::cli::error::{CliError, Outcome};
use crate::cli::output;
use crate::cli::RestoreArgs;
use cairn_domain::api::{BackupView, JobCreated, RestoreRequest, TargetView};
use cairn_domain::manifest::Trust;
use cairn_domain::Scope;

pub async fn restore(
    client: &ApiClient,
    args: RestoreArgs,
    json: bool,
) -> Result<Outcome, CliError> {
    if !args.yes {
        return Err(refusal(client, &args).await);
    }
    let request = RestoreRequest {
        target: args.target.to_string(),
        backup: args.backup.clone(),
        from: args.from.as_ref().map(|s| s.to_string()),
        trust_unsigned: args.trust_unsigned,
    };
    let created: JobCreated = client.post("/v1/restores", &request).await?;
    queued(client, created, json, args.wait).await
}

/// Why the restore did not start, naming exactly what it would overwrite.
async fn refusal(client: &ApiClient, args: &RestoreArgs) -> CliError {
    match describe(client, args).await {
        Ok(text) => CliError::usage(format!(
            "refusing to restore without --yes: this would overwrite {text}; rerun with --yes"
        )),
        Err(e) => e,
    }
}

async fn describe(client: &ApiClient, args: &RestoreArgs) -> Result<String, CliError> {
    let target: TargetView = client.get(&format!("/v1/targets/{}", args.target)).await?;
    let source = args.from.as_ref().unwrap_or(&args.target);
    let backups: Vec<BackupView> = client.get(&format!("/v1/targets/{source}/backups")).await?;
    let backup = if args.backup == "latest" {
        backups.first().ok_or_else(|| {
            CliError::usage(format!(
                "target {source} has no backups to restore; make one with `cairn backup {source}`"
            ))
        })?
    } else {
        backups
            .iter()
            .find(|b| b.id == args.backup)
            .ok_or_else(|| {
                CliError::usage(format!(
                    "target {source} has no backup {}; see `cairn backups {source}`",
                    args.backup
                ))
            })?
    };
    let latest = if args.backup == "latest" {
        " (the latest)"
    } else {
        ""
    };
    let trust = match backup.trust {
        Trust::Signed => String::new(),
        Trust::Tampered => {
            " — this backup was changed after it was signed and will be refused".to_string()
        }
        other if args.trust_unsigned => format!(" — the backup is {other}, accepted with --trust-unsigned"),
        other => format!(
            " — the backup is {other} (not signed by this cairn) and will be refused unless --trust-unsigned"
        ),
    };
    Ok(format!(
        "{} at {} ({} target {}) with backup {}{latest} of {source}, made {} ({}){trust}",
        scope_words(&target.scope),
        target.url,
        target.engine,
        target.name,
        backup.id,
        output::time(backup.created_at),
        output::bytes(backup.size_bytes),
    ))
}

fn scope_words(scope: &Scope) -> String {
    match scope {
        Scope::Server => "the whole server (every database)".to_string(),
        other => other.to_string(),
    }
}
