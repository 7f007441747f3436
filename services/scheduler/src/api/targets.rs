//! Targets and storages: configuration requests, and the backups a target has.

use super::error::{ApiError, ApiResult};
use crate::Scheduler;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use cairn_domain::api::{
    BackupView, PasswordInput, StorageAddRequest, StorageView, TargetAddRequest, TargetView,
};
use cairn_domain::{
    CredentialRef, Endpoint, StorageConfig, StorageKind, StorageName, Target, TargetName,
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
    }
}

fn storage_view(s: &StorageConfig) -> StorageView {
    StorageView {
        name: s.name.to_string(),
        url: s.kind.url(),
        created_at: s.created_at,
    }
}

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

/// The artifact store a target's backups go to.
pub fn store_of(s: &Scheduler, target: &Target) -> ApiResult<ArtifactStore> {
    let config = find_storage(s, &target.storage)?;
    Ok(ArtifactStore::open(&config)?)
}

fn credential(s: &Scheduler, input: Option<PasswordInput>) -> ApiResult<CredentialRef> {
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
fn refused_reference(flag: &str, e: RefError) -> ApiError {
    ApiError::invalid(format!(
        "{flag}: {e}; or pass the password with --password-stdin (the server then keeps it sealed)"
    ))
}

pub async fn add(
    State(s): State<Scheduler>,
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
    let target = Target {
        name,
        endpoint,
        credential,
        storage,
        created_at: Utc::now(),
    };
    s.ledger().put_target(&target).await?;
    tracing::info!(target = %target.name, engine = %target.engine(), url = %target.endpoint, "target added");
    Ok((StatusCode::CREATED, Json(target_view(&target))))
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

pub async fn remove(State(s): State<Scheduler>, Path(name): Path<String>) -> ApiResult<StatusCode> {
    let parsed = parse_target_name(&name)?;
    if s.ledger().remove_target(&parsed).await? {
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
    let target = find_target(&s, &name)?;
    let store = store_of(&s, &target)?;
    let list = store.list_backups(&target.name).await?;
    let key = s.keyring().signing_key();
    Ok(Json(
        list.iter()
            .map(|m| BackupView::from_manifest(m, target.storage.as_str(), key.check(m)))
            .collect(),
    ))
}

pub async fn add_storage(
    State(s): State<Scheduler>,
    Json(req): Json<StorageAddRequest>,
) -> ApiResult<(StatusCode, Json<StorageView>)> {
    let name =
        StorageName::parse(&req.name).map_err(|e| ApiError::invalid(format!("storage {e}")))?;
    let kind = StorageKind::parse_url(&req.url).map_err(|e| ApiError::invalid(e.to_string()))?;
    if s.ledger().storage(&name)?.is_some() {
        return Err(ApiError::conflict(format!("storage {name} already exists")));
    }
    let config = StorageConfig {
        name,
        kind,
        created_at: Utc::now(),
    };
    ArtifactStore::open(&config)
        .map_err(|e| ApiError::invalid(format!("storage {} cannot be opened: {e}", req.url)))?;
    s.ledger().put_storage(&config).await?;
    Ok((StatusCode::CREATED, Json(storage_view(&config))))
}

pub async fn list_storages(State(s): State<Scheduler>) -> ApiResult<Json<Vec<StorageView>>> {
    let mut list = s.ledger().storages()?;
    list.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(list.iter().map(storage_view).collect()))
}
