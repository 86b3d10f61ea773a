//! The application: configuration in, a bound listener and a running server out.

mod drain;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use poem::endpoint::BoxEndpoint;
use poem::listener::Acceptor;
use poem::middleware::{Compression, Cors};
use poem::web::{Html, Path};
use poem::{EndpointExt, IntoResponse, Response, Route, Server, handler};
use poem_openapi::OpenApiService;

use crate::audit::AuditLog;
use crate::cache::Cache;
use crate::config::Config;
use crate::crypto::MasterKey;
use crate::dossiers::DossierApis;
use crate::health::HealthApi;
use crate::http::catalogue;
use crate::http::pipeline::{PipelineSettings, RequestPipeline};
use crate::identity::IdentityApi;
use crate::identity::eid::Eid;
use crate::listings::ListingApis;
use crate::oauth::OAuthApi;
use crate::ops::{
    AuditApi, OpsAccessApi, OpsAuditApi, OpsClientsApi, OpsKeysApi, OpsListingsApi, OpsWebhooksApi,
};
use crate::ratelimit::{RateLimit, RateLimiter};
use crate::redis::Redis;
use crate::sessions::SessionsApi;
use crate::tokens::{Keyring, Revocations, Tokens};

pub use crate::state::AppState;

/// The runtime every command runs on: tokio's multi-threaded scheduler, a worker a core, with the
/// LIFO slot turned off where the build allows it (`--cfg tokio_unstable`, set in
/// `.cargo/config.toml`).
///
/// With the slot, a task woken by the running one runs next. A request that sends a command to
/// Redis wakes the shared connection's writer, which then writes what is queued (mostly that one
/// command) and wakes Redis, request after request. Without it, the writer runs after the
/// requests already ready, and writes their commands together. Measured with `PROFILER=perf load-tests/profile.sh` (a cached
/// listing read, 64 connections, the server on one core; each build twice), the slot off against
/// on: Redis read from the server 0.07 times a request instead of 0.63, and the server spent
/// 23-25 µs of CPU a request instead of 31-32 µs (load-tests/RESULTS.md has the same rows at
/// full size). The cost: large replies now leave Redis together, and an 11 KB cached search
/// page is slower (README, Performance).
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    #[cfg(tokio_unstable)]
    runtime.disable_lifo_slot();
    runtime.build()
}

/// All capability APIs, composed into one OpenAPI document.
pub type Apis = (
    HealthApi,
    OAuthApi,
    IdentityApi,
    SessionsApi,
    OpsApis,
    AuditApi,
    DossierApis,
    crate::documents::UploadsApi,
    ListingApis,
);

/// The operator API, one per resource (a tuple of tuples: poem-openapi composes twelve at most).
pub type OpsApis = (
    OpsClientsApi,
    OpsWebhooksApi,
    OpsAccessApi,
    OpsKeysApi,
    OpsAuditApi,
    OpsListingsApi,
);

/// The OpenAPI service of the whole API; the document is independent of configuration, so the
/// committed `openapi/openapi.json` is exactly what every deployment serves.
pub fn openapi_service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(Apis::default(), "motcua", env!("CARGO_PKG_VERSION"))
        .summary("Citizen mobile app gateway: national eID sign-in, tokens, dossiers, listings")
        .description(include_str!("openapi_description.md"))
        .license("Apache-2.0")
        .extra_response_header::<String, _>(
            poem_openapi::ExtraHeader::new("X-Request-Id").description(
                "Id of the request; send your own (up to 128 visible characters) or get a new one.",
            ),
        )
}

/// The OpenAPI document as committed in `openapi/openapi.json`.
pub fn openapi_json() -> String {
    let mut spec = openapi_service().spec();
    spec.push('\n');
    spec
}

/// Installs the process-wide TLS crypto provider; several crates bring rustls with different
/// backends, and without one chosen explicitly the first TLS handshake would panic.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

pub struct Application {
    acceptor: drain::DrainingAcceptor,
    drain: drain::Drain,
    port: u16,
    endpoint: BoxEndpoint<'static>,
    state: AppState,
}

