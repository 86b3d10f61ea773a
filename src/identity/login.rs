//! Sign-in state between our authorization endpoint, the provider and our callback, kept in
//! Redis so that any replica can finish a sign-in another started. Keys are hashes of the
//! secrets (state, code), so a Redis dump reveals nothing usable.

use redis::AsyncCommands;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::crypto;
use crate::redis::Redis;

/// A sign-in waiting for the provider: 10 minutes to complete the provider's login.
pub const PENDING_TTL_SECS: u64 = 600;
/// Our one-time code for the app (≤ 60 s).
pub const CODE_TTL_SECS: u64 = 60;
/// Prefix of the cookies binding pending sign-ins to the browser that started them; each
/// sign-in has its own, so two apps signing in through one system browser do not collide.
pub const BINDING_COOKIE_PREFIX: &str = "motcua_login_";

/// The binding cookie's name for the sign-in with our `state`.
pub fn binding_cookie_name(state: &str) -> String {
    let hash = crypto::sha256_b64(state.as_bytes());
    format!("{BINDING_COOKIE_PREFIX}{}", &hash[..16])
}

/// What we remember while the citizen is at the provider.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    pub client_id: String,
    pub redirect_uri: String,
    pub app_state: Option<String>,
    pub app_code_challenge: String,
    pub scope: String,
    pub app_nonce: Option<String>,
    pub require_level2: bool,
    /// Our nonce and PKCE verifier towards the provider.
    pub nonce: String,
    pub pkce_verifier: String,
    /// SHA-256 of the browser-binding cookie's value.
    pub binding_sha256: String,
    /// The app's `max_age` (OIDC Core §3.1.2.1): the provider's `auth_time` must be this recent.
    #[serde(default)]
    pub max_age: Option<u64>,
    /// The app asked `prompt=login`: the citizen must authenticate again, after `started_at`.
    #[serde(default)]
    pub force_login: bool,
    /// When the sign-in started (unix seconds).
    #[serde(default)]
    pub started_at: i64,
}

/// Clock skew allowed between the provider's `auth_time` and our clock.
pub const AUTH_TIME_SKEW_SECS: i64 = 30;

impl PendingLogin {
    /// Whether the provider's `auth_time` satisfies the app's `max_age` and `prompt=login`
    /// (either needs `auth_time`); `now` in unix seconds.
    pub fn fresh_enough(&self, auth_time: Option<i64>, now: i64) -> bool {
        if self.max_age.is_none() && !self.force_login {
            return true;
        }
        let Some(at) = auth_time else {
            return false;
        };
        let recent = self
            .max_age
            .is_none_or(|max| now - at <= max as i64 + AUTH_TIME_SKEW_SECS);
        let after_start = !self.force_login || at >= self.started_at - AUTH_TIME_SKEW_SECS;
        recent && after_start
    }
}

/// What our one-time code stands for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssuedCode {
    pub citizen_id: Uuid,
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub acr: crate::tokens::Level,
    pub auth_time: i64,
    pub sid: String,
}

/// `{prefix}{kind}:{{hash}}`: the hash is a Redis Cluster hash tag, so a code's live and spent
/// keys, which one script moves between, share a slot.
fn key(redis: &Redis, kind: &str, secret: &str) -> String {
    let tag = format!("{{{}}}", crypto::sha256_b64(secret.as_bytes()));
    redis.key(&[kind, &tag])
}

async fn put<T: Serialize>(
    redis: &Redis,
    key: String,
    value: &T,
    ttl: u64,
) -> redis::RedisResult<()> {
    let json = serde_json::to_vec(value).map_err(|e| {
        redis::RedisError::from((redis::ErrorKind::Client, "serialise", e.to_string()))
    })?;
    redis
        .run(|mut conn| async move { conn.set_ex::<_, _, ()>(key, json, ttl).await })
        .await
}

/// Single use: GETDEL, so a replayed state or code finds nothing.
async fn take<T: DeserializeOwned>(redis: &Redis, key: String) -> redis::RedisResult<Option<T>> {
    let raw: Option<Vec<u8>> = redis
        .run(|mut conn| async move { conn.get_del(key).await })
        .await?;
    Ok(raw.and_then(|bytes| serde_json::from_slice(&bytes).ok()))
}

