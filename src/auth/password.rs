//! Passwords: Argon2id PHC strings with the `argon2` crate's default parameters.
//!
//! Hashing and verifying cost tens of milliseconds of CPU on purpose, so both run on the blocking
//! pool rather than on an async worker.

use std::sync::OnceLock;

use anyhow::Context;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// Hashes `password` into an Argon2id PHC string (`$argon2id$v=19$…`).
pub fn hash_blocking(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("cannot hash the password")
}

/// Checks `password` against a PHC string; a malformed stored hash never matches.
pub fn verify_blocking(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(error) => {
            tracing::warn!(error = %error, "a stored password hash is not a PHC string");
            false
        }
    }
}

/// A hash of a password nobody knows, computed once, so that a login for an unknown e-mail
/// costs as much as one for a known e-mail with a wrong password.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        // Hashing cannot fail with default parameters and a generated salt; should it ever,
        // an unparsable string still makes `verify_blocking` refuse (just faster).
        hash_blocking("ticketd dummy password, never valid").unwrap_or_default()
    })
}

/// Hashes `password` on the blocking pool.
pub async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .context("the password hashing task failed")?
}

/// Checks `password` on the blocking pool against `phc`, or against a dummy hash when the user
/// has none (unknown e-mail, token-only user): the answer is then always `false`, after as much
/// work as a real check.
pub async fn verify(password: String, phc: Option<String>) -> anyhow::Result<bool> {
    tokio::task::spawn_blocking(move || match phc {
        Some(phc) => verify_blocking(&password, &phc),
        None => {
            let _ = verify_blocking(&password, dummy_hash());
            false
        }
    })
    .await
    .context("the password verification task failed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_is_an_argon2id_phc_string_that_verifies_only_its_password() {
        let phc = hash_blocking("correct horse battery staple").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$"), "{phc}");
        assert!(verify_blocking("correct horse battery staple", &phc));
        assert!(!verify_blocking("Correct horse battery staple", &phc));
    }

    #[test]
    fn two_hashes_of_one_password_differ_by_their_salt() {
        assert_ne!(
            hash_blocking("password1").unwrap(),
            hash_blocking("password1").unwrap()
        );
    }

    #[test]
    fn a_malformed_stored_hash_never_matches() {
        assert!(!verify_blocking("anything", "not a phc string"));
        assert!(!verify_blocking("", ""));
    }

    #[tokio::test]
    async fn a_user_without_a_hash_never_logs_in() {
        assert!(!verify("ticketd dummy password, never valid".into(), None)
            .await
            .unwrap());
        let phc = hash("s3cret-pass".into()).await.unwrap();
        assert!(verify("s3cret-pass".into(), Some(phc)).await.unwrap());
    }
}
