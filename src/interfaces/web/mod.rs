//! The browser app: server-rendered pages (askama) on actix-web. Handlers stay thin: they
//! check who is asking, call the store, and render.

mod admin;
mod annotate;
mod auth;
mod error;
pub mod exports;
mod markdown;
mod owner;
mod settings;
mod tokens;

use std::net::TcpListener;

use actix_session::SessionMiddleware;
use actix_session::storage::CookieSessionStore;
use actix_web::cookie::{Key, SameSite};
use actix_web::{App, HttpResponse, HttpServer, web};

use crate::store::Store;

pub use auth::{MAX_FAILURES_PER_ACCOUNT, MAX_FAILURES_PER_ADDRESS};
pub use error::WebError;
pub use owner::MAX_UPLOAD_BYTES;

/// Settings of the web server.
#[derive(Clone)]
pub struct WebConfig {
    /// Secret that signs and encrypts session cookies; shared by every instance behind one
    /// load balancer so sessions survive a switch of instance.
    pub session_key: Key,
    /// Mark the session cookie `Secure` (serve over HTTPS).
    pub secure_cookies: bool,
    /// Show the demo banner.
    pub demo: bool,
}

/// Shared state of every request.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub demo: bool,
}

/// Routes, shared by the server and the tests.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        actix_multipart::form::MultipartFormConfig::default()
            .total_limit(owner::MAX_UPLOAD_BYTES + 64 * 1024)
            .memory_limit(owner::MAX_UPLOAD_BYTES + 64 * 1024)
            .error_handler(|err, _req| {
                let too_large = matches!(err, actix_multipart::MultipartError::Payload(_))
                    || err.to_string().contains("limit");
                if too_large {
                    WebError::TooLarge.into()
                } else {
                    WebError::BadRequest(format!("the upload could not be read: {err}")).into()
                }
            }),
    )
    .configure(crate::interfaces::api::configure)
    .route("/healthz", web::get().to(healthz))
    .route("/static/app.css", web::get().to(stylesheet))
    .route("/static/label.js", web::get().to(label_script))
    .route("/login", web::get().to(auth::login_page))
    .route("/login", web::post().to(auth::login))
    .route("/logout", web::post().to(auth::logout))
    .route("/", web::get().to(annotate::home))
    .route("/p/{slug}/label", web::get().to(annotate::label_page))
    .route("/p/{slug}/label", web::post().to(annotate::submit))
    .route("/p/{slug}/skip", web::post().to(annotate::skip))
    .route("/o", web::get().to(owner::projects))
    .route("/o/new", web::get().to(settings::new_project))
    .route("/o/new", web::post().to(settings::create_project))
    .route("/o/{slug}/settings", web::get().to(settings::edit_project))
    .route(
        "/o/{slug}/settings",
        web::post().to(settings::update_project),
    )
    .route("/o/{slug}", web::get().to(owner::dashboard))
    .route("/o/{slug}/download/{file}", web::get().to(owner::download))
    .route("/o/{slug}/items", web::post().to(owner::upload_items))
    .route("/o/{slug}/unresolved", web::get().to(owner::unresolved))
    .route("/o/{slug}/adjudicate", web::post().to(owner::adjudicate))
    .route("/o/{slug}/members", web::post().to(owner::add_member))
    .route("/admin/users", web::get().to(admin::users))
    .route("/admin/users", web::post().to(admin::create))
    .route(
        "/admin/users/{id}/password",
        web::post().to(admin::reset_password),
    )
    .route(
        "/admin/users/{id}/disabled",
        web::post().to(admin::set_disabled),
    )
    .route("/tokens", web::get().to(tokens::list))
    .route("/tokens", web::post().to(tokens::create))
    .route("/tokens/{id}/revoke", web::post().to(tokens::revoke))
    .default_service(web::to(not_found));
}

/// The session middleware with the cookie settings Quorum promises: HttpOnly, SameSite=Lax,
/// Secure when configured.
pub fn session_middleware(config: &WebConfig) -> SessionMiddleware<CookieSessionStore> {
    SessionMiddleware::builder(CookieSessionStore::default(), config.session_key.clone())
        .cookie_name("quorum_session".to_owned())
        .cookie_http_only(true)
        .cookie_same_site(SameSite::Lax)
        .cookie_secure(config.secure_cookies)
        .build()
}

/// Logs every request when it ends: method, route, path, status, latency (the span's
/// `time.busy` + `time.idle`), request id, and the user id once the handler knows the user.
pub fn request_logger() -> tracing_actix_web::TracingLogger<RequestSpan> {
    tracing_actix_web::TracingLogger::new()
}

/// The root span of each request: tracing-actix-web's fields plus `user_id`, recorded by
/// `auth::current_user` and at login; empty for anonymous requests.
pub struct RequestSpan;

impl tracing_actix_web::RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &actix_web::dev::ServiceRequest) -> tracing::Span {
        tracing_actix_web::root_span!(request, user_id = tracing::field::Empty)
    }

    fn on_request_end<B: actix_web::body::MessageBody>(
        span: tracing::Span,
        outcome: &Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>,
    ) {
        tracing_actix_web::DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// Serves the app on `listener` until SIGINT/SIGTERM, finishing in-flight requests.
pub async fn serve(store: Store, config: WebConfig, listener: TcpListener) -> std::io::Result<()> {
    let state = AppState {
        store,
        demo: config.demo,
    };
    HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(state.clone()))
            .wrap(session_middleware(&config))
            // Wrapped last, so outermost: the request's span exists while the session
            // middleware and the handler run.
            .wrap(request_logger())
            .configure(configure)
    })
    .shutdown_timeout(30)
    .listen(listener)?
    .run()
    .await
}

async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    match sqlx::query_scalar::<_, i64>("SELECT 1")
        .fetch_one(state.store.pool())
        .await
    {
        Ok(_) => HttpResponse::Ok().json(serde_json::json!({"status": "ok", "database": "ok"})),
        Err(e) => {
            tracing::error!(error = %e, "health check: database unreachable");
            HttpResponse::ServiceUnavailable()
                .json(serde_json::json!({"status": "unavailable", "database": "unreachable"}))
        }
    }
}

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(include_str!("../../../static/app.css"))
}

async fn label_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(include_str!("../../../static/label.js"))
}

async fn not_found() -> Result<HttpResponse, WebError> {
    Err(WebError::NotFound)
}
