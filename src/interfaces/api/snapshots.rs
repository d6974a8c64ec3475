//! Snapshots over the API: pin a project's export files under a name, list them, and download
//! them later byte for byte.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth::{Caller, Need};
use super::error::{ApiError, ErrorBody};
use crate::interfaces::formats::snapshot::{self, Manifest, SNAPSHOT_FILES};
use crate::interfaces::http::AppState;
use crate::interfaces::http::exports::ExportFile;
use crate::store::now_ms;

/// Options of a new snapshot.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSnapshot {
    /// 1-64 letters, digits, `-`, `_` or `.`; default: the UTC time, e.g. `2026-12-01T14-05-09Z`.
    pub name: Option<String>,
}

fn manifest_of(json: Option<String>) -> Result<serde_json::Value, ApiError> {
    let json = json.ok_or_else(|| ApiError::Internal("snapshot without manifest".into()))?;
    serde_json::from_str(&json).map_err(|e| ApiError::Internal(format!("manifest: {e}")))
}

/// Pins every export file of the project (export scope): an immutable snapshot whose files can
/// be downloaded later byte for byte, whatever happens to the project. Returns its manifest.
#[utoipa::path(
    post,
    path = "/api/v1/projects/{slug}/snapshots",
    tag = "snapshots",
    params(("slug" = String, Path, description = "The project's slug")),
    request_body(content = Option<CreateSnapshot>, description = "Optional; an empty body takes the default name"),
    responses(
        (status = 201, description = "The snapshot's manifest", body = Object),
        (status = 400, description = "Malformed JSON body", body = ErrorBody),
        (status = 401, description = "Missing, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "The token lacks the export scope", body = ErrorBody),
        (status = 404, description = "No such project for this token", body = ErrorBody),
        (status = 409, description = "A snapshot of that name exists", body = ErrorBody),
        (status = 422, description = "Invalid name", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    slug: web::Path<String>,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let project = caller.project(&state, &slug, Need::Export).await?;
    let body = super::read_body(&mut payload, 64 * 1024).await?;
    let options: CreateSnapshot = if body.iter().all(u8::is_ascii_whitespace) {
        CreateSnapshot::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("the JSON body cannot be read: {e}")))?
    };
    let now = now_ms();
    let name = options.name.unwrap_or_else(|| default_name(now));
    let manifest =
        snapshot::create_snapshot(&state.store, &project, &name, Some(caller.user.id), now).await?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!(
                "/api/v1/projects/{}/snapshots/{}",
                project.slug(),
                manifest.name
            ),
        ))
        .json(&manifest))
}

/// A default snapshot name from the time, safe in URLs and file names.
pub fn default_name(now: i64) -> String {
    chrono::DateTime::from_timestamp_millis(now)
        .map(|d| d.format("%Y-%m-%dT%H-%M-%SZ").to_string())
        .unwrap_or_else(|| now.to_string())
}

/// The project's snapshots, newest first: their manifests (export scope).
#[utoipa::path(
    get,
    path = "/api/v1/projects/{slug}/snapshots",
    tag = "snapshots",
    params(("slug" = String, Path, description = "The project's slug")),
    responses(
        (status = 200, description = "Manifests, newest first", body = Vec<Object>),
        (status = 401, description = "Missing, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "The token lacks the export scope", body = ErrorBody),
        (status = 404, description = "No such project for this token", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let project = caller.project(&state, &slug, Need::Export).await?;
    let mut out = Vec::new();
    for s in state.store.list_snapshots(project.id).await? {
        out.push(manifest_of(s.manifest)?);
    }
    Ok(HttpResponse::Ok().json(out))
}

/// One snapshot's manifest (export scope).
#[utoipa::path(
    get,
    path = "/api/v1/projects/{slug}/snapshots/{name}",
    tag = "snapshots",
    params(
        ("slug" = String, Path, description = "The project's slug"),
        ("name" = String, Path, description = "The snapshot's name"),
    ),
    responses(
        (status = 200, description = "The manifest", body = Object),
        (status = 401, description = "Missing, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "The token lacks the export scope", body = ErrorBody),
        (status = 404, description = "No such project or snapshot", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn show(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (slug, name) = path.into_inner();
    let project = caller.project(&state, &slug, Need::Export).await?;
    let s = state.store.snapshot_by_name(project.id, &name).await?;
    Ok(HttpResponse::Ok().json(manifest_of(s.manifest)?))
}

/// A file of a snapshot, exactly as it was written (export scope). Its `ETag` is the file's
/// SHA-256 from the manifest; it never changes.
#[utoipa::path(
    get,
    path = "/api/v1/projects/{slug}/snapshots/{name}/{file}",
    tag = "snapshots",
    params(
        ("slug" = String, Path, description = "The project's slug"),
        ("name" = String, Path, description = "The snapshot's name"),
        ("file" = String, Path, description = "labels.csv, labels.jsonl, judgments.csv, judgments.jsonl, annotators.csv or stats.json"),
        ("If-None-Match" = Option<String>, Header, description = "The ETag of a copy you have"),
    ),
    responses(
        (status = 200, description = "The file, streamed", content(
            (String = "text/csv"),
            (String = "application/x-ndjson"),
            (String = "application/json"),
        )),
        (status = 304, description = "Your copy is this file"),
        (status = 401, description = "Missing, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "The token lacks the export scope", body = ErrorBody),
        (status = 404, description = "No such project, snapshot or file", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn download(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (slug, name, file) = path.into_inner();
    let project = caller.project(&state, &slug, Need::Export).await?;
    let s = state.store.snapshot_by_name(project.id, &name).await?;
    let manifest: Manifest = snapshot::parse_manifest(s.manifest.as_deref().unwrap_or(""))?;
    let entry = manifest
        .files
        .iter()
        .find(|f| f.name == file)
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no file {file:?} in the snapshot; files are {}",
                SNAPSHOT_FILES.join(", ")
            ))
        })?;
    let kind =
        ExportFile::parse(&file).ok_or_else(|| ApiError::NotFound(format!("no file {file:?}")))?;
    let etag = format!("\"{}\"", entry.sha256);
    let cached = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| super::etag_matches(v, &etag));
    if cached {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish());
    }
    let body = state.store.stream_snapshot_file(s.id, &file).map(|chunk| {
        chunk
            .map(web::Bytes::from)
            .map_err(|e| std::io::Error::other(e.to_string()))
    });
    Ok(HttpResponse::Ok()
        .content_type(kind.content_type())
        .insert_header((header::ETAG, etag))
        .insert_header((header::CONTENT_LENGTH, entry.bytes.to_string()))
        .streaming(body))
}
