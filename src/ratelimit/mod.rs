//! Rate limits: GCRA in Redis, so every replica draws from one budget per caller.
//!
//! A caller is a client (its limit is set by operators, or the default), a citizen using an app
//! (the app's limit, per citizen: the app is one client shared by everyone), or, for anonymous
//! traffic, a client IP. GCRA keeps one timestamp per caller (the "theoretical arrival time"),
//! updated by one Lua script, so a burst of `limit` requests is allowed at once and then one
//! every `60 s / limit`. Redis keeps time for the script (`TIME`), so replicas with drifting
//! clocks still agree. When Redis cannot be reached, each replica limits on its own with the
//! same algorithm: limits loosen by the number of replicas, but requests are never refused for
//! want of Redis. A busy caller's requests are claimed a few at a time and decided in memory
//! (see the `slice` module), within the same budget.

mod decision;
mod gcra;
mod middleware;
mod slice;

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::PgPool;

pub use crate::http::RateSlot;
pub use decision::{Decision, TooManyRequests};
pub use middleware::RateLimit;

use gcra::{GCRA, GCRA_GUARDED, GCRA_STEP, gcra};
use slice::Slice;

use crate::audit::{AuditLog, Event, Outcome, RequestFacts};
use crate::redis::Redis;

/// One budget: `limit` requests per minute, all of which may come at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub per_min: u64,
}

impl Quota {
    fn interval_us(self) -> u64 {
        (60_000_000 / self.per_min.max(1)).max(1)
    }
}

/// Who is being limited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A client acting for itself (client credentials, client authentication).
    Client(String),
    /// A citizen through an app: the app's limit, per citizen.
    CitizenViaClient { client_id: String, sub: String },
    /// Anyone else, by address.
    Ip(Option<IpAddr>),
}

