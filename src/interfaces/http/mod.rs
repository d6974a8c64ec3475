//! What the browser app and the API share: the state every request sees, the server's
//! settings, and the streamed export downloads both offer. Neither [`super::web`] nor
//! [`super::api`] owns it, so they depend on it and never on each other.

pub mod exports;
pub mod headers;

use actix_web::cookie::Key;

use crate::auth::SessionPolicy;
use crate::store::Store;

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
    /// When browser sessions end on the server.
    pub sessions: SessionPolicy,
}

/// Shared state of every request.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub demo: bool,
    pub sessions: SessionPolicy,
}
