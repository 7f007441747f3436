//! Authentication and authorisation of every API call.
//!
//! Each route needs a role, listed in [`ROUTES`]; the router registers its routes from
//! that table only (see `api::router`), each guarded by its entry, so no route can exist
//! without saying what it needs. A caller presents a bearer token
//! (`Authorization: Bearer cairn_…`); a missing, unknown or revoked token is answered 401,
//! a known one whose role does not cover the route 403. Every denial is logged and recorded
//! in the ledger's audit (`GET /v1/audit`). An accepted call carries its [`Principal`] in
//! the request's extensions, so the events it causes name the token.

use super::error::ApiError;
use crate::Scheduler;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cairn_domain::api::AuditEntry;
use cairn_domain::{Role, TokenName};
use chrono::Utc;

/// Who made a request: the token's name and role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub token: TokenName,
    pub role: Role,
}

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token (`/v1/health` only).
    Public,
    Needs(Role),
}

/// Every route of the API with what it needs: `(method, path as routed, access)`.
pub const ROUTES: &[(&str, &str, Access)] = &[
    ("GET", "/v1/health", Access::Public),
    ("POST", "/v1/targets", Access::Needs(Role::Admin)),
    ("GET", "/v1/targets", Access::Needs(Role::Read)),
    ("GET", "/v1/targets/{name}", Access::Needs(Role::Read)),
    ("DELETE", "/v1/targets/{name}", Access::Needs(Role::Admin)),
    ("PATCH", "/v1/targets/{name}", Access::Needs(Role::Admin)),
    (
        "GET",
        "/v1/targets/{name}/backups",
        Access::Needs(Role::Read),
    ),
    ("POST", "/v1/storages", Access::Needs(Role::Admin)),
    ("GET", "/v1/storages", Access::Needs(Role::Read)),
    ("POST", "/v1/backups", Access::Needs(Role::Operate)),
    ("POST", "/v1/restores", Access::Needs(Role::Operate)),
    ("POST", "/v1/checks", Access::Needs(Role::Operate)),
    ("GET", "/v1/jobs/{id}", Access::Needs(Role::Read)),
    ("GET", "/v1/jobs/{id}/wait", Access::Needs(Role::Operate)),
    ("GET", "/v1/history", Access::Needs(Role::Read)),
    ("POST", "/v1/tokens", Access::Needs(Role::Admin)),
    ("GET", "/v1/tokens", Access::Needs(Role::Admin)),
    ("DELETE", "/v1/tokens/{name}", Access::Needs(Role::Admin)),
    ("GET", "/v1/audit", Access::Needs(Role::Admin)),
    ("GET", "/v1/schedules", Access::Needs(Role::Read)),
    ("GET", "/v1/schedules/{name}", Access::Needs(Role::Read)),
    ("PUT", "/v1/schedules/{name}", Access::Needs(Role::Admin)),
    ("DELETE", "/v1/schedules/{name}", Access::Needs(Role::Admin)),
    (
        "GET",
        "/v1/schedules/{name}/next",
        Access::Needs(Role::Read),
    ),
    ("POST", "/v1/prunes", Access::Needs(Role::Operate)),
    ("GET", "/v1/targets/{name}/prune", Access::Needs(Role::Read)),
    ("POST", "/v1/forgets", Access::Needs(Role::Admin)),
    ("POST", "/v1/notifiers", Access::Needs(Role::Admin)),
    ("GET", "/v1/notifiers", Access::Needs(Role::Admin)),
    ("DELETE", "/v1/notifiers/{name}", Access::Needs(Role::Admin)),
    ("GET", "/v1/deliveries", Access::Needs(Role::Admin)),
];

/// The state of the middleware on one route: the control plane and what the route needs.
#[derive(Clone)]
pub struct Guard {
    pub scheduler: Scheduler,
    pub access: Access,
}

/// How to pass a token, for every 401.
const HOW_TO: &str = "pass a token as `Authorization: Bearer <token>` (the cairn CLI: \
    CAIRN_TOKEN, --token-file PATH or --token; the first admin token is in \
    <data-dir>/admin.token on the server)";

