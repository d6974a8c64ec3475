//! Worker endpoints: label through the same assignment engine as the browser (leases, skips,
//! capacity, early stopping), as the token's user.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{Caller, Need};
use super::error::{ApiError, ErrorBody};
use crate::interfaces::formats::export::format_timestamp;
use crate::interfaces::http::AppState;
use crate::store::now_ms;

/// An item leased to the caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeaseJson {
    /// Pass to submit, skip or release.
    pub lease_id: i64,
    pub item_id: String,
    /// The item's input fields.
    #[schema(value_type = Object)]
    pub fields: serde_json::Value,
    /// When the lease ends (RFC 3339, UTC); after that the item goes back to the pool.
    pub expires_at: String,
    /// The same instant in unix milliseconds.
    pub expires_at_ms: i64,
}

/// Takes a lease on the next item for the caller (annotate scope): the item closest to a
/// decision that they have not judged or skipped. Asking again while a lease is open returns
/// the same lease. 204 when nothing is left for them.
#[utoipa::path(
    post,
    path = "/api/v1/projects/{slug}/next",
    tag = "worker",
    params(("slug" = String, Path, description = "The project's slug")),
    responses(
        (status = 200, description = "The leased item", body = LeaseJson),
        (status = 204, description = "Nothing left for this annotator"),
        (status = 401, description = "Missing, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "The token lacks the annotate scope", body = ErrorBody),
        (status = 404, description = "No such project for this token", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn next_item(
    state: web::Data<AppState>,
    caller: Caller,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let project = caller.project(&state, &slug, Need::Annotate).await?;
    let Some(lease) = state
        .store
        .next_item(&project, caller.user.id, now_ms())
        .await?
    else {
        return Ok(HttpResponse::NoContent().finish());
    };
    let fields = serde_json::from_str(&lease.fields)
        .map_err(|e| ApiError::Internal(format!("item fields: {e}")))?;
    Ok(HttpResponse::Ok().json(LeaseJson {
        lease_id: lease.id,
        item_id: lease.external_id,
        fields,
        expires_at: format_timestamp(lease.expires_at),
        expires_at_ms: lease.expires_at,
    }))
}

/// An answer for a lease.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SubmitBody {
    /// The answer: one of the options of a choice project, free text otherwise.
    pub answer: String,
}

/// A recorded judgment. The item's outcome is not returned: annotators never see votes.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubmitJson {
    pub judgment_id: i64,
    pub item_id: i64,
}

/// Records the caller's answer for their lease (annotate scope).
#[utoipa::path(
    post,
    path = "/api/v1/projects/{slug}/leases/{lease_id}/submit",
    tag = "worker",
    params(
        ("slug" = String, Path, description = "The project's slug"),
        ("lease_id" = i64, Path, description = "From next"),
    ),
    request_body = SubmitBody,
    responses(
        (status = 200, description = "Recorded", body = SubmitJson),
        (status = 400, description = "Malformed JSON body", body = ErrorBody),
        (status = 401, description = "Missing, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "The token lacks the annotate scope", body = ErrorBody),
        (status = 404, description = "No such project for this token", body = ErrorBody),
        (status = 409, description = "The lease was already used, released, expired, or is someone else's", body = ErrorBody),
        (status = 422, description = "The answer does not fit the project (not an option, empty, too long)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn submit(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, i64)>,
    body: web::Json<SubmitBody>,
) -> Result<HttpResponse, ApiError> {
    let (slug, lease_id) = path.into_inner();
    let project = caller.project(&state, &slug, Need::Annotate).await?;
    let receipt = state
        .store
        .submit(
            &project,
            lease_id,
            caller.user.id,
            &body.answer,
            "api",
            now_ms(),
        )
        .await?;
    Ok(HttpResponse::Ok().json(SubmitJson {
        judgment_id: receipt.judgment_id,
        item_id: receipt.item_id,
    }))
}

/// Gives the leased item back (annotate scope); the caller may get it again later.
#[utoipa::path(
    post,
    path = "/api/v1/projects/{slug}/leases/{lease_id}/release",
    tag = "worker",
    params(
        ("slug" = String, Path, description = "The project's slug"),
        ("lease_id" = i64, Path, description = "From next"),
    ),
    responses(
        (status = 204, description = "Released"),
        (status = 401, description = "Missing, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "The token lacks the annotate scope", body = ErrorBody),
        (status = 404, description = "No such project for this token", body = ErrorBody),
        (status = 409, description = "No such open lease of the caller", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn release(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, ApiError> {
    end_lease(&state, &caller, path.into_inner(), false).await
}

/// Ends the caller's lease: a release, or a skip that also keeps the item from them.
async fn end_lease(
    state: &AppState,
    caller: &Caller,
    (slug, lease_id): (String, i64),
    skip: bool,
) -> Result<HttpResponse, ApiError> {
    let project = caller.project(state, &slug, Need::Annotate).await?;
    let ended = if skip {
        state
            .store
            .skip(&project, lease_id, caller.user.id, now_ms())
            .await
    } else {
        state
            .store
            .release(&project, lease_id, caller.user.id)
            .await
    };
    ended?;
    Ok(HttpResponse::NoContent().finish())
}

/// Passes on the leased item (annotate scope): it goes back to others and never returns to
/// the caller.
#[utoipa::path(
    post,
    path = "/api/v1/projects/{slug}/leases/{lease_id}/skip",
    tag = "worker",
    params(
        ("slug" = String, Path, description = "The project's slug"),
        ("lease_id" = i64, Path, description = "From next"),
    ),
    responses(
        (status = 204, description = "Skipped"),
        (status = 401, description = "Missing, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "The token lacks the annotate scope", body = ErrorBody),
        (status = 404, description = "No such project for this token", body = ErrorBody),
        (status = 409, description = "No such open lease of the caller", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn skip(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, ApiError> {
    end_lease(&state, &caller, path.into_inner(), true).await
}
