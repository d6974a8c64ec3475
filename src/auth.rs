//! Secrets: password hashing with argon2id, and API tokens.
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
