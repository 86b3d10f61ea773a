//! Revocation that reaches every replica within a second without a Redis round trip per
//! request: revoked sessions (`sid`) and tokens (`jti`) go to a Redis deny-list (expiring with
//! the longest access-token life) and are published on a channel every replica subscribes to,
//! into an in-process set that is reloaded whenever the subscription (re)connects. While the
//! subscription is down, each check asks Redis instead, then PostgreSQL; if neither answers the
//! token is refused (fail safe).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::StreamExt;
use redis::AsyncCommands;
use sqlx::PgPool;
use time::OffsetDateTime;

use super::AccessClaims;
use crate::redis::Redis;

#[derive(Clone)]
pub struct Revocations {
    inner: Arc<Inner>,
}

struct Inner {
    redis: Redis,
    db: PgPool,
    /// `sid:<id>` / `jti:<id>` → unix time after which the entry no longer matters.
    local: RwLock<HashMap<String, i64>>,
    /// Suspended clients → cut-off (unix milliseconds): their tokens issued until then are dead.
    suspended: RwLock<HashMap<String, i64>>,
    live: AtomicBool,
    /// How long a revoked session must stay denied: the longest access-token life plus leeway.
    session_ttl: Duration,
}

impl Revocations {
    pub fn new(redis: Redis, db: PgPool, access_ttl: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                redis,
                db,
                local: RwLock::default(),
                suspended: RwLock::default(),
                live: AtomicBool::new(false),
                session_ttl: access_ttl + Duration::from_secs(super::jwt::LEEWAY_SECS + 30),
            }),
        }
    }

    fn channel(&self) -> String {
        self.inner.redis.key(&["revocations"])
    }

    fn deny_key(&self, entry: &str) -> String {
        self.inner.redis.key(&["deny", entry])
    }

    /// Whether the subscription is up (the in-process set is authoritative).
    pub fn is_live(&self) -> bool {
        self.inner.live.load(Ordering::SeqCst)
    }

    /// Denies every token of a session. The caller has already marked it revoked in PostgreSQL.
    pub async fn revoke_session(&self, sid: &str) {
        let until =
            OffsetDateTime::now_utc().unix_timestamp() + self.inner.session_ttl.as_secs() as i64;
        self.deny(format!("sid:{sid}"), until).await;
    }

    /// Denies one access token until it expires (`exp`, unix seconds, with the verification
    /// leeway): recorded in PostgreSQL, then fanned out.
    pub async fn revoke_token(&self, jti: &str, exp: i64) -> sqlx::Result<()> {
        let expires =
            OffsetDateTime::from_unix_timestamp(exp).unwrap_or_else(|_| OffsetDateTime::now_utc());
        crate::sessions::store::revoke_access_token(&self.inner.db, jti, expires).await?;
        self.deny(format!("jti:{jti}"), exp + super::jwt::LEEWAY_SECS as i64)
            .await;
        Ok(())
    }

    /// Kills every token the client obtained up to `at_ms` (unix milliseconds), on every
    /// replica: a suspension, a deletion, a narrowed registration. The caller has recorded the
    /// cut-off in PostgreSQL.
    pub async fn suspend_client(&self, client_id: &str, at_ms: i64) {
        self.remember_suspension(client_id, at_ms);
        let entry = format!("client:{client_id}");
        let until = at_ms / 1000 + self.inner.session_ttl.as_secs() as i64;
        self.publish(&entry, at_ms, until).await;
    }

    fn remember_suspension(&self, client_id: &str, at: i64) {
        let mut suspended = self
            .inner
            .suspended
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let entry = suspended.entry(client_id.to_string()).or_insert(at);
        *entry = (*entry).max(at);
    }

    async fn deny(&self, entry: String, until: i64) {
        self.remember(&entry, until);
        self.publish(&entry, until, until).await;
    }

    /// Writes `entry` = `value` to the deny-list until `until` and tells every replica.
    async fn publish(&self, entry: &str, value: i64, until: i64) {
        let ttl = (until - OffsetDateTime::now_utc().unix_timestamp()).max(1) as u64;
        let key = self.deny_key(entry);
        let channel = self.channel();
        let message = format!("{entry}|{value}");
        let result = self
            .inner
            .redis
            .run(|mut conn| async move {
                redis::pipe()
                    .atomic()
                    .set_ex(&key, value, ttl)
                    .ignore()
                    .publish(&channel, &message)
                    .ignore()
                    .query_async::<()>(&mut conn)
                    .await
            })
            .await;
        if let Err(err) = result {
            // PostgreSQL holds the revocation; replicas fall back to it while Redis is away.
            tracing::error!(error = %err, "publishing a revocation failed");
        }
    }

    fn remember(&self, entry: &str, until: i64) {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let mut local = self.inner.local.write().unwrap_or_else(|e| e.into_inner());
        if local.len() > 10_000 {
            local.retain(|_, until| *until > now);
        }
        local.insert(entry.to_string(), until);
    }

    fn known_locally(&self, entry: &str) -> bool {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        self.inner
            .local
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(entry)
            .is_some_and(|until| *until > now)
    }

    /// Whether the token's session or the token itself has been revoked.
    pub async fn is_revoked(&self, claims: &AccessClaims) -> bool {
        let mut entries = vec![format!("jti:{}", claims.jti)];
        if let Some(sid) = &claims.sid {
            entries.push(format!("sid:{sid}"));
        }
        if entries.iter().any(|e| self.known_locally(e)) {
            return true;
        }
        let suspended_at = self
            .inner
            .suspended
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&claims.client_id)
            .copied();
        let issued_ms = issued_ms(claims);
        if suspended_at.is_some_and(|at| issued_ms <= at) {
            return true;
        }
        if self.is_live() {
            return false;
        }
        let client_key = self.deny_key(&format!("client:{}", claims.client_id));
        // The subscription is down: ask Redis, then PostgreSQL.
        let keys: Vec<String> = entries.iter().map(|e| self.deny_key(e)).collect();
        let redis_answer = self
            .inner
            .redis
            .run(|mut conn| async move {
                let found: i64 = conn.exists(keys).await?;
                let suspended: Option<i64> = conn.get(client_key).await?;
                Ok((found, suspended))
            })
            .await;
        match redis_answer {
            Ok((found, suspended)) => found > 0 || suspended.is_some_and(|at| issued_ms <= at),
            Err(_) => self.revoked_in_database(claims).await,
        }
    }

    async fn revoked_in_database(&self, claims: &AccessClaims) -> bool {
        let db = &self.inner.db;
        let token = crate::sessions::store::is_access_token_revoked(db, &claims.jti).await;
        let client: sqlx::Result<bool> = sqlx::query_scalar(
            "SELECT status <> 'active'
                    OR coalesce(floor(extract(epoch FROM suspended_at) * 1000)::bigint >= $2, false)
             FROM clients WHERE id = $1",
        )
        .bind(&claims.client_id)
        .bind(issued_ms(claims))
        .fetch_optional(db)
        .await
        .map(|found| found.unwrap_or(true));
        let session = match claims
            .sid
            .as_deref()
            .and_then(|s| uuid::Uuid::parse_str(s).ok())
        {
            Some(sid) => crate::sessions::store::is_revoked(db, sid).await,
            None => Ok(false),
        };
        match (token, session, client) {
            (Ok(token), Ok(session), Ok(client)) => token || session || client,
            // Nobody can say the token is still good: refuse it.
            _ => true,
        }
    }

    /// Keeps the subscription up for the life of the process.
    pub fn spawn_subscriber(&self) {
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(err) = this.subscribe_once().await {
                    tracing::debug!(error = %err, "revocation subscription down");
                }
                this.inner.live.store(false, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
    }

    async fn subscribe_once(&self) -> redis::RedisResult<()> {
        let client = self.inner.redis.client().clone();
        let mut pubsub = tokio::time::timeout(Duration::from_secs(2), client.get_async_pubsub())
            .await
            .map_err(|_| {
                redis::RedisError::from((redis::ErrorKind::Io, "pubsub connect timed out"))
            })??;
        pubsub.subscribe(self.channel()).await?;
        // Subscribed first, then reloaded: nothing published in between is missed.
        self.reload().await?;
        // PostgreSQL has every revocation, including any whose Redis write failed.
        if let Err(err) = self.reload_from_database().await {
            tracing::warn!(error = %err, "reloading revocations from PostgreSQL failed");
            return Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                "revocations incomplete",
            )));
        }
        self.inner.live.store(true, Ordering::SeqCst);
        tracing::info!("revocation subscription up");
        let mut messages = pubsub.on_message();
        while let Some(message) = messages.next().await {
            let Ok(payload) = message.get_payload::<String>() else {
                continue;
            };
            if let Some((entry, value)) = payload.split_once('|')
                && let Ok(value) = value.parse::<i64>()
            {
                match entry.strip_prefix("client:") {
                    Some(client_id) => self.remember_suspension(client_id, value),
                    None => self.remember(entry, value),
                }
            }
        }
        Ok(())
    }

    /// Loads revocations still in force from PostgreSQL.
    async fn reload_from_database(&self) -> sqlx::Result<()> {
        let window = self.inner.session_ttl.as_secs() as i64;
        let sessions: Vec<(uuid::Uuid, i64)> = sqlx::query_as(
            "SELECT id, extract(epoch FROM revoked_at)::bigint + $1 FROM sessions
             WHERE revoked_at > now() - make_interval(secs => $1)",
        )
        .bind(window)
        .fetch_all(&self.inner.db)
        .await?;
        for (sid, until) in sessions {
            self.remember(&format!("sid:{sid}"), until);
        }
        let tokens: Vec<(String, i64)> = sqlx::query_as(
            "SELECT jti, extract(epoch FROM expires_at)::bigint + $1 FROM revoked_access_tokens
             WHERE expires_at > now() - make_interval(secs => $1)",
        )
        .bind(super::jwt::LEEWAY_SECS as i64)
        .fetch_all(&self.inner.db)
        .await?;
        for (jti, until) in tokens {
            self.remember(&format!("jti:{jti}"), until);
        }
        let clients: Vec<(String, i64)> = sqlx::query_as(
            "SELECT id, floor(extract(epoch FROM suspended_at) * 1000)::bigint FROM clients
             WHERE suspended_at > now() - make_interval(secs => $1)",
        )
        .bind(window)
        .fetch_all(&self.inner.db)
        .await?;
        for (client_id, at) in clients {
            self.remember_suspension(&client_id, at);
        }
        Ok(())
    }

    /// Loads the whole deny-list from Redis.
    async fn reload(&self) -> redis::RedisResult<()> {
        let pattern = self.deny_key("*");
        let prefix_len = self.deny_key("").len();
        let mut conn = self.inner.redis.connection()?;
        let mut cursor: u64 = 0;
        let now = OffsetDateTime::now_utc().unix_timestamp();
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(500)
                .query_async(&mut conn)
                .await?;
            for key in keys {
                let entry = &key[prefix_len..];
                if let Some(client_id) = entry.strip_prefix("client:") {
                    if let Some(at) = conn.get::<_, Option<i64>>(&key).await? {
                        self.remember_suspension(client_id, at);
                    }
                    continue;
                }
                let ttl: i64 = conn.ttl(&key).await?;
                if ttl > 0 {
                    self.remember(entry, now + ttl);
                }
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }
}

