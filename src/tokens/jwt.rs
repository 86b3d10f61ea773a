//! JWT access tokens (RFC 9068) and ID tokens, signed with our current key and verified
//! against our published keys only.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, Validation};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::keys::Keyring;
use super::model::{Level, Scopes};

/// Access tokens are typed (RFC 9068 §2.1) so an ID token can never pass for one.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
/// Clock skew we tolerate on `exp`/`nbf`/`iat`.
use super::LEEWAY_SECS;

/// Claims of our access tokens. No personal data: `sub` is our own opaque id.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    pub client_id: String,
    pub scope: String,
    /// Login session, for citizens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// Identity level: "1" or "2".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<Level>,
    /// For a service provider bound to agencies: the only agency codes it may act for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agencies: Vec<String>,
    /// For a service provider bound to a merchant: the only merchant it may act for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_id: Option<String>,
}

impl AccessClaims {
    pub fn scopes(&self) -> Scopes {
        Scopes::parse(&self.scope)
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().contains(scope)
    }

    /// Whether a service token may act for agency `code`: only when the client is bound to it.
    pub fn may_act_for_agency(&self, code: &str) -> bool {
        self.sid.is_none() && self.agencies.iter().any(|a| a == code)
    }

    /// Whether a service token may act for merchant `id`: only when the client is bound to it.
    pub fn may_act_for_merchant(&self, id: &str) -> bool {
        self.sid.is_none() && self.merchant_id.as_deref() == Some(id)
    }
}

/// Claims of the ID tokens we give apps that asked for `openid`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub acr: Level,
    pub sid: String,
    pub azp: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("algorithm not allowed")]
    Algorithm,
    #[error("not an access token (typ)")]
    Type,
    #[error("unknown key")]
    UnknownKey,
    #[error("invalid token: {0:?}")]
    Invalid(jsonwebtoken::errors::ErrorKind),
    #[error("no signing key available")]
    NoSigningKey,
    #[error("signing failed")]
    Signing,
}

/// Issues and verifies our tokens.
#[derive(Clone)]
pub struct Tokens {
    keyring: Keyring,
    issuer: String,
    access_ttl: Duration,
    /// Tokens already verified, by a collision-resistant hash of the whole token (a hit skips
    /// the signature check, so no other token may share its key): a repeated token costs no
    /// ECDSA verification. BLAKE3, not SHA-256: hashing the token with SHA-256 was a sixth of a
    /// cached authenticated read's instructions (callgrind, `load-tests/profile.sh`). Expiry is
    /// still checked on every hit; revocation is checked by the caller.
    verified: moka::sync::Cache<[u8; 32], (Arc<str>, Arc<AccessClaims>)>,
}

impl Tokens {
    pub fn new(keyring: Keyring, issuer: &str, access_ttl: Duration) -> Self {
        Self {
            keyring,
            issuer: issuer.to_string(),
            access_ttl,
            verified: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(access_ttl + Duration::from_secs(LEEWAY_SECS))
                .build(),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    /// Claims of a new access token for `sub`, valid from `now` for the configured lifetime.
    pub fn access_claims(
        &self,
        sub: &str,
        client_id: &str,
        scope: &str,
        now: OffsetDateTime,
    ) -> AccessClaims {
        let iat = now.unix_timestamp();
        AccessClaims {
            iss: self.issuer.clone(),
            sub: sub.to_string(),
            aud: self.issuer.clone(),
            exp: iat + self.access_ttl.as_secs() as i64,
            iat,
            nbf: iat,
            // Time-ordered, so a client's cut-off can tell tokens of the same second apart.
            jti: uuid::Uuid::now_v7().to_string(),
            client_id: client_id.to_string(),
            scope: scope.to_string(),
            sid: None,
            auth_time: None,
            acr: None,
            agencies: Vec::new(),
            merchant_id: None,
        }
    }

    pub fn sign_access(&self, claims: &AccessClaims) -> Result<String, TokenError> {
        self.sign(claims, ACCESS_TOKEN_TYP)
    }

    pub fn sign_id_token(&self, claims: &IdClaims) -> Result<String, TokenError> {
        self.sign(claims, "JWT")
    }

    /// Signs a statement that is not a token (an audit checkpoint): its own `typ`, so it can
    /// never be replayed as one.
    pub fn sign_statement<T: Serialize>(
        &self,
        claims: &T,
        typ: &str,
    ) -> Result<(String, String), TokenError> {
        let signer = self.keyring.signer().ok_or(TokenError::NoSigningKey)?;
        let jws = signer.sign(claims, typ).ok_or(TokenError::Signing)?;
        Ok((signer.kid.clone(), jws))
    }

    fn sign<T: Serialize>(&self, claims: &T, typ: &str) -> Result<String, TokenError> {
        self.sign_statement(claims, typ).map(|(_, jws)| jws)
    }

    /// Like [`verify_access`](Self::verify_access), remembering tokens already verified.
    pub fn verify_access_cached(&self, token: &str) -> Result<Arc<AccessClaims>, TokenError> {
        let key = *blake3::hash(token.as_bytes()).as_bytes();
        let now = OffsetDateTime::now_utc().unix_timestamp();
        if let Some((kid, claims)) = self.verified.get(&key) {
            // A key withdrawn early (a compromise) takes its cached tokens with it.
            if claims.exp + LEEWAY_SECS as i64 > now && self.keyring.verifier(&kid).is_some() {
                return Ok(claims);
            }
            self.verified.invalidate(&key);
        }
        let (kid, claims) = self.verify_access_with_kid(token)?;
        let claims = Arc::new(claims);
        self.verified.insert(key, (Arc::from(kid), claims.clone()));
        Ok(claims)
    }

    /// Verifies one of our access tokens: algorithm pinned to ES256 (never what the token says),
    /// `typ` checked (jsonwebtoken does not), key from our own set only, `iss` and `aud` our
    /// issuer, `exp`/`nbf` with small leeway.
    pub fn verify_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        self.verify_access_with_kid(token).map(|(_, claims)| claims)
    }

    /// [`verify_access`](Self::verify_access), also returning the key id it verified with.
    fn verify_access_with_kid(&self, token: &str) -> Result<(String, AccessClaims), TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::ES256 {
            return Err(TokenError::Algorithm);
        }
        let typ_ok = header.typ.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case(ACCESS_TOKEN_TYP) || t.eq_ignore_ascii_case("application/at+jwt")
        });
        if !typ_ok {
            return Err(TokenError::Type);
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let key = self.keyring.verifier(&kid).ok_or(TokenError::UnknownKey)?;
        let mut validation = Validation::new(Algorithm::ES256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.issuer]);
        // jsonwebtoken only knows these names; `iat` is required by the claims type itself.
        validation.required_spec_claims = ["exp", "nbf", "iss", "aud", "sub"]
            .into_iter()
            .map(String::from)
            .collect::<HashSet<_>>();
        jsonwebtoken::decode::<AccessClaims>(token, &key, &validation)
            .map(|data| (kid, data.claims))
            .map_err(|e| TokenError::Invalid(e.into_kind()))
    }
}
