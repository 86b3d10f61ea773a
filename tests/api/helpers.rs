//! The test harness: `TestApp::spawn()` gives each test its own database, Redis key prefix and
//! server on a free port. Set `TEST_LOG=1` to see the server's logs.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Command, Output};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

use sqlx::Connection;
use std::time::Duration;

use motcua::config::Config;
use motcua::startup::Application;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// PostgreSQL server the tests create their databases on (trust auth on 127.0.0.1 by default).
pub fn postgres_server_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// The eID simulator (`dev/eid-sim`), started by `scripts/test`.
pub fn eid_issuer() -> String {
    std::env::var("TEST_EID_ISSUER").unwrap_or_else(|_| "http://127.0.0.1:8090".into())
}

/// Redis: one server, or with `TEST_REDIS_CLUSTER=1` a comma-separated list of cluster nodes
/// (`eval "$(scripts/redis-cluster)"` sets both).
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Whether the tests run against a Redis Cluster (`TEST_REDIS_CLUSTER=1`).
pub fn redis_cluster() -> bool {
    std::env::var("TEST_REDIS_CLUSTER").is_ok_and(|v| v == "1")
}

/// `MOTCUA_REDIS_CLUSTER` for the app and the command line, following `TEST_REDIS_CLUSTER`.
pub fn redis_cluster_setting() -> &'static str {
    if redis_cluster() { "1" } else { "0" }
}

/// The tests' own handle on Redis, server or cluster, for keys under `prefix`.
pub fn test_redis(prefix: &str) -> motcua::redis::Redis {
    motcua::redis::Redis::open(&redis_url(), prefix, redis_cluster()).expect("TEST_REDIS_URL")
}

/// A connection to the tests' Redis (server or cluster) for commands of their own.
pub fn redis_connection() -> motcua::redis::Connection {
    test_redis("").connection().expect("a fresh connection")
}

/// Every key matching `pattern`, on every master of a cluster (never `KEYS`, which sees one
/// node's).
pub async fn redis_keys(pattern: &str) -> redis::RedisResult<Vec<String>> {
    let mut scan = test_redis("").scan(pattern, 1000).await?;
    let mut keys = Vec::new();
    while let Some(batch) = scan.next_batch().await? {
        keys.extend(batch);
    }
    keys.sort();
    keys.dedup();
    Ok(keys)
}

/// The Redis server's socket address, for proxies in front of it. A test that cuts Redis
/// through a proxy needs one server: a cluster client finds the other nodes by itself and would
/// go around the proxy, so such a test fails loudly instead of proving nothing.
pub fn redis_addr() -> SocketAddr {
    assert!(
        !redis_cluster(),
        "this test cuts Redis through a TCP proxy, which needs a single Redis server: it does not run against a cluster"
    );
    let url = url::Url::parse(&redis_url()).expect("TEST_REDIS_URL");
    let host = url.host_str().expect("TEST_REDIS_URL has a host");
    let port = url.port().unwrap_or(6379);
    std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
        .expect("TEST_REDIS_URL resolves")
        .next()
        .expect("TEST_REDIS_URL resolves")
}

fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        motcua::startup::install_crypto_provider();
        if std::env::var_os("TEST_LOG").is_some() {
            motcua::telemetry::init_logs(motcua::config::LogFormat::Human, std::io::stderr, false);
        }
    });
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

/// Each test's own objects: under `TEST_OBJECT_STORE` (`s3://bucket` runs the tests against S3),
/// else a temporary directory.
pub fn object_store(name: &str) -> String {
    match std::env::var("TEST_OBJECT_STORE") {
        Ok(base) => format!("{}/{name}", base.trim_end_matches('/')),
        Err(_) => format!(
            "file://{}",
            std::env::temp_dir()
                .join("motcua-objects")
                .join(name)
                .display()
        ),
    }
}

