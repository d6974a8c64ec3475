//! Secrets: password hashing with argon2id, API tokens, and browser session ids with the
//! policy that ends sessions.
//!
//! Password hashing is deliberately slow: call it off the async runtime (`spawn_blocking`). API
//! tokens are 256 random bits, so a single SHA-256 is enough to store them safely: nobody can
//! guess a preimage, and checking one per request costs microseconds.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use base64::Engine;
use rand::RngExt;
use sha2::{Digest, Sha256};

/// What every API token starts with, so that secret scanners and people recognise one.
pub const TOKEN_PREFIX: &str = "qrm_";

/// A new API token: the secret shown once, its non-secret prefix for lists, and the hash that
/// is stored.
pub struct NewTokenSecret {
    pub secret: String,
    pub prefix: String,
    pub hash: String,
}

/// Makes a fresh random API token.
pub fn new_token() -> NewTokenSecret {
    let bytes: [u8; 32] = rand::rng().random();
    let secret = format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    NewTokenSecret {
        prefix: secret[..TOKEN_PREFIX.len() + 8].to_owned(),
        hash: token_hash(&secret),
        secret,
    }
}

/// The stored form of a token: hex SHA-256.
pub fn token_hash(secret: &str) -> String {
    sha256_hex(secret.as_bytes())
}

/// Lowercase hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// Lowercase hex of a digest.
pub fn hex(digest: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(digest.len() * 2);
    for b in digest {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// A new browser session id: the secret that goes into the (encrypted) session cookie, and the
/// hash the database keeps. 256 random bits, so one SHA-256 suffices, as for API tokens.
pub fn new_session_id() -> (String, String) {
    let bytes: [u8; 32] = rand::rng().random();
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = session_hash(&secret);
    (secret, hash)
}

/// The stored form of a session id: hex SHA-256.
pub fn session_hash(secret: &str) -> String {
    sha256_hex(secret.as_bytes())
}

/// When a browser session ends on the server: after `idle_timeout` without a request, and
/// `lifetime` after login whatever the activity. Times are milliseconds since the epoch, as
/// stored; the caller passes `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    pub idle_timeout: std::time::Duration,
    pub lifetime: std::time::Duration,
}

/// What [`SessionPolicy::check`] says of a stored session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionCheck {
    /// In use; `touch` says its last-seen time is due to be refreshed.
    Live { touch: bool },
    /// No request for longer than the idle timeout.
    Idle,
    /// Older than the absolute lifetime.
    Expired,
}

impl Default for SessionPolicy {
    /// Two hours idle (a lunch break ends a session; a labeling shift does not), twelve hours
    /// in all (one login per working day).
    fn default() -> SessionPolicy {
        SessionPolicy {
            idle_timeout: std::time::Duration::from_secs(2 * 60 * 60),
            lifetime: std::time::Duration::from_secs(12 * 60 * 60),
        }
    }
}

impl SessionPolicy {
    fn idle_ms(&self) -> i64 {
        i64::try_from(self.idle_timeout.as_millis()).unwrap_or(i64::MAX)
    }

    fn lifetime_ms(&self) -> i64 {
        i64::try_from(self.lifetime.as_millis()).unwrap_or(i64::MAX)
    }

    /// How stale the stored last-seen time may get before a request refreshes it: a quarter of
    /// the idle timeout, between one second and one minute. The labeling loop thus writes a
    /// session row at most once a minute, and idle expiry errs by at most that much (towards
    /// ending sooner, never later than the timeout plus one interval).
    pub fn touch_interval_ms(&self) -> i64 {
        (self.idle_ms() / 4).clamp(1_000, 60_000)
    }

    pub fn check(&self, created_at: i64, last_seen_at: i64, now: i64) -> SessionCheck {
        if now.saturating_sub(created_at) >= self.lifetime_ms() {
            SessionCheck::Expired
        } else if now.saturating_sub(last_seen_at) >= self.idle_ms() {
            SessionCheck::Idle
        } else {
            SessionCheck::Live {
                touch: now.saturating_sub(last_seen_at) >= self.touch_interval_ms(),
            }
        }
    }

    /// Sessions whose last request is before this are idle-expired at `now`.
    pub fn idle_cutoff(&self, now: i64) -> i64 {
        now.saturating_sub(self.idle_ms())
    }