impl Caller {
    /// The name of the caller's budget; an address's stands for its whole IPv6 /64.
    pub fn bucket(&self) -> String {
        match self {
            Caller::Client(id) => format!("client:{id}"),
            Caller::CitizenViaClient { client_id, sub } => format!("client:{client_id}:{sub}"),
            // One IPv6 customer holds a whole /64: one bucket, or rotating addresses would
            // bypass the limit.
            Caller::Ip(Some(IpAddr::V6(ip))) if ip.to_ipv4_mapped().is_none() => {
                let s = ip.segments();
                format!("ip:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
            Caller::Ip(Some(ip)) => format!("ip:{}", ip.to_canonical()),
            Caller::Ip(None) => "ip:unknown".into(),
        }
    }

    fn client_id(&self) -> Option<&str> {
        match self {
            Caller::Client(id) | Caller::CitizenViaClient { client_id: id, .. } => Some(id),
            Caller::Ip(_) => None,
        }
    }
}

/// GCRA_GUARDED's answer: allowed, remaining, reset, retry after, and whose decision it is.
type GuardedReply = (u64, u64, u64, u64, u8);

#[derive(Clone)]
pub struct RateLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    redis: Redis,
    db: PgPool,
    audit: AuditLog,
    script: redis::Script,
    guarded: redis::Script,
    anonymous: Quota,
    client_default: Quota,
    /// Per-client limits set by operators; a change reaches every replica within the TTL.
    client_limits: moka::sync::Cache<String, Option<u64>>,
    /// The fallback's buckets: theoretical arrival times, in microseconds since `epoch`.
    local: moka::sync::Cache<String, Arc<Mutex<u64>>>,
    /// Busy budgets' slices.
    slices: moka::sync::Cache<String, Arc<Mutex<Slice>>>,
    epoch: Instant,
    last_fallback_warning_ms: AtomicU64,
}

impl RateLimiter {
    pub fn new(
        redis: Redis,
        db: PgPool,
        audit: AuditLog,
        anonymous_per_min: u64,
        client_per_min: u64,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                redis,
                db,
                audit,
                script: redis::Script::new(&format!("{GCRA_STEP}{GCRA}")),
                guarded: redis::Script::new(&format!("{GCRA_STEP}{GCRA_GUARDED}")),
                anonymous: Quota {
                    per_min: anonymous_per_min,
                },
                client_default: Quota {
                    per_min: client_per_min,
                },
                client_limits: moka::sync::Cache::builder()
                    .max_capacity(100_000)
                    .time_to_live(Duration::from_secs(5))
                    .build(),
                local: moka::sync::Cache::builder()
                    .max_capacity(1_000_000)
                    .time_to_idle(Duration::from_secs(120))
                    .build(),
                slices: moka::sync::Cache::builder()
                    .max_capacity(100_000)
                    .time_to_idle(Duration::from_secs(10))
                    .build(),
                epoch: Instant::now(),
                last_fallback_warning_ms: AtomicU64::new(0),
            }),
        }
    }

    /// Counts one request of `caller` and says whether it may proceed. Refusals are audited,
    /// at most once a minute per caller.
    pub async fn check(&self, caller: &Caller, facts: &RequestFacts) -> Decision {
        let quota = self.quota(caller).await;
        let bucket = caller.bucket();
        let decision = self.evaluate(&bucket, quota, true).await;
        if !decision.allowed {
            self.refused(&bucket, quota, Some(caller), facts).await;
        }
        decision
    }

    /// Counts one request of `caller` unless `guard`'s budget, which it only looks at, is
    /// spent already; then the request is refused with `guard`'s decision, unaudited (as after a
    /// [`peek`](Self::peek)), and `caller` is not charged. One round trip on a single Redis
    /// server; on a cluster the two budgets live in different slots, so two. A guard budget of
    /// 2,000 a minute or more is looked at as any other, from memory when a look found it far
    /// from spent within the last 100 ms, and `caller` is then charged on its own (from its
    /// slice, if it has one).
    pub async fn check_guarded(
        &self,
        guard: &Caller,
        caller: &Caller,
        facts: &RequestFacts,
    ) -> Decision {
        let (guard_quota, quota) = (self.quota(guard).await, self.quota(caller).await);
        let (guard_bucket, bucket) = (guard.bucket(), caller.bucket());
        let one_by_one = || async {
            let looked = self.evaluate(&guard_bucket, guard_quota, false).await;
            if !looked.allowed {
                return looked;
            }
            let decision = self.evaluate(&bucket, quota, true).await;
            if !decision.allowed {
                self.refused(&bucket, quota, Some(caller), facts).await;
            }
            decision
        };
        // A cluster keeps the two budgets in different slots: one script cannot touch both. A
        // guard with slices is often looked at in memory, and then the caller's budget alone.
        if self.inner.redis.is_cluster() || guard_quota.largest_slice() > 1 {
            return one_by_one().await;
        }
        let keys = [
            self.inner.redis.key(&["rl", &guard_bucket]),
            self.inner.redis.key(&["rl", &bucket]),
        ];
        let script = &self.inner.guarded;
        let reply: Result<GuardedReply, _> = self
            .inner
            .redis
            .run(|mut conn| async move {
                script
                    .key(&keys[0])
                    .key(&keys[1])
                    .arg(guard_quota.interval_us())
                    .arg(guard_quota.per_min)
                    .arg(quota.interval_us())
                    .arg(quota.per_min)
                    .invoke_async(&mut conn)
                    .await
            })
            .await;
        let (allowed, remaining, reset, retry, guarded) = match reply {
            Ok(reply) => reply,
            Err(err) => {
                // Each step on its own: in Redis if it answers again, else in this process.
                self.warn_fallback(&err);
                return one_by_one().await;
            }
        };
        if guarded == 1 {
            return Decision::from_gcra(guard_quota, allowed == 1, remaining, reset, retry);
        }
        let decision = Decision::from_gcra(quota, allowed == 1, remaining, reset, retry);
        if !decision.allowed {
            self.refused(&bucket, quota, Some(caller), facts).await;
        }
        decision
    }

    /// Counts one request against a budget of its own, besides the caller's: an endpoint open
    /// to guessing keeps a tighter one, per address or per thing guessed at. `bucket` names it
    /// (`lookup:ip:…`, say); refusals are audited like the callers' own.
    pub async fn check_budget(&self, bucket: &str, quota: Quota, facts: &RequestFacts) -> Decision {
        let decision = self.evaluate(bucket, quota, true).await;
        if !decision.allowed {
            self.refused(bucket, quota, None, facts).await;
        }
        decision
    }

    async fn refused(
        &self,
        bucket: &str,
        quota: Quota,
        caller: Option<&Caller>,
        facts: &RequestFacts,
    ) {
        metrics::counter!("motcua_rate_limited_total").increment(1);
        // Sampled: one entry per budget per minute across replicas.
        if !self
            .inner
            .audit
            .first_this_minute(&format!("rl|{bucket}"))
            .await
        {
            return;
        }
        let mut event = Event::new("rate_limited", Outcome::Failure)
            .details(serde_json::json!({ "limit_per_min": quota.per_min, "budget": bucket }))
            .facts(facts);
        if let Some(client_id) = caller.and_then(Caller::client_id) {
            event = event.client(client_id);
        }
        if let Some(Caller::CitizenViaClient { sub, .. }) = caller {
            event = event.actor(sub.clone());
        }
        self.inner.audit.record(event).await;
    }

    /// Whether `caller` has budget left, without spending any: the token endpoint asks this of
    /// the caller's address before doing the work of authenticating a client, so a flood from
    /// an address already refused costs no database lookups.
    pub async fn peek(&self, caller: &Caller) -> Decision {
        let quota = self.quota(caller).await;
        self.evaluate(&caller.bucket(), quota, false).await
    }

    async fn quota(&self, caller: &Caller) -> Quota {
        let Some(client_id) = caller.client_id() else {
            return self.inner.anonymous;
        };
        let limit = match self.inner.client_limits.get(client_id) {
            Some(limit) => limit,
            None => {
                match crate::clients::store::rate_limit(&self.inner.db, client_id).await {
                    Ok(limit) => {
                        self.inner
                            .client_limits
                            .insert(client_id.to_string(), limit);
                        limit
                    }
                    // The database is down: the default limit still protects us.
                    Err(err) => {
                        tracing::warn!(error = %err, "client rate limit lookup failed");
                        None
                    }
                }
            }
        };
        limit.map_or(self.inner.client_default, |per_min| Quota { per_min })
    }

    /// One GCRA step for `bucket`, spending one request or only looking: from the bucket's
    /// slice in memory when it can, else in Redis, else (Redis unreachable) in this process.
    async fn evaluate(&self, bucket: &str, quota: Quota, spend: bool) -> Decision {
        let largest = quota.largest_slice();
        if largest == 1 {
            let take = u64::from(spend);
            return match self.step(bucket, quota, take, 0).await {
                Ok((decision, _)) => decision,
                Err(err) => self.fallback(bucket, quota, spend, &err),
            };
        }
        let cell = match self.inner.slices.get(bucket) {
            Some(cell) => cell,
            None => self.inner.slices.get_with(bucket.to_string(), Arc::default),
        };
        let now = Instant::now();
        let claim = {
            let mut slice = lock(&cell);
            let local = match spend {
                true => slice.take(now),
                false => slice.look(now),
            };
            if let Some((remaining, reset)) = local {
                metrics::counter!("motcua_rate_limit_from_slice_total").increment(1);
                return Decision {
                    allowed: true,
                    limit: quota.per_min,
                    remaining: remaining.min(quota.per_min),
                    reset,
                    retry_after: Duration::ZERO,
                };
            }
            match spend {
                true => slice.claim(now, largest),
                false => None,
            }
        };
        // Not under the lock: while one request claims the next slice, the others go to Redis
        // one by one, as without slices.
        let (take, back) = claim.map_or((u64::from(spend), 0), |c| (c.take, c.back));
        let reply = self.step(bucket, quota, take, back).await;
        let answered = Instant::now();
        let mut slice = lock(&cell);
        let (mut decision, taken) = match reply {
            Ok(reply) => reply,
            Err(err) => {
                if let Some(claim) = claim {
                    slice.failed(claim);
                }
                drop(slice);
                return self.fallback(bucket, quota, spend, &err);
            }
        };
        match (decision.allowed, spend, claim) {
            (false, _, _) => slice.refused(claim),
            (true, true, Some(claim)) => {
                slice.granted(claim, answered, taken, decision.remaining, decision.reset);
                // The rest of the slice is this caller's to use too.
                let rest = taken.saturating_sub(1);
                decision.remaining = (decision.remaining + rest).min(quota.per_min);
            }
            (true, true, None) => {}
            (true, false, _) => slice.looked(answered, decision.remaining, decision.reset, largest),
        }
        decision
    }

    /// One GCRA step in Redis: gives back `back` unused requests, then takes up to `take` (0
    /// only looks). Also says how many it took; the decision's `remaining` counts what is left
    /// after all of them.
    async fn step(
        &self,
        bucket: &str,
        quota: Quota,
        take: u64,
        back: u64,
    ) -> Result<(Decision, u64), redis::RedisError> {
        let key = self.inner.redis.key(&["rl", bucket]);
        let script = &self.inner.script;
        let (taken, remaining, reset, retry): (u64, u64, u64, u64) = self
            .inner
            .redis
            .run(|mut conn| async move {
                script
                    .key(key)
                    .arg(quota.interval_us())
                    .arg(quota.per_min)
                    .arg(take)
                    .arg(back)
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        let decision = Decision::from_gcra(quota, taken > 0, remaining, reset, retry);
        Ok((decision, taken))
    }

    /// The step in this process, for when Redis cannot be reached: each replica on its own.
    fn fallback(
        &self,
        bucket: &str,
        quota: Quota,
        spend: bool,
        err: &redis::RedisError,
    ) -> Decision {
        self.warn_fallback(err);
        let now = self.inner.epoch.elapsed().as_micros() as u64;
        let cell = self
            .inner
            .local
            .get_with(bucket.to_string(), || Arc::new(Mutex::new(0)));
        let (allowed, remaining, reset, retry) = gcra(now, &mut lock(&cell), quota, spend);
        Decision::from_gcra(quota, allowed, remaining, reset, retry)
    }

    fn warn_fallback(&self, err: &redis::RedisError) {
        metrics::counter!("motcua_rate_limit_fallback_total").increment(1);
        let now = self.inner.epoch.elapsed().as_millis() as u64;
        let last = self.inner.last_fallback_warning_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= 10_000 || last == 0 {
            self.inner
                .last_fallback_warning_ms
                .store(now.max(1), Ordering::Relaxed);
            tracing::warn!(error = %err, "Redis unreachable: rate limits are per replica until it is back");
        }
    }
}

/// A lock no panic can leave unusable: what it guards is counters, right or wrong by one.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_customer_is_one_caller_per_64() {
        let ip = |s: &str| Caller::Ip(Some(s.parse().unwrap())).bucket();
        assert_eq!(ip("2001:db8:1:2::1"), ip("2001:db8:1:2:ffff::9"));
        assert_ne!(ip("2001:db8:1:2::1"), ip("2001:db8:1:3::1"));
        assert_eq!(ip("::ffff:198.51.100.7"), "ip:198.51.100.7");
        assert_eq!(ip("198.51.100.7"), "ip:198.51.100.7");
    }
}
