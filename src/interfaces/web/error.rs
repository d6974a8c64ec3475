//! Errors as pages in the app's layout. Details go to the log, never to the client.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use crate::store::StoreError;

/// What a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("not logged in")]
    NotLoggedIn,
    #[error("forbidden")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error("the form has expired; reload the page and try again")]
    BadCsrf,
    #[error("{0}")]
    BadRequest(String),
    #[error("too large")]
    TooLarge,
    #[error("{0}")]
    Busy(String),
    #[error("internal error")]
    Internal(String),
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> WebError {
        match e {
            StoreError::NotFound { .. } => WebError::NotFound,
            StoreError::Invalid(m) | StoreError::Conflict(m) | StoreError::LeaseGone(m) => {
                WebError::BadRequest(m)
            }
            other => WebError::Internal(format!("{other:?}")),
        }
    }
}

impl From<crate::interfaces::http::exports::PrepareError> for WebError {
    fn from(e: crate::interfaces::http::exports::PrepareError) -> WebError {
        match e {
            crate::interfaces::http::exports::PrepareError::Busy => WebError::Busy(e.to_string()),
            crate::interfaces::http::exports::PrepareError::Store(s) => s.into(),
        }
    }
}

impl From<askama::Error> for WebError {
    fn from(e: askama::Error) -> WebError {
        WebError::Internal(format!("template: {e}"))
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
    status: u16,
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        match self {
            WebError::NotLoggedIn => StatusCode::SEE_OTHER,
            WebError::Forbidden | WebError::BadCsrf => StatusCode::FORBIDDEN,
            WebError::NotFound => StatusCode::NOT_FOUND,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            WebError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let WebError::NotLoggedIn = self {
            return HttpResponse::SeeOther()
                .insert_header(("Location", "/login"))
                .finish();
        }
        let (title, message) = match self {
            WebError::Forbidden => ("Not allowed", "You do not have access to this page."),
            WebError::NotFound => ("Not found", "There is nothing at this address."),
            WebError::BadCsrf => (
                "Form expired",
                "The form has expired. Go back, reload the page and try again.",
            ),
            WebError::BadRequest(m) => ("Cannot do that", m.as_str()),
            WebError::Busy(m) => ("Busy", m.as_str()),
            WebError::TooLarge => (
                "File too large",
                "Uploads are limited to 50 MiB. Split the file, or import it with the quorum command line.",
            ),
            WebError::Internal(detail) => {
                tracing::error!(%detail, "request failed");
                (
                    "Something went wrong",
                    "The error was logged. Please try again in a moment.",
                )
            }
            WebError::NotLoggedIn => ("", ""),
        };
        let status = self.status_code();
        let body = ErrorPage {
            title,
            message,
            status: status.as_u16(),
        }
        .render()
        .unwrap_or_else(|_| title.to_owned());
        HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(body)
    }
}
