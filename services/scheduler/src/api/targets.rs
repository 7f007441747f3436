//! Targets and storages: configuration requests, and the backups a target has.

use super::auth::Principal;
use super::error::{ApiError, ApiResult};
use super::extract::Json;
use crate::Scheduler;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Extension;
use cairn_domain::api::{
    BackupView, PasswordInput, TargetAddRequest, TargetUpdateRequest, TargetView,
};
use cairn_domain::{
    CredentialRef, Endpoint, Engine, StorageConfig, StorageName, Target, TargetName, TlsMode,
};
use cairn_keyring::RefError;
use cairn_storage::ArtifactStore;
use chrono::Utc;

pub fn target_view(t: &Target) -> TargetView {
    TargetView {
        name: t.name.to_string(),
        engine: t.engine(),
        url: t.endpoint.to_string(),
        scope: t.scope().clone(),
        storage: t.storage.to_string(),
        credential: t.credential.describe(),
        created_at: t.created_at,
        ca_file: t.ca_file.clone(),
    }
}

pub use super::storages::{add_storage, list_storages};

pub fn parse_target_name(name: &str) -> ApiResult<TargetName> {
    TargetName::parse(name).map_err(|e| ApiError::invalid(format!("target {e}")))
}

/// The target named `name`, or a 404 that says how to see the known ones.
pub fn find_target(s: &Scheduler, name: &str) -> ApiResult<Target> {
    let parsed = parse_target_name(name)?;
    s.ledger().target(&parsed)?.ok_or_else(|| {
        ApiError::not_found(format!(
            "unknown target {name:?}; list targets with `cairn target list`"
        ))
    })
}

pub fn find_storage(s: &Scheduler, name: &StorageName) -> ApiResult<StorageConfig> {
    s.ledger().storage(name)?.ok_or_else(|| {
        ApiError::not_found(format!(
            "unknown storage \"{name}\"; list storages with `cairn storage list`"
        ))
    })
}

/// Whose backups, and in which storage.
#[derive(Debug, Clone)]
pub struct BackupHome {
    pub name: TargetName,
    pub storage: StorageName,
}

/// Where the backups of `name` are: its storage while the target exists; once it was
/// removed (`cairn target remove` keeps its backups), the first storage that still holds
/// backups under that name.
pub async fn backups_of(s: &Scheduler, name: &str) -> ApiResult<(BackupHome, ArtifactStore)> {
    let parsed = parse_target_name(name)?;
    if let Some(target) = s.ledger().target(&parsed)? {
        let store = store_of(s, &target)?;
        let home = BackupHome {
            name: target.name,
            storage: target.storage,
        };
        return Ok((home, store));
    }
    let mut storages = s.ledger().storages()?;
    storages.sort_by(|a, b| a.name.cmp(&b.name));
    for config in storages {
        let Ok(store) = ArtifactStore::open(&config, s.keyring()) else {
            continue;
        };
        if !store.list_backups(&parsed).await?.is_empty() {
            let home = BackupHome {
                name: parsed,
                storage: config.name,
            };
            return Ok((home, store));
        }
    }
    Err(ApiError::not_found(format!(
        "unknown target {name:?} and no storage holds backups under that name; list targets with `cairn target list`"
    )))
}

/// The artifact store a target's backups go to.
pub fn store_of(s: &Scheduler, target: &Target) -> ApiResult<ArtifactStore> {
    let config = find_storage(s, &target.storage)?;
    Ok(ArtifactStore::open(&config, s.keyring())?)
}

