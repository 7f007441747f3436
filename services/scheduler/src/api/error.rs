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