/// Options for [`TestApp::spawn_with`].
#[derive(Default)]
pub struct Options {
    /// Overrides `REDIS_URL` (a proxy or a closed port).
    pub redis_url: Option<String>,
    /// Routes the app's PostgreSQL connections through this address (a proxy).
    pub postgres_addr: Option<SocketAddr>,
    /// Extra configuration keys.
    pub env: Vec<(&'static str, String)>,
    /// Reuse an existing database and Redis prefix (a second instance of the same deployment).
    pub share_with: Option<(String, String)>,
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db_name: String,
    pub redis_prefix: String,
    pub state: motcua::startup::AppState,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    owns_resources: bool,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(Options::default()).await
    }

    pub async fn spawn_with(options: Options) -> TestApp {
        init();
        let owns_resources = options.share_with.is_none();
        let (db_name, redis_prefix) = options
            .share_with
            .unwrap_or_else(|| (unique("motcua_test_"), format!("{}:", unique("test"))));
        let server = postgres_server_url();
        let database_url = match options.postgres_addr {
            Some(addr) => {
                // Create and migrate directly, so the app's own start-up is what goes through
                // the proxy.
                motcua::db::prepare(&format!("{server}/{db_name}"))
                    .await
                    .expect("test database")
                    .close()
                    .await;
                let base = url::Url::parse(&server).expect("TEST_POSTGRES_URL");
                format!("postgres://{}@{}/{}", base.username(), addr, db_name)
            }
            None => format!("{server}/{db_name}"),
        };

        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
        let port = listener.local_addr().expect("local addr").port();
        let address = format!("http://127.0.0.1:{port}");
        let mut values: BTreeMap<String, String> = BTreeMap::new();
        values.insert("DATABASE_URL".into(), database_url);
        // An overridden URL (a proxy, a silent or closed port) names one server.
        let (redis_url, redis_cluster) = match options.redis_url {
            Some(url) => (url, "0"),
            None => (redis_url(), redis_cluster_setting()),
        };
        values.insert("REDIS_URL".into(), redis_url);
        values.insert("MOTCUA_REDIS_CLUSTER".into(), redis_cluster.into());
        values.insert("MOTCUA_REDIS_PREFIX".into(), redis_prefix.clone());
        values.insert("MOTCUA_LISTEN".into(), format!("127.0.0.1:{port}"));
        values.insert("MOTCUA_PUBLIC_URL".into(), address.clone());
        values.insert("MOTCUA_SHUTDOWN_GRACE_SECS".into(), "5".into());
        values.insert("MOTCUA_EID_ISSUER".into(), eid_issuer());
        values.insert("MOTCUA_OBJECT_STORE".into(), object_store(&db_name));
        for (key, value) in options.env {
            values.insert(key.into(), value);
        }
        let config = Config::from_map(&values).expect("test configuration");
        let app = Application::build_with_listener(config, listener)
            .await
            .expect("application starts");
        let state = app.state().clone();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        TestApp {
            address,
            client,
            db_name,
            redis_prefix,
            state,
            shutdown: Some(tx),
            server: Some(server),
            owns_resources,
        }
    }

    /// A second replica of the same deployment: same database, Redis prefix and public URL.
    pub async fn replica(&self) -> TestApp {
        Self::spawn_with(self.replica_options()).await
    }

    /// The options of [`replica`](Self::replica), to add to.
    pub fn replica_options(&self) -> Options {
        Options {
            share_with: Some((self.db_name.clone(), self.redis_prefix.clone())),
            env: vec![("MOTCUA_PUBLIC_URL", self.address.clone())],
            ..Options::default()
        }
    }

    /// A handle on another server of this deployment (a `motcua serve` process, say) for the
    /// helpers written for `TestApp`: requests go to `address`; the state, database and Redis
    /// prefix stay this one's, which keeps owning them.
    pub fn at(&self, address: &str) -> TestApp {
        TestApp {
            address: address.to_string(),
            client: self.client.clone(),
            db_name: self.db_name.clone(),
            redis_prefix: self.redis_prefix.clone(),
            state: self.state.clone(),
            shutdown: None,
            server: None,
            owns_resources: false,
        }
    }

