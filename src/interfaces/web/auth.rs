//! Logging in and out, the session, and CSRF tokens.
//!
//! The session cookie (signed and encrypted) holds a random session id, a per-session
//! synchronizer token and at most a one-time flash message. The session itself lives in the
//! database (`store::sessions`): each request reads it with its user in one query, so a
//! logged-out, expired or revoked session is refused on every instance at its next request,
//! even if its cookie is replayed. Every state-changing form posts the token back and it is
//! compared in constant time.

use actix_session::Session;
use actix_web::{HttpResponse, web};
use askama::Template;
use base64::Engine;
use rand::RngExt;
use serde::Deserialize;

use super::{AppState, WebError};
use crate::auth::{SessionCheck, new_session_id, session_hash};
use crate::store::User;

const SESSION_KEY: &str = "sid";
const CSRF_KEY: &str = "csrf";

/// The CSRF token of this session, created on first use.
pub fn csrf_token(session: &Session) -> Result<String, WebError> {
    if let Ok(Some(token)) = session.get::<String>(CSRF_KEY) {
        return Ok(token);
    }
    let bytes: [u8; 32] = rand::rng().random();
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    session
        .insert(CSRF_KEY, &token)
        .map_err(|e| WebError::Internal(format!("session: {e}")))?;
    Ok(token)
}

/// Rejects a form whose token is missing or not this session's.
pub fn check_csrf(session: &Session, submitted: &str) -> Result<(), WebError> {
    let expected = session
        .get::<String>(CSRF_KEY)
        .ok()
        .flatten()
        .ok_or(WebError::BadCsrf)?;
    let (a, b) = (expected.as_bytes(), submitted.as_bytes());
    let same = a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0;
    if same { Ok(()) } else { Err(WebError::BadCsrf) }
}

/// The stored form of this request's session id, if it carries one.
pub fn session_id_hash(session: &Session) -> Option<String> {
    session
        .get::<String>(SESSION_KEY)
        .ok()
        .flatten()
        .map(|id| session_hash(&id))
}

/// The logged-in user. The session must still be in the database and within its idle timeout
/// and lifetime, and its account enabled; otherwise the cookie is cleared and the request is
/// treated as anonymous. Costs one indexed read; activity is written at most once a minute
/// per session, in the background.
pub async fn current_user(state: &AppState, session: &Session) -> Result<User, WebError> {
    let id_hash = session_id_hash(session).ok_or(WebError::NotLoggedIn)?;
    let now = crate::store::now_ms();
    let record = state.store.session(&id_hash).await?;
    let live = match &record {
        Some(r) if !r.user.disabled && !r.user.external => {
            state.sessions.check(r.created_at, r.last_seen_at, now)
        }
        _ => SessionCheck::Expired,
    };
    match (record, live) {
        (Some(record), SessionCheck::Live { touch }) => {
            if touch {
                // Off the request's path: the page never waits for this write (on SQLite it
                // queues behind the labeling writes), and a failure costs only precision.
                let store = state.store.clone();
                actix_web::rt::spawn(async move {
                    if let Err(e) = store.touch_session(&id_hash, now).await {
                        tracing::warn!(error = %e, "recording a session's activity");
                    }
                });
            }
            record_user(record.user.id);
            Ok(record.user)
        }
        (record, _) => {
            if record.is_some() {
                state.store.end_session(&id_hash).await?;
            }
            session.purge();
            Err(WebError::NotLoggedIn)
        }
    }
}

/// Adds the user id to the request's log line. Handlers run inside the request's root span
/// (see `RequestSpan`), so the current span is that span.
fn record_user(id: i64) {
    tracing::Span::current().record("user_id", id);
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    csrf: String,
    email: String,
    error: Option<String>,
    demo: bool,
}

pub async fn login_page(
    state: web::Data<AppState>,
    session: Session,
) -> Result<HttpResponse, WebError> {
    if current_user(&state, &session).await.is_ok() {
        return Ok(redirect("/"));
    }
    let page = LoginPage {
        csrf: csrf_token(&session)?,
        email: String::new(),
        error: None,
        demo: state.demo,
    };
    Ok(html(page.render()?))
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    csrf: String,
}