pub async fn store_pending(
    redis: &Redis,
    state: &str,
    login: &PendingLogin,
) -> redis::RedisResult<()> {
    put(redis, key(redis, "login", state), login, PENDING_TTL_SECS).await
}

pub async fn take_pending(redis: &Redis, state: &str) -> redis::RedisResult<Option<PendingLogin>> {
    take(redis, key(redis, "login", state)).await
}

pub async fn store_code(redis: &Redis, code: &str, issued: &IssuedCode) -> redis::RedisResult<()> {
    put(redis, key(redis, "code", code), issued, CODE_TTL_SECS).await
}

/// How long a redeemed code is remembered, so that a replay can be told from a mistake and
/// revoke what the first redemption issued (RFC 6749 §4.1.2).
pub const SPENT_CODE_TTL_SECS: u64 = 600;

/// Takes a code (single use) and, in the same step, remembers it as spent.
pub async fn take_code(redis: &Redis, code: &str) -> redis::RedisResult<Option<IssuedCode>> {
    const TAKE: &str = r"
        local v = redis.call('GETDEL', KEYS[1])
        if v then redis.call('SET', KEYS[2], v, 'EX', ARGV[1]) end
        return v";
    let (live, spent) = (key(redis, "code", code), key(redis, "code_spent", code));
    let raw: Option<Vec<u8>> = redis
        .run(|mut conn| async move {
            redis::Script::new(TAKE)
                .key(live)
                .key(spent)
                .arg(SPENT_CODE_TTL_SECS)
                .invoke_async(&mut conn)
                .await
        })
        .await?;
    Ok(raw.and_then(|bytes| serde_json::from_slice(&bytes).ok()))
}

/// What a code that was already redeemed stood for (a replay), if it was redeemed lately.
/// Taken once: the first replay revokes and is audited, later ones are ordinary failures.
pub async fn spent_code(redis: &Redis, code: &str) -> redis::RedisResult<Option<IssuedCode>> {
    take(redis, key(redis, "code_spent", code)).await
}

/// The binding cookie for a sign-in: HttpOnly, only sent back to our callback, `Secure` when we
/// are served over https. SameSite=Lax still lets the provider's top-level redirect carry it.
/// The path is the callback's as the browser sees it, under the public URL's path when a proxy
/// serves us below one; otherwise the browser would never send the cookie back.
pub fn binding_cookie(name: &str, value: &str, public_url: &url::Url, max_age: u64) -> String {
    format!(
        "{name}={value}; Path={}{}; Max-Age={max_age}; HttpOnly; SameSite=Lax{}",
        public_url.path().trim_end_matches('/'),
        crate::http::paths::EID_CALLBACK,
        if public_url.scheme() == "https" {
            "; Secure"
        } else {
            ""
        }
    )
}

/// Reads the cookie `wanted` from a `Cookie` header.
pub fn cookie_value(header: Option<&str>, wanted: &str) -> Option<String> {
    header?
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == wanted)
        .map(|(_, value)| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(max_age: Option<u64>, force_login: bool) -> PendingLogin {
        PendingLogin {
            client_id: "mc_x".into(),
            redirect_uri: "vn.gov.app:/cb".into(),
            app_state: None,
            app_code_challenge: String::new(),
            scope: "openid".into(),
            app_nonce: None,
            require_level2: false,
            nonce: String::new(),
            pkce_verifier: String::new(),
            binding_sha256: String::new(),
            max_age,
            force_login,
            started_at: 1_000,
        }
    }

    #[test]
    fn max_age_and_prompt_login_need_a_recent_auth_time() {
        let now = 2_000;
        let cases = [
            (pending(None, false), None, true),
            (pending(Some(600), false), None, false),
            (pending(Some(600), false), Some(now - 600), true),
            (pending(Some(600), false), Some(now - 700), false),
            (pending(None, true), Some(990), true),
            (pending(None, true), Some(900), false),
            (pending(Some(0), false), Some(now - 20), true),
        ];
        for (pending, auth_time, fresh) in cases {
            assert_eq!(
                pending.fresh_enough(auth_time, now),
                fresh,
                "{:?} {:?} {auth_time:?}",
                pending.max_age,
                pending.force_login
            );
        }
    }
}
