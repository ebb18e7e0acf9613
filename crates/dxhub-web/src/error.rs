//! The one error type of the HTTP layer: every failure becomes a status code and a JSON
//! body that says what was wrong and where, while internal details stay in the logs.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use dxhub_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// A failed API request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A query or path parameter is missing, malformed or unknown.
    #[error("parameter '{parameter}': {reason}")]
    BadParameter {
        /// The parameter's name.
        parameter: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The thing asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// Nobody is signed in (or the API key is missing or invalid): 401.
    #[error("{0}")]
    Unauthorized(String),
    /// Signed in but not entitled: 403.
    #[error("{0}")]
    Forbidden(String),
    /// The request conflicts with stored data (e.g. an e-mail already taken): 409.
    #[error("{0}")]
    Conflict(String),
    /// A submitted field is invalid: 422.
    #[error("field '{field}': {reason}")]
    Invalid {
        /// The field.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// Too many attempts; retry after the given seconds: 429.
    #[error("too many attempts; try again in {0} s")]
    TooMany(i64),
    /// The store failed; the text is logged, not shown.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ApiError {
    /// A bad parameter.
    pub fn bad(parameter: &str, reason: impl Into<String>) -> ApiError {
        ApiError::BadParameter {
            parameter: parameter.to_owned(),
            reason: reason.into(),
        }
    }

    /// The HTTP status this error maps to.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadParameter { .. } => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Store(StoreError::Conflict(_)) => StatusCode::CONFLICT,
            ApiError::Store(StoreError::NotFound(_)) => StatusCode::NOT_FOUND,
            ApiError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The body sent to the client.
    pub fn body(&self) -> ErrorBody {
        let (code, parameter, message) = match self {
            ApiError::BadParameter { parameter, reason } => {
                ("bad_parameter", Some(parameter.clone()), reason.clone())
            }
            ApiError::NotFound(what) => ("not_found", None, what.clone()),
            ApiError::Unauthorized(m) => ("unauthorized", None, m.clone()),
            ApiError::Forbidden(m) => ("forbidden", None, m.clone()),
            ApiError::Conflict(m) | ApiError::Store(StoreError::Conflict(m)) => {
                ("conflict", None, m.clone())
            }
            ApiError::Store(StoreError::NotFound(m)) => ("not_found", None, m.clone()),
            ApiError::Invalid { field, reason } => ("invalid", Some(field.clone()), reason.clone()),
            ApiError::TooMany(s) => (
                "too_many_attempts",
                None,
                format!("too many attempts; try again in {s} s"),
            ),
            ApiError::Store(_) => (
                "internal",
                None,
                "the server could not complete the request; it has been logged".to_owned(),
            ),
        };
        ErrorBody {
            error: ErrorDetail {
                code: code.to_owned(),
                parameter,
                message,
            },
        }
    }
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// What went wrong, for people and programs.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// `bad_parameter`, `not_found` or `internal`.
    pub code: String,
    /// The parameter at fault, for `bad_parameter`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    /// A sentence saying what is wrong and what is expected.
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status() == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self, "store failure while answering a request");
        }
        let mut resp = (self.status(), Json(self.body())).into_response();
        if let ApiError::TooMany(s) = self
            && let Ok(v) = s.to_string().parse()
        {
            resp.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, v);
        }
        if let ApiError::Unauthorized(_) = self {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"dxhub\""),
            );
        }
        resp
    }
}
