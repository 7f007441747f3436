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
use cairn_domain::{Engine, Scope, TargetName};

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
        match backups.iter().find(|b| b.id == args.backup) {
            Some(backup) => backup,
            None => return Err(not_found(client, source, &args.backup).await),
        }
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
        "{} at {} ({} target {}) with backup {}{latest} of {source}, made {} ({}){trust}. {}",
        scope_words(&target.scope),
        target.url,
        target.engine,
        target.name,
        backup.id,
        output::time(backup.created_at),
        output::bytes(backup.size_bytes),
        effect(target.engine, &target.scope),
    ))
}

/// What the restore does to the target, in the words an operator needs before saying yes.
fn effect(engine: Engine, scope: &Scope) -> &'static str {
    match (engine, scope) {
        (Engine::Postgres, Scope::Server) => {
            "Every database but postgres and the templates, and every role but the restoring \
             user, is dropped (open sessions on them are terminated), then recreated from the \
             backup; anything created after the backup is gone"
        }
        (Engine::Postgres, _) => {
            "The backup is loaded into a fresh database; only once it loaded completely is the \
             current database dropped, terminating every open session on it, and the new one \
             renamed into its place; anything created after the backup is gone"
        }
        (Engine::Mysql, Scope::Server) => {
            "Every database but the system ones is dropped, then recreated from the backup \
             together with the accounts; anything created after the backup is gone"
        }
        (Engine::Mysql, _) => {
            "The backup is loaded into a staging database; only once it loaded completely are \
             its tables swapped in and the current ones dropped; anything created after the \
             backup is gone"
        }
        (Engine::Redis, Scope::Server) => {
            "Every Redis db is emptied (FLUSHALL), then every key of the backup is written; \
             keys written after the backup are gone"
        }
        (Engine::Redis, _) => {
            "The db is emptied (FLUSHDB), then every key of the backup is written; keys written \
             after the backup are gone"
        }
    }
}

/// The backup is not the source's: say which target has it, if one does.
async fn not_found(client: &ApiClient, source: &TargetName, backup: &str) -> CliError {
    let owner = match owner_of(client, source, backup).await {
        Ok(owner) => owner,
        Err(e) => return e,
    };
    CliError::usage(match owner {
        Some(owner) => format!(
            "target {source} has no backup {backup}; it is a backup of target {owner}: \
             add `--from {owner}` to restore it onto {source}"
        ),
        None => format!("target {source} has no backup {backup}; see `cairn backups {source}`"),
    })
}

/// Which other target holds this backup id.
async fn owner_of(
    client: &ApiClient,
    source: &TargetName,
    backup: &str,
) -> Result<Option<String>, CliError> {
    let targets: Vec<TargetView> = client.get("/v1/targets").await?;
    for target in targets.iter().filter(|t| t.name != source.as_str()) {
        let backups: Vec<BackupView> = client
            .get(&format!("/v1/targets/{}/backups", target.name))
            .await?;
        if backups.iter().any(|b| b.id == backup) {
            return Ok(Some(target.name.clone()));
        }
    }
    Ok(None)
}

fn scope_words(scope: &Scope) -> String {
    match scope {
        Scope::Server => "the whole server (every database)".to_string(),
        other => other.to_string(),
    }
}
