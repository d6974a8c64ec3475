//! Project data for pipelines: the projects a token sees, a project's rule and live
//! statistics, streamed exports with ETags and incremental pulls, and items import.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{Caller, Need};
use super::error::{ApiError, ErrorBody};
use crate::domain::{AnswerSpec, Status};
use crate::interfaces::formats::export::{self, Cells};
use crate::interfaces::formats::import_csv;
use crate::interfaces::http::AppState;
use crate::interfaces::http::exports::{self as http_exports, ExportFile};
use crate::store::{ItemFilter, NoProgress, Project};

/// Largest items body the API accepts, as in the browser.
pub const MAX_IMPORT_BYTES: usize = 50 * 1024 * 1024;

/// A project as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectSummary {
    pub slug: String,
    pub name: String,
    pub rule: RuleJson,
    pub items: u64,
    pub pending: u64,
    pub resolved: u64,
    pub unresolved: u64,
    pub adjudicated: u64,
    pub judgments: u64,
}

/// The quorum rule.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleJson {
    /// K: votes an answer needs; `null` under confidence stopping.
    pub agree: Option<u32>,
    /// N: most judgments an item may get.
    pub max: u32,
    /// `early`, `fixed` or `confidence`.
    pub stop: String,
    /// Confidence stopping only: the posterior an item resolves at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<f64>,
    /// Confidence stopping only: the fewest judgments before it may resolve.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<u32>,
}

/// The answer schema.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnswerJson {
    /// `choice` or `text`.
    pub kind: String,
    /// Choice projects: the options.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<String>>,
    /// Text projects: the normalisers, in order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub normalize: Option<Vec<String>>,
}

/// A project with its configuration and live statistics.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectDetail {
    pub slug: String,
    pub name: String,
    pub instructions: String,
    pub answer: AnswerJson,
    pub rule: RuleJson,
    pub lease_minutes: u32,
    /// The stats JSON of the export contract.
    #[schema(value_type = Object)]
    pub stats: export::ProjectStats,
}

fn rule_json(p: &Project) -> RuleJson {
    RuleJson {
        agree: p.rule().target().is_none().then(|| p.rule().agree()),
        max: p.rule().max(),
        stop: p.rule().stop().as_str().to_owned(),
        target: p.rule().target(),
        min: p.rule().target().map(|_| p.rule().min()),
    }
}

/// Projects this token can read, add items to or label.
#[utoipa::path(
    get,
    path = "/api/v1/projects",
    tag = "projects",
    responses(
        (status = 200, description = "Projects within the token's reach", body = Vec<ProjectSummary>),
        (status = 401, description = "Missing, unknown or revoked token", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list_projects(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let mut out = Vec::new();
    for p in state.store.list_projects().await? {
        if !caller.sees(&state, &p).await? {
            continue;
        }
        let c = state.store.project_counts(p.id).await?;
        out.push(ProjectSummary {
            rule: rule_json(&p),
            slug: p.config.slug,
            name: p.config.name,
            items: c.items,
            pending: c.pending,
            resolved: c.resolved,
            unresolved: c.unresolved,
            adjudicated: c.adjudicated,
            judgments: c.judgments,
        });
    }
    Ok(HttpResponse::Ok().json(out))
}

/// A project's configuration and live statistics (export scope).
#[utoipa::path(
    get,
    path = "/api/v1/projects/{slug}",
    tag = "projects",
    params(("slug" = String, Path, description = "The project's slug")),
    responses(
        (status = 200, description = "The project", body = ProjectDetail),
        (status = 401, description = "Missing, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "The token lacks the export scope", body = ErrorBody),
        (status = 404, description = "No such project for this token", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn project_detail(
    state: web::Data<AppState>,
    caller: Caller,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let p = caller.project(&state, &slug, Need::Export).await?;
    let stats = export::project_stats(&state.store, &p).await?;
    let answer = match p.answer() {
        AnswerSpec::Choice { options } => AnswerJson {
            kind: "choice".into(),
            options: Some(options.clone()),
            normalize: None,
        },
        AnswerSpec::Text { normalize } => AnswerJson {
            kind: "text".into(),
            options: None,
            normalize: Some(normalize.iter().map(|n| n.name().to_owned()).collect()),
        },
    };
    Ok(HttpResponse::Ok().json(ProjectDetail {
        rule: rule_json(&p),
        slug: p.config.slug.clone(),
        name: p.config.name.clone(),
        instructions: p.config.instructions.clone(),
        answer,
        lease_minutes: p.config.lease_seconds / 60,
        stats,
    }))
}

/// Filters of a row export.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Only items with this status: `pending`, `resolved`, `unresolved` or `adjudicated`.
    pub status: Option<String>,
    /// Only items whose row changed after this cursor: the `Quorum-Cursor` header of the
    /// previous pull.
    pub since: Option<i64>,
}

/// Streams one export file (export scope): `labels.csv`, `labels.jsonl`, `judgments.csv`,
/// `judgments.jsonl`, `annotators.csv` or `stats.json` — the same bytes as `quorum export`.
///
/// Every response carries an `ETag` (send it back in `If-None-Match` to get 304 while nothing
/// changed) and a `Quorum-Cursor` header (pass it as `since` to get only what changed after
/// this export, with nothing missed and nothing repeated).
#[utoipa::path(
    get,
    path = "/api/v1/projects/{slug}/exports/{file}",
    tag = "exports",
    params(
        ("slug" = String, Path, description = "The project's slug"),
        ("file" = String, Path, description = "labels.csv, labels.jsonl, judgments.csv, judgments.jsonl, annotators.csv or stats.json"),
        ("If-None-Match" = Option<String>, Header, description = "The ETag of a copy you have"),
        ExportQuery,
    ),
    responses(
        (status = 200, description = "The file, streamed", content(
            (String = "text/csv"),
            (String = "application/x-ndjson"),
            (String = "application/json"),
        ), headers(
            ("ETag" = String, description = "Identifies this content"),
            ("Quorum-Cursor" = i64, description = "Pass as `since` to the next pull"),
        )),
        (status = 304, description = "Your copy (If-None-Match) is current"),
        (status = 400, description = "Unknown status, or a filter on a file that has none", body = ErrorBody),
        (status = 401, description = "Missing, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "The token lacks the export scope", body = ErrorBody),
        (status = 404, description = "No such project or file", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn export_file(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let (slug, file) = path.into_inner();
    let project = caller.project(&state, &slug, Need::Export).await?;
    let file = ExportFile::parse(&file).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no export file {file:?}; files are labels.csv, labels.jsonl, judgments.csv, \
             judgments.jsonl, annotators.csv and stats.json"
        ))
    })?;
    let status = match query.status.as_deref() {
        None => None,
        Some(s) => Some(Status::parse(s).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "unknown status {s:?}; statuses are pending, resolved, unresolved, adjudicated"
            ))
        })?),
    };
    let filter = ItemFilter {
        status,
        since: query.since,
    };
    if filter.status.is_some() && filter.since.is_some() {
        return Err(ApiError::BadRequest(
            "status and since cannot be combined: an item that left the status since your last \
             pull would silently keep its old row in your copy; pull with since alone and filter \
             the rows yourself"
                .into(),
        ));
    }
    if filter != ItemFilter::default() && !file.filterable() {
        return Err(ApiError::BadRequest(format!(
            "{} describes the whole project; status and since apply to labels and judgments",
            file.name()
        )));
    }
    let prepared =
        http_exports::prepare(&state.store, &project, file, Cells::Exact, filter).await?;
    let unchanged = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| super::etag_matches(v, &prepared.etag));
    if unchanged {
        let (etag, cursor) = (prepared.etag.clone(), prepared.cursor);
        prepared.close().await?;
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .insert_header(("Quorum-Cursor", cursor.to_string()))
            .finish());
    }
    Ok(http_exports::response(
        prepared,
        &project,
        file,
        Cells::Exact,
        filter,
        false,
    ))
}

