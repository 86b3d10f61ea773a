//! Redis cache-aside for the read paths mobile apps hit hardest.
//!
//! Entries live under `{prefix}cache:{namespace}:{version}:{key}`. Each namespace has a version
//! counter, so one `INCR` invalidates a whole family of entries (say, every page of listings)
//! without scanning keys; old entries simply expire. Concurrent misses of one key in one
//! instance share a single load. When Redis fails, the loader runs and the caller never notices
//! beyond latency: the cache is never the reason a read fails.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use redis::AsyncCommands;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::OnceCell;

use crate::redis::Redis;

/// Reads the namespace version and the entry in one round trip.
const GET_SCRIPT: &str = r#"
local version = redis.call('GET', KEYS[1]) or '0'
return {version, redis.call('GET', ARGV[1] .. version .. ':' .. ARGV[2])}
"#;

/// A family of cache entries invalidated together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Namespace(pub &'static str);

#[derive(Clone)]
pub struct Cache {
    redis: Redis,
    script: Arc<redis::Script>,
    inflight: Arc<Mutex<HashMap<String, Arc<OnceCell<Bytes>>>>>,
    enabled: bool,
}

/// Where a value came from, for metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Cache,
    Loader,
}

impl Cache {
    pub fn new(redis: Redis) -> Self {
        Self {
            redis,
            script: Arc::new(redis::Script::new(GET_SCRIPT)),
            inflight: Arc::default(),
            enabled: true,
        }
    }

    /// A disabled cache runs every loader itself: no Redis, no sharing of loads between
    /// concurrent callers. Reads then cost what they cost without a cache, which is what the
    /// uncached benchmarks measure and what an operator wants when suspecting the cache.
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Returns the cached JSON value of `key`, or loads, caches and returns it.
    pub async fn get_or_load<T, E, F, Fut>(
        &self,
        ns: Namespace,
        key: &str,
        ttl: Duration,
        load: F,
    ) -> Result<T, E>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        if !self.enabled {
            count(ns, "bypass");
            return load().await;
        }
        let version = match self.lookup(ns, "", key).await {
            Lookup::Hit { bytes, version } => match serde_json::from_slice(&bytes) {
                Ok(value) => {
                    count(ns, "hit");
                    return Ok(value);
                }
                Err(err) => {
                    // An entry written by an older release in another shape: replace it.
                    tracing::warn!(namespace = ns.0, error = %err, "undecodable cache entry");
                    count(ns, "miss");
                    Some(version)
                }
            },
            other => other.into_version(ns),
        };

