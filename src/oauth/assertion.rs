//! `private_key_jwt` client authentication (RFC 7523 §2.2, OpenID Connect Core §9): the client
//! signs a short-lived JWT with a key published at its registered `jwks_uri`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use redis::AsyncCommands;
use serde::Deserialize;
use time::OffsetDateTime;

use crate::clients::Client;
use crate::crypto;
use crate::state::AppState;

pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Assertions must be short-lived: `exp` at most this far ahead.
const MAX_LIFETIME_SECS: i64 = 300;
const JWKS_TTL: Duration = Duration::from_secs(300);
/// An unknown `kid` refetches a client's JWKS at most this often.
const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(10);
/// After a failed fetch, the client's JWKS is not asked for again for this long: a failing
/// provider gets one request from us, not one per assertion.
const JWKS_FAILURE_TTL: Duration = Duration::from_secs(10);
/// A JWK set is a few keys; anything much larger is not one.
const MAX_JWKS_BYTES: usize = 64 * 1024;
/// Asymmetric only: a client's JWKS cannot turn into an HMAC secret.
const ALLOWED: [Algorithm; 6] = [
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::EdDSA,
];

/// Client id, `jwks_uri` and the client's cut-off: the client is read from the database for
/// every assertion, so when an operator changes its `jwks_uri`, or cuts its tokens off
/// (suspension, a narrowed registration: the way to drop a leaked key that the client replaced
/// at the same URI), every replica misses the old keys at once.
type SetKey = (String, String, Option<i64>);

/// Clients' public keys, fetched from their `jwks_uri` and cached.
#[derive(Clone)]
pub struct ClientKeys {
    http: reqwest::Client,
    /// When each set was fetched, and the set.
    sets: moka::future::Cache<SetKey, (Instant, Arc<JwkSet>)>,
    failures: moka::sync::Cache<SetKey, Failure>,
}