    /// Sessions created before this are past their lifetime at `now`.
    pub fn lifetime_cutoff(&self, now: i64) -> i64 {
        now.saturating_sub(self.lifetime_ms())
    }

    /// Refuses a zero timeout (no session could live) and an idle timeout that could not
    /// matter (longer than the lifetime is allowed: it just never fires first).
    pub fn validate(&self) -> Result<(), String> {
        if self.idle_timeout.is_zero() {
            return Err("the session idle timeout must be positive".into());
        }
        if self.lifetime.is_zero() {
            return Err("the session lifetime must be positive".into());
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// An argon2id PHC string for `password`, with a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, HashError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// True when `password` matches the stored PHC string; false for a malformed hash.
pub fn verify_password(password: &str, phc: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), phc)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn policy(idle_min: u64, lifetime_min: u64) -> SessionPolicy {
        SessionPolicy {
            idle_timeout: std::time::Duration::from_secs(idle_min * 60),
            lifetime: std::time::Duration::from_secs(lifetime_min * 60),
        }
    }

    #[test]
    fn sessions_end_when_idle_or_old_and_touch_at_most_once_a_minute() {
        let p = policy(120, 720);
        let login = 1_000_000_000;
        assert_eq!(
            p.check(login, login, login),
            SessionCheck::Live { touch: false }
        );
        assert_eq!(
            p.check(login, login, login + MIN - 1),
            SessionCheck::Live { touch: false }
        );
        assert_eq!(
            p.check(login, login, login + MIN),
            SessionCheck::Live { touch: true }
        );
        assert_eq!(
            p.check(login, login, login + 120 * MIN - 1),
            SessionCheck::Live { touch: true }
        );
        assert_eq!(p.check(login, login, login + 120 * MIN), SessionCheck::Idle);
        // Active all along, but past the lifetime: absolute expiry wins.
        let seen = login + 720 * MIN - 1;
        assert_eq!(
            p.check(login, seen, seen),
            SessionCheck::Live { touch: false }
        );
        assert_eq!(
            p.check(login, seen, login + 720 * MIN),
            SessionCheck::Expired
        );
        assert_eq!(p.idle_cutoff(login + 120 * MIN), login);
        assert_eq!(p.lifetime_cutoff(login + 720 * MIN), login);
    }

    #[test]
    fn the_touch_interval_follows_short_idle_timeouts() {
        let p = SessionPolicy {
            idle_timeout: std::time::Duration::from_secs(20),
            lifetime: std::time::Duration::from_secs(3600),
        };
        assert_eq!(p.touch_interval_ms(), 5_000);
        let tiny = SessionPolicy {
            idle_timeout: std::time::Duration::from_millis(10),
            ..p
        };
        assert_eq!(tiny.touch_interval_ms(), 1_000);
        assert!(tiny.validate().is_ok());
        assert!(
            SessionPolicy {
                idle_timeout: std::time::Duration::ZERO,
                ..p
            }
            .validate()
            .is_err()
        );
        assert_eq!(SessionPolicy::default(), policy(120, 720));
    }

    #[test]
    fn session_ids_are_random_and_stored_hashed() {
        let (a, hash_a) = new_session_id();
        let (b, _) = new_session_id();
        assert_ne!(a, b);
        assert_eq!(hash_a, session_hash(&a));
        assert_eq!(hash_a.len(), 64);
        assert!(!hash_a.contains(&a));
    }

    #[test]
    fn hashes_with_argon2id_and_verifies() {
        let h = hash_password("correct horse").expect("hash");
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("correct horse", "not a hash"));
        assert_ne!(h, hash_password("correct horse").expect("hash"), "salted");
    }

    #[test]
    fn tokens_are_random_prefixed_and_stored_hashed() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a.secret, b.secret);
        assert!(
            a.secret.starts_with("qrm_") && a.secret.len() == 4 + 43,
            "{}",
            a.secret
        );
        assert!(a.secret.starts_with(&a.prefix) && a.prefix.len() == 12);
        assert_eq!(a.hash, token_hash(&a.secret));
        assert_eq!(a.hash.len(), 64);
        assert!(!a.hash.contains(&a.secret[4..]));
    }
}
