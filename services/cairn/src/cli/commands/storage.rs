//! `cairn storage add|list`.

use crate::cli::client::ApiClient;
use crate::cli::error::{CliError, Outcome};
use crate::cli::output::{self, Table};
use crate::cli::StorageAddArgs;
use cairn_domain::api::{EncryptionInput, PasswordInput, StorageAddRequest, StorageView};

/// A reference given as `--X-env VAR` or `--X-file PATH` (never a value on the command line).
fn reference(env: Option<String>, file: Option<String>) -> Option<PasswordInput> {
    match (env, file) {
        (Some(var), _) => Some(PasswordInput::Env { var }),
        (None, Some(path)) => Some(PasswordInput::File { path }),
        (None, None) => None,
    }
}

pub async fn add(
    client: &ApiClient,
    args: StorageAddArgs,
    json: bool,
) -> Result<Outcome, CliError> {
    let encryption = args.encrypt.as_ref().map(|_| EncryptionInput::Age {
        recipients: args.age_recipients.clone(),
        identity_file: args.age_identity_file.clone(),
        passphrase: reference(
            args.age_passphrase_env.clone(),
            args.age_passphrase_file.clone(),
        ),
    });
    let request = StorageAddRequest {
        name: args.name.to_string(),
        url: args.url,
        endpoint: args.endpoint,
        region: args.region,
        access_key: reference(args.access_key_env, args.access_key_file),
        secret_key: reference(args.secret_key_env, args.secret_key_file),
        allow_private_endpoint: args.allow_private_endpoint,
        encryption,
    };
    let storage: StorageView = client.post("/v1/storages", &request).await?;
    if json {
        output::json(&storage)?;
    } else {
        let mut fields = vec![("name", storage.name), ("url", storage.url)];
        if let Some(endpoint) = storage.endpoint {
            fields.push(("endpoint", endpoint));
        }
        if let Some(credentials) = storage.credentials {
            fields.push(("credentials", credentials));
        }
        if let Some(encryption) = storage.encryption {
            fields.push(("encryption", encryption));
        }
        fields.push(("created", output::time(storage.created_at)));
        output::fields(&fields)?;
    }
    Ok(Outcome::Success)
}

pub async fn list(client: &ApiClient, json: bool) -> Result<Outcome, CliError> {
    let storages: Vec<StorageView> = client.get("/v1/storages").await?;
    if json {
        output::json(&storages)?;
        return Ok(Outcome::Success);
    }
    let mut table = Table::new(&["NAME", "URL", "ENCRYPTION", "CREATED"]);
    for s in storages {
        let encryption = s.encryption.unwrap_or_else(|| "-".into());
        table.row(vec![s.name, s.url, encryption, output::time(s.created_at)]);
    }
    table.print()?;
    Ok(Outcome::Success)
}
