use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use poem::web::Data;
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::types::Example;
use poem_openapi::{Enum, Object, OpenApi};

use crate::http::{ApiError, ApiResult, ApiTag, catalogue};
use crate::state::AppState;

/// Each dependency gets this long to answer a readiness probe.
const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// The health endpoints, with the readiness probe's single flight.
#[derive(Default)]
pub struct HealthApi {
    probe: Probe,
}

/// One readiness check at a time: requests that arrive while a check runs share its answer, so
/// a flood of `/readyz` costs PostgreSQL and Redis one round trip each at a time, whatever its
/// rate. Each request still gets an answer no older than itself.
#[derive(Default)]
struct Probe {
    last: tokio::sync::Mutex<Option<(Instant, Vec<&'static str>)>>,
}

impl Probe {
    /// The dependencies that are down.
    async fn down(&self, state: &AppState) -> Vec<&'static str> {
        let arrived = Instant::now();
        let mut last = self.last.lock().await;
        if let Some((finished, down)) = last.as_ref()
            && *finished >= arrived
        {
            return down.clone();
        }
        let (postgres, redis) = tokio::join!(
            crate::db::ping(&state.db, CHECK_TIMEOUT),
            state.redis.ping(CHECK_TIMEOUT)
        );
        let mut down = Vec::new();
        if let Err(err) = &postgres {
            tracing::warn!(error = format!("{err:#}"), "readiness: postgres down");
            down.push("postgres");
        }
        if let Err(err) = &redis {
            tracing::warn!(error = %err, "readiness: redis down");
            down.push("redis");
        }
        metrics::counter!("motcua_readiness_checks_total").increment(1);
        *last = Some((Instant::now(), down.clone()));
        down
    }
}

/// The process is alive.
#[derive(Object)]
#[oai(example)]
struct Liveness {
    /// Always `ok`.
    status: String,
}

impl Example for Liveness {
    fn example() -> Self {
        Liveness {
            status: "ok".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
enum CheckStatus {
    Up,
    Down,
}

/// Every dependency answered.
#[derive(Object)]
#[oai(example)]
struct Readiness {
    /// `ready`.
    status: String,
    /// PostgreSQL, the system of record.
    postgres: CheckStatus,
    /// Redis: caches, login state, rate limits.
    redis: CheckStatus,
}

impl Example for Readiness {
    fn example() -> Self {
        Readiness {
            status: "ready".into(),
            postgres: CheckStatus::Up,
            redis: CheckStatus::Up,
        }
    }
}

#[OpenApi(tag = "ApiTag::Health")]
impl HealthApi {
    /// Liveness probe
    ///
    /// Answers as long as the process serves HTTP; checks no dependency.
    #[oai(path = "/healthz", method = "get", operation_id = "healthz")]
    async fn healthz(&self) -> Json<Liveness> {
        Json(Liveness {
            status: "ok".into(),
        })
    }

    /// Readiness probe
    ///
    /// 200 when PostgreSQL and Redis both answer within a second; otherwise 503 with a problem
    /// naming what is down. Also 503 while the server drains connections before stopping.
    /// Concurrent probes share one check, so a flood costs the dependencies one round trip at a
    /// time.
    #[oai(path = "/readyz", method = "get", operation_id = "readyz")]
    async fn readyz(&self, state: Data<&AppState>) -> ApiResult<Json<Readiness>> {
        let mut down = self.probe.down(&state).await;
        if !state.ready.load(Ordering::SeqCst) {
            down.push("shutting-down");
        }
        if !down.is_empty() {
            return Err(ApiError::new(&catalogue::NOT_READY).arg("components", down.join(", ")));
        }
        Ok(Json(Readiness {
            status: "ready".into(),
            postgres: CheckStatus::Up,
            redis: CheckStatus::Up,
        }))
    }

    /// Prometheus metrics
    ///
    /// Request counts by route template and status, latency histograms, database pool and cache
    /// figures, in the Prometheus text format.
    #[oai(path = "/metrics", method = "get", operation_id = "metrics")]
    async fn metrics(&self, state: Data<&AppState>) -> PlainText<String> {
        let pool = &state.db;
        let idle = pool.num_idle() as f64;
        metrics::gauge!("motcua_db_pool_connections", "state" => "idle").set(idle);
        metrics::gauge!("motcua_db_pool_connections", "state" => "in_use")
            .set(f64::from(pool.size()) - idle);
        metrics::gauge!("motcua_db_pool_max_connections")
            .set(f64::from(pool.options().get_max_connections()));
        PlainText(crate::telemetry::metrics().render())
    }
}
