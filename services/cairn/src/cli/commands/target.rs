//! `cairn target add|update|list|show|remove`.

use crate::cli::client::ApiClient;
use crate::cli::error::{CliError, Outcome};
use crate::cli::output::{self, Table};
use crate::cli::{TargetAddArgs, TargetNameArg, TargetRemoveArgs, TargetUpdateArgs};
use cairn_domain::api::{
    BackupView, ForgetRequest, JobCreated, PasswordInput, TargetAddRequest, TargetUpdateRequest,
    TargetView,
};
use cairn_domain::Endpoint;
use std::io::IsTerminal;
use tokio::io::{AsyncBufReadExt, BufReader};

pub async fn add(client: &ApiClient, args: TargetAddArgs, json: bool) -> Result<Outcome, CliError> {
    // Refuse a password in the URL here, before it travels anywhere; the message never
    // echoes the URL.
    Endpoint::parse(&args.url).map_err(|e| CliError::usage(e.to_string()))?;
    let password = password_input(
        args.password_env.as_ref(),
        args.password_file.as_ref(),
        args.password_stdin,
    )
    .await?;
    let ca_file = absolute_ca_file(args.ca_file.as_deref())?;
    let request = TargetAddRequest {
        name: args.name.to_string(),
        url: args.url,
        password,
        storage: args.storage.map(|s| s.to_string()),
        ca_file,
    };
    let target: TargetView = client.post("/v1/targets", &request).await?;
    print_one(&target, json)
}

/// A relative path would be resolved against the server's working directory.
fn absolute_ca_file(path: Option<&std::path::Path>) -> Result<Option<String>, CliError> {
    path.map(|path| {
        std::path::absolute(path)
            .map(|p| p.to_string_lossy().into_owned())
            .map_err(|e| CliError::usage(format!("--ca-file {}: {e}", path.display())))
    })
    .transpose()
}

/// `cairn target update NAME [--url …] [--password-…] [--storage …] [--ca-file …]`.
pub async fn update(
    client: &ApiClient,
    args: TargetUpdateArgs,
    json: bool,
) -> Result<Outcome, CliError> {
    if let Some(url) = &args.url {
        Endpoint::parse(url).map_err(|e| CliError::usage(e.to_string()))?;
    }
    let password = password_input(
        args.password_env.as_ref(),
        args.password_file.as_ref(),
        args.password_stdin,
    )
    .await?;
    let request = TargetUpdateRequest {
        url: args.url,
        password,
        storage: args.storage.map(|s| s.to_string()),
        ca_file: absolute_ca_file(args.ca_file.as_deref())?,
    };
    if request.url.is_none()
        && request.password.is_none()
        && request.storage.is_none()
        && request.ca_file.is_none()
    {
        return Err(CliError::usage(
            "nothing to change; give --url, --password-env/--password-file/--password-stdin, --storage or --ca-file",
        ));
    }
    let target: TargetView = client
        .patch(&format!("/v1/targets/{}", args.name), &request)
        .await?;
    print_one(&target, json)
}

pub async fn list(client: &ApiClient, json: bool) -> Result<Outcome, CliError> {
    let targets: Vec<TargetView> = client.get("/v1/targets").await?;
    if json {
        output::json(&targets)?;
        return Ok(Outcome::Success);
    }
    if targets.is_empty() {
        eprintln!("no targets yet; add one with `cairn target add NAME --url URL`");
        return Ok(Outcome::Success);
    }
    let mut table = Table::new(&["NAME", "ENGINE", "URL", "SCOPE", "STORAGE", "CREDENTIAL"]);
    for t in targets {
        table.row(vec![
            t.name,
            t.engine.to_string(),
            t.url,
            t.scope.to_string(),
            t.storage,
            t.credential,
        ]);
    }
    table.print()?;
    Ok(Outcome::Success)
}

pub async fn show(
    client: &ApiClient,
    args: TargetNameArg,
    json: bool,
) -> Result<Outcome, CliError> {
    let target: TargetView = client.get(&format!("/v1/targets/{}", args.name)).await?;
    print_one(&target, json)
}

