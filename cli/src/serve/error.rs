//! Errors of the API as JSON: `{"error": "...", "status": N}` with a 4xx status
//! for anything the request got wrong (a bad time, a path outside the tree, a
//! missing file). Only damage in the store itself is a 500.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tl_index::store::StoreError;

/// An API error: the status and the message the client sees.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status (4xx, or 500 for damage in the store).
    pub status: StatusCode,
    /// What went wrong, naming the parameter or path, and the next step.
    pub message: String,
}

impl ApiError {
    /// 400: a parameter is missing or malformed.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404: the time or path names nothing.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    /// 403: the server was started without the right to do this.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, message)
    }

    /// Any status.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// A store error on resolving a request's time or reading what it names:
    /// resolving is the client's (404), anything else is the store's (500).
    pub fn from_store(e: StoreError) -> ApiError {
        match e {
            StoreError::Resolve(r) => ApiError::not_found(r.to_string()),
            other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
        }
    }

    /// An internal failure (a thread lost, a store that cannot be opened).
    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        ApiError::from_store(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.message, "status": self.status.as_u16()});
        (self.status, Json(body)).into_response()
    }
}

/// The result of an API handler.
pub type ApiResult<T> = Result<T, ApiError>;
