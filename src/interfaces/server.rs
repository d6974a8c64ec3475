//! The HTTP server: assembles the browser app and the API into one actix app with its
//! middleware, and serves it. The only module that knows both [`super::web`] and
//! [`super::api`]; they meet here and nowhere else.

use std::net::TcpListener;

use actix_session::SessionMiddleware;
use actix_session::storage::CookieSessionStore;
use actix_web::cookie::SameSite;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, HttpResponse, HttpServer, web};

use crate::interfaces::http::headers::security_headers;
use crate::interfaces::http::{AppState, WebConfig};
use crate::interfaces::{api, web as pages};
use crate::store::Store;

/// Every route of the server: the API under `/api/v1`, the pages, health and static files.
/// Shared by [`serve`] and the tests.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.configure(api::configure)
        .route("/healthz", web::get().to(healthz))
        .route("/static/app.css", web::get().to(stylesheet))
        .route("/static/label.js", web::get().to(label_script))
        .configure(pages::configure)
        .default_service(web::to(pages::not_found));
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

/// The whole app, middleware included, exactly as [`serve`] runs it; the tests drive this too.
pub fn app(
    state: AppState,
    config: &WebConfig,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse,
        Error = actix_web::Error,
        InitError = (),
    > + use<>,
> {
    App::new()
        .app_data(web::Data::new(state))
        .wrap(session_middleware(config))
        // Outside the session middleware, so its own answers carry the headers too.
        .wrap(security_headers(config.secure_cookies))
        // Wrapped last, so outermost: the request's span exists while the session
        // middleware and the handler run. `Compat` boxes its streamed body, so the app answers
        // with plain `ServiceResponse`s, the same type in the server and in the tests.
        .wrap(actix_web::middleware::Compat::new(request_logger()))
        .configure(configure)
}

/// Serves the app on `listener` until SIGINT/SIGTERM, finishing in-flight requests.
pub async fn serve(store: Store, config: WebConfig, listener: TcpListener) -> std::io::Result<()> {
    let state = AppState {
        store,
        demo: config.demo,
        sessions: config.sessions,
    };
    HttpServer::new(move || app(state.clone(), &config))
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
        .body(include_str!("../../static/app.css"))
}

async fn label_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(include_str!("../../static/label.js"))
}