/// What an import did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportResult {
    pub rows_read: u64,
    pub items_created: u64,
    /// Items that existed without input fields and got them.
    pub items_updated: u64,
    pub skipped: u64,
}

/// Imports items (import scope, in a project the token's user manages): a CSV body
/// (`Content-Type: text/csv`, the CLI's items format) or JSON lines (`application/x-ndjson`: one
/// object per line, optional `item_id`, every other key an input field). All or nothing: any
/// error names its line and nothing is imported.
#[utoipa::path(
    post,
    path = "/api/v1/projects/{slug}/items",
    tag = "items",
    params(("slug" = String, Path, description = "The project's slug")),
    request_body(content(
        (String = "text/csv"),
        (String = "application/x-ndjson"),
    ), description = "Items, at most 50 MiB"),
    responses(
        (status = 200, description = "Imported", body = ImportResult),
        (status = 400, description = "Unsupported content type", body = ErrorBody),
        (status = 401, description = "Missing, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "The token lacks the import scope, or its user does not manage the project", body = ErrorBody),
        (status = 404, description = "No such project for this token", body = ErrorBody),
        (status = 413, description = "Body over 50 MiB", body = ErrorBody),
        (status = 422, description = "A bad line; nothing was imported", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn import_items(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    slug: web::Path<String>,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let project = caller.project(&state, &slug, Need::Import).await?;
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let jsonl = match content_type.as_str() {
        "text/csv" => false,
        "application/x-ndjson" | "application/jsonl" | "application/json-lines" => true,
        other => {
            return Err(ApiError::BadRequest(format!(
                "Content-Type {other:?} is not supported; send text/csv or application/x-ndjson"
            )));
        }
    };
    let body = super::read_body(&mut payload, MAX_IMPORT_BYTES).await?;
    let name = if jsonl { "items.jsonl" } else { "items.csv" };
    let parsed = if jsonl {
        import_csv::parse_items_jsonl(name, &body)
    } else {
        import_csv::parse_items(name, &body[..])
    }
    .map_err(|e| ApiError::Invalid(e.to_string()))?;
    let s = state
        .store
        .import_items(&project, &parsed.field_names, parsed.records, &NoProgress)
        .await?;
    Ok(HttpResponse::Ok().json(ImportResult {
        rows_read: s.rows_read,
        items_created: s.items_created,
        items_updated: s.items_updated,
        skipped: s.skipped_present,
    }))
}
