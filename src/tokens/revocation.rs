//! Revocation that reaches every replica within a second without a Redis round trip per
//! request: revoked sessions (`sid`) and tokens (`jti`) go to a Redis deny-list (expiring with
//! the longest access-token life) and are published on a channel every replica subscribes to,
//! into an in-process set that is reloaded whenever the subscription (re)connects. While the
//! subscription is down, each check asks Redis instead, then PostgreSQL; if neither answers the
//! token is refused (fail safe).
//!
//! Redis may fail at the moment a revocation is written, after PostgreSQL committed it, and a
//! subscription may look alive while delivering nothing. So every replica also asks PostgreSQL,
//! every `MOTCUA_REVOCATION_POLL_MS`, for the revocations recorded since it last looked, whatever
//! the state of its subscription; and the subscription must answer a PING every second or it is
//! torn down, which sends checks back to Redis and PostgreSQL until a new one is up.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::StreamExt;
use redis::{AsyncCommands, RedisError};
use sqlx::PgPool;
use time::OffsetDateTime;

use super::AccessClaims;
use crate::redis::Redis;

/// How often the subscription connection must prove it still carries messages...
const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
/// ...by answering within this long; otherwise it is replaced.
const HEARTBEAT_DEADLINE: Duration = Duration::from_secs(2);
/// Connecting and subscribing get as long, so a dead server cannot wedge the subscriber.
const SUBSCRIBE_DEADLINE: Duration = Duration::from_secs(2);
/// A poll of PostgreSQL that takes longer is abandoned and retried at the next tick.
const POLL_DEADLINE: Duration = Duration::from_secs(5);
/// How far back each poll reaches beyond the longest transaction: `revoked_at` is the writing
/// transaction's start, and transactions commit out of order.
const POLL_OVERLAP_MARGIN: Duration = Duration::from_secs(30);

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
    /// How often PostgreSQL is asked for revocations the subscription may have missed.
    poll_every: Duration,
    /// How far each poll looks back past the previous one: a revocation's timestamp may precede
    /// its commit by as long as a transaction lives (a request's timeout).
    poll_overlap: Duration,
}

