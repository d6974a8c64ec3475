//! Settings of a `quorum` run: flags, then the environment (`QUORUM_*`), then an optional TOML
//! file (`--config PATH` or `QUORUM_CONFIG`), then defaults; the first that gives a setting wins.
//!
//! clap already resolves a flag over its environment variable, so the command line and the
//! environment arrive here as one layer of [`Overrides`]; the file fills what they leave out.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;

/// The database when nothing names one.
pub const DEFAULT_DATABASE: &str = "sqlite://quorum.db";
/// The listening address when nothing names one: loopback, so a fresh `serve` or `demo` is
/// not reachable from other machines.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

/// The configuration file. Every key is optional; unknown keys are errors.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    pub database: Option<String>,
    /// Log filter (the `QUORUM_LOG` syntax, e.g. `info,quorum::store=debug`).
    pub log: Option<String>,
    #[serde(default)]
    pub server: ServerFileSettings,
}

/// The `[server]` table of the configuration file.
#[derive(Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerFileSettings {
    pub bind: Option<String>,
    pub secure_cookies: Option<bool>,
    pub session_key: Option<String>,
    /// A file holding the base64 session key; relative to the configuration file's directory.
    pub session_key_file: Option<PathBuf>,
    /// Minutes without a request after which a browser session ends.
    pub session_idle_minutes: Option<u64>,
    /// Minutes after login after which a browser session ends, however active.
    pub session_lifetime_minutes: Option<u64>,
}

impl fmt::Debug for ServerFileSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerFileSettings")
            .field("bind", &self.bind)
            .field("secure_cookies", &self.secure_cookies)
            .field(
                "session_key",
                &self.session_key.as_ref().map(|_| "<redacted>"),
            )
            .field("session_key_file", &self.session_key_file)
            .field("session_idle_minutes", &self.session_idle_minutes)
            .field("session_lifetime_minutes", &self.session_lifetime_minutes)
            .finish()
    }
}

/// What the command line and the environment gave (a flag already beats its variable).
#[derive(Default, Clone)]
pub struct Overrides {
    pub database: Option<String>,
    pub log: Option<String>,
    pub bind: Option<String>,
    pub secure_cookies: Option<bool>,
    pub session_key: Option<String>,
    pub session_key_file: Option<PathBuf>,
    pub session_idle_minutes: Option<u64>,
    pub session_lifetime_minutes: Option<u64>,
}

impl Overrides {
    /// The session key has two flags, each with its variable; clap resolves each pair on its
    /// own, so `--session-key-file` with `QUORUM_SESSION_KEY` set yields both. Then the flag
    /// wins: the one whose value is exactly its variable's is dropped. Both from flags, or both
    /// from variables, stay and [`merge`] refuses them.
    pub fn session_key_flag_over_env(
        mut self,
        env: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Overrides {
        if let (Some(key), Some(key_file)) = (&self.session_key, &self.session_key_file) {
            let key_from_env = env("QUORUM_SESSION_KEY").is_some_and(|v| v == key.as_str());
            let file_from_env =
                env("QUORUM_SESSION_KEY_FILE").is_some_and(|v| v == key_file.as_os_str());
            match (key_from_env, file_from_env) {
                (true, false) => self.session_key = None,
                (false, true) => self.session_key_file = None,
                _ => {}
            }
        }
        self
    }
}

/// Where the session key comes from; read only when serving.
#[derive(Clone, PartialEq)]
pub enum SessionKey {
    /// Base64 text, and where it was given (for error messages).
    Inline { base64: String, origin: String },
    /// A file holding the base64 text.
    File(PathBuf),
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionKey::Inline { origin, .. } => write!(f, "Inline(<redacted> from {origin})"),
            SessionKey::File(path) => write!(f, "File({})", path.display()),
        }
    }
}

