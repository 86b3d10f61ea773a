//! The shared Redis connection, with a short circuit breaker.
//!
//! Redis holds caches, login state and rate-limit counters: losing it must make the service
//! slower, never broken. The connection is lazy (the service starts while Redis is down), and after
//! a connection failure callers skip Redis for a moment instead of each waiting for its timeout.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ErrorKind, RedisError};

/// How long Redis is skipped after a connection-level failure.
const BREAKER_OPEN_FOR: Duration = Duration::from_millis(1_000);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);

#[derive(Clone)]
pub struct Redis {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    manager: ConnectionManager,
    prefix: String,
    epoch: Instant,
    /// Milliseconds since `epoch` until which the breaker stays open; 0 when closed.
    open_until_ms: AtomicU64,
}

impl Redis {
    /// Prepares the connection without opening it: start-up does not depend on Redis.
    pub fn new(url: &str, prefix: &str) -> Result<Self, RedisError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let manager = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                manager,
                prefix: prefix.to_string(),
                epoch: Instant::now(),
                open_until_ms: AtomicU64::new(0),
            }),
        })
    }

    /// The client, for connections of their own (pub/sub).
    pub fn client(&self) -> &redis::Client {
        &self.inner.client
    }

    /// The configured key prefix (`MOTCUA_REDIS_PREFIX`); every key we write starts with it.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// Builds a full key from its parts: `{prefix}{part}:{part}...`.
    pub fn key(&self, parts: &[&str]) -> String {
        let mut key = self.inner.prefix.clone();
        key.push_str(&parts.join(":"));
        key
    }

    /// A connection for one operation, or an error at once while the breaker is open.
    pub fn connection(&self) -> Result<ConnectionManager, RedisError> {
        let now = self.now_ms();
        if now < self.inner.open_until_ms.load(Ordering::Relaxed) {
            return Err(RedisError::from((
                ErrorKind::Io,
                "redis skipped: recent connection failure",
            )));
        }
        Ok(self.inner.manager.clone())
    }

    /// Records the outcome of an operation: connection-level failures open the breaker.
    pub fn observe<T>(&self, result: &Result<T, RedisError>) {
        if let Err(err) = result
            && is_connection_failure(err)
        {
            let until = self.now_ms() + BREAKER_OPEN_FOR.as_millis() as u64;
            self.inner.open_until_ms.store(until, Ordering::Relaxed);
        }
    }

    /// Runs one command-producing closure with the breaker applied.
    pub async fn run<T, F, Fut>(&self, op: F) -> Result<T, RedisError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        let conn = self.connection()?;
        let result = op(conn).await;
        self.observe(&result);
        result
    }

    /// A real round trip, ignoring the breaker: readiness must see the truth.
    pub async fn ping(&self, timeout: Duration) -> Result<(), RedisError> {
        let mut conn = self.inner.manager.clone();
        let result = match tokio::time::timeout(
            timeout,
            redis::cmd("PING").query_async::<String>(&mut conn),
        )
        .await
        {
            Ok(result) => result.map(|_| ()),
            Err(_) => Err(RedisError::from((ErrorKind::Io, "PING timed out"))),
        };
        if result.is_ok() {
            self.inner.open_until_ms.store(0, Ordering::Relaxed);
        }
        result
    }

    fn now_ms(&self) -> u64 {
        self.inner.epoch.elapsed().as_millis() as u64
    }
}

fn is_connection_failure(err: &RedisError) -> bool {
    err.is_io_error()
        || err.is_timeout()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
}
