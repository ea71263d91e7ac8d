//! Device cookies (OWASP, "Slow Down Online Guessing Attacks with Device Cookies"): a browser
//! that has signed in to an account is given a token bound to that account, and a later login
//! to the same account presenting it is not held by the account's failure budget or its
//! backoff. An attacker guessing from elsewhere has no such token, so the holds they cause fall
//! on them, not on the account's owner at a browser they used before.
//!
//! A token is `<nonce>.<expiry>.<mac>`: a random nonce (its failures are counted on their own,
//! so that a stolen token gets no unlimited guesses), the Unix time it expires, and an
//! HMAC-SHA256 over the account (the normalized e-mail), the nonce and the expiry. Nothing is
//! stored: the key is derived from `JWT_SECRET`, so every instance checks what any issued.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Signs and checks device tokens.
#[derive(Clone)]
pub struct DeviceKey {
    key: [u8; 32],
}

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceKey(..)")
    }
}

impl DeviceKey {
    /// The key derived from the HS256 secret: a purpose of its own, so that a device token is
    /// never a valid signature of anything else made with the secret.
    pub fn derive(secret: &SecretString) -> Self {
        let mut mac = HmacSha256::new_from_slice(secret.expose_secret().as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(b"ticketd device cookie v1");
        Self {
            key: mac.finalize().into_bytes().into(),
        }
    }

    fn mac(&self, account: &str, nonce: &str, expires: i64) -> HmacSha256 {
        let mut mac =
            HmacSha256::new_from_slice(&self.key).expect("HMAC takes a key of any length");
        // Lengths first, so that no two (account, nonce) pairs share a message.
        mac.update(&(account.len() as u64).to_be_bytes());
        mac.update(account.as_bytes());
        mac.update(&(nonce.len() as u64).to_be_bytes());
        mac.update(nonce.as_bytes());
        mac.update(&expires.to_be_bytes());
        mac
    }

    /// A new token for `account`, valid until `expires`.
    pub fn issue(&self, account: &str, expires: DateTime<Utc>) -> String {
        let mut nonce = [0u8; 16];
        rand::rng().fill_bytes(&mut nonce);
        let nonce = URL_SAFE_NO_PAD.encode(nonce);
        let expires = expires.timestamp();
        let tag = self.mac(account, &nonce, expires).finalize().into_bytes();
        format!("{nonce}.{expires}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    /// The nonce of `token` when it is a token this key issued for `account` and it has not
    /// expired at `now`; `None` for anything else, forged, altered or another account's.
    pub fn check<'t>(&self, token: &'t str, account: &str, now: DateTime<Utc>) -> Option<&'t str> {
        let mut parts = token.split('.');
        let (nonce, expires, tag) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || nonce.is_empty() || nonce.len() > 64 {
            return None;
        }
        let expires: i64 = expires.parse().ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        // Constant time: the comparison says nothing about how much of a forged tag was right.
        self.mac(account, nonce, expires).verify_slice(&tag).ok()?;
        (expires > now.timestamp()).then_some(nonce)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(secret: &str) -> DeviceKey {
        DeviceKey::derive(&SecretString::from(secret.to_string()))
    }

    #[test]
    fn a_token_holds_for_its_account_until_it_expires_and_nothing_else_passes() {
        let key = key("a secret of at least thirty-two bytes!");
        let now = Utc::now();
        let later = now + chrono::TimeDelta::days(1);
        let token = key.issue("lia@example.com", later);
        let nonce = key.check(&token, "lia@example.com", now).expect("valid");
        assert!(token.starts_with(nonce));
        assert_eq!(
            key.check(&token, "rui@example.com", now),
            None,
            "another account"
        );
        assert_eq!(key.check(&token, "lia@example.com", later), None, "expired");
        let other = self::key("another secret of thirty-two bytes or more");
        assert_eq!(
            other.check(&token, "lia@example.com", now),
            None,
            "another key"
        );
        let (head, _) = token.rsplit_once('.').unwrap();
        let forged = format!("{head}.{}", URL_SAFE_NO_PAD.encode([0u8; 32]));
        let parts: Vec<&str> = token.split('.').collect();
        let extended = format!("{}.{}.{}", parts[0], later.timestamp() + 1, parts[2]);
        for bad in [
            forged.as_str(),
            extended.as_str(),
            "",
            "a.b",
            "a.1.c.d",
            "x.1.!!",
        ] {
            assert_eq!(key.check(bad, "lia@example.com", now), None, "{bad:?}");
        }
        assert_ne!(
            key.issue("lia@example.com", later),
            token,
            "each login gets its own nonce"
        );
    }
}