impl SessionKey {
    /// The key bytes: base64 of at least 64 bytes (whitespace, such as the line breaks of
    /// `openssl rand -base64 64`, is ignored).
    pub fn bytes(&self) -> Result<Vec<u8>> {
        use base64::Engine;
        let (text, origin) = match self {
            SessionKey::Inline { base64, origin } => (base64.clone(), origin.clone()),
            SessionKey::File(path) => (
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading the session key file {}", path.display()))?,
                path.display().to_string(),
            ),
        };
        let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|_| anyhow!("{origin}: the session key is not base64"))?;
        if bytes.len() < 64 {
            bail!(
                "{origin}: the session key must hold at least 64 bytes (it holds {}); make one with `openssl rand -base64 64`",
                bytes.len()
            );
        }
        Ok(bytes)
    }
}

/// The merged settings of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub database: String,
    /// The log filter and where it was given; `None` leaves the default of the command.
    pub log: Option<(String, String)>,
    pub bind: String,
    pub secure_cookies: bool,
    pub session_key: Option<SessionKey>,
    /// When browser sessions end.
    pub sessions: crate::auth::SessionPolicy,
    /// The configuration file that was read, if any.
    pub file: Option<PathBuf>,
}

/// Reads and checks a configuration file.
pub fn read_file(path: &Path) -> Result<FileSettings> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the configuration file {}", path.display()))?;
    parse_file(path, &text)
}

/// Parses configuration text; errors name `path`, and the line and column where toml has them.
pub fn parse_file(path: &Path, text: &str) -> Result<FileSettings> {
    let file: FileSettings = toml::from_str(text)
        .map_err(|e| anyhow!("{}: {}", path.display(), e.to_string().trim_end()))?;
    if file.server.session_key.is_some() && file.server.session_key_file.is_some() {
        bail!(
            "{}: `server.session_key` and `server.session_key_file` are both set; keep one",
            path.display()
        );
    }
    Ok(file)
}

/// Merges the layers: `overrides` (flags, then environment) over `file` over the defaults.
/// The session key is one setting given in one of two forms: the first layer that gives
/// either form decides it.
pub fn merge(overrides: Overrides, file: Option<(&Path, FileSettings)>) -> Result<Settings> {
    let (path, file) = match file {
        Some((path, file)) => (Some(path), file),
        None => (None, FileSettings::default()),
    };
    let shown = path.map(|p| p.display().to_string()).unwrap_or_default();
    let session_key = match (overrides.session_key, overrides.session_key_file) {
        (Some(_), Some(_)) => bail!(
            "the session key is given twice: use either --session-key (QUORUM_SESSION_KEY) or --session-key-file (QUORUM_SESSION_KEY_FILE)"
        ),
        (Some(base64), None) => Some(SessionKey::Inline {
            base64,
            origin: "--session-key (QUORUM_SESSION_KEY)".into(),
        }),
        (None, Some(key_file)) => Some(SessionKey::File(key_file)),
        (None, None) => match (file.server.session_key, file.server.session_key_file) {
            (Some(base64), _) => Some(SessionKey::Inline {
                base64,
                origin: format!("{shown}: server.session_key"),
            }),
            (None, Some(key_file)) => {
                // Relative to the configuration file, so the pair can move together.
                let dir = path.and_then(Path::parent).unwrap_or(Path::new(""));
                Some(SessionKey::File(dir.join(key_file)))
            }
            (None, None) => None,
        },
    };
    let log = match (overrides.log, file.log) {
        (Some(filter), _) => Some((filter, "--log (QUORUM_LOG)".to_owned())),
        (None, Some(filter)) => Some((filter, format!("{shown}: log"))),
        (None, None) => None,
    };
    let minutes = |given: Option<u64>, in_file: Option<u64>, flag: &str, key: &str, default| {
        let (value, origin) = match (given, in_file) {
            (Some(v), _) => (v, flag.to_owned()),
            (None, Some(v)) => (v, format!("{shown}: server.{key}")),
            (None, None) => return Ok(default),
        };
        if value == 0 || value > 525_600 {
            bail!("{origin}: {value} is not a number of minutes between 1 and 525600 (a year)");
        }
        Ok(std::time::Duration::from_secs(value * 60))
    };
    let default_sessions = crate::auth::SessionPolicy::default();
    let sessions = crate::auth::SessionPolicy {
        idle_timeout: minutes(
            overrides.session_idle_minutes,
            file.server.session_idle_minutes,
            "--session-idle-minutes (QUORUM_SESSION_IDLE_MINUTES)",
            "session_idle_minutes",
            default_sessions.idle_timeout,
        )?,
        lifetime: minutes(
            overrides.session_lifetime_minutes,
            file.server.session_lifetime_minutes,
            "--session-lifetime-minutes (QUORUM_SESSION_LIFETIME_MINUTES)",
            "session_lifetime_minutes",
            default_sessions.lifetime,
        )?,
    };
    Ok(Settings {
        sessions,
        database: overrides
            .database
            .or(file.database)
            .unwrap_or_else(|| DEFAULT_DATABASE.to_owned()),
        log,
        bind: overrides
            .bind
            .or(file.server.bind)
            .unwrap_or_else(|| DEFAULT_BIND.to_owned()),
        secure_cookies: overrides
            .secure_cookies
            .or(file.server.secure_cookies)
            .unwrap_or(false),
        session_key,
        file: path.map(Path::to_owned),
    })
}