/// When a token was issued, in milliseconds: from its `jti` (a UUIDv7, stamped when it was
/// signed), else the end of its `iat` second, so that a cut-off in that second catches it.
pub fn issued_ms(claims: &AccessClaims) -> i64 {
    uuid::Uuid::parse_str(&claims.jti)
        .ok()
        .filter(|id| id.get_version_num() == 7)
        .and_then(|id| id.get_timestamp())
        .map(|ts| {
            let (secs, nanos) = ts.to_unix();
            secs as i64 * 1000 + i64::from(nanos / 1_000_000)
        })
        .filter(|ms| ms / 1000 == claims.iat)
        .unwrap_or(claims.iat * 1000 + 999)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh() -> AccessClaims {
        let keyring = crate::tokens::Keyring::ephemeral().unwrap();
        let tokens = crate::tokens::Tokens::new(keyring, "http://x", Duration::from_secs(60));
        tokens.access_claims("s", "c", "", OffsetDateTime::now_utc())
    }

    fn claims(jti: String, iat: i64) -> AccessClaims {
        AccessClaims {
            jti,
            iat,
            ..fresh()
        }
    }

    #[test]
    fn tokens_of_one_second_are_told_apart_by_their_jti() {
        let fresh = fresh();
        let ms = issued_ms(&fresh);
        assert_eq!(ms / 1000, fresh.iat);
        let now = OffsetDateTime::now_utc();
        assert!((now.unix_timestamp_nanos() / 1_000_000) as i64 - ms < 1_000);
        // Not a UUIDv7, or stamped outside its `iat` second: the end of that second.
        assert_eq!(
            issued_ms(&claims(uuid::Uuid::new_v4().to_string(), 10)),
            10_999
        );
        let v7 = uuid::Uuid::now_v7().to_string();
        assert_eq!(issued_ms(&claims(v7, 10)), 10_999);
    }
}