        let flight = format!("{}:{key}", version.as_deref().unwrap_or("-"));
        let mut load = Some(load);
        let mut own = None;
        let (load_ref, own_ref) = (&mut load, &mut own);
        let (bytes, leader) = self
            .single_flight(ns, &flight, move || async move {
                let Some(load) = load_ref.take() else {
                    return Ok(Bytes::new());
                };
                let value = load().await?;
                // Serialising our own types does not fail; if it ever did, caching nothing is right.
                let bytes = Bytes::from(serde_json::to_vec(&value).unwrap_or_default());
                *own_ref = Some(value);
                Ok(bytes)
            })
            .await?;
        if leader && let Some(version) = version {
            self.store((ns, ""), key, &version, &bytes, ttl).await;
        }
        if let Some(value) = own {
            return Ok(value);
        }
        match serde_json::from_slice(&bytes) {
            Ok(value) => Ok(value),
            // Only a type whose JSON does not round-trip gets here: load it ourselves.
            Err(_) => match load.take() {
                Some(load) => load().await,
                None => unreachable_loader(),
            },
        }
    }

    /// Like [`get_or_load`](Self::get_or_load) for pre-serialised bodies, which are served as
    /// they are, within one `scope` of a namespace (one citizen's entries, say; `""` for the
    /// whole namespace), which [`invalidate_scope`](Self::invalidate_scope) drops alone. Also
    /// tells whether the bytes came from the cache.
    pub async fn get_or_load_scoped<E, F, Fut>(
        &self,
        ns: Namespace,
        scope: &str,
        key: &str,
        ttl: Duration,
        load: F,
    ) -> Result<(Bytes, Source), E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes, E>>,
    {
        if !self.enabled {
            count(ns, "bypass");
            return load().await.map(|bytes| (bytes, Source::Loader));
        }
        let version = match self.lookup(ns, scope, key).await {
            Lookup::Hit { bytes, .. } => {
                count(ns, "hit");
                return Ok((bytes, Source::Cache));
            }
            other => other.into_version(ns),
        };
        // The version is part of the flight: a read that starts after an invalidation must not
        // join a load that started before it (and may have read the old state).
        let flight = format!("{scope}:{}:{key}", version.as_deref().unwrap_or("-"));
        let (bytes, leader) = self.single_flight(ns, &flight, load).await?;
        if leader && let Some(version) = version {
            self.store((ns, scope), key, &version, &bytes, ttl).await;
        }
        Ok((bytes, Source::Loader))
    }

    /// Runs `load` unless another task of this instance is already loading the same key, in which
    /// case it waits for that result. If the running load fails, the next waiter runs its own.
    /// Returns the bytes and whether this caller's loader produced them.
    async fn single_flight<E, F, Fut>(
        &self,
        ns: Namespace,
        key: &str,
        load: F,
    ) -> Result<(Bytes, bool), E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes, E>>,
    {
        let flight_key = format!("{}:{}", ns.0, key);
        let cell = {
            let mut inflight = lock(&self.inflight);
            inflight.entry(flight_key.clone()).or_default().clone()
        };
        let mut leader = false;
        let result = cell
            .get_or_try_init(|| {
                leader = true;
                async {
                    metrics::gauge!("motcua_cache_inflight_loads").increment(1.0);
                    let result = load().await;
                    metrics::gauge!("motcua_cache_inflight_loads").decrement(1.0);
                    metrics::counter!("motcua_cache_loads_total", "namespace" => ns.0).increment(1);
                    result
                }
            })
            .await
            .cloned();
        {
            let mut inflight = lock(&self.inflight);
            if inflight
                .get(&flight_key)
                .is_some_and(|c| Arc::ptr_eq(c, &cell))
            {
                inflight.remove(&flight_key);
            }
        }
        result.map(|bytes| (bytes, leader))
    }

    /// Invalidates every entry of a namespace, on every instance, with one `INCR`.
    pub async fn invalidate(&self, ns: Namespace) {
        self.invalidate_scope(ns, "").await
    }

    /// Invalidates the entries of one scope of a namespace, on every instance, with one
    /// `INCR`. Call it after the write has committed: a load that read the old state stores it
    /// under the old version, which nobody reads again.
    pub async fn invalidate_scope(&self, ns: Namespace, scope: &str) {
        // Even a disabled cache invalidates: other replicas may be serving from it.
        let version_key = self.version_key(ns, scope);
        let result = self
            .redis
            .run(|mut conn| async move { conn.incr::<_, _, i64>(&version_key, 1).await })
            .await;
        if let Err(err) = result {
            // Entries of the old version live on until their TTL: keep TTLs short where
            // staleness matters.
            tracing::error!(namespace = ns.0, error = %err, "cache invalidation failed");
            metrics::counter!("motcua_cache_invalidation_failures_total", "namespace" => ns.0)
                .increment(1);
        }
    }

    /// Invalidates every scope of a namespace (every citizen's entries, say) and the namespace
    /// itself, on every instance: one `INCR` per scope's version found by `SCAN`. Costs a walk
    /// of the keyspace, so it is for rare events (an edit of the holiday table), not for writes
    /// on the hot path.
    pub async fn invalidate_every_scope(&self, ns: Namespace) {
        self.invalidate(ns).await;
        let pattern = format!(
            "{}cache:{{{}:*}}:version",
            glob_escape(self.redis.prefix()),
            glob_escape(ns.0)
        );
        let result = self.bump_every(&pattern).await;
        if let Err(err) = result {
            tracing::error!(namespace = ns.0, error = %err, "cache invalidation failed");
            metrics::counter!("motcua_cache_invalidation_failures_total", "namespace" => ns.0)
                .increment(1);
        }
    }

    /// One `INCR` for every key matching `pattern`, on every master of a cluster. The keys of
    /// one batch live in different slots: each is its own command (all in flight at once).
    async fn bump_every(&self, pattern: &str) -> Result<(), redis::RedisError> {
        let mut scan = self.redis.scan(pattern, 1000).await?;
        let conn = self.redis.connection()?;
        while let Some(keys) = scan.next_batch().await? {
            let bumps = keys.into_iter().map(|key| {
                let mut conn = conn.clone();
                async move { conn.incr::<_, _, i64>(key, 1).await }
            });
            let result = futures::future::try_join_all(bumps).await;
            self.redis.observe(&result);
            result?;
        }
        Ok(())
    }

    async fn lookup(&self, ns: Namespace, scope: &str, key: &str) -> Lookup {
        let version_key = self.version_key(ns, scope);
        let entry_prefix = self.entry_prefix(ns, scope);
        let script = self.script.clone();
        let key = key.to_string();
        let result = self
            .redis
            .run(|mut conn| async move {
                script
                    .key(version_key)
                    .arg(entry_prefix)
                    .arg(key)
                    .invoke_async::<(String, Option<Vec<u8>>)>(&mut conn)
                    .await
            })
            .await;
        match result {
            Ok((version, Some(bytes))) => Lookup::Hit {
                bytes: Bytes::from(bytes),
                version,
            },
            Ok((version, None)) => Lookup::Miss { version },
            Err(err) => {
                tracing::warn!(namespace = ns.0, error = %err, "cache unavailable, loading directly");
                Lookup::Unavailable
            }
        }
    }

    async fn store(
        &self,
        (ns, scope): (Namespace, &str),
        key: &str,
        version: &str,
        bytes: &Bytes,
        ttl: Duration,
    ) {
        // Written under the version read before loading: if an invalidation raced the load, this
        // lands in the old generation and is never read.
        let entry_key = format!("{}{}:{}", self.entry_prefix(ns, scope), version, key);
        let ttl_secs = ttl.as_secs().max(1);
        let payload = bytes.to_vec();
        let result =
            self.redis
                .run(|mut conn| async move {
                    conn.set_ex::<_, _, ()>(entry_key, payload, ttl_secs).await
                })
                .await;
        if let Err(err) = result {
            tracing::warn!(namespace = ns.0, error = %err, "cache write failed");
        }
    }

    // A hash tag keeps a namespace's (or a scope's) version and entries in one Redis Cluster
    // slot, which the lookup script needs.
    fn version_key(&self, ns: Namespace, scope: &str) -> String {
        format!(
            "{}cache:{{{}}}:version",
            self.redis.prefix(),
            tag(ns, scope)
        )
    }

    fn entry_prefix(&self, ns: Namespace, scope: &str) -> String {
        format!("{}cache:{{{}}}:v", self.redis.prefix(), tag(ns, scope))
    }
}

