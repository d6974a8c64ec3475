//! Who is calling: the bearer token and its user, checked on every request; and what they may
//! do with a project.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, web};

use super::error::ApiError;
use crate::interfaces::http::AppState;
use crate::store::{ApiToken, Project, Role, User, now_ms};

/// An authenticated API caller.
pub struct Caller {
    pub token: ApiToken,
    pub user: User,
}

/// What a request needs to do with a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Read its data: the `export` scope and managing the project.
    Export,
    /// Label it: the `annotate` scope and being a member (or managing it).
    Annotate,
    /// Add items to it: the `import` scope and managing the project. Separate from `Export` so
    /// a read-only token leaked from a pipeline cannot change what it reads.
    Import,
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Caller, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let header = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::Internal("no app state".into()))?;
            let header = header.ok_or_else(|| {
                ApiError::Unauthorized(
                    "send an API token in the Authorization header: Bearer qrm_…".into(),
                )
            })?;
            // The scheme name is case-insensitive (RFC 9110).
            let secret = header
                .split_once(' ')
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, token)| token.trim())
                .ok_or_else(|| {
                    ApiError::Unauthorized("the Authorization header must be Bearer <token>".into())
                })?;
            let hash = crate::auth::token_hash(secret);
            match state.store.authenticate_token(&hash, now_ms()).await? {
                Some((token, user)) => {
                    tracing::Span::current().record("user_id", user.id);
                    Ok(Caller { token, user })
                }
                None => Err(ApiError::Unauthorized(
                    "the token is unknown or revoked, or its user is disabled".into(),
                )),
            }
        })
    }
}

impl Caller {
    fn manages(&self, project: &Project) -> bool {
        self.user.role == Role::Admin
            || (self.user.role == Role::Owner && project.owner_id == Some(self.user.id))
    }

    /// Whether the project is within the token's reach at all (its project limit and the
    /// user's rights under any of its scopes). Projects out of reach are reported as not found,
    /// so tokens cannot probe which slugs exist.
    pub async fn sees(&self, state: &AppState, project: &Project) -> Result<bool, ApiError> {
        if self.token.project_id.is_some_and(|id| id != project.id) {
            return Ok(false);
        }
        if (self.token.scopes.export || self.token.scopes.import) && self.manages(project) {
            return Ok(true);
        }
        Ok(self.token.scopes.annotate
            && (self.manages(project) || state.store.is_member(project.id, self.user.id).await?))
    }

    /// The project named by `slug` if the caller may do `need` with it.
    pub async fn project(
        &self,
        state: &AppState,
        slug: &str,
        need: Need,
    ) -> Result<Project, ApiError> {
        let not_found = || ApiError::NotFound(format!("no project {slug:?} for this token"));
        let project = match state.store.project_by_slug(slug).await {
            Ok(p) => p,
            Err(crate::store::StoreError::NotFound { .. }) => return Err(not_found()),
            Err(e) => return Err(e.into()),
        };
        if !self.sees(state, &project).await? {
            return Err(not_found());
        }
        match need {
            Need::Export if !self.token.scopes.export => Err(ApiError::Forbidden(
                "this token lacks the export scope".into(),
            )),
            Need::Export if !self.manages(&project) => Err(ApiError::Forbidden(
                "only the project's owner or an admin can read its data".into(),
            )),
            Need::Annotate if !self.token.scopes.annotate => Err(ApiError::Forbidden(
                "this token lacks the annotate scope".into(),
            )),
            Need::Import if !self.token.scopes.import => Err(ApiError::Forbidden(
                "this token lacks the import scope".into(),
            )),
            Need::Import if !self.manages(&project) => Err(ApiError::Forbidden(
                "only the project's owner or an admin can add items to it".into(),
            )),
            _ => Ok(project),
        }
    }
}
