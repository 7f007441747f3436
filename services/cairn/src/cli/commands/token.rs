//! `cairn token create|list|revoke`: API tokens (an admin's business).

use crate::cli::client::ApiClient;
use crate::cli::error::{CliError, Outcome};
use crate::cli::output::{self, Table};
use crate::cli::{TokenCreateArgs, TokenNameArg};
use cairn_domain::api::{TokenCreateRequest, TokenCreated, TokenView};

/// Prints the new token once: alone on stdout (or in the `token` field with `--json`), so
/// `cairn token create ci --role operate > ci.token` stores it.
pub async fn create(
    client: &ApiClient,
    args: TokenCreateArgs,
    json: bool,
) -> Result<Outcome, CliError> {
    let request = TokenCreateRequest {
        name: args.name.to_string(),
        role: args.role,
    };
    let created: TokenCreated = client.post("/v1/tokens", &request).await?;
    if json {
        output::json(&created)?;
    } else {
        eprintln!(
            "created token {} with role {}; it is shown only this once, keep it in a file \
             (mode 0600) and pass it with --token-file or CAIRN_TOKEN",
            created.name, created.role
        );
        output::line(&created.token)?;
    }
    Ok(Outcome::Success)
}

pub async fn list(client: &ApiClient, json: bool) -> Result<Outcome, CliError> {
    let tokens: Vec<TokenView> = client.get("/v1/tokens").await?;
    if json {
        output::json(&tokens)?;
        return Ok(Outcome::Success);
    }
    let mut table = Table::new(&["NAME", "ROLE", "CREATED", "CREATED BY", "STATUS"]);
    for t in tokens {
        let status = match t.revoked_at {
            Some(at) => format!("revoked {}", output::time(at)),
            None => "active".to_string(),
        };
        table.row(vec![
            t.name,
            t.role.to_string(),
            output::time(t.created_at),
            t.created_by.unwrap_or_else(|| "-".to_string()),
            status,
        ]);
    }
    table.print()?;
    Ok(Outcome::Success)
}

pub async fn revoke(
    client: &ApiClient,
    args: TokenNameArg,
    json: bool,
) -> Result<Outcome, CliError> {
    client.delete(&format!("/v1/tokens/{}", args.name)).await?;
    if json {
        output::json(&serde_json::json!({ "name": args.name.as_str(), "revoked": true }))?;
    } else {
        output::line(&format!("revoked token {}", args.name))?;
    }
    Ok(Outcome::Success)
}
