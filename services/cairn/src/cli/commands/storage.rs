//! `cairn storage add|list`.

use crate::cli::client::ApiClient;
use crate::cli::error::{CliError, Outcome};
use crate::cli::output::{self, Table};
use crate::cli::StorageAddArgs;
use cairn_domain::api::{StorageAddRequest, StorageView};

pub async fn add(
    client: &ApiClient,
    args: StorageAddArgs,
    json: bool,
) -> Result<Outcome, CliError> {
    let request = StorageAddRequest {
        name: args.name.to_string(),
        url: args.url,
    };
    let storage: StorageView = client.post("/v1/storages", &request).await?;
    if json {
        output::json(&storage)?;
    } else {
        output::fields(&[
            ("name", storage.name),
            ("url", storage.url),
            ("created", output::time(storage.created_at)),
        ])?;
    }
    Ok(Outcome::Success)
}

pub async fn list(client: &ApiClient, json: bool) -> Result<Outcome, CliError> {
    let storages: Vec<StorageView> = client.get("/v1/storages").await?;
    if json {
        output::json(&storages)?;
        return Ok(Outcome::Success);
    }
    let mut table = Table::new(&["NAME", "URL", "CREATED"]);
    for s in storages {
        table.row(vec![s.name, s.url, output::time(s.created_at)]);
    }
    table.print()?;
    Ok(Outcome::Success)
}
