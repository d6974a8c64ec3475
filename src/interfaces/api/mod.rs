//! The HTTP API under `/api/v1`, for ML pipelines and worker clients: bearer tokens, JSON
//! errors with stable codes, and an OpenAPI 3 document generated from the handlers.
//!
//! Routes are declared once, in [`api_routes!`]: the same list registers them and is what the
//! contract test compares with the OpenAPI document, so neither can drift from the other.

mod auth;
mod data;
mod error;
mod snapshots;
mod worker;

use actix_web::{HttpResponse, web};
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};

pub use data::MAX_IMPORT_BYTES;
pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use snapshots::default_name as default_snapshot_name;

macro_rules! api_routes {
    ($( $method:ident $path:literal => $handler:path ),* $(,)?) => {
        /// Every API route as (method, full path), in registration order.
        pub const ROUTES: &[(&str, &str)] = &[$( (stringify!($method), concat!("/api/v1", $path)) ),*];

        /// Registers the API under `/api/v1`.
        pub fn configure(cfg: &mut web::ServiceConfig) {
            cfg.service(
                web::scope("/api/v1")
                    .app_data(json_config())
                    .app_data(query_config())
                    .app_data(path_config())
                    $( .route($path, web::$method().to($handler)) )*
                    .default_service(web::to(not_found)),
            );
        }
    };
}

api_routes! {
    get "/openapi.json" => openapi_json,
    get "/projects" => data::list_projects,
    get "/projects/{slug}" => data::project_detail,
    get "/projects/{slug}/exports/{file}" => data::export_file,
    post "/projects/{slug}/items" => data::import_items,
    post "/projects/{slug}/snapshots" => snapshots::create,
    get "/projects/{slug}/snapshots" => snapshots::list,
    get "/projects/{slug}/snapshots/{name}" => snapshots::show,
    get "/projects/{slug}/snapshots/{name}/{file}" => snapshots::download,
    post "/projects/{slug}/next" => worker::next_item,
    post "/projects/{slug}/leases/{lease_id}/submit" => worker::submit,
    post "/projects/{slug}/leases/{lease_id}/release" => worker::release,
    post "/projects/{slug}/leases/{lease_id}/skip" => worker::skip,
}

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Quorum API",
        description = "Labeled datasets for ML pipelines and a labeling API for worker clients. \
                       Authenticate with `Authorization: Bearer <token>`; create tokens on the \
                       API tokens page or with `quorum token create`. A token's scopes say what \
                       it may do: `export` reads a project's data (exports, statistics, \
                       snapshots), `import` adds items, `annotate` labels through the worker \
                       endpoints.",
        version = "1"
    ),
    paths(
        openapi_json,
        data::list_projects,
        data::project_detail,
        data::export_file,
        data::import_items,
        snapshots::create,
        snapshots::list,
        snapshots::show,
        snapshots::download,
        worker::next_item,
        worker::submit,
        worker::release,
        worker::skip,
    ),
    components(schemas(
        ErrorBody,
        ErrorDetail,
        data::ProjectSummary,
        data::ProjectDetail,
        data::RuleJson,
        data::AnswerJson,
        data::ImportResult,
        snapshots::CreateSnapshot,
        worker::LeaseJson,
        worker::SubmitBody,
        worker::SubmitJson,
    )),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// This document (no token needed).
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI 3 document", content_type = "application/json"))
)]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

/// Whether an `If-None-Match` header names `etag` (or is `*`). Weak tags (`W/"…"`), as some
/// proxies rewrite them, match their strong form: the comparison is the weak one RFC 9110
/// prescribes for `If-None-Match`.
fn etag_matches(header: &str, etag: &str) -> bool {
    header.split(',').map(str::trim).any(|tag| {
        tag == "*"
            || tag.strip_prefix("W/").unwrap_or(tag) == etag.strip_prefix("W/").unwrap_or(etag)
    })
}

/// Reads a request body of at most `limit` bytes; a larger one is a 413 in JSON (actix's own
/// payload limits answer in plain text).
async fn read_body(payload: &mut web::Payload, limit: usize) -> Result<web::BytesMut, ApiError> {
    use futures_util::StreamExt;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("reading the body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(
        "no such API route; see /api/v1/openapi.json".into(),
    ))
}

/// Malformed JSON bodies: 400 with the parser's message; oversize ones 413.
fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(64 * 1024)
        .error_handler(|err, _req| {
            let e = match &err {
                actix_web::error::JsonPayloadError::OverflowKnownLength { .. }
                | actix_web::error::JsonPayloadError::Overflow { .. } => {
                    ApiError::TooLarge(64 * 1024)
                }
                actix_web::error::JsonPayloadError::ContentType => ApiError::BadRequest(
                    "send the body as JSON with Content-Type: application/json".into(),
                ),
                other => ApiError::BadRequest(format!("the JSON body cannot be read: {other}")),
            };
            e.into()
        })
}

fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        ApiError::BadRequest(format!("bad query parameters: {err}")).into()
    })
}

fn path_config() -> web::PathConfig {
    web::PathConfig::default()
        .error_handler(|err, _req| ApiError::NotFound(format!("no such resource: {err}")).into())
}
