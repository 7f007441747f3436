//! `cairn prune TARGET [--keep N …] [--dry-run]` and `cairn forget TARGET BACKUP_ID --yes`.
//!
//! A prune (or forget) runs as a job, waited for here, whose deletions are recorded one
//! event each; a dry run only reads the plan the same retention rules make.

use super::queued;
use crate::cli::client::ApiClient;
use crate::cli::error::{CliError, Outcome};
use crate::cli::output::{self, Table};
use crate::cli::{ForgetArgs, PruneArgs};
use cairn_domain::api::{BackupView, ForgetRequest, JobCreated, PrunePlanEntry, PruneRequest};
use cairn_domain::retention::{KeepFlags, KeepReason, Verdict};
use cairn_domain::Keep;

fn keep_of(args: &PruneArgs) -> Result<Keep, CliError> {
    Keep::from_flags(KeepFlags {
        last: args.keep,
        hourly: args.keep_hourly,
        daily: args.keep_daily,
        weekly: args.keep_weekly,
        monthly: args.keep_monthly,
        yearly: args.keep_yearly,
    })
    .map_err(|e| CliError::usage(e.to_string()))
}

pub async fn prune(client: &ApiClient, args: PruneArgs, json: bool) -> Result<Outcome, CliError> {
    let keep = keep_of(&args)?;
    if args.dry_run {
        return dry_run(client, &args, &keep, json).await;
    }
    let request = PruneRequest {
        target: args.target.to_string(),
        keep: Some(keep),
    };
    let created: JobCreated = client.post("/v1/prunes", &request).await?;
    queued(client, created, json, true).await
}

async fn dry_run(
    client: &ApiClient,
    args: &PruneArgs,
    keep: &Keep,
    json: bool,
) -> Result<Outcome, CliError> {
    let mut query = vec![("keep", keep.last.to_string())];
    for (name, n) in [
        ("keep_hourly", keep.hourly),
        ("keep_daily", keep.daily),
        ("keep_weekly", keep.weekly),
        ("keep_monthly", keep.monthly),
        ("keep_yearly", keep.yearly),
    ] {
        if let Some(n) = n {
            query.push((name, n.to_string()));
        }
    }
    let plan: Vec<PrunePlanEntry> = client
        .get_query(&format!("/v1/targets/{}/prune", args.target), &query)
        .await?;
    if json {
        output::json(&plan)?;
        return Ok(Outcome::Success);
    }
    let going = plan.iter().filter(|e| !e.verdict.is_keep()).count();
    eprintln!(
        "dry run: {going} of {} backups of {} would be deleted; nothing was deleted",
        plan.len(),
        args.target
    );
    let mut table = Table::new(&["ID", "CREATED", "ACTION", "WHY"]);
    for e in &plan {
        let (action, why) = match &e.verdict {
            Verdict::Keep(reasons) => ("keep", reasons_text(reasons)),
            Verdict::Remove => ("delete", "no --keep rule keeps it".to_string()),
        };
        table.row(vec![
            e.backup.clone(),
            output::time(e.created_at),
            action.to_string(),
            why,
        ]);
    }
    table.print()?;
    Ok(Outcome::Success)
}

fn reasons_text(reasons: &[KeepReason]) -> String {
    reasons
        .iter()
        .map(|r| match r {
            KeepReason::Last => "among the newest (--keep)",
            KeepReason::Hourly => "newest of its hour (--keep-hourly)",
            KeepReason::Daily => "newest of its day (--keep-daily)",
            KeepReason::Weekly => "newest of its week (--keep-weekly)",
            KeepReason::Monthly => "newest of its month (--keep-monthly)",
            KeepReason::Yearly => "newest of its year (--keep-yearly)",
        })
        .collect::<Vec<_>>()
        .join("; ")
}

pub async fn forget(client: &ApiClient, args: ForgetArgs, json: bool) -> Result<Outcome, CliError> {
    if !args.yes {
        let backups: Vec<BackupView> = client
            .get(&format!("/v1/targets/{}/backups", args.target))
            .await?;
        let Some(b) = backups.iter().find(|b| b.id == args.backup) else {
            return Err(CliError::usage(format!(
                "backup {} of {} not found; list backups with `cairn backups {}`",
                args.backup, args.target, args.target
            )));
        };
        return Err(CliError::usage(format!(
            "refusing to delete without --yes: this would delete backup {} of {} (taken {}, {} stored) for good; rerun with --yes",
            b.id,
            args.target,
            output::time(b.created_at),
            output::bytes(b.stored_bytes)
        )));
    }
    let request = ForgetRequest {
        target: args.target.to_string(),
        backup: Some(args.backup.clone()),
        purge: false,
    };
    let created: JobCreated = client.post("/v1/forgets", &request).await?;
    queued(client, created, json, true).await
}
