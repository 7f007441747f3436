//! API errors: a status, a stable code and a message that tells the operator what to do.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use cairn_domain::api::ErrorBody;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Set when the refused request was recorded as a rejected job.
    pub job_id: Option<cairn_domain::JobId>,
}

impl ApiError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "invalid",
            message: message.into(),
            job_id: None,
        }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: message.into(),
            job_id: None,
        }
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::CONFLICT,
            code: "conflict",
            message: message.into(),
            job_id: None,
        }
    }
    /// The server cannot do this now (its ledger cannot write); retrying later may work.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "unavailable",
            message: message.into(),
            job_id: None,
        }
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: message.into(),
            job_id: None,
        }
    }
}

impl From<cairn_ledger::LedgerError> for ApiError {
    fn from(e: cairn_ledger::LedgerError) -> Self {
        match e {
            cairn_ledger::LedgerError::Exists(what) => {
                Self::conflict(format!("{what} already exists"))
            }
            e @ cairn_ledger::LedgerError::Unavailable { .. } => Self::unavailable(format!(
                "{e}; nothing was recorded. cairn retries by itself and accepts requests again once the cause is fixed (for a full disk: free space on the data directory's file system)"
            )),
            other => Self::internal(other.to_string()),
        }
    }
}

impl From<cairn_storage::StorageError> for ApiError {
    fn from(e: cairn_storage::StorageError) -> Self {
        match e {
            cairn_storage::StorageError::NotFound { .. } => Self::not_found(e.to_string()),
            other => Self::internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = self.code, message = %cairn_domain::text::Printable(&self.message), "request failed");
        }
        (
            self.status,
            Json(ErrorBody {
                code: self.code.to_string(),
                message: self.message,
                job_id: self.job_id,
            }),
        )
            .into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Every refusal an API call can meet, for the OpenAPI document: each is the JSON
/// [`ErrorBody`].
const ERRORS: [(u16, &str); 10] = [
    (400, "invalid request (`code` says why)"),
    (401, "no token, or an unknown or revoked one"),
    (403, "the token's role does not cover the route"),
    (
        404,
        "no such target, job, backup, token, schedule or notifier",
    ),
    (409, "already exists, or conflicts with a running job"),
    (413, "body too large"),
    (415, "the body is not `application/json`"),
    (422, "the JSON body does not have the expected fields"),
    (500, "internal error"),
    (503, "the ledger cannot write now; retry later"),
];

impl aide::OperationOutput for ApiError {
    type Inner = ErrorBody;

    fn operation_response(
        ctx: &mut aide::generate::GenContext,
        operation: &mut aide::openapi::Operation,
    ) -> Option<aide::openapi::Response> {
        axum::Json::<ErrorBody>::operation_response(ctx, operation)
    }

    fn inferred_responses(
        ctx: &mut aide::generate::GenContext,
        operation: &mut aide::openapi::Operation,
    ) -> Vec<(Option<u16>, aide::openapi::Response)> {
        let Some(body) = Self::operation_response(ctx, operation) else {
            return Vec::new();
        };
        ERRORS
            .iter()
            .map(|(status, description)| {
                let mut response = body.clone();
                response.description = description.to_string();
                (Some(*status), response)
            })
            .collect()
    }
}
