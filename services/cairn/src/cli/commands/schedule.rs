//! `cairn schedule set|show|clear|next` and `cairn schedules`: a target's policy.
//!
//! The flags of `set` are parsed here with the server's own domain code before any request,
//! so bad input is refused (exit 2, naming the flag) even without a server.

use crate::cli::client::ApiClient;
use crate::cli::error::{CliError, Outcome};
use crate::cli::output::{self, Table};
use crate::cli::{ScheduleNextArgs, ScheduleSetArgs, TargetNameArg};
use cairn_domain::api::{ScheduleSetRequest, ScheduleView};
use cairn_domain::retention::Keep;
use cairn_domain::{PolicyRecord, TargetName};
use chrono::{DateTime, SecondsFormat, Utc};

/// The request `set` sends, once its flags parse.
pub fn request(args: &ScheduleSetArgs) -> Result<ScheduleSetRequest, CliError> {
    let request = ScheduleSetRequest {
        every: args.every.clone(),
        at: args.at.clone(),
        days: args.days.clone(),
        cron: args.cron.clone(),
        tz: args.tz.clone(),
        keep: args.keep,
        keep_hourly: args.keep_hourly,
        keep_daily: args.keep_daily,
        keep_weekly: args.keep_weekly,
        keep_monthly: args.keep_monthly,
        keep_yearly: args.keep_yearly,
        storage: args.storage.clone(),
        catch_up: args.catch_up.clone(),
        jitter: args.jitter.clone(),
    };
    request
        .to_policy()
        .map_err(|e| CliError::usage(e.to_string()))?;
    Ok(request)
}

fn path(target: &TargetName) -> String {
    format!("/v1/schedules/{target}")
}

pub async fn set(
    client: &ApiClient,
    target: &TargetName,
    request: ScheduleSetRequest,
    json: bool,
) -> Result<Outcome, CliError> {
    let view: ScheduleView = client.put(&path(target), &request).await?;
    if json {
        output::json(&view)?;
    } else {
        eprintln!(
            "schedule of {} set (version {}); next backup at {}",
            view.target,
            view.version,
            output::time(view.next_fire)
        );
    }
    Ok(Outcome::Success)
}

fn keep_text(keep: &Keep) -> String {
    let mut parts = vec![format!("last {}", keep.last)];
    for (name, n) in [
        ("hourly", keep.hourly),
        ("daily", keep.daily),
        ("weekly", keep.weekly),
        ("monthly", keep.monthly),
        ("yearly", keep.yearly),
    ] {
        if let Some(n) = n {
            parts.push(format!("{name} {n}"));
        }
    }
    parts.join(", ")
}

fn change_text(r: &PolicyRecord) -> String {
    let what = match &r.policy {
        Some(p) => format!("set {}", p.schedule),
        None => "cleared".to_string(),
    };
    let by = r.by.as_ref().map_or("-".to_string(), ToString::to_string);
    format!("v{} {} by {by}: {what}", r.version, output::time(r.at))
}

pub async fn show(
    client: &ApiClient,
    args: TargetNameArg,
    json: bool,
) -> Result<Outcome, CliError> {
    let view: ScheduleView = client.get(&path(&args.name)).await?;
    if json {
        output::json(&view)?;
        return Ok(Outcome::Success);
    }
    let p = &view.policy;
    let mut pairs = vec![
        ("target", view.target.clone()),
        ("schedule", view.describe.clone()),
        ("keep", keep_text(&p.keep)),
        ("storage", view.storage.clone()),
        (
            "catch-up",
            format!("{}s", p.catch_up.as_duration().as_secs()),
        ),
        ("jitter", format!("{}s", p.jitter.as_duration().as_secs())),
        ("next", output::time(view.next_fire)),
        ("version", view.version.to_string()),
    ];
    let history: Vec<String> = view.history.iter().map(change_text).collect();
    let history = history.join("\n          ");
    pairs.push(("history", history));
    output::fields(&pairs)?;
    Ok(Outcome::Success)
}

pub async fn clear(
    client: &ApiClient,
    args: TargetNameArg,
    json: bool,
) -> Result<Outcome, CliError> {
    client.delete(&path(&args.name)).await?;
    if json {
        output::json(&serde_json::json!({ "target": args.name.to_string(), "cleared": true }))?;
    } else {
        eprintln!("schedule of {} cleared; its backups stay", args.name);
    }
    Ok(Outcome::Success)
}

pub async fn list(client: &ApiClient, json: bool) -> Result<Outcome, CliError> {
    let views: Vec<ScheduleView> = client.get("/v1/schedules").await?;
    if json {
        output::json(&views)?;
        return Ok(Outcome::Success);
    }
    let mut table = Table::new(&["TARGET", "SCHEDULE", "KEEP", "STORAGE", "NEXT", "VERSION"]);
    for v in views {
        table.row(vec![
            v.target,
            v.describe,
            keep_text(&v.policy.keep),
            v.storage,
            output::time(v.next_fire),
            v.version.to_string(),
        ]);
    }
    table.print()?;
    Ok(Outcome::Success)
}

pub async fn next(
    client: &ApiClient,
    args: ScheduleNextArgs,
    json: bool,
) -> Result<Outcome, CliError> {
    let mut query = vec![("count", args.count.to_string())];
    if let Some(after) = args.after {
        query.push(("after", after.to_rfc3339_opts(SecondsFormat::AutoSi, true)));
    }
    let fires: Vec<DateTime<Utc>> = client
        .get_query(&format!("{}/next", path(&args.target)), &query)
        .await?;
    if json {
        let texts: Vec<String> = fires
            .iter()
            .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
            .collect();
        output::json(&texts)?;
    } else {
        for t in fires {
            output::line(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true))?;
        }
    }
    Ok(Outcome::Success)
}
