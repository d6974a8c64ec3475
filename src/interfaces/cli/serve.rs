//! `quorum serve` (and the serving half of `quorum demo`): the listener, the session key and
//! the web settings handed to the HTTP app.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use super::Settings;
use crate::store::Store;

#[derive(Debug, Args)]
pub struct WebArgs {
    /// Settings file (TOML), as `quorum --config FILE serve`.
    #[arg(long, value_name = "FILE")]
    pub(super) config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "QUORUM_BIND", value_name = "ADDR")]
    pub(super) bind: Option<String>,
    /// Mark the session cookie Secure (when served over HTTPS); `--secure-cookies=false`
    /// overrides a configuration file.
    #[arg(
        long,
        env = "QUORUM_SECURE_COOKIES",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub(super) secure_cookies: Option<bool>,
    /// Base64 of at least 64 random bytes that sign session cookies; give every instance the
    /// same key. Without it a key is generated and sessions end when the process does.
    #[arg(
        long,
        env = "QUORUM_SESSION_KEY",
        hide_env_values = true,
        value_name = "B64"
    )]
    pub(super) session_key: Option<String>,
    /// A file holding the session key (base64), instead of --session-key.
    #[arg(long, env = "QUORUM_SESSION_KEY_FILE", value_name = "FILE")]
    pub(super) session_key_file: Option<PathBuf>,
    /// Minutes without a request after which a browser session ends [default: 120].
    #[arg(long, env = "QUORUM_SESSION_IDLE_MINUTES", value_name = "MINUTES")]
    pub(super) session_idle_minutes: Option<u64>,
    /// Minutes after login after which a browser session ends, however active [default: 720].
    #[arg(long, env = "QUORUM_SESSION_LIFETIME_MINUTES", value_name = "MINUTES")]
    pub(super) session_lifetime_minutes: Option<u64>,
}

pub(super) async fn serve(store: &Store, settings: &Settings, demo: bool) -> Result<()> {
    let session_key = match &settings.session_key {
        Some(key) => {
            let bytes = key.bytes()?;
            actix_web::cookie::Key::try_from(bytes.as_slice())
                .map_err(|_| anyhow::anyhow!("the session key must hold at least 64 bytes"))?
        }
        None => {
            if !demo {
                tracing::warn!(
                    "no session key (QUORUM_SESSION_KEY or server.session_key_file): sessions use a per-process key and end on restart"
                );
            }
            actix_web::cookie::Key::generate()
        }
    };
    if let Some(file) = &settings.file {
        tracing::info!(file = %file.display(), "configuration file read");
    }
    let bind = settings.bind.as_str();
    let listener = std::net::TcpListener::bind(bind).with_context(|| format!("binding {bind}"))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    println!("Quorum is serving on http://{addr}/  (Ctrl-C to stop)");
    let refits = tokio::spawn(refit_loop(store.clone()));
    let served = crate::interfaces::server::serve(
        store.clone(),
        crate::interfaces::http::WebConfig {
            session_key,
            secure_cookies: settings.secure_cookies,
            demo,
            sessions: settings.sessions,
        },
        listener,
    )
    .await
    .context("serving");
    refits.abort();
    served
}

/// How often the server looks for projects whose crowd model is due for a re-fit (see
/// `store::crowd_model`).
const REFIT_CHECK: std::time::Duration = std::time::Duration::from_secs(30);

/// Re-fits, in the background, the crowd models of projects that stop on confidence as their
/// judgments grow, and of every project once it has gone quiet, for its exports. Several
/// instances may run it: a re-fit takes the project row, and one that finds nothing due
/// does nothing.
async fn refit_loop(store: Store) {
    let mut tick = tokio::time::interval(REFIT_CHECK);
    let mut seen = std::collections::HashMap::new();
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let projects = match store.list_projects().await {
            Ok(p) => p,
            Err(error) => {
                tracing::warn!(%error, "listing projects for crowd-model re-fits failed");
                continue;
            }
        };
        for project in &projects {
            if let Err(error) = store.refit_if_due(project, &mut seen).await {
                tracing::warn!(%error, slug = project.slug(), "crowd-model re-fit failed");
            }
        }
    }
}
