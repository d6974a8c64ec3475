//! Admin pages: create login users, reset passwords, change roles, disable accounts. Each
//! change to an account ends that account's sessions (see `store::sessions`).

use actix_session::Session;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::auth::{
    check_csrf, csrf_token, current_user, html, redirect, session_id_hash, set_flash, take_flash,
};
use super::{AppState, WebError};
use crate::store::{NewUser, Role, StoreError, User};

async fn admin(state: &AppState, session: &Session) -> Result<User, WebError> {
    let user = current_user(state, session).await?;
    if user.role == Role::Admin {
        Ok(user)
    } else {
        Err(WebError::Forbidden)
    }
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    user: User,
    csrf: String,
    demo: bool,
    users: Vec<User>,
    flash: Option<String>,
}

pub async fn users(state: web::Data<AppState>, session: Session) -> Result<HttpResponse, WebError> {
    let user = admin(&state, &session).await?;
    let users = state
        .store
        .list_users()
        .await?
        .into_iter()
        .filter(|u| !u.external)
        .collect();
    let page = UsersPage {
        csrf: csrf_token(&session)?,
        demo: state.demo,
        flash: take_flash(&session),
        users,
        user,
    };
    Ok(html(page.render()?))
}

fn flash(session: &Session, message: String) -> Result<HttpResponse, WebError> {
    set_flash(session, message)?;
    Ok(redirect("/admin/users"))
}

async fn hash(password: String) -> Result<String, WebError> {
    if password.chars().count() < 8 {
        return Err(WebError::BadRequest(
            "passwords need at least 8 characters".into(),
        ));
    }
    tokio::task::spawn_blocking(move || crate::auth::hash_password(&password))
        .await
        .map_err(|e| WebError::Internal(format!("hashing: {e}")))?
        .map_err(|e| WebError::Internal(e.to_string()))
}

#[derive(Deserialize)]
pub struct CreateForm {
    csrf: String,
    email: String,
    role: String,
    password: String,
}

pub async fn create(
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<CreateForm>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    admin(&state, &session).await?;
    let email = form.email.trim().to_lowercase();
    if !email.contains('@') || email.len() > 320 {
        return Err(WebError::BadRequest(format!(
            "{email:?} is not an email address"
        )));
    }
    let role =
        Role::parse(&form.role).ok_or_else(|| WebError::BadRequest("unknown role".into()))?;
    let password_hash = hash(form.password.clone()).await?;
    match state
        .store
        .create_user(&NewUser {
            email: email.clone(),
            role,
            password_hash,
        })
        .await
    {
        Ok(u) => flash(
            &session,
            format!("Created {} ({}).", u.name, u.role.as_str()),
        ),
        Err(StoreError::Conflict(m)) => flash(&session, m),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    csrf: String,
    password: String,
}

pub async fn reset_password(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
    form: web::Form<PasswordForm>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    let me = admin(&state, &session).await?;
    let password_hash = hash(form.password.clone()).await?;
    // An admin resetting their own password stays logged in here, and only here.
    let keep = (me.id == *id).then(|| session_id_hash(&session)).flatten();
    let ended = state
        .store
        .set_password_hash(*id, &password_hash, keep.as_deref())
        .await?;
    flash(
        &session,
        format!("Password reset. {}", sessions_ended(ended)),
    )
}

/// "N sessions ended.", for the flash after an account change.
fn sessions_ended(n: u64) -> String {
    match n {
        0 => "No other session was open.".into(),
        1 => "1 session ended.".into(),
        n => format!("{n} sessions ended."),
    }
}

#[derive(Deserialize)]
pub struct RoleForm {
    csrf: String,
    role: String,
}

pub async fn set_role(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
    form: web::Form<RoleForm>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    let me = admin(&state, &session).await?;
    let role =
        Role::parse(&form.role).ok_or_else(|| WebError::BadRequest("unknown role".into()))?;
    if me.id == *id {
        return Err(WebError::BadRequest(
            "you cannot change your own role; ask another admin".into(),
        ));
    }
    let ended = state.store.set_role(*id, role).await?;
    flash(
        &session,
        format!(
            "Role changed to {}. {}",
            role.as_str(),
            sessions_ended(ended)
        ),
    )
}

#[derive(Deserialize)]
pub struct DisableForm {
    csrf: String,
    disabled: bool,
}

pub async fn set_disabled(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
    form: web::Form<DisableForm>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    let me = admin(&state, &session).await?;
    if me.id == *id && form.disabled {
        return Err(WebError::BadRequest(
            "you cannot disable your own account".into(),
        ));
    }
    let ended = state.store.set_disabled(*id, form.disabled).await?;
    flash(
        &session,
        if form.disabled {
            format!("Account disabled. {}", sessions_ended(ended))
        } else {
            "Account enabled.".into()
        },
    )
}