impl Revocations {
    /// `longest_transaction` bounds how long a transaction that revokes something can run (the
    /// request timeout: a request's transaction never commits after it).
    pub fn new(
        redis: Redis,
        db: PgPool,
        access_ttl: Duration,
        poll_every: Duration,
        longest_transaction: Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                redis,
                db,
                local: RwLock::default(),
                suspended: RwLock::default(),
                live: AtomicBool::new(false),
                session_ttl: super::max_token_life(access_ttl),
                poll_every,
                poll_overlap: longest_transaction + POLL_OVERLAP_MARGIN,
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
        super::store::revoke_access_token(&self.inner.db, jti, expires).await?;
        self.deny(format!("jti:{jti}"), exp + super::LEEWAY_SECS as i64)
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

    /// The latest cut-off this replica knows for `client_id` (unix milliseconds): it changes
    /// whenever what the client may do narrows.
    pub fn client_cut_off(&self, client_id: &str) -> Option<i64> {
        self.inner
            .suspended
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(client_id)
            .copied()
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
                // A cluster routes a PUBLISH by its channel's slot, which is not the key's, so
                // there the two go one after the other (the SET first, as in the transaction).
                if conn.is_cluster() {
                    conn.set_ex::<_, _, ()>(&key, value, ttl).await?;
                    return conn.publish::<_, _, ()>(&channel, &message).await;
                }
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
            // PostgreSQL holds the revocation: every replica's next poll picks it up.
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
        let suspended_at = self.client_cut_off(&claims.client_id);
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
        let token = super::store::is_access_token_revoked(db, &claims.jti).await;
        let client =
            super::store::is_client_cut_off(db, &claims.client_id, issued_ms(claims)).await;
        let session = match claims
            .sid
            .as_deref()
            .and_then(|s| uuid::Uuid::parse_str(s).ok())
        {
            Some(sid) => super::store::is_session_revoked(db, sid).await,
            None => Ok(false),
        };
        match (token, session, client) {
            (Ok(token), Ok(session), Ok(client)) => token || session || client,
            // Nobody can say the token is still good: refuse it.
            _ => true,
        }
    }

    /// Keeps the subscription up for the life of the process. On a Redis Cluster each attempt
    /// subscribes on the next listed node: every node carries every message, and the one that
    /// failed may be the one that went away.
    pub fn spawn_subscriber(&self) {
        let this = self.clone();
        tokio::spawn(async move {
            for attempt in 0.. {
                if let Err(err) = this.subscribe_once(attempt).await {
                    tracing::debug!(error = %err, "revocation subscription down");
                }
                this.inner.live.store(false, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
    }

    /// Asks PostgreSQL for new revocations every `poll_every` for the life of the process, so
    /// that one whose Redis fan-out failed still reaches this replica, live subscription or not.
    pub fn spawn_poller(&self) {
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(this.inner.poll_every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // The database's clock at the last successful poll; `None` loads everything in force.
            let mut since = None;
            let mut failing = false;
            loop {
                tick.tick().await;
                let polled =
                    tokio::time::timeout(POLL_DEADLINE, this.load_from_database(since)).await;
                match polled {
                    Ok(Ok(now)) => {
                        since = Some(now);
                        if failing {
                            tracing::info!("polling revocations from PostgreSQL works again");
                        }
                        failing = false;
                    }
                    Ok(Err(err)) => {
                        if !failing {
                            tracing::warn!(error = %err, "polling revocations from PostgreSQL failed");
                        }
                        failing = true;
                    }
                    Err(_) => {
                        if !failing {
                            tracing::warn!("polling revocations from PostgreSQL timed out");
                        }
                        failing = true;
                    }
                }
            }
        });
    }

    async fn subscribe_once(&self, attempt: usize) -> redis::RedisResult<()> {
        let client = self.inner.redis.client(attempt).clone();
        let pubsub = within(
            SUBSCRIBE_DEADLINE,
            "pubsub connect",
            client.get_async_pubsub(),
        )
        .await?;
        let (mut sink, mut stream) = pubsub.split();
        within(
            SUBSCRIBE_DEADLINE,
            "subscribe",
            sink.subscribe(self.channel()),
        )
        .await?;
        // Subscribed first, then reloaded: nothing published in between is missed.
        self.reload().await?;
        // PostgreSQL has every revocation, including any whose Redis write failed.
        if let Err(err) = self.load_from_database(None).await {
            tracing::warn!(error = %err, "reloading revocations from PostgreSQL failed");
            return Err(RedisError::from((
                redis::ErrorKind::Io,
                "revocations incomplete",
            )));
        }
        self.inner.live.store(true, Ordering::SeqCst);
        tracing::info!("revocation subscription up");
        // A half-open connection, or one that stopped delivering, looks alive forever: its
        // answer to a PING travels the same way as the messages, so a missing one ends it.
        let heartbeat = async {
            let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
            loop {
                tick.tick().await;
                if let Err(err) =
                    within(HEARTBEAT_DEADLINE, "heartbeat", sink.ping::<redis::Value>()).await
                {
                    tracing::warn!(error = %err, "revocation subscription missed its heartbeat");
                    return err;
                }
            }
        };
        let messages = async {
            while let Some(message) = stream.next().await {
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
        };
        tokio::select! {
            err = heartbeat => Err(err),
            () = messages => Ok(()),
        }
    }

    /// Loads revocations from PostgreSQL: with `since` (the database's clock at the previous
    /// load), those recorded after it, reaching back `poll_overlap` for transactions that
    /// committed late; without, every one still in force. Returns the database's clock.
    async fn load_from_database(
        &self,
        since: Option<OffsetDateTime>,
    ) -> sqlx::Result<OffsetDateTime> {
        let window = self.inner.session_ttl.as_secs() as i64;
        let leeway = super::LEEWAY_SECS as i64;
        let rows = match since {
            Some(since) => {
                let since = since - self.inner.poll_overlap;
                super::store::revocations_since(&self.inner.db, since, window, leeway).await?
            }
            None => super::store::revocations_in_force(&self.inner.db, window, leeway).await?,
        };
        let mut now = None;
        for super::store::Revoked { kind, id, value } in rows {
            match kind.as_str() {
                "sid" | "jti" => self.remember(&format!("{kind}:{id}"), value),
                "client" => self.remember_suspension(&id, value),
                _ => {
                    now = OffsetDateTime::from_unix_timestamp_nanos(i128::from(value) * 1_000_000)
                        .ok()
                }
            }
        }
        now.ok_or(sqlx::Error::RowNotFound)
    }

    /// Loads the whole deny-list from Redis (from every master of a cluster).
    async fn reload(&self) -> redis::RedisResult<()> {
        let pattern = self.deny_key("*");
        let prefix_len = self.deny_key("").len();
        let mut scan = self.inner.redis.scan(&pattern, 500).await?;
        let mut conn = self.inner.redis.connection()?;
        let now = OffsetDateTime::now_utc().unix_timestamp();
        while let Some(keys) = scan.next_batch().await? {
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
        }
        Ok(())
    }
}

/// Fails with a timeout error unless `op` completes within `deadline`.
async fn within<T>(
    deadline: Duration,
    what: &'static str,
    op: impl Future<Output = redis::RedisResult<T>>,
) -> redis::RedisResult<T> {
    tokio::time::timeout(deadline, op)
        .await
        .map_err(|_| RedisError::from((redis::ErrorKind::Io, "timed out", what.to_string())))?
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
