//! API tokens in the browser: every logged-in user lists, creates and revokes their own.
//!
//! A new token's secret is rendered once, in the response to the POST that created it (never
//! through the session cookie), never cached (`no-store` from the headers middleware); only its SHA-256 hash is kept.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::auth::{check_csrf, csrf_token, current_user, redirect, set_flash, take_flash};
use super::{AppState, WebError};
use crate::interfaces::tokens::{self, TokenError, format_time};
use crate::store::{Role, Scopes, User, now_ms};

/// A token as listed: never its secret.
struct TokenRow {
    id: i64,
    name: String,
    prefix: String,
    scopes: String,
    project: String,
    created: String,
    last_used: String,
    revoked: Option<String>,
}

/// A project the user may limit a token to.
struct ProjectOption {
    slug: String,
    name: String,
}

/// A token just created: shown once.
struct Created {
    name: String,
    secret: String,
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    user: User,
    csrf: String,
    demo: bool,
    flash: Option<String>,
    tokens: Vec<TokenRow>,
    projects: Vec<ProjectOption>,
    /// Owners and admins: offered the scopes that take managing a project (export, import).
    can_manage: bool,
    form: TokenForm,
    error: Option<String>,
    created: Option<Created>,
}

/// The create form as submitted (and re-shown after an error).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    scope_export: Option<String>,
    scope_annotate: Option<String>,
    scope_import: Option<String>,
    #[serde(default)]
    project: String,
}

impl TokenForm {
    fn scopes(&self) -> Scopes {
        Scopes {
            export: self.scope_export.is_some(),
            annotate: self.scope_annotate.is_some(),
            import: self.scope_import.is_some(),
        }
    }
}

/// Projects the user manages or is a member of, by name.
async fn project_options(state: &AppState, user: &User) -> Result<Vec<ProjectOption>, WebError> {
    let mut out: Vec<ProjectOption> = Vec::new();
    if user.role != Role::Annotator {
        for p in state
            .store
            .managed_projects(user.id, user.role == Role::Admin)
            .await?
        {
            out.push(ProjectOption {
                slug: p.config.slug,
                name: p.config.name,
            });
        }
    }
    for p in state.store.member_projects(user.id).await? {
        if !out.iter().any(|o| o.slug == p.slug) {
            out.push(ProjectOption {
                slug: p.slug,
                name: p.name,
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.slug.cmp(&b.slug)));
    Ok(out)
}

async fn token_rows(state: &AppState, user: &User) -> Result<Vec<TokenRow>, WebError> {
    let list = state.store.list_tokens(Some(user.id)).await?;
    let mut rows = Vec::with_capacity(list.len());
    for t in list {
        let project = match t.project_id {
            Some(id) => state.store.project_by_id(id).await?.config.slug,
            None => "All my projects".to_owned(),
        };
        rows.push(TokenRow {
            id: t.id,
            name: t.name,
            prefix: t.prefix,
            scopes: t.scopes.as_string().replace(',', ", "),
            project,
            created: format_time(t.created_at),
            last_used: t.last_used_at.map_or_else(|| "never".into(), format_time),
            revoked: t.revoked_at.map(format_time),
        });
    }
    Ok(rows)
}

/// Renders the page. The status is 200 unless the form was refused; never cached, since it
/// may carry a new secret.
async fn page(
    state: &AppState,
    session: &Session,
    user: User,
    form: TokenForm,
    error: Option<String>,
    created: Option<Created>,
) -> Result<HttpResponse, WebError> {
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let body = TokensPage {
        csrf: csrf_token(session)?,
        demo: state.demo,
        flash: take_flash(session),
        tokens: token_rows(state, &user).await?,
        projects: project_options(state, &user).await?,
        can_manage: user.role != Role::Annotator,
        user,
        form,
        error,
        created,
    }
    .render()?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body))
}

/// `GET /tokens`: the user's tokens and the create form.
pub async fn list(state: web::Data<AppState>, session: Session) -> Result<HttpResponse, WebError> {
    let user = current_user(&state, &session).await?;
    let form = TokenForm {
        scope_annotate: Some("on".into()),
        ..TokenForm::default()
    };
    page(&state, &session, user, form, None, None).await
}

/// `POST /tokens`: creates a token and shows its secret once.
pub async fn create(
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<TokenForm>,
) -> Result<HttpResponse, WebError> {
    let user = current_user(&state, &session).await?;
    check_csrf(&session, &form.csrf)?;
    let form = form.into_inner();
    let scopes = form.scopes();
    let refused = if scopes == Scopes::default() {
        Some(if user.role == Role::Annotator {
            "Choose at least one scope: annotate.".to_owned()
        } else {
            "Choose at least one scope: export, annotate or import.".to_owned()
        })
    } else if !form.project.is_empty()
        && !project_options(&state, &user)
            .await?
            .iter()
            .any(|p| p.slug == form.project)
    {
        // The same answer for a project that does not exist and one the user cannot see, so
        // slugs do not leak.
        Some(format!(
            "{:?} is not a project you manage or are a member of.",
            form.project
        ))
    } else {
        None
    };
    if refused.is_some() {
        return page(&state, &session, user, form, refused, None).await;
    }
    let project = (!form.project.is_empty()).then_some(form.project.as_str());
    match tokens::issue(
        &state.store,
        &user,
        scopes,
        project,
        Some(form.name.as_str()),
        now_ms(),
    )
    .await
    {
        Ok(issued) => {
            tracing::info!(token_id = issued.token.id, "API token created");
            let created = Created {
                name: issued.token.name,
                secret: issued.secret,
            };
            let fresh = TokenForm {
                scope_annotate: Some("on".into()),
                ..TokenForm::default()
            };
            page(&state, &session, user, fresh, None, Some(created)).await
        }
        Err(TokenError::Refused(message)) => {
            page(&state, &session, user, form, Some(message), None).await
        }
        Err(TokenError::Store(e)) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /tokens/{id}/revoke`: revokes one of the user's own tokens; anyone else's is a 404.
pub async fn revoke(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
    form: web::Form<RevokeForm>,
) -> Result<HttpResponse, WebError> {
    let user = current_user(&state, &session).await?;
    check_csrf(&session, &form.csrf)?;
    let token = state
        .store
        .list_tokens(Some(user.id))
        .await?
        .into_iter()
        .find(|t| t.id == *id)
        .ok_or(WebError::NotFound)?;
    state
        .store
        .revoke_token(token.id, Some(user.id), now_ms())
        .await?;
    tracing::info!(token_id = token.id, "API token revoked");
    set_flash(
        &session,
        format!(
            "Revoked token “{}” ({}…): it no longer works.",
            token.name, token.prefix
        ),
    )?;
    Ok(redirect("/tokens"))
}
