//! JWT checks and minting. Every key is pinned to one algorithm: the HS256 secret verifies only
//! HS256 tokens, an RSA key only RS256, an Ed25519 key only EdDSA. A token's header picks the key,
//! but never widens what that key accepts, so an HS256 token "signed" with a public key, or a
//! token with `alg: none`, is refused.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::domain::Role;
use crate::settings::AuthSettings;
use crate::users::User;

/// Tolerated clock difference with the token's issuer, in seconds.
pub const LEEWAY_SECS: u64 = 0;

/// A key from configuration (`JWT_SECRET` or `JWT_PUBLIC_KEY`) and the one algorithm it verifies.
#[derive(Clone)]
pub struct PinnedKey {
    /// The only algorithm accepted with this key.
    pub alg: Algorithm,
    /// The key.
    pub key: DecodingKey,
}

/// The HS256 verification key of a `JWT_SECRET`, used as its raw bytes.
pub fn secret_key(settings: &AuthSettings) -> Option<PinnedKey> {
    settings.secret.as_ref().map(|s| PinnedKey {
        alg: Algorithm::HS256,
        key: DecodingKey::from_secret(s.expose_secret().as_bytes()),
    })
}

/// Reads `JWT_PUBLIC_KEY`: an Ed25519 public key PEM (EdDSA) or an RSA one (RS256).
pub fn public_key(pem: &str) -> anyhow::Result<PinnedKey> {
    // Environment variables often carry a PEM on one line with literal `\n`s.
    let pem = if pem.contains('\n') {
        pem.trim().to_string()
    } else {
        pem.trim().replace("\\n", "\n")
    };
    if pem.contains("PRIVATE KEY") {
        anyhow::bail!("JWT_PUBLIC_KEY holds a private key; configure the public key only");
    }
    if let Ok(key) = DecodingKey::from_ed_pem(pem.as_bytes()) {
        return Ok(PinnedKey {
            alg: Algorithm::EdDSA,
            key,
        });
    }
    match DecodingKey::from_rsa_pem(pem.as_bytes()) {
        Ok(key) => Ok(PinnedKey {
            alg: Algorithm::RS256,
            key,
        }),
        Err(error) => Err(anyhow::anyhow!(error)
            .context("JWT_PUBLIC_KEY is neither an RSA nor an Ed25519 public key in PEM")),
    }
}

/// Why a token was refused: a short reason, safe to show to the client.
pub fn reason(error: &jsonwebtoken::errors::Error) -> String {
    match error.kind() {
        ErrorKind::InvalidSignature => "invalid token signature".into(),
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::MissingAlgorithm => "token algorithm not accepted".into(),
        ErrorKind::ExpiredSignature => "token expired".into(),
        ErrorKind::ImmatureSignature => "token not valid yet".into(),
        ErrorKind::InvalidIssuer => "wrong token issuer".into(),
        ErrorKind::InvalidAudience => "wrong token audience".into(),
        ErrorKind::InvalidSubject => "wrong token subject".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!("token claim {claim} missing"),
        _ => "malformed token".into(),
    }
}

/// The validation for one key: exactly its algorithm, our issuer and audience, `exp` required.
pub fn validation(alg: Algorithm, settings: &AuthSettings) -> Validation {
    let mut v = Validation::new(alg);
    v.algorithms = vec![alg];
    v.set_issuer(&[&settings.issuer]);
    v.set_audience(&[&settings.audience]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    v.validate_exp = true;
    // `nbf` is optional, but honoured when present.
    v.validate_nbf = true;
    v.leeway = LEEWAY_SECS;
    v
}

/// The caller named by a token's checked claims: `sub` a UUID, `email`, `name` and `role`
/// present, `exp` in the future.
pub fn caller_from_claims(
    claims: &Map<String, Value>,
    now: u64,
) -> Result<super::caller::Caller, String> {
    // `exp == now` has passed the library's check (it refuses `exp < now`) but is not in the future.
    let expires_at = match claims.get("exp").and_then(Value::as_f64) {
        Some(exp) if exp > now as f64 => std::time::Duration::try_from_secs_f64(exp)
            .ok()
            .and_then(|since_epoch| std::time::UNIX_EPOCH.checked_add(since_epoch)),
        Some(_) => return Err("token expired".into()),
        None => return Err("token claim exp missing".into()),
    };
    let text = |name: &str| -> Result<String, String> {
        match claims.get(name) {
            None | Some(Value::Null) => Err(format!("token claim {name} missing")),
            Some(Value::String(s)) if s.trim().is_empty() || s.contains('\0') => {
                Err(format!("token claim {name} invalid"))
            }
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(format!("token claim {name} invalid")),
        }
    };
    let id =
        Uuid::parse_str(&text("sub")?).map_err(|_| "token claim sub is not a UUID".to_string())?;
    let email = text("email")?;
    let name = text("name")?;
    let role: Role = text("role")?
        .parse()
        .map_err(|_| "token claim role unknown".to_string())?;
    Ok(super::caller::Caller {
        id,
        email,
        name,
        role,
        expires_at,
    })
}

/// The claims of a token the engine mints.
#[derive(Debug, Serialize)]
struct MintedClaims<'a> {
    sub: Uuid,
    email: &'a str,
    name: &'a str,
    role: &'a str,
    iss: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

/// Mints an HS256 token for `user`, valid for `ttl_secs`, signed with `JWT_SECRET`.
pub fn mint(settings: &AuthSettings, user: &User, ttl_secs: i64) -> anyhow::Result<String> {
    let Some(secret) = &settings.secret else {
        anyhow::bail!("tokens are signed with JWT_SECRET, which is not set (only a public key or JWKS URL is configured)");
    };
    if ttl_secs <= 0 {
        anyhow::bail!("a token's lifetime must be positive, not {ttl_secs} s");
    }
    let now = chrono::Utc::now().timestamp();
    let exp = now
        .checked_add(ttl_secs)
        .ok_or_else(|| anyhow::anyhow!("a token lifetime of {ttl_secs} s is too long"))?;
    let claims = MintedClaims {
        sub: user.id,
        email: user.email.as_deref().unwrap_or_default(),
        name: &user.name,
        role: user.role.as_str(),
        iss: &settings.issuer,
        aud: &settings.audience,
        iat: now,
        exp,
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.expose_secret().as_bytes()),
    )
    .map_err(|e| anyhow::anyhow!(e).context("cannot sign the token"))
}