    /// Registers a public app with one redirect URI and returns its client id.
    pub async fn public_client(&self, redirect_uri: &str) -> String {
        self.client_with(motcua::clients::NewClient {
            name: "Test app".into(),
            kind: motcua::clients::ClientKind::Public,
            redirect_uris: vec![redirect_uri.into()],
            scopes: vec![],
            rate_limit_per_min: None,
            jwks_uri: None,
            ..Default::default()
        })
        .await
        .0
    }

    /// Registers a client; returns its id and secret (if it got one).
    pub async fn client_with(&self, new: motcua::clients::NewClient) -> (String, Option<String>) {
        let created =
            motcua::clients::store::create(&self.state.db, new.validate().expect("valid client"))
                .await
                .expect("client created");
        (created.client.client_id, created.secret)
    }

    /// A confidential client (a service provider using `client_credentials`) registered for
    /// `scopes`; returns its id and secret.
    pub async fn service_client(&self, scopes: &[&str]) -> (String, String) {
        let (id, secret) = self
            .client_with(motcua::clients::NewClient {
                name: "Service provider".into(),
                kind: motcua::clients::ClientKind::Confidential,
                scopes: scopes.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            })
            .await;
        (id, secret.expect("a confidential client has a secret"))
    }

    /// How many audit entries of `action` this app's database holds.
    pub async fn audited(&self, action: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = $1")
            .bind(action)
            .fetch_one(&self.state.db)
            .await
            .unwrap()
    }

    /// A `client_credentials` token request authenticated with `client_secret_basic`.
    pub async fn client_credentials(&self, id: &str, secret: &str) -> reqwest::Response {
        self.client
            .post(self.url("/v1/auth/token"))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("request")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    /// Asks the server to stop, as SIGTERM would, and waits until it has.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if !self.owns_resources {
            return;
        }
        let db_name = self.db_name.clone();
        let prefix = self.redis_prefix.clone();
        // Drop runs outside async; clean up on a thread with its own runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let url = format!("{}/postgres", postgres_server_url());
                if let Ok(mut conn) = sqlx::PgConnection::connect(&url).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS \"{db_name}\" WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                }
                delete_redis_prefix(&prefix).await;
            });
        })
        .join();
    }
}

/// Deletes every key under `prefix`, on every master of a cluster; one key at a time, since a
/// cluster refuses a DEL of keys in different slots.
pub async fn delete_redis_prefix(prefix: &str) {
    let Ok(keys) = redis_keys(&format!("{prefix}*")).await else {
        return;
    };
    let conn = redis_connection();
    let deletes = keys.into_iter().map(|key| {
        let mut conn = conn.clone();
        async move {
            redis::cmd("DEL")
                .arg(key)
                .query_async::<()>(&mut conn)
                .await
        }
    });
    let _ = futures::future::join_all(deletes).await;
}

/// A port nothing listens on.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// A TCP proxy that can be paused: while paused it cuts every open connection and closes new
/// ones at once, as a crashed or partitioned server would look to the client. It can also stall
/// Redis subscriptions: see [`stall_subscriptions`](Self::stall_subscriptions).
/// A proxy in front of the PostgreSQL server, for a test to cut the app's database off.
pub async fn postgres_proxy() -> TcpProxy {
    let url = url::Url::parse(&postgres_server_url()).expect("TEST_POSTGRES_URL");
    let host = url.host_str().expect("TEST_POSTGRES_URL has a host");
    let target = format!("{host}:{}", url.port().unwrap_or(5432));
    TcpProxy::start(target.parse().expect("an IP address and port")).await
}

