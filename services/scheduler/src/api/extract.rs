//! `Json` and `Query` as the handlers use them: axum's, except that a body or query the
//! server cannot read is answered like every other refusal, with the JSON error body
//! (`{"code":"invalid","message":…}`) the API document promises, not axum's plain text.
//! Both describe themselves to the OpenAPI document as axum's do.

use super::error::ApiError;
use aide::generate::GenContext;
use aide::openapi::{Operation, Response};
use aide::{OperationInput, OperationOutput};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::IntoResponse;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A JSON body (request) or answer (response).
#[derive(Debug, Clone)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Json(value)),
            Err(rejection) => Err(ApiError {
                status: rejection.status(),
                code: "invalid",
                message: format!(
                    "{}; send a JSON body (Content-Type: application/json) as docs/api.md describes",
                    rejection.body_text()
                ),
                job_id: None,
            }),
        }
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

impl<T: JsonSchema> OperationInput for Json<T> {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        axum::Json::<T>::operation_input(ctx, operation)
    }
}

impl<T: JsonSchema> OperationOutput for Json<T> {
    type Inner = T;

    fn operation_response(ctx: &mut GenContext, operation: &mut Operation) -> Option<Response> {
        axum::Json::<T>::operation_response(ctx, operation)
    }

    fn inferred_responses(
        ctx: &mut GenContext,
        operation: &mut Operation,
    ) -> Vec<(Option<u16>, Response)> {
        axum::Json::<T>::inferred_responses(ctx, operation)
    }
}

/// Query parameters.
#[derive(Debug, Clone)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(rejection) => Err(ApiError {
                status: rejection.status(),
                code: "invalid",
                message: format!(
                    "{}; see docs/api.md for the parameters",
                    rejection.body_text()
                ),
                job_id: None,
            }),
        }
    }
}

impl<T: JsonSchema> OperationInput for Query<T> {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        axum::extract::Query::<T>::operation_input(ctx, operation)
    }
}