/// Why a call was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Denial {
    MissingToken,
    UnknownToken,
    InsufficientRole { principal: Principal, needed: Role },
}

impl Denial {
    fn reason(&self) -> &'static str {
        match self {
            Denial::MissingToken => "missing_token",
            Denial::UnknownToken => "unknown_token",
            Denial::InsufficientRole { .. } => "insufficient_role",
        }
    }

    fn token(&self) -> String {
        match self {
            Denial::InsufficientRole { principal, .. } => principal.token.to_string(),
            _ => "anonymous".to_string(),
        }
    }

    fn error(&self, method: &Method, path: &str) -> ApiError {
        match self {
            Denial::MissingToken => ApiError {
                status: StatusCode::UNAUTHORIZED,
                code: "unauthenticated",
                message: format!("{method} {path} needs a token: {HOW_TO}"),
                job_id: None,
            },
            Denial::UnknownToken => ApiError {
                status: StatusCode::UNAUTHORIZED,
                code: "unauthenticated",
                message: format!(
                    "the token presented for {method} {path} is unknown or revoked: {HOW_TO}"
                ),
                job_id: None,
            },
            Denial::InsufficientRole { principal, needed } => ApiError {
                status: StatusCode::FORBIDDEN,
                code: "forbidden",
                message: format!(
                    "{method} {path} needs role {needed}; token {} has role {}. An admin can \
                     create a token with that role: `cairn token create NAME --role {needed}`",
                    principal.token, principal.role
                ),
                job_id: None,
            },
        }
    }
}

/// The bearer token of a request, if it has one that is well-formed.
fn bearer(request: &Request) -> Option<&str> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The middleware: lets a call through with its [`Principal`], or refuses it.
pub async fn authenticate(
    State(guard): State<Guard>,
    mut request: Request,
    next: Next,
) -> Response {
    let s = &guard.scheduler;
    let method = request.method().clone();
    let needed = match guard.access {
        Access::Public => return next.run(request).await,
        Access::Needs(role) => role,
    };
    let denial = match bearer(&request) {
        None => Denial::MissingToken,
        Some(presented) => match crate::tokens::authenticate(s.ledger(), presented) {
            Err(e) => return ApiError::from(e).into_response(),
            Ok(None) => Denial::UnknownToken,
            Ok(Some(record)) => {
                let principal = Principal {
                    token: record.name,
                    role: record.role,
                };
                if principal.role.covers(needed) {
                    request.extensions_mut().insert(principal);
                    return next.run(request).await;
                }
                Denial::InsufficientRole { principal, needed }
            }
        },
    };
    let path = request.uri().path().to_string();
    deny(s, &method, &path, denial).await
}

/// Logs and records a denial, and answers it.
async fn deny(s: &Scheduler, method: &Method, path: &str, denial: Denial) -> Response {
    let error = denial.error(method, path);
    // The path is the caller's text: bounded, and logged with escapes (`?`), so it cannot
    // forge a log line.
    let path: String = path.chars().take(512).collect();
    let entry = AuditEntry {
        at: Utc::now(),
        token: denial.token(),
        method: method.to_string(),
        path: path.clone(),
        status: error.status.as_u16(),
        reason: denial.reason().to_string(),
    };
    tracing::warn!(
        token = %entry.token,
        method = %entry.method,
        path = ?entry.path,
        status = entry.status,
        reason = %entry.reason,
        "request denied"
    );
    if let Err(e) = s.ledger().record_denial(&entry).await {
        tracing::error!(error = %e, "recording a denied request in the audit failed");
    }
    let unauthenticated = error.status == StatusCode::UNAUTHORIZED;
    let mut response = error.into_response();
    if unauthenticated {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"cairn\""),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_route_is_listed_once_and_only_health_is_public() {
        for (i, (m, p, _)) in ROUTES.iter().enumerate() {
            assert!(
                !ROUTES[i + 1..].iter().any(|(m2, p2, _)| m == m2 && p == p2),
                "{m} {p} is listed twice"
            );
        }
        let public: Vec<_> = ROUTES
            .iter()
            .filter(|(_, _, a)| *a == Access::Public)
            .collect();
        assert_eq!(public, [&("GET", "/v1/health", Access::Public)]);
    }
}