/// Reads the file named by `config` (if any) and merges it under `overrides`.
pub fn resolve(overrides: Overrides, config: Option<&Path>) -> Result<Settings> {
    match config {
        Some(path) => merge(overrides, Some((path, read_file(path)?))),
        None => merge(overrides, None),
    }
}

impl Settings {
    /// The log filter to install: the configured one, else `default`. An invalid filter is an
    /// error naming where it was given.
    pub fn log_filter(&self, default: &str) -> Result<tracing_subscriber::EnvFilter> {
        match &self.log {
            Some((filter, origin)) => tracing_subscriber::EnvFilter::try_new(filter)
                .map_err(|e| anyhow!("{origin}: invalid log filter {filter:?}: {e}")),
            None => Ok(tracing_subscriber::EnvFilter::new(default)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> FileSettings {
        parse_file(Path::new("quorum.toml"), text).expect("valid file")
    }

    fn error(text: &str) -> String {
        format!(
            "{:#}",
            parse_file(Path::new("conf/quorum.toml"), text).expect_err("invalid file")
        )
    }

    const FULL: &str = r#"
database = "postgres://quorum@db/quorum"
log = "debug"

[server]
bind = "0.0.0.0:9000"
secure_cookies = true
session_key_file = "secrets/session.key"
session_idle_minutes = 30
session_lifetime_minutes = 600
"#;

    #[test]
    fn defaults_without_flags_environment_or_file() {
        let s = merge(Overrides::default(), None).unwrap();
        assert_eq!(s.database, DEFAULT_DATABASE);
        assert_eq!(s.bind, "127.0.0.1:8080");
        assert!(!s.secure_cookies);
        assert_eq!(s.session_key, None);
        assert_eq!(s.sessions, crate::auth::SessionPolicy::default());
        assert_eq!(s.log, None);
        assert_eq!(s.file, None);
    }

    #[test]
    fn session_times_must_be_positive_minutes_and_errors_say_where() {
        let err = |overrides: Overrides, text: &str| {
            format!(
                "{:#}",
                merge(overrides, Some((Path::new("q.toml"), file(text)))).expect_err("refused")
            )
        };
        let e = err(Overrides::default(), "[server]\nsession_idle_minutes = 0\n");
        assert!(
            e.contains("q.toml: server.session_idle_minutes") && e.contains("between 1"),
            "{e}"
        );
        let e = err(
            Overrides {
                session_lifetime_minutes: Some(10_000_000),
                ..Overrides::default()
            },
            "",
        );
        assert!(e.contains("--session-lifetime-minutes"), "{e}");
    }

    #[test]
    fn the_file_fills_what_flags_and_environment_leave_out() {
        let path = Path::new("/etc/quorum/quorum.toml");
        let s = merge(Overrides::default(), Some((path, file(FULL)))).unwrap();
        assert_eq!(s.database, "postgres://quorum@db/quorum");
        assert_eq!(s.bind, "0.0.0.0:9000");
        assert!(s.secure_cookies);
        assert_eq!(
            s.session_key,
            Some(SessionKey::File("/etc/quorum/secrets/session.key".into())),
            "a relative key file is relative to the configuration file"
        );
        assert_eq!(
            s.log,
            Some(("debug".into(), "/etc/quorum/quorum.toml: log".into()))
        );
        assert_eq!(s.file.as_deref(), Some(path));
    }

    #[test]
    fn flags_and_environment_beat_the_file() {
        let overrides = Overrides {
            database: Some("sqlite://other.db".into()),
            log: Some("warn".into()),
            bind: Some("127.0.0.1:1".into()),
            secure_cookies: Some(false),
            session_key: Some("a2V5".into()),
            session_key_file: None,
            session_idle_minutes: Some(5),
            session_lifetime_minutes: None,
        };
        let s = merge(overrides, Some((Path::new("q.toml"), file(FULL)))).unwrap();
        assert_eq!(
            s.sessions.idle_timeout.as_secs(),
            5 * 60,
            "the flag beats the file"
        );
        assert_eq!(
            s.sessions.lifetime.as_secs(),
            600 * 60,
            "the file fills the rest"
        );
        assert_eq!(s.database, "sqlite://other.db");
        assert_eq!(s.bind, "127.0.0.1:1");
        assert!(!s.secure_cookies, "an explicit false beats the file's true");
        assert_eq!(s.log.unwrap().0, "warn");
        assert!(
            matches!(&s.session_key, Some(SessionKey::Inline { base64, .. }) if base64 == "a2V5"),
            "{:?}",
            s.session_key
        );
    }

    #[test]
    fn a_partial_file_leaves_the_rest_to_the_defaults() {
        let s = merge(
            Overrides {
                bind: Some("[::1]:8081".into()),
                ..Overrides::default()
            },
            Some((Path::new("q.toml"), file("database = \"sqlite://x.db\"\n"))),
        )
        .unwrap();
        assert_eq!(
            (s.database.as_str(), s.bind.as_str(), s.secure_cookies),
            ("sqlite://x.db", "[::1]:8081", false)
        );
        assert_eq!(file(""), FileSettings::default());
    }

    #[test]
    fn a_key_from_flags_or_environment_beats_either_form_in_the_file() {
        let s = merge(
            Overrides {
                session_key_file: Some("/run/secrets/key".into()),
                ..Overrides::default()
            },
            Some((
                Path::new("q.toml"),
                file("[server]\nsession_key = \"a2V5\"\n"),
            )),
        )
        .unwrap();
        assert_eq!(
            s.session_key,
            Some(SessionKey::File("/run/secrets/key".into()))
        );
        let inline = merge(
            Overrides::default(),
            Some((
                Path::new("q.toml"),
                file("[server]\nsession_key = \"a2V5\"\n"),
            )),
        )
        .unwrap();
        assert!(
            matches!(&inline.session_key, Some(SessionKey::Inline { origin, .. }) if origin == "q.toml: server.session_key")
        );
        let both = Overrides {
            session_key: Some("a2V5".into()),
            session_key_file: Some("k".into()),
            ..Overrides::default()
        };
        let err = merge(both, None).unwrap_err().to_string();
        assert!(err.contains("--session-key-file"), "{err}");
    }

    #[test]
    fn a_session_key_flag_beats_the_other_forms_variable() {
        let both = Overrides {
            session_key: Some("a2V5".into()),
            session_key_file: Some("/run/k".into()),
            ..Overrides::default()
        };
        let env_key = |var: &str| (var == "QUORUM_SESSION_KEY").then(|| "a2V5".into());
        let o = both.clone().session_key_flag_over_env(env_key);
        assert_eq!(
            (o.session_key, o.session_key_file),
            (None, Some("/run/k".into()))
        );
        let env_file = |var: &str| (var == "QUORUM_SESSION_KEY_FILE").then(|| "/run/k".into());
        let o = both.clone().session_key_flag_over_env(env_file);
        assert_eq!(
            (o.session_key, o.session_key_file),
            (Some("a2V5".into()), None)
        );
        // Both flags (no variables): still both, and refused.
        let o = both.session_key_flag_over_env(|_| None);
        assert!(merge(o, None).is_err());
    }

    #[test]
    fn unknown_keys_name_the_key_the_file_and_the_line() {
        let err = error("database = \"sqlite://q.db\"\ndatabse_url = \"x\"\n");
        assert!(
            err.starts_with("conf/quorum.toml: ")
                && err.contains("line 2")
                && err.contains("unknown field `databse_url`"),
            "{err}"
        );
        let err = error("[server]\nbind = \"127.0.0.1:1\"\nport = 8080\n");
        assert!(
            err.contains("conf/quorum.toml")
                && err.contains("line 3")
                && err.contains("unknown field `port`"),
            "{err}"
        );
        let err = error("[sever]\nbind = \"x\"\n");
        assert!(err.contains("unknown field `sever`"), "{err}");
    }

    #[test]
    fn wrong_types_and_bad_syntax_name_the_file_and_the_line() {
        let err = error("[server]\nsecure_cookies = \"yes\"\n");
        assert!(
            err.starts_with("conf/quorum.toml: ")
                && err.contains("line 2")
                && err.contains("expected a boolean"),
            "{err}"
        );
        let err = error("database = sqlite://q.db\n");
        assert!(
            err.contains("conf/quorum.toml") && err.contains("line 1"),
            "{err}"
        );
        let err = error("[server]\nsession_key = \"a2V5\"\nsession_key_file = \"k\"\n");
        assert!(
            err.contains("conf/quorum.toml") && err.contains("both set"),
            "{err}"
        );
    }

    #[test]
    fn the_example_file_is_valid() {
        let example = include_str!("../../../quorum.example.toml");
        let f = parse_file(Path::new("quorum.example.toml"), example).unwrap();
        assert_eq!(f.database.as_deref(), Some(DEFAULT_DATABASE));
        assert_eq!(f.server.bind.as_deref(), Some(DEFAULT_BIND));
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = format!(
            "{:#}",
            resolve(Overrides::default(), Some(Path::new("/nonexistent/q.toml"))).unwrap_err()
        );
        assert!(
            err.contains("reading the configuration file /nonexistent/q.toml"),
            "{err}"
        );
    }

    #[test]
    fn session_keys_are_checked_when_read() {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 64]);
        // `openssl rand -base64 64` breaks its output into lines.
        let wrapped = format!("{}\n{}\n", &b64[..64], &b64[64..]);
        let key = SessionKey::Inline {
            base64: wrapped,
            origin: "test".into(),
        };
        assert_eq!(key.bytes().unwrap(), vec![7u8; 64]);
        let short = SessionKey::Inline {
            base64: "a2V5".into(),
            origin: "q.toml: server.session_key".into(),
        };
        let err = short.bytes().unwrap_err().to_string();
        assert!(
            err.contains("q.toml: server.session_key") && err.contains("at least 64 bytes"),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("session.key");
        std::fs::write(&path, "not base64!").unwrap();
        let err = SessionKey::File(path.clone())
            .bytes()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&path.display().to_string()) && err.contains("not base64"),
            "{err}"
        );
        assert!(
            !format!("{key:?}").contains(&b64[..10]),
            "Debug hides the key"
        );
    }

    #[test]
    fn invalid_log_filters_name_their_origin() {
        let s = merge(
            Overrides::default(),
            Some((Path::new("q.toml"), file("log = \"quorum=loud\"\n"))),
        )
        .unwrap();
        let err = s.log_filter("warn").unwrap_err().to_string();
        assert!(err.contains("q.toml: log"), "{err}");
        assert!(
            merge(Overrides::default(), None)
                .unwrap()
                .log_filter("warn")
                .is_ok()
        );
    }
}
