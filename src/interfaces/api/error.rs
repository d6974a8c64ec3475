//! API errors: JSON with a stable machine-readable `code`, a human message, and the status that
//! fits. Details of internal failures go to the log, never to the client.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::interfaces::formats::export::ExportError;
use crate::store::StoreError;

/// The body of every API error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `unauthorized`, `forbidden`, `not_found`, `bad_request`,
    /// `lease_conflict`, `conflict`, `payload_too_large`, `invalid`, `busy`, `internal`.
    pub code: &'static str,
    /// For people; may change between versions.
    pub message: String,
}

/// What an API request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    /// A lease that is unknown, someone else's, already used or expired.
    #[error("{0}")]
    LeaseConflict(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the request body is larger than {0} bytes")]
    TooLarge(usize),
    /// Well-formed but unacceptable content (a bad CSV line, an answer that is not an option).
    #[error("{0}")]
    Invalid(String),
    /// Temporarily out of capacity (e.g. too many exports streaming); retry shortly.
    #[error("{0}")]
    Busy(String),
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::LeaseConflict(_) => "lease_conflict",
            ApiError::Conflict(_) => "conflict",
            ApiError::TooLarge(_) => "payload_too_large",
            ApiError::Invalid(_) => "invalid",
            ApiError::Busy(_) => "busy",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound { .. } => ApiError::NotFound(e.to_string()),
            StoreError::Invalid(m) => ApiError::Invalid(m),
            StoreError::Conflict(m) => ApiError::Conflict(m),
            StoreError::LeaseGone(m) => ApiError::LeaseConflict(m),
            other => ApiError::Internal(format!("{other:?}")),
        }
    }
}

impl From<ExportError> for ApiError {
    fn from(e: ExportError) -> ApiError {
        match e {
            ExportError::Store(s) => s.into(),
            ExportError::Busy(m) => ApiError::Busy(m),
            other => ApiError::Internal(format!("{other:?}")),
        }
    }
}

impl From<crate::interfaces::http::exports::PrepareError> for ApiError {
    fn from(e: crate::interfaces::http::exports::PrepareError) -> ApiError {
        match e {
            crate::interfaces::http::exports::PrepareError::Busy => ApiError::Busy(e.to_string()),
            crate::interfaces::http::exports::PrepareError::Store(s) => s.into(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::LeaseConflict(_) | ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "API request failed");
                "internal error; it was logged".to_owned()
            }
            other => other.to_string(),
        };
        let mut response = HttpResponse::build(self.status_code());
        if let ApiError::Unauthorized(_) = self {
            response.insert_header(("WWW-Authenticate", "Bearer realm=\"quorum\""));
        }
        if let ApiError::Busy(_) = self {
            response.insert_header(("Retry-After", "5"));
        }
        response.json(ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message,
            },
        })
    }
}
