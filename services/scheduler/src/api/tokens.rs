//! Token management (`/v1/tokens`) and the audit of denied requests (`/v1/audit`), for
//! admins.

use super::auth::Principal;
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Query};
use crate::Scheduler;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Extension;
use cairn_domain::api::{AuditEntry, TokenCreateRequest, TokenCreated, TokenView};
use cairn_domain::TokenName;
use cairn_ledger::{LedgerError, Revocation, TokenRecord};
use chrono::Utc;
use serde::Deserialize;

fn parse_token_name(name: &str) -> ApiResult<TokenName> {
    TokenName::parse(name).map_err(|e| ApiError::invalid(format!("token {e}")))
}

fn token_view(t: &TokenRecord) -> TokenView {
    TokenView {
        name: t.name.to_string(),
        role: t.role,
        created_at: t.created_at,
        created_by: t.created_by.as_ref().map(|n| n.to_string()),
        revoked_at: t.revoked_at,
    }
}

pub async fn create(
    State(s): State<Scheduler>,
    Extension(by): Extension<Principal>,
    Json(req): Json<TokenCreateRequest>,
) -> ApiResult<(StatusCode, Json<TokenCreated>)> {
    let name = parse_token_name(&req.name)?;
    let new = crate::tokens::generate();
    let record = TokenRecord {
        name,
        role: req.role,
        sha256: new.sha256,
        created_at: Utc::now(),
        created_by: Some(by.token.clone()),
        revoked_at: None,
    };
    match s.ledger().create_token(&record).await {
        Ok(()) => {}
        Err(LedgerError::Exists(_)) => {
            return Err(ApiError::conflict(format!(
                "a token named {} exists or existed (names of revoked tokens are not reused, so \
                 events keep naming one token); choose another name",
                record.name
            )))
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(token = %record.name, role = %record.role, by = %by.token, "token created");
    Ok((
        StatusCode::CREATED,
        Json(TokenCreated {
            name: record.name.to_string(),
            role: record.role,
            token: new.token,
            created_at: record.created_at,
        }),
    ))
}

pub async fn list(State(s): State<Scheduler>) -> ApiResult<Json<Vec<TokenView>>> {
    Ok(Json(s.ledger().tokens()?.iter().map(token_view).collect()))
}

pub async fn revoke(
    State(s): State<Scheduler>,
    Extension(by): Extension<Principal>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let name = parse_token_name(&name)?;
    match s.ledger().revoke_token(&name, Utc::now()).await? {
        Revocation::Revoked => {
            tracing::info!(token = %name, by = %by.token, "token revoked");
            Ok(StatusCode::NO_CONTENT)
        }
        Revocation::Unknown => Err(ApiError::not_found(format!(
            "unknown token {name}; list tokens with `cairn token list`"
        ))),
        Revocation::AlreadyRevoked => Err(ApiError::conflict(format!(
            "token {name} is already revoked"
        ))),
        Revocation::LastAdmin => Err(ApiError::conflict(format!(
            "token {name} is the last admin token; create another first \
             (`cairn token create NAME --role admin`), then revoke this one"
        ))),
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct AuditParams {
    limit: Option<usize>,
}

/// Denied requests, newest first (default 50).
pub async fn audit(
    State(s): State<Scheduler>,
    Query(p): Query<AuditParams>,
) -> ApiResult<Json<Vec<AuditEntry>>> {
    let limit = p
        .limit
        .unwrap_or(50)
        .clamp(1, cairn_ledger::AUDIT_KEEP as usize);
    Ok(Json(s.ledger().denials(limit)?))
}