impl ClientKeys {
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(Duration::from_secs(3))
                .timeout(Duration::from_secs(5))
                .build()?,
            sets: moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(JWKS_TTL)
                .build(),
            failures: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(JWKS_FAILURE_TTL)
                .build(),
        })
    }

    /// The cached set, or one fetch shared by every request that waits for it.
    async fn get(&self, key: &SetKey) -> Result<(Instant, Arc<JwkSet>), Failure> {
        if let Some(hit) = self.sets.get(key).await {
            return Ok(hit);
        }
        if let Some(failure) = self.failures.get(key) {
            return Err(failure);
        }
        self.sets
            .try_get_with_by_ref(key, async {
                self.fetch(key)
                    .await
                    .map(|set| (Instant::now(), Arc::new(set)))
            })
            .await
            .map_err(|failure| *failure)
    }

    /// A fresh set when the one `seen` is old enough to look again; a failure leaves the cached
    /// set in place, so a provider's hiccup does not lock out keys we already know.
    async fn refetch(&self, key: &SetKey, seen: Instant) -> Result<Option<Arc<JwkSet>>, Failure> {
        if seen.elapsed() < JWKS_REFETCH_INTERVAL {
            return Ok(None);
        }
        // Concurrent refetches run one after another; the later ones find the fresh set.
        let result = self
            .sets
            .entry_by_ref(key)
            .and_try_compute_with(|entry| async move {
                if let Some(entry) = entry
                    && entry.value().0.elapsed() < JWKS_REFETCH_INTERVAL
                {
                    return Ok(moka::ops::compute::Op::Nop);
                }
                if let Some(failure) = self.failures.get(key) {
                    return Err(failure);
                }
                let set = self.fetch(key).await?;
                Ok(moka::ops::compute::Op::Put((Instant::now(), Arc::new(set))))
            })
            .await?;
        Ok(result.into_entry().map(|entry| entry.into_value().1))
    }

    async fn fetch(&self, key: &SetKey) -> Result<JwkSet, Failure> {
        let result = self.download(&key.1).await;
        if let Err(failure) = result {
            self.failures.insert(key.clone(), failure);
        }
        result
    }

    async fn download(&self, uri: &str) -> Result<JwkSet, Failure> {
        let mut response = self
            .http
            .get(uri)
            .send()
            .await
            .map_err(|_| Failure::Unavailable("client jwks_uri unreachable"))?;
        if !response.status().is_success() {
            return Err(Failure::Unavailable("client jwks_uri answered an error"));
        }
        let too_large = Failure::Refused("client jwks_uri serves more than 64 KB");
        if response
            .content_length()
            .is_some_and(|length| length > MAX_JWKS_BYTES as u64)
        {
            return Err(too_large);
        }
        // Read as it arrives and stop at the cap: the length header may be absent or lie.
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|_| Failure::Unavailable("client jwks_uri unreachable"))?
        {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(too_large);
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body)
            .map_err(|_| Failure::Refused("client jwks_uri is not a JWK set"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The assertion is not acceptable (reason for the audit log).
    Refused(&'static str),
    /// We could not check it now.
    Unavailable(&'static str),
}

/// What is read from an assertion; `iss` and `sub` are checked by the validation, and `aud`
/// by it too, except its form.
#[derive(Deserialize)]
struct AssertionClaims {
    exp: i64,
    jti: Option<String>,
    aud: serde_json::Value,
}

/// Verifies a client assertion for `client`: signature by a key from its JWKS, `iss` = `sub` =
/// client id, `aud` = our issuer, a short `exp`, and a `jti` never seen before.
pub async fn verify(
    app: &AppState,
    keys: &ClientKeys,
    client: &Client,
    assertion: &str,
) -> Result<(), Failure> {
    let Some(uri) = client.jwks_uri.as_deref() else {
        return Err(Failure::Refused("client has no jwks_uri"));
    };
    let header = jsonwebtoken::decode_header(assertion)
        .map_err(|_| Failure::Refused("malformed assertion"))?;
    if !ALLOWED.contains(&header.alg) {
        return Err(Failure::Refused("assertion algorithm not allowed"));
    }
    let key = signing_key(keys, client, uri, header.kid.as_deref()).await?;
    let claims = decode(app, client, assertion, header.alg, &key)?;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    if claims.exp - now > MAX_LIFETIME_SECS {
        return Err(Failure::Refused("assertion lives too long"));
    }
    let Some(jti) = claims.jti.filter(|j| !j.is_empty()) else {
        return Err(Failure::Refused("assertion has no jti"));
    };
    // Each assertion once: remembered until it would have expired anyway.
    let ttl = (claims.exp - now + crate::tokens::LEEWAY_SECS as i64).max(1) as u64;
    if !first_use(app, client, &jti, ttl).await? {
        return Err(Failure::Refused("assertion replayed"));
    }
    Ok(())
}

/// The client's key the assertion names, from its JWKS.
async fn signing_key(
    keys: &ClientKeys,
    client: &Client,
    uri: &str,
    kid: Option<&str>,
) -> Result<DecodingKey, Failure> {
    let set_key = (client.client_id.clone(), uri.to_string(), client.cut_off_ms);
    let (fetched_at, set) = keys.get(&set_key).await?;
    match find_key(&set, kid) {
        Some(key) => Ok(key),
        // The client may have rotated its keys: look again, but not on every request.
        None => keys
            .refetch(&set_key, fetched_at)
            .await?
            .and_then(|fresh| find_key(&fresh, kid))
            .ok_or(Failure::Refused("assertion signed by an unknown key")),
    }
}

/// The assertion's claims, once its signature, `iss`, `sub`, `aud` and `exp` hold.
fn decode(
    app: &AppState,
    client: &Client,
    assertion: &str,
    alg: jsonwebtoken::Algorithm,
    key: &DecodingKey,
) -> Result<AssertionClaims, Failure> {
    let mut validation = Validation::new(alg);
    validation.leeway = crate::tokens::LEEWAY_SECS;
    validation.set_audience(&[app.config.issuer()]);
    validation.set_issuer(&[&client.client_id]);
    validation.sub = Some(client.client_id.clone());
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    let claims = jsonwebtoken::decode::<AssertionClaims>(assertion, key, &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                Failure::Refused("assertion expired")
            }
            jsonwebtoken::errors::ErrorKind::InvalidAudience => {
                Failure::Refused("assertion audience is not our issuer")
            }
            jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                Failure::Refused("assertion signature invalid")
            }
            _ => Failure::Refused("assertion invalid"),
        })?
        .claims;
    // RFC 7523bis: the issuer identifier as a string, never an array that contains it (an
    // assertion made for several audiences could be replayed at each).
    if claims.aud.as_str() != Some(app.config.issuer()) {
        return Err(Failure::Refused(
            "assertion audience is not our issuer alone",
        ));
    }
    Ok(claims)
}

/// Whether this is the first time the client's `jti` is seen (kept for `ttl` seconds).
async fn first_use(app: &AppState, client: &Client, jti: &str, ttl: u64) -> Result<bool, Failure> {
    let key = app.redis.key(&[
        "assertion",
        &client.client_id,
        &crypto::sha256_b64(jti.as_bytes()),
    ]);
    let first_use: Option<String> = app
        .redis
        .run(|mut conn| async move {
            conn.set_options(
                key,
                1,
                redis::SetOptions::default()
                    .conditional_set(redis::ExistenceCheck::NX)
                    .with_expiration(redis::SetExpiry::EX(ttl)),
            )
            .await
        })
        .await
        .map_err(|_| Failure::Unavailable("replay check unavailable"))?;
    Ok(first_use.is_some())
}

/// The key named by `kid`, or the only key when the assertion names none. The algorithm is
/// the one the header states, already checked against the allow-list; jsonwebtoken refuses a
/// key of another family.
fn find_key(set: &JwkSet, kid: Option<&str>) -> Option<DecodingKey> {
    let jwk = match kid {
        Some(kid) => set
            .keys
            .iter()
            .find(|k| k.common.key_id.as_deref() == Some(kid)),
        None if set.keys.len() == 1 => set.keys.first(),
        None => None,
    }?;
    DecodingKey::from_jwk(jwk).ok()
}
