//! Security headers, set in one place for every response the server sends: pages, API answers,
//! exports, static files, errors and 404s. A response that sets a header itself keeps its own
//! value (static files are cacheable; everything else is `no-store`).

use actix_web::middleware::DefaultHeaders;

/// The Content-Security-Policy of every response: only this origin's scripts, styles and
/// images (plus `data:` images for the inline favicon), no plugins, no framing, forms post
/// only here, and no `<base>` that could redirect relative URLs.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// HSTS for deployments served over HTTPS (`secure_cookies`): a year, subdomains included.
pub const STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000; includeSubDomains";

/// The middleware that adds the headers; wrap it around the whole app.
pub fn security_headers(secure_cookies: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "same-origin"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
        // Pages behind a login, exports and API answers carry project data: no cache keeps
        // them. Static files set their own public caching and keep it.
        .add(("Cache-Control", "no-store"));
    if secure_cookies {
        headers.add(("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY))
    } else {
        headers
    }
}