pub struct TcpProxy {
    pub addr: SocketAddr,
    paused: watch::Sender<bool>,
    stalled: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl TcpProxy {
    pub async fn start(target: SocketAddr) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy bind");
        let addr = listener.local_addr().expect("proxy addr");
        let (paused, _) = watch::channel(false);
        let (stalled, _) = watch::channel(false);
        let paused_tx = paused.clone();
        let stalled_tx = stalled.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                let mut paused_rx = paused_tx.subscribe();
                if *paused_rx.borrow() {
                    let _ = inbound.shutdown().await;
                    continue;
                }
                let stalled_rx = stalled_tx.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    let subscriber = AtomicBool::new(false);
                    let (from_client, to_client) = inbound.split();
                    let (from_server, to_server) = outbound.split();
                    let both_ways = async {
                        tokio::join!(
                            pump(from_client, to_server, stalled_rx.clone(), &subscriber),
                            pump(from_server, to_client, stalled_rx.clone(), &subscriber),
                        )
                    };
                    tokio::select! {
                        _ = both_ways => {}
                        _ = paused_rx.wait_for(|p| *p) => {}
                    }
                });
            }
        });
        TcpProxy {
            addr,
            paused,
            stalled,
            task,
        }
    }

    pub fn pause(&self) {
        self.paused.send_replace(true);
    }

    pub fn resume(&self) {
        self.paused.send_replace(false);
    }

    /// Freezes every connection that has sent `SUBSCRIBE`, now or later: it stays open but
    /// nothing crosses it either way, as a half-open connection or a wedged middlebox looks to a
    /// subscriber. Other connections (plain commands) keep working.
    pub fn stall_subscriptions(&self) {
        self.stalled.send_replace(true);
    }

    /// Lets bytes cross stalled connections again.
    pub fn unstall(&self) {
        self.stalled.send_replace(false);
    }
}

/// Copies one direction of a proxied connection, holding bytes back while it is a stalled
/// subscription.
async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    mut stalled: watch::Receiver<bool>,
    subscriber: &AtomicBool,
) {
    let flowing = |stalled: &bool| !*stalled || !subscriber.load(Ordering::SeqCst);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if stalled.wait_for(flowing).await.is_err() {
            return;
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if buf[..n].windows(9).any(|w| w == b"SUBSCRIBE") {
            subscriber.store(true, Ordering::SeqCst);
        }
        if stalled.wait_for(flowing).await.is_err() {
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.pause();
        self.task.abort();
    }
}

/// How long a test waits for what the README promises within a second or a few: room for a
/// loaded two-core machine. The time it took is printed; the promised figure is a benchmark's.
pub const PROMPTLY: Duration = Duration::from_secs(10);

/// Waits until `check` holds, at most [`PROMPTLY`]; panics naming `what` otherwise.
pub async fn promptly<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let since = std::time::Instant::now();
    assert!(
        eventually(PROMPTLY, check).await,
        "{what}: not within {PROMPTLY:?}"
    );
    eprintln!("{what}: after {:?}", since.elapsed());
}

/// Polls `check` until it returns true or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// Operators and the command line.

use crate::signin::{APP_REDIRECT, Request, jwt_parts, sign_in};

/// Runs the `motcua` binary against the app's database, with extra settings.
pub fn motcua_with(app: &TestApp, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_motcua"))
        .args(args)
        .envs(env.iter().copied())
        .env(
            "DATABASE_URL",
            format!("{}/{}", postgres_server_url(), app.db_name),
        )
        .env("REDIS_URL", redis_url())
        .env("MOTCUA_REDIS_CLUSTER", redis_cluster_setting())
        .env("MOTCUA_REDIS_PREFIX", &app.redis_prefix)
        .env("RUST_LOG", "warn")
        .output()
        .expect("motcua runs")
}

pub fn stdout_json(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout.clone()).unwrap();
    assert_eq!(
        text.lines().count(),
        1,
        "stdout carries only the result: {text}"
    );
    serde_json::from_str(&text).unwrap()
}

/// The operators' console: an app granted the `ops` scope.
pub async fn ops_console(app: &TestApp) -> String {
    app.client_with(motcua::clients::NewClient {
        name: "Operators' console".into(),
        kind: motcua::clients::ClientKind::Public,
        redirect_uris: vec![APP_REDIRECT.into()],
        scopes: ["openid", "profile", "offline_access", "ops"]
            .map(String::from)
            .to_vec(),
        rate_limit_per_min: None,
        jwks_uri: None,
        ..Default::default()
    })
    .await
    .0
}

