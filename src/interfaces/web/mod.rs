//! The browser app: server-rendered pages (askama) on actix-web. Handlers stay thin: they
//! check who is asking, call the store, and render.

mod admin;
mod annotate;
mod auth;
mod error;
mod markdown;
mod owner;
mod plan;
mod settings;
mod tokens;

use actix_web::{HttpResponse, web};

use crate::interfaces::http::AppState;
pub use auth::{MAX_FAILURES_PER_ACCOUNT, MAX_FAILURES_PER_ADDRESS};
pub use error::WebError;
pub use owner::MAX_UPLOAD_BYTES;

/// The browser app's routes; [`crate::interfaces::server`] mounts them beside the API.
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
    .route("/o/{slug}/plan", web::get().to(plan::plan_page))
    .route("/o/{slug}/adjudicate", web::post().to(owner::adjudicate))
    .route("/o/{slug}/members", web::post().to(owner::add_member))
    .route("/admin/users", web::get().to(admin::users))
    .route("/admin/users", web::post().to(admin::create))
    .route(
        "/admin/users/{id}/password",
        web::post().to(admin::reset_password),
    )
    .route("/admin/users/{id}/role", web::post().to(admin::set_role))
    .route(
        "/admin/users/{id}/disabled",
        web::post().to(admin::set_disabled),
    )
    .route("/tokens", web::get().to(tokens::list))
    .route("/tokens", web::post().to(tokens::create))
    .route("/tokens/{id}/revoke", web::post().to(tokens::revoke));
}

/// The answer for a path no route serves, as a page.
pub async fn not_found() -> Result<HttpResponse, WebError> {
    Err(WebError::NotFound)
}
