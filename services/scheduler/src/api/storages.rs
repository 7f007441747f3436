//! Storages: `POST /v1/storages` (a local folder or an S3 bucket, optionally encrypting
//! with age) and `GET /v1/storages`.
//!
//! Keys and passphrases arrive as references (env or file, checked against the keyring's
//! policy here and again where they are read) or as values the server seals. A storage
//! is opened once before it is saved, so a typo in a bucket, endpoint or key reference is
//! reported now rather than at 03:00.

use super::error::{ApiError, ApiResult};
use super::extract::Json;
use crate::Scheduler;
use axum::extract::State;
use axum::http::StatusCode;
use cairn_domain::api::{EncryptionInput, PasswordInput, StorageAddRequest, StorageView};
use cairn_domain::storage::{self, S3Storage, StorageEncryption};
use cairn_domain::{CredentialRef, StorageConfig, StorageKind, StorageName};
use cairn_storage::ArtifactStore;
use chrono::Utc;

pub(super) fn storage_view(s: &StorageConfig) -> StorageView {
    let (endpoint, credentials) = match &s.kind {
        StorageKind::Local { .. } => (None, None),
        StorageKind::S3(s3) => (
            s3.endpoint.clone(),
            Some(format!(
                "access key {}, secret key {}",
                s3.access_key.describe(),
                s3.secret_key.describe()
            )),
        ),
    };
    StorageView {
        name: s.name.to_string(),
        url: s.kind.url(),
        created_at: s.created_at,
        endpoint,
        credentials,
        encryption: s.encryption.as_ref().map(StorageEncryption::describe),
    }
}

pub async fn add_storage(
    State(s): State<Scheduler>,
    Json(req): Json<StorageAddRequest>,
) -> ApiResult<(StatusCode, Json<StorageView>)> {
    let name =
        StorageName::parse(&req.name).map_err(|e| ApiError::invalid(format!("storage {e}")))?;
    if s.ledger().storage(&name)?.is_some() {
        return Err(ApiError::conflict(format!("storage {name} already exists")));
    }
    let url = req.url.clone();
    let encryption = match req.encryption.clone() {
        None => None,
        Some(input) => Some(encryption(&s, input)?),
    };
    let kind = if url.starts_with("s3://") {
        StorageKind::S3(s3_storage(&s, req)?)
    } else {
        if req.endpoint.is_some()
            || req.region.is_some()
            || req.access_key.is_some()
            || req.secret_key.is_some()
        {
            return Err(ApiError::invalid(
                "--endpoint, --region and the S3 keys only apply to s3:// storages",
            ));
        }
        StorageKind::parse_url(&url).map_err(|e| ApiError::invalid(e.to_string()))?
    };
    let config = StorageConfig {
        name,
        kind,
        created_at: Utc::now(),
        encryption,
    };
    let store = ArtifactStore::open(&config, s.keyring())
        .map_err(|e| ApiError::invalid(format!("storage {url} cannot be opened: {e}")))?;
    store
        .probe()
        .await
        .map_err(|e| ApiError::invalid(format!("storage {url} cannot be read: {e}")))?;
    s.ledger().put_storage(&config).await?;
    Ok((StatusCode::CREATED, Json(storage_view(&config))))
}

pub async fn list_storages(State(s): State<Scheduler>) -> ApiResult<Json<Vec<StorageView>>> {
    let mut list = s.ledger().storages()?;
    list.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(list.iter().map(storage_view).collect()))
}

fn s3_storage(s: &Scheduler, req: StorageAddRequest) -> ApiResult<S3Storage> {
    let invalid = |e: storage::S3UrlError| ApiError::invalid(e.to_string());
    let (bucket, prefix) = storage::parse_s3_url(&req.url).map_err(invalid)?;
    let endpoint = match &req.endpoint {
        Some(e) => Some(
            storage::check_endpoint(e, req.allow_private_endpoint)
                .map_err(invalid)?
                .to_string()
                .trim_end_matches('/')
                .to_string(),
        ),
        None => None,
    };
    if let Some(region) = &req.region {
        storage::check_region(region).map_err(invalid)?;
    }
    let missing = |flag: &str| {
        ApiError::invalid(format!(
            "an s3:// storage needs {flag}-env VAR or {flag}-file PATH (the worker reads the key from there)"
        ))
    };
    let access_key = req.access_key.ok_or_else(|| missing("--access-key"))?;
    let secret_key = req.secret_key.ok_or_else(|| missing("--secret-key"))?;
    Ok(S3Storage {
        bucket,
        prefix,
        endpoint,
        region: req.region,
        access_key: reference(s, "--access-key", access_key)?,
        secret_key: reference(s, "--secret-key", secret_key)?,
        allow_private_endpoint: req.allow_private_endpoint,
    })
}

fn encryption(s: &Scheduler, input: EncryptionInput) -> ApiResult<StorageEncryption> {
    let EncryptionInput::Age {
        recipients,
        identity_file,
        passphrase,
    } = input;
    if let Some(path) = &identity_file {
        s.keyring()
            .policy()
            .check_file(path)
            .map_err(|e| ApiError::invalid(format!("--age-identity-file: {e}")))?;
    }
    let passphrase = match passphrase {
        Some(p) => Some(reference(s, "--age-passphrase", p)?),
        None => None,
    };
    let config = StorageEncryption::Age {
        recipients,
        identity_file,
        passphrase,
    };
    cairn_storage::crypto::check_config(&config).map_err(|e| ApiError::invalid(e.to_string()))?;
    Ok(config)
}

/// A key or passphrase reference, checked against the policy; a value is sealed.
fn reference(s: &Scheduler, flag: &str, input: PasswordInput) -> ApiResult<CredentialRef> {
    let policy = s.keyring().policy();
    Ok(match input {
        PasswordInput::Env { var } => {
            policy
                .check_env(&var)
                .map_err(|e| ApiError::invalid(format!("{flag}-env: {e}")))?;
            CredentialRef::Env { var }
        }
        PasswordInput::File { path } => {
            policy
                .check_file(&path)
                .map_err(|e| ApiError::invalid(format!("{flag}-file: {e}")))?;
            CredentialRef::File { path }
        }
        PasswordInput::Value { value } if value.is_empty() => {
            return Err(ApiError::invalid(format!("{flag}: the value is empty")))
        }
        PasswordInput::Value { value } => CredentialRef::Sealed {
            sealed: s.keyring().seal(&value),
        },
    })
}