/// An argon2id hash of a random password, verified against when the account does not exist
/// so that response time does not reveal which emails have accounts.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let bytes: [u8; 16] = rand::rng().random();
        crate::auth::hash_password(&base64::engine::general_purpose::STANDARD.encode(bytes))
            .unwrap_or_default()
    })
}

/// Failed logins allowed per account, and per client address, in one window.
pub const MAX_FAILURES_PER_ACCOUNT: u32 = 5;
pub const MAX_FAILURES_PER_ADDRESS: u32 = 20;
const FAILURE_WINDOW_MS: i64 = 15 * 60 * 1000;

pub async fn login(
    state: web::Data<AppState>,
    session: Session,
    request: actix_web::HttpRequest,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    let email = form.email.trim().to_lowercase();
    let now = crate::store::now_ms();
    let account_key = format!("account:{email}");
    let address_key = format!(
        "address:{}",
        request
            .peer_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default()
    );
    let store = &state.store;
    if store
        .login_failures(&account_key, now, FAILURE_WINDOW_MS)
        .await?
        >= MAX_FAILURES_PER_ACCOUNT
        || store
            .login_failures(&address_key, now, FAILURE_WINDOW_MS)
            .await?
            >= MAX_FAILURES_PER_ADDRESS
    {
        tracing::warn!(%email, "login refused: too many failed attempts");
        let page = LoginPage {
            csrf: csrf_token(&session)?,
            email,
            error: Some("Too many failed attempts. Wait 15 minutes, then try again.".into()),
            demo: state.demo,
        };
        return Ok(HttpResponse::TooManyRequests()
            .content_type("text/html; charset=utf-8")
            .insert_header(("Retry-After", "900"))
            .body(page.render()?));
    }
    let user = state.store.user_by_name(&email).await?;
    let hash = match &user {
        Some(u) if !u.external => state.store.password_hash(u.id).await?,
        _ => None,
    };
    let password = form.password.clone();
    let verified = tokio::task::spawn_blocking(move || match hash {
        Some(h) => crate::auth::verify_password(&password, &h),
        None => {
            crate::auth::verify_password(&password, dummy_hash());
            false
        }
    })
    .await
    .map_err(|e| WebError::Internal(format!("password check: {e}")))?;
    match user {
        Some(u) if verified && !u.disabled => {
            store.clear_login_failures(&account_key).await?;
            // A fresh session at login: a session fixed before login is worth nothing.
            let (id, id_hash) = new_session_id();
            store
                .create_session(u.id, &id_hash, now, &state.sessions)
                .await?;
            session.renew();
            session
                .insert(SESSION_KEY, id)
                .map_err(|e| WebError::Internal(format!("session: {e}")))?;
            let _ = session.remove(CSRF_KEY);
            csrf_token(&session)?;
            record_user(u.id);
            tracing::info!(user_id = u.id, "logged in");
            Ok(redirect("/"))
        }
        _ => {
            store
                .record_login_failure(&account_key, now, FAILURE_WINDOW_MS)
                .await?;
            store
                .record_login_failure(&address_key, now, FAILURE_WINDOW_MS)
                .await?;
            let page = LoginPage {
                csrf: csrf_token(&session)?,
                email,
                error: Some("Wrong email or password.".into()),
                demo: state.demo,
            };
            Ok(HttpResponse::Unauthorized()
                .content_type("text/html; charset=utf-8")
                .body(page.render()?))
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    pub csrf: String,
}

/// Ends the session in the database, not only in this browser: a copy of the cookie taken
/// before is refused from now on.
pub async fn logout(
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    if let Some(id_hash) = session_id_hash(&session) {
        state.store.end_session(&id_hash).await?;
    }
    session.purge();
    Ok(redirect("/login"))
}

pub fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", to))
        .finish()
}

pub fn html(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body)
}

const FLASH_KEY: &str = "flash";

/// A one-time message for the next page the user sees.
pub fn set_flash(session: &Session, message: String) -> Result<(), WebError> {
    session
        .insert(FLASH_KEY, message)
        .map_err(|e| WebError::Internal(format!("session: {e}")))
}

pub fn take_flash(session: &Session) -> Option<String> {
    session.remove_as::<String>(FLASH_KEY).and_then(Result::ok)
}
