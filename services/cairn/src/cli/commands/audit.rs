//! `cairn audit`: API requests that were denied (401/403), newest first.

use crate::cli::client::ApiClient;
use crate::cli::error::{CliError, Outcome};
use crate::cli::output::{self, Table};
use crate::cli::AuditArgs;
use cairn_domain::api::AuditEntry;

pub async fn list(client: &ApiClient, args: AuditArgs, json: bool) -> Result<Outcome, CliError> {
    let query: Vec<(&str, String)> = args
        .limit
        .map(|l| vec![("limit", l.to_string())])
        .unwrap_or_default();
    let entries: Vec<AuditEntry> = client.get_query("/v1/audit", &query).await?;
    if json {
        output::json(&entries)?;
        return Ok(Outcome::Success);
    }
    if entries.is_empty() {
        eprintln!("no denied requests");
        return Ok(Outcome::Success);
    }
    let mut table = Table::new(&["TIME", "TOKEN", "METHOD", "PATH", "STATUS", "REASON"]);
    for e in entries {
        table.row(vec![
            output::time(e.at),
            e.token,
            e.method,
            output::shorten(&e.path.escape_debug().to_string(), 80),
            e.status.to_string(),
            e.reason,
        ]);
    }
    table.print()?;
    Ok(Outcome::Success)
}
