//! Annotator pages: the project list and the labeling loop.

use actix_session::Session;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::auth::{check_csrf, csrf_token, current_user, html, redirect};
use super::{AppState, WebError, markdown};
use crate::domain::AnswerSpec;
use crate::store::{MemberProject, Project, User, now_ms};

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    user: User,
    csrf: String,
    demo: bool,
    projects: Vec<MemberProject>,
}

pub async fn home(state: web::Data<AppState>, session: Session) -> Result<HttpResponse, WebError> {
    let user = current_user(&state, &session).await?;
    let projects = state.store.member_projects(user.id).await?;
    let page = HomePage {
        csrf: csrf_token(&session)?,
        demo: state.demo,
        user,
        projects,
    };
    Ok(html(page.render()?))
}

/// A project the user may label: they are a member. Anything else looks like a missing page,
/// so project slugs do not leak.
async fn labelable(state: &AppState, user: &User, slug: &str) -> Result<Project, WebError> {
    state
        .store
        .project_for_member(slug, user.id)
        .await?
        .ok_or(WebError::NotFound)
}

struct Field {
    name: String,
    value: String,
}

struct Choice {
    key: usize,
    option: String,
}

#[derive(Template)]
#[template(path = "label.html")]
struct LabelPage {
    user: User,
    csrf: String,
    demo: bool,
    project_name: String,
    slug: String,
    instructions_html: String,
    item_id: String,
    fields: Vec<Field>,
    lease_id: i64,
    expires_at: i64,
    seconds_left: i64,
    choices: Vec<Choice>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "done.html")]
struct DonePage {
    user: User,
    csrf: String,
    demo: bool,
    project_name: String,
}

pub async fn label_page(
    state: web::Data<AppState>,
    session: Session,
    slug: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let user = current_user(&state, &session).await?;
    let project = labelable(&state, &user, &slug).await?;
    render_label(&state, &session, user, &project, None).await
}

async fn render_label(
    state: &AppState,
    session: &Session,
    user: User,
    project: &Project,
    error: Option<String>,
) -> Result<HttpResponse, WebError> {
    let now = now_ms();
    let Some(lease) = state.store.next_item(project, user.id, now).await? else {
        let page = DonePage {
            csrf: csrf_token(session)?,
            demo: state.demo,
            project_name: project.config.name.clone(),
            user,
        };
        return Ok(html(page.render()?));
    };
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&lease.fields).unwrap_or_default();
    let fields = map
        .into_iter()
        .map(|(name, v)| Field {
            name,
            value: v
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| v.to_string()),
        })
        .collect();
    let choices = match project.answer() {
        AnswerSpec::Choice { options } => options
            .iter()
            .enumerate()
            .map(|(i, o)| Choice {
                key: i + 1,
                option: o.clone(),
            })
            .collect(),
        AnswerSpec::Text { .. } => Vec::new(),
    };
    let status = if error.is_some() {
        actix_web::http::StatusCode::UNPROCESSABLE_ENTITY
    } else {
        actix_web::http::StatusCode::OK
    };
    let page = LabelPage {
        csrf: csrf_token(session)?,
        demo: state.demo,
        project_name: project.config.name.clone(),
        slug: project.config.slug.clone(),
        instructions_html: markdown::render(&project.config.instructions),
        item_id: lease.external_id,
        fields,
        lease_id: lease.id,
        expires_at: lease.expires_at,
        seconds_left: ((lease.expires_at - now) / 1000).max(0),
        choices,
        error,
        user,
    };
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(page.render()?))
}

#[derive(Deserialize)]
pub struct SubmitForm {
    csrf: String,
    lease_id: i64,
    answer: String,
}

/// Records the answer and goes straight to the next item (POST, redirect, GET).
pub async fn submit(
    state: web::Data<AppState>,
    session: Session,
    slug: web::Path<String>,
    form: web::Form<SubmitForm>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    let user = current_user(&state, &session).await?;
    let project = labelable(&state, &user, &slug).await?;
    // The next item is leased in the same transaction; the redirect's GET finds it.
    match state
        .store
        .submit_and_next(
            &project,
            form.lease_id,
            user.id,
            &form.answer,
            "web",
            now_ms(),
        )
        .await
    {
        Ok(_) => Ok(redirect(&format!("/p/{}/label", project.config.slug))),
        // A bad answer keeps the annotator on their item (an expired or used lease moves them
        // to the next one), with the reason.
        Err(
            crate::store::StoreError::Invalid(m)
            | crate::store::StoreError::Conflict(m)
            | crate::store::StoreError::LeaseGone(m),
        ) => render_label(&state, &session, user, &project, Some(m)).await,
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct SkipForm {
    csrf: String,
    lease_id: i64,
}

/// Gives the item back; it never comes back to this annotator.
pub async fn skip(
    state: web::Data<AppState>,
    session: Session,
    slug: web::Path<String>,
    form: web::Form<SkipForm>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    let user = current_user(&state, &session).await?;
    let project = labelable(&state, &user, &slug).await?;
    match state
        .store
        .skip(&project, form.lease_id, user.id, now_ms())
        .await
    {
        Ok(())
        | Err(crate::store::StoreError::Conflict(_) | crate::store::StoreError::LeaseGone(_)) => {
            Ok(redirect(&format!("/p/{}/label", project.config.slug)))
        }
        Err(e) => Err(e.into()),
    }
}