pub async fn remove(
    client: &ApiClient,
    args: TargetRemoveArgs,
    json: bool,
) -> Result<Outcome, CliError> {
    let path = format!("/v1/targets/{}", args.name);
    let target: TargetView = client.get(&path).await?;
    if args.purge {
        let backups: Vec<BackupView> = client.get(&format!("{path}/backups")).await?;
        if !args.yes {
            return Err(CliError::usage(format!(
                "refusing to purge without --yes: this would remove target {} and delete its {} backup(s) in storage {} for good; rerun with --purge --yes",
                target.name,
                backups.len(),
                target.storage
            )));
        }
        // The backups go first, by a recorded job, while the target still exists.
        let request = ForgetRequest {
            target: target.name.clone(),
            backup: None,
            purge: true,
        };
        let created: JobCreated = client.post("/v1/forgets", &request).await?;
        eprintln!("purge job {} queued", created.job_id);
        if crate::cli::wait::wait(client, created.job_id, json).await? != Outcome::Success {
            return Ok(Outcome::JobFailed);
        }
    }
    client.delete(&path).await?;
    if json {
        output::json(&target)?;
    } else if args.purge {
        output::line(&format!(
            "removed target {} and deleted its backups",
            target.name
        ))?;
    } else {
        output::line(&format!(
            "removed target {}; its backups stay in storage {} (list them with `cairn backups {}`)",
            target.name, target.storage, target.name
        ))?;
    }
    Ok(Outcome::Success)
}

fn print_one(t: &TargetView, json: bool) -> Result<Outcome, CliError> {
    if json {
        output::json(t)?;
    } else {
        output::fields(&[
            ("name", t.name.clone()),
            ("engine", t.engine.to_string()),
            ("url", t.url.clone()),
            ("scope", t.scope.to_string()),
            ("storage", t.storage.clone()),
            ("credential", t.credential.clone()),
            ("ca file", t.ca_file.clone().unwrap_or_else(|| "-".into())),
            ("created", output::time(t.created_at)),
        ])?;
    }
    Ok(Outcome::Success)
}

/// The password option, as the server expects it. Env and file are references the server
/// resolves when a job runs; only `--password-stdin` sends a value (sealed by the server).
async fn password_input(
    password_env: Option<&String>,
    password_file: Option<&std::path::PathBuf>,
    password_stdin: bool,
) -> Result<Option<PasswordInput>, CliError> {
    if let Some(var) = password_env {
        if var.is_empty() || var.contains('=') || var.contains('\0') {
            return Err(CliError::usage(format!(
                "{var:?} is not an environment variable name; pass the name (PGPASS), not the value"
            )));
        }
        return Ok(Some(PasswordInput::Env { var: var.clone() }));
    }
    if let Some(path) = password_file {
        // A relative path would be resolved against the server's working directory.
        let path = std::path::absolute(path)
            .map_err(|e| CliError::usage(format!("--password-file {}: {e}", path.display())))?;
        if !path.is_file() {
            eprintln!(
                "note: {} is not a file on this machine; the server reads it when a job runs",
                path.display()
            );
        }
        return Ok(Some(PasswordInput::File {
            path: path.to_string_lossy().into_owned(),
        }));
    }
    if password_stdin {
        return read_stdin_password().await.map(Some);
    }
    Ok(None)
}

async fn read_stdin_password() -> Result<PasswordInput, CliError> {
    if std::io::stdin().is_terminal() {
        eprintln!("reading the password from stdin (one line; it is shown as you type)");
    }
    let mut line = String::new();
    BufReader::new(tokio::io::stdin())
        .read_line(&mut line)
        .await
        .map_err(|e| CliError::usage(format!("cannot read the password from stdin: {e}")))?;
    let value = line
        .strip_suffix('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .unwrap_or(&line);
    if value.is_empty() {
        return Err(CliError::usage(
            "--password-stdin read an empty line; pipe the password in, e.g. \
             `cat secret | cairn target add …`",
        ));
    }
    Ok(PasswordInput::Value {
        value: value.to_string(),
    })
}
