//! `cairn history`: jobs and configuration changes newest first, filtered by target, kind,
//! status and time.

use crate::cli::client::ApiClient;
use crate::cli::error::{CliError, Outcome};
use crate::cli::output::{self, Table};
use crate::cli::HistoryArgs;
use cairn_domain::api::HistoryEntry;
use chrono::SecondsFormat;

pub async fn list(client: &ApiClient, args: HistoryArgs, json: bool) -> Result<Outcome, CliError> {
    let mut query: Vec<(&str, String)> = Vec::new();
    if let Some(t) = &args.target {
        query.push(("target", t.to_string()));
    }
    if let Some(k) = args.kind {
        query.push(("kind", k.to_string()));
    }
    if let Some(s) = args.status {
        query.push(("status", s.to_string()));
    }
    if let Some(since) = args.since {
        query.push(("since", since.to_rfc3339_opts(SecondsFormat::AutoSi, true)));
    }
    if let Some(limit) = args.limit {
        query.push(("limit", limit.to_string()));
    }
    let entries: Vec<HistoryEntry> = client.get_query("/v1/history", &query).await?;
    if json {
        output::json(&entries)?;
        return Ok(Outcome::Success);
    }
    if entries.is_empty() {
        eprintln!("no jobs or changes match");
        return Ok(Outcome::Success);
    }
    let mut table = Table::new(&[
        "JOB",
        "KIND",
        "TARGET",
        "STATUS",
        "ATTEMPTS",
        "QUEUED",
        "BY",
        "BACKUP",
        "ERROR/CHANGE",
    ]);
    for e in entries {
        table.row(vec![
            e.job_id.to_string(),
            e.kind.to_string(),
            e.target,
            e.status.to_string(),
            e.attempts.to_string(),
            output::time(e.queued_at),
            e.requested_by,
            e.backup.unwrap_or_default(),
            output::shorten(e.error.as_deref().or(e.change.as_deref()).unwrap_or(""), 80),
        ]);
    }
    table.print()?;
    Ok(Outcome::Success)
}
