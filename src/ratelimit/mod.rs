//! Rate limits: GCRA in Redis, so every replica draws from one budget per caller.
//!
//! A caller is a client (its limit is set by operators, or the default), a citizen using an app
//! (the app's limit, per citizen: the app is one client shared by everyone), or, for anonymous
//! traffic, a client IP. GCRA keeps one timestamp per caller (the "theoretical arrival time"),
//! updated by one Lua script, so a burst of `limit` requests is allowed at once and then one
//! every `60 s / limit`. Redis keeps time for the script (`TIME`), so replicas with drifting
//! clocks still agree. When Redis cannot be reached, each replica limits on its own with the
//! same algorithm: limits loosen by the number of replicas, but requests are never refused for
//! want of Redis.

mod gcra;
mod middleware;

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{HeaderName, HeaderValue};
use sqlx::PgPool;

pub use crate::http::RateSlot;
pub use middleware::RateLimit;

use gcra::{GCRA, GCRA_GUARDED, GCRA_STEP, gcra};

use crate::audit::{AuditLog, Event, Outcome, RequestFacts};
use crate::http::{ApiError, catalogue};
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

/// The outcome of one check, with what the `RateLimit-*` headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u64,
    pub remaining: u64,
    /// Until the budget is whole again.
    pub reset: Duration,
    /// Until the next request would be allowed (zero when this one was).
    pub retry_after: Duration,
}

impl Decision {
    fn from_gcra(
        quota: Quota,
        allowed: bool,
        remaining: u64,
        reset_us: u64,
        retry_us: u64,
    ) -> Self {
        Decision {
            allowed,
            limit: quota.per_min,
            remaining: remaining.min(quota.per_min),
            reset: Duration::from_micros(reset_us),
            retry_after: Duration::from_micros(retry_us),
        }
    }

    /// `RateLimit-Limit`, `-Remaining` and `-Reset` (seconds, rounded up), and `Retry-After`
    /// on a refusal.
    pub fn headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        let secs = |d: Duration| d.as_micros().div_ceil(1_000_000).to_string();
        let mut headers = vec![
            (
                HeaderName::from_static("ratelimit-limit"),
                HeaderValue::from(self.limit),
            ),
            (
                HeaderName::from_static("ratelimit-remaining"),
                HeaderValue::from(self.remaining),
            ),
            (
                HeaderName::from_static("ratelimit-reset"),
                header_value(secs(self.reset)),
            ),
            (
                HeaderName::from_static("ratelimit-policy"),
                header_value(format!("{};w=60", self.limit)),
            ),
        ];
        if !self.allowed {
            headers.push((
                http::header::RETRY_AFTER,
                HeaderValue::from(self.retry_after_secs()),
            ));
        }
        headers
    }

    /// Whole seconds to wait, at least one.
    fn retry_after_secs(&self) -> u64 {
        (self.retry_after.as_micros().div_ceil(1_000_000) as u64).max(1)
    }

    /// The 429 problem for a refused request.
    pub fn into_error(self) -> ApiError {
        self.headers().into_iter().fold(
            ApiError::new(&catalogue::RATE_LIMITED).arg("retry_after", self.retry_after_secs()),
            |err, (name, value)| err.header(name, value),
        )
    }
}

/// A refusal for the OAuth endpoints' typed responses: a 429 problem, not an OAuth error.
pub struct TooManyRequests(pub Decision);

impl From<TooManyRequests> for poem::Error {
    fn from(refused: TooManyRequests) -> Self {
        refused.0.into_error().into()
    }
}

impl poem_openapi::ApiResponse for TooManyRequests {
    fn meta() -> poem_openapi::registry::MetaResponses {
        use poem_openapi::types::Type;
        poem_openapi::registry::MetaResponses {
            responses: vec![poem_openapi::registry::MetaResponse {
                description: "Over the rate limit; retry after `Retry-After` seconds.",
                status: Some(429),
                status_range: None,
                content: vec![poem_openapi::registry::MetaMediaType {
                    content_type: crate::http::problem::PROBLEM_JSON,
                    schema: crate::http::Problem::schema_ref(),
                }],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut poem_openapi::registry::Registry) {
        <crate::http::Problem as poem_openapi::types::Type>::register(registry);
    }
}

fn header_value(text: String) -> HeaderValue {
    HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("0"))
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
    /// server; on a cluster the two budgets live in different slots, so two.
    pub async fn check_guarded(
        &self,
        guard: &Caller,
        caller: &Caller,
        facts: &RequestFacts,
    ) -> Decision {
        let (guard_quota, quota) = (self.quota(guard).await, self.quota(caller).await);
        let (guard_bucket, bucket) = (guard.bucket(), caller.bucket());
        let keys = [
            self.inner.redis.key(&["rl", &guard_bucket]),
            self.inner.redis.key(&["rl", &bucket]),
        ];
        let one_by_one = || async {
            let looked = self.evaluate(&guard_bucket, guard_quota, false).await;
            match looked.allowed {
                true => self.check(caller, facts).await,
                false => looked,
            }
        };
        // A cluster keeps the two budgets in different slots: one script cannot touch both.
        if self.inner.redis.is_cluster() {
            return one_by_one().await;
        }
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

    /// One GCRA step for `bucket`, spending from it or only looking: in Redis, else (Redis
    /// unreachable) in this process.
    async fn evaluate(&self, bucket: &str, quota: Quota, spend: bool) -> Decision {
        let key = self.inner.redis.key(&["rl", bucket]);
        let script = &self.inner.script;
        let reply: Result<(u64, u64, u64, u64), _> = self
            .inner
            .redis
            .run(|mut conn| async move {
                script
                    .key(key)
                    .arg(quota.interval_us())
                    .arg(quota.per_min)
                    .arg(u8::from(spend))
                    .invoke_async(&mut conn)
                    .await
            })
            .await;
        let (allowed, remaining, reset, retry) = match reply {
            Ok((allowed, remaining, reset, retry)) => (allowed == 1, remaining, reset, retry),
            Err(err) => {
                self.warn_fallback(&err);
                let now = self.inner.epoch.elapsed().as_micros() as u64;
                let cell = self
                    .inner
                    .local
                    .get_with(bucket.to_string(), || Arc::new(Mutex::new(0)));
                let mut tat = cell.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                gcra(now, &mut tat, quota, spend)
            }
        };
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

    #[test]
    fn refusals_carry_retry_after_and_the_rate_limit_headers() {
        let decision = Decision::from_gcra(Quota { per_min: 10 }, false, 0, 59_000_001, 5_500_000);
        let headers = decision.headers();
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.as_str() == name)
                .map(|(_, v)| v.to_str().unwrap().to_string())
        };
        assert_eq!(get("ratelimit-limit").as_deref(), Some("10"));
        assert_eq!(get("ratelimit-remaining").as_deref(), Some("0"));
        assert_eq!(get("ratelimit-reset").as_deref(), Some("60"));
        assert_eq!(get("retry-after").as_deref(), Some("6"));
        assert_eq!(decision.into_error().status(), 429);
    }
}