pub(super) fn credential(s: &Scheduler, input: Option<PasswordInput>) -> ApiResult<CredentialRef> {
    Ok(match input {
        None => CredentialRef::None,
        Some(PasswordInput::Value { value }) if value.is_empty() => {
            return Err(ApiError::invalid(
                "the password is empty; pass a non-empty password or none at all",
            ))
        }
        Some(PasswordInput::Value { value }) => CredentialRef::Sealed {
            sealed: s.keyring().seal(&value),
        },
        Some(PasswordInput::Env { var }) => {
            s.keyring()
                .policy()
                .check_env(&var)
                .map_err(|e| refused_reference("--password-env", e))?;
            CredentialRef::Env { var }
        }
        Some(PasswordInput::File { path }) => {
            s.keyring()
                .policy()
                .check_file(&path)
                .map_err(|e| refused_reference("--password-file", e))?;
            CredentialRef::File { path }
        }
    })
}

/// A file named in the URL is a reference like a password file: it must be where the
/// policy allows, so a URL cannot make cairn's clients read (and present) any file.
fn check_file_params(s: &Scheduler, endpoint: &Endpoint) -> ApiResult<()> {
    for (key, value) in &endpoint.params {
        if let Some(path) = cairn_domain::url_rules::file_param(key, value) {
            s.keyring()
                .policy()
                .check_file(path)
                .map_err(|e| ApiError::invalid(format!("the URL's {key} parameter: {e}")))?;
        }
    }
    Ok(())
}

/// A reference the policy refuses: what is wrong, where references may point, and the
/// alternative that needs no reference at all.
pub(super) fn refused_reference(flag: &str, e: RefError) -> ApiError {
    ApiError::invalid(format!(
        "{flag}: {e}; or pass the password with --password-stdin (the server then keeps it sealed)"
    ))
}

/// A CA file reference: an absolute path to a readable PEM file of certificates, for an
/// endpoint that uses TLS. Stored as the path; workers read it when a job runs.
fn ca_file(s: &Scheduler, endpoint: &Endpoint, path: String) -> ApiResult<String> {
    let p = std::path::Path::new(&path);
    if !p.is_absolute() {
        return Err(ApiError::invalid(format!(
            "CA file {path:?} must be an absolute path, as workers read it when a job runs"
        )));
    }
    // Confined like a password file: a URL or a CA file cannot make cairn read any file.
    let p = &s
        .keyring()
        .policy()
        .check_file(&path)
        .map_err(|e| ApiError::invalid(format!("--ca-file: {e}")))?;
    let text = std::fs::read(p).map_err(|e| {
        ApiError::invalid(format!(
            "cannot read the CA file {path}: {e}; give a readable PEM file of CA certificates"
        ))
    })?;
    if !String::from_utf8_lossy(&text).contains("-----BEGIN CERTIFICATE-----") {
        return Err(ApiError::invalid(format!(
            "the CA file {path} holds no PEM certificate (-----BEGIN CERTIFICATE-----); give the CA certificate that signs the database server's certificate"
        )));
    }
    let plain = match (endpoint.engine, endpoint.tls) {
        (Engine::Redis, None) => Some("use a rediss:// URL"),
        (_, Some(TlsMode::Disable)) => Some("remove the TLS mode \"disable\" from the URL"),
        _ => None,
    };
    if let Some(fix) = plain {
        return Err(ApiError::invalid(format!(
            "a CA file is given but the URL {endpoint} does not use TLS; {fix}"
        )));
    }
    Ok(path)
}

pub async fn add(
    State(s): State<Scheduler>,
    Extension(by): Extension<Principal>,
    Json(req): Json<TargetAddRequest>,
) -> ApiResult<(StatusCode, Json<TargetView>)> {
    let name = parse_target_name(&req.name)?;
    let endpoint = Endpoint::parse(&req.url).map_err(|e| ApiError::invalid(e.to_string()))?;
    check_file_params(&s, &endpoint)?;
    let storage = match req.storage.as_deref() {
        None => StorageName::default_storage(),
        Some(n) => StorageName::parse(n).map_err(|e| ApiError::invalid(format!("storage {e}")))?,
    };
    find_storage(&s, &storage)?;
    if s.ledger().target(&name)?.is_some() {
        return Err(ApiError::conflict(format!(
            "target {name} already exists; remove it first with `cairn target remove {name}`"
        )));
    }
    let credential = credential(&s, req.password)?;
    let ca_file = req
        .ca_file
        .map(|path| ca_file(&s, &endpoint, path))
        .transpose()?;
    let target = Target {
        name,
        endpoint,
        credential,
        storage,
        created_at: Utc::now(),
        ca_file,
    };
    s.ledger().put_target(&target, Some(&by.token)).await?;
    tracing::info!(target = %target.name, engine = %target.engine(), url = %target.endpoint, "target added");
    Ok((StatusCode::CREATED, Json(target_view(&target))))
}

