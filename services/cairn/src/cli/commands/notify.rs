//! `cairn notify add|list|remove|deliveries`: webhooks told when jobs end.

use crate::cli::client::ApiClient;
use crate::cli::error::{CliError, Outcome};
use crate::cli::output::{self, Table};
use crate::cli::{DeliveriesArgs, NotifierNameArg, NotifyAddArgs};
use cairn_domain::notify::endpoint::parse_webhook;
use cairn_domain::notify::{Delivery, Notifier, NotifierAddRequest};

pub async fn add(client: &ApiClient, args: NotifyAddArgs, json: bool) -> Result<Outcome, CliError> {
    // Refused here already, so a bad URL exits 2 without a request.
    parse_webhook(&args.webhook, args.allow_private_endpoint)
        .map_err(|e| CliError::usage(e.to_string()))?;
    let request = NotifierAddRequest {
        name: args.name.to_string(),
        webhook: args.webhook,
        on: args.on,
        kinds: args.kind,
        target: args.target.map(|t| t.to_string()),
        secret_env: args.secret_env,
        allow_private_endpoint: args.allow_private_endpoint,
    };
    let added: Notifier = client.post("/v1/notifiers", &request).await?;
    if json {
        output::json(&added)?;
    } else {
        output::line(&format!(
            "added notifier {}: {} on {} of {}{}",
            added.name,
            added.webhook,
            join(&added.on),
            join(&added.kinds),
            added
                .target
                .as_ref()
                .map(|t| format!(" jobs of target {t}"))
                .unwrap_or_else(|| " jobs".to_string()),
        ))?;
    }
    Ok(Outcome::Success)
}

fn join<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

pub async fn list(client: &ApiClient, json: bool) -> Result<Outcome, CliError> {
    let notifiers: Vec<Notifier> = client.get("/v1/notifiers").await?;
    if json {
        output::json(&notifiers)?;
        return Ok(Outcome::Success);
    }
    let mut table = Table::new(&["NAME", "WEBHOOK", "ON", "KINDS", "TARGET", "SIGNED WITH"]);
    for n in notifiers {
        table.row(vec![
            n.name.to_string(),
            n.webhook.clone(),
            join(&n.on),
            join(&n.kinds),
            n.target
                .map(|t| t.to_string())
                .unwrap_or_else(|| "*".into()),
            n.secret_env
                .map(|v| format!("env:{v}"))
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    table.print()?;
    Ok(Outcome::Success)
}

pub async fn remove(
    client: &ApiClient,
    args: NotifierNameArg,
    json: bool,
) -> Result<Outcome, CliError> {
    client
        .delete(&format!("/v1/notifiers/{}", args.name))
        .await?;
    if json {
        output::json(&serde_json::json!({ "name": args.name.as_str(), "removed": true }))?;
    } else {
        output::line(&format!("removed notifier {}", args.name))?;
    }
    Ok(Outcome::Success)
}

pub async fn deliveries(
    client: &ApiClient,
    args: DeliveriesArgs,
    json: bool,
) -> Result<Outcome, CliError> {
    let query: Vec<(&str, String)> = args
        .limit
        .map(|l| vec![("limit", l.to_string())])
        .unwrap_or_default();
    let list: Vec<Delivery> = client.get_query("/v1/deliveries", &query).await?;
    if json {
        output::json(&list)?;
        return Ok(Outcome::Success);
    }
    let mut table = Table::new(&["AT", "NOTIFIER", "JOB", "OUTCOME", "TRY", "RESULT"]);
    for d in list {
        let result = match (&d.error, d.status) {
            (None, Some(status)) => format!("delivered ({status})"),
            (None, None) => "delivered".to_string(),
            (Some(e), _) if d.will_retry => format!("{e}; retrying"),
            (Some(e), _) => e.clone(),
        };
        table.row(vec![
            output::time(d.at),
            d.notifier.to_string(),
            d.job_id.to_string(),
            d.outcome.to_string(),
            d.attempt.to_string(),
            result,
        ]);
    }
    table.print()?;
    Ok(Outcome::Success)
}