pub fn grant(app: &TestApp, sub: &str, role: &str) {
    let out = stdout_json(&motcua_with(
        app,
        &["role", "grant", "--subject", sub, "--role", role],
        &[],
    ));
    assert_eq!(out["role"], role);
}

pub async fn operator_token(app: &TestApp) -> String {
    let console = ops_console(app).await;
    let mut request = Request::new(&console);
    request.acr_values = Some("2".into());
    let operator = sign_in(app, &request, "official").await;
    grant(
        app,
        jwt_parts(&operator.access_token).1["sub"].as_str().unwrap(),
        "operator",
    );
    operator.access_token
}

/// Calls an operator endpoint.
pub async fn ops(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

pub async fn ok_json(response: reqwest::Response, status: StatusCode) -> Value {
    let got = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(got, status, "{body}");
    // Only an empty body (204) is not JSON.
    match body.is_empty() {
        true => Value::Null,
        false => serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}")),
    }
}

// Keys, time and what the database holds.

/// A fresh P-256 signing key (ES256), as PKCS#8 DER.
pub fn p256() -> jsonwebtoken::EncodingKey {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("P-256 key");
    jsonwebtoken::EncodingKey::from_ec_der(pair.to_pkcs8v1().expect("PKCS#8").as_ref())
}

/// The public half of `key` as a JWK published under `kid`.
pub fn public_jwk(key: &jsonwebtoken::EncodingKey, kid: &str) -> jsonwebtoken::jwk::Jwk {
    let mut jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(key, jsonwebtoken::Algorithm::ES256)
        .expect("JWK of a P-256 key");
    jwk.common.key_id = Some(kid.to_string());
    jwk
}

/// Seconds since the epoch, as tokens count them.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The sessions' clock, which the test controls: every session and refresh-token time moves
/// back by `by`, so to the server that much time has passed since each sign-in and each use.
/// Session limits are compared with these stored times, so no test has to sleep through them.
pub async fn advance_session_clock(app: &TestApp, by: Duration) {
    let by = sqlx::postgres::types::PgInterval::try_from(by).expect("interval");
    sqlx::query(
        "UPDATE sessions SET auth_time = auth_time - $1, created_at = created_at - $1,
                last_used_at = last_used_at - $1, idle_expires_at = idle_expires_at - $1,
                absolute_expires_at = absolute_expires_at - $1",
    )
    .bind(by)
    .execute(&app.state.db)
    .await
    .expect("sessions moved back");
    sqlx::query(
        "UPDATE refresh_tokens SET created_at = created_at - $1, rotated_at = rotated_at - $1,
                reply_until = reply_until - $1",
    )
    .bind(by)
    .execute(&app.state.db)
    .await
    .expect("refresh tokens moved back");
}

/// Rows of any table whose text, or the hex of whose bytes, contains `needle`: a secret or
/// token that must be stored only as a hash must give none.
pub async fn rows_containing(app: &TestApp, needle: &str) -> Vec<String> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
          WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    )
    .fetch_all(&app.state.db)
    .await
    .expect("tables");
    assert!(tables.len() > 5, "{tables:?}");
    let mut found = Vec::new();
    for table in tables {
        let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT t::text FROM \"{table}\" t
              WHERE strpos(t::text, $1) > 0 OR strpos(t::text, encode(convert_to($1, 'UTF8'), 'hex')) > 0"
        )))
        .bind(needle)
        .fetch_all(&app.state.db)
        .await
        .expect("rows");
        found.extend(rows.into_iter().map(|row| format!("{table}: {row}")));
    }
    found
}

/// A server that accepts connections and never answers, as a wedged Redis or PostgreSQL looks:
/// unlike a closed port, which refuses at once, only a timeout gets a caller out.
pub struct Silent {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Silent {
    pub async fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        Silent { addr, task }
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The sum of a Prometheus counter over its labels, as this process's servers count it (each
/// test runs in a process of its own under nextest).
pub fn counter(name: &str) -> f64 {
    motcua::telemetry::metrics()
        .render()
        .lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|line| line.split_whitespace().last()?.parse::<f64>().ok())
        .sum()
}