/// Changes a target's URL, password reference, storage or CA file, with the checks of
/// `add`. The password (or its reference) is never logged.
pub async fn update(
    State(s): State<Scheduler>,
    Extension(by): Extension<Principal>,
    Path(name): Path<String>,
    Json(req): Json<TargetUpdateRequest>,
) -> ApiResult<Json<TargetView>> {
    let old = find_target(&s, &name)?;
    let mut changed = Vec::new();
    let endpoint = match &req.url {
        Some(url) => {
            let endpoint = Endpoint::parse(url).map_err(|e| ApiError::invalid(e.to_string()))?;
            check_file_params(&s, &endpoint)?;
            changed.push("url");
            endpoint
        }
        None => old.endpoint.clone(),
    };
    let storage = match req.storage.as_deref() {
        Some(n) => {
            let n = StorageName::parse(n).map_err(|e| ApiError::invalid(format!("storage {e}")))?;
            find_storage(&s, &n)?;
            changed.push("storage");
            n
        }
        None => old.storage.clone(),
    };
    let credential = match req.password {
        Some(p) => {
            changed.push("password");
            credential(&s, Some(p))?
        }
        None => old.credential.clone(),
    };
    let ca_file = match req.ca_file {
        Some(path) => {
            changed.push("ca_file");
            Some(ca_file(&s, &endpoint, path)?)
        }
        None => old.ca_file.clone(),
    };
    if changed.is_empty() {
        return Err(ApiError::invalid(
            "nothing to change; give --url, a password flag, --storage or --ca-file",
        ));
    }
    let target = Target {
        endpoint,
        storage,
        credential,
        ca_file,
        ..old
    };
    if !s
        .ledger()
        .replace_target(&target, &changed, Some(&by.token))
        .await?
    {
        return Err(ApiError::not_found(format!(
            "unknown target {name:?}; list targets with `cairn target list`"
        )));
    }
    tracing::info!(target = %target.name, url = %target.endpoint, ?changed, token = %by.token, "target updated");
    Ok(Json(target_view(&target)))
}

pub async fn list(State(s): State<Scheduler>) -> ApiResult<Json<Vec<TargetView>>> {
    let mut targets = s.ledger().targets()?;
    targets.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(targets.iter().map(target_view).collect()))
}

pub async fn show(
    State(s): State<Scheduler>,
    Path(name): Path<String>,
) -> ApiResult<Json<TargetView>> {
    Ok(Json(target_view(&find_target(&s, &name)?)))
}

pub async fn remove(
    State(s): State<Scheduler>,
    Extension(by): Extension<Principal>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let parsed = parse_target_name(&name)?;
    if s.ledger().remove_target(&parsed, Some(&by.token)).await? {
        tracing::info!(target = %parsed, "target removed; its backups stay in storage");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "unknown target {name:?}; list targets with `cairn target list`"
        )))
    }
}

pub async fn backups(
    State(s): State<Scheduler>,
    Path(name): Path<String>,
) -> ApiResult<Json<Vec<BackupView>>> {
    let (home, store) = backups_of(&s, &name).await?;
    let list = store.list_backups(&home.name).await?;
    let key = s.keyring().signing_key();
    Ok(Json(
        list.iter()
            .map(|m| BackupView::from_manifest(m, home.storage.as_str(), key.check(m)))
            .collect(),
    ))
}