impl Application {
    /// Prepares the database, connects Redis lazily and binds `MOTCUA_LISTEN`.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let listener = std::net::TcpListener::bind(config.listen)
            .with_context(|| format!("binding MOTCUA_LISTEN={}", config.listen))?;
        Self::build_with_listener(config, listener).await
    }

    /// Like [`build`](Self::build) on a listener bound by the caller (tests bind port 0 first to
    /// know the public URL).
    pub async fn build_with_listener(
        config: Config,
        listener: std::net::TcpListener,
    ) -> anyhow::Result<Self> {
        install_crypto_provider();
        // Install the recorder before the first request records anything.
        crate::telemetry::metrics();
        warn_about_settings(&config)?;
        let db = crate::db::prepare(config.database_url.expose()).await?;
        let (redis_url, cluster) = (config.redis_url.expose(), config.redis_cluster);
        let redis = Redis::open(redis_url, &config.redis_prefix, cluster).context("REDIS_URL")?;
        let keyring = Keyring::load(db.clone(), MasterKey::new(*config.master_key.expose()))
            .await
            .context("loading signing keys")?;
        keyring.spawn_reloader();
        let revocations = Revocations::new(
            redis.clone(),
            db.clone(),
            config.access_token_ttl,
            config.revocation_poll,
            config.request_timeout,
        );
        revocations.spawn_subscriber();
        spawn_sweepers(&db, &config);
        revocations.spawn_poller();
        let tokens = Tokens::new(keyring, config.issuer(), config.access_token_ttl);
        crate::audit::chain::spawn_checkpointer(
            db.clone(),
            tokens.clone(),
            config.audit_checkpoint_interval,
        );
        let audit = AuditLog::start(db.clone(), redis.clone());
        let limiter = RateLimiter::new(
            redis.clone(),
            db.clone(),
            audit.clone(),
            config.rate_limit_anonymous_per_min,
            config.rate_limit_client_per_min,
        );
        crate::webhooks::spawn_worker(
            db.clone(),
            MasterKey::new(*config.master_key.expose()),
            config.webhooks.clone(),
            audit.clone(),
        );
        let storage =
            crate::storage::Storage::open(&config.object_store).context("MOTCUA_OBJECT_STORE")?;
        let state = AppState {
            audit,
            storage,
            limiter,
            clients: crate::clients::ClientCache::new(db.clone(), revocations.clone()),
            revocations,
            cache: Cache::new(redis.clone()).enabled(!config.cache_disabled),
            tokens,
            config: Arc::new(config),
            db,
            redis,
            ready: Arc::new(AtomicBool::new(true)),
        };
        let (acceptor, drain) = drain::draining(listener)?;
        let port = acceptor
            .local_addr()
            .first()
            .and_then(|addr| addr.as_socket_addr().map(|a| a.port()))
            .context("listener has no socket address")?;
        let services = Services {
            eid: Arc::new(Eid::new(&state.config).context("eID provider settings")?),
            client_keys: crate::oauth::assertion::ClientKeys::new()?,
            holidays: crate::dossiers::HolidayCalendar::default(),
        };
        let endpoint = routes(&state, services);
        Ok(Self {
            acceptor,
            drain,
            port,
            endpoint,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until SIGTERM or SIGINT, then drains in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `signal` completes: readiness turns false at once, connections already
    /// queued are taken in and new ones refused, and in-flight requests get the configured grace
    /// period (from the signal on) to finish.
    pub async fn run_until(self, signal: impl Future<Output = ()> + Send) -> std::io::Result<()> {
        let ready = self.state.ready.clone();
        let grace = self
            .state
            .config
            .shutdown_grace
            .saturating_sub(drain::SETTLE);
        let drain = self.drain;
        let signal = async move {
            signal.await;
            ready.store(false, Ordering::SeqCst);
            tracing::info!("shutting down: draining in-flight requests");
            drain.close_listener().await;
        };
        tracing::info!(port = self.port, "listening");
        Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(self.endpoint, signal, Some(grace))
            .await
    }
}

/// A loud warning for the development master key.
fn warn_about_settings(config: &Config) -> anyhow::Result<()> {
    if config.master_key_is_dev {
        tracing::warn!(
            "MOTCUA_MASTER_KEY is not set: using the development key. Never do this in production."
        );
    }
    Ok(())
}

/// Capabilities' own services, each reaching its handlers as `Data`.
#[derive(Clone)]
struct Services {
    eid: Arc<Eid>,
    client_keys: crate::oauth::assertion::ClientKeys,
    holidays: crate::dossiers::HolidayCalendar,
}

fn routes(state: &AppState, services: Services) -> BoxEndpoint<'static> {
    let config = &state.config;
    let api = openapi_service();
    let body_schemas = Arc::new(crate::http::fields::BodySchemas::from_openapi(&api.spec()));
    let cors = Cors::new()
        .allow_origins(config.cors_origins.iter().map(String::as_str))
        .allow_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allow_headers([
            "authorization",
            "content-type",
            "if-none-match",
            "if-match",
            "x-request-id",
        ])
        .expose_headers([
            "etag",
            "x-request-id",
            "retry-after",
            "ratelimit-limit",
            "ratelimit-remaining",
            "ratelimit-reset",
        ])
        .max_age(600);
    let shared = Shared {
        state: state.clone(),
        services,
    };
    Route::new()
        .at("/openapi.json", api.spec_endpoint())
        .nest("/docs", api.swagger_ui())
        .at("/problems/:slug", problem_page)
        .nest("/", api)
        .with_if(!config.cors_origins.is_empty(), cors)
        .with(Compression::new())
        .before(move |req| std::future::ready(Ok(shared.attach(req))))
        .with(RateLimit::new(
            state.limiter.clone(),
            state.tokens.clone(),
            state.revocations.clone(),
        ))
        .with(RequestPipeline::new(PipelineSettings {
            base_url: config.issuer().to_string(),
            max_body_bytes: config.max_body_bytes,
            streamed_paths: &[
                crate::http::paths::UPLOADS,
                crate::http::paths::LISTING_IMAGES,
            ],
            request_timeout: config.request_timeout,
            trusted_proxies: config.trusted_proxies.clone(),
            hsts: config.public_url.scheme() == "https",
            body_schemas,
        }))
        .boxed()
}

/// What handlers read with `Data`, attached to each request by one layer: a layer per value
/// would nest a future per value around every request, each moved whole at every poll.
#[derive(Clone)]
struct Shared {
    state: AppState,
    services: Services,
}

impl Shared {
    fn attach(&self, mut req: poem::Request) -> poem::Request {
        let extensions = req.extensions_mut();
        extensions.insert(self.state.clone());
        // The bearer scheme verifies with these alone (it sits below the request state).
        extensions.insert(self.state.tokens.clone());
        extensions.insert(self.state.revocations.clone());
        extensions.insert(self.services.eid.clone());
        extensions.insert(self.services.client_keys.clone());
        extensions.insert(self.services.holidays.clone());
        // Images are compressed already, and their strong `ETag` names the stored bytes: no
        // content coding goes on top of them.
        if crate::http::paths::matches(crate::http::paths::IMAGES, req.uri().path()) {
            req.headers_mut().remove(http::header::ACCEPT_ENCODING);
        }
        req
    }
}

/// Human documentation of a problem type: what a problem's `type` URI points at.
#[handler]
fn problem_page(Path(slug): Path<String>) -> poem::Result<Response> {
    let entry = catalogue::find(&slug).ok_or(poem::error::NotFoundError)?;
    let escape = crate::http::escape_html;
    let page = format!(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>{slug}</title>\
         <h1>{title_en}</h1><p lang=\"vi\"><strong>{title_vi}</strong></p>\
         <p>HTTP status {status}.</p><p>{detail_en}</p><p lang=\"vi\">{detail_vi}</p></html>",
        slug = escape(entry.slug),
        title_en = escape(entry.title.en),
        title_vi = escape(entry.title.vi),
        status = entry.status,
        detail_en = escape(entry.detail.en),
        detail_vi = escape(entry.detail.vi),
    );
    Ok(Html(page).into_response())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

/// Each replica's sweeps of expired rows.
fn spawn_sweepers(db: &sqlx::PgPool, config: &Config) {
    crate::sessions::spawn_reply_sweeper(db.clone(), config.refresh_grace);
    crate::dossiers::spawn_idempotency_sweeper(db.clone());
}