enum Lookup {
    Hit { bytes: Bytes, version: String },
    Miss { version: String },
    Unavailable,
}

impl Lookup {
    /// For a lookup that found nothing usable: the version to store under, if Redis answered.
    fn into_version(self, ns: Namespace) -> Option<String> {
        match self {
            Lookup::Hit { version, .. } | Lookup::Miss { version } => {
                count(ns, "miss");
                Some(version)
            }
            Lookup::Unavailable => {
                count(ns, "error");
                None
            }
        }
    }
}

/// `get_or_load` keeps its loader until it has either run it or handed it to the single flight,
/// which runs it at most once; a waiter's loader is never taken.
fn unreachable_loader<T, E>() -> Result<T, E> {
    unreachable!("a cache waiter's loader is never taken")
}

/// A namespace, or one scope of it (say, one citizen's dossiers) with its own version.
fn tag(ns: Namespace, scope: &str) -> String {
    match scope {
        "" => ns.0.to_string(),
        scope => format!("{}:{scope}", ns.0),
    }
}

/// Text matched literally by a `SCAN MATCH` pattern.
fn glob_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

fn count(ns: Namespace, result: &'static str) {
    metrics::counter!("motcua_cache_requests_total", "namespace" => ns.0, "result" => result)
        .increment(1);
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The map holds no invariant a panicking holder could break.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
