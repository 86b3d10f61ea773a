//! The test harness: `TestApp::spawn()` gives each test its own database, Redis key prefix and
//! server on a free port. Set `TEST_LOG=1` to see the server's logs.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

use sqlx::Connection;
use std::time::Duration;

use motcua::config::Config;
use motcua::startup::Application;
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

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// The Redis server's socket address, for proxies in front of it.
pub fn redis_addr() -> SocketAddr {
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
        values.insert(
            "REDIS_URL".into(),
            options.redis_url.unwrap_or_else(redis_url),
        );
        values.insert("MOTCUA_REDIS_PREFIX".into(), redis_prefix.clone());
        values.insert("MOTCUA_LISTEN".into(), format!("127.0.0.1:{port}"));
        values.insert("MOTCUA_PUBLIC_URL".into(), address.clone());
        values.insert("MOTCUA_SHUTDOWN_GRACE_SECS".into(), "5".into());
        values.insert("MOTCUA_EID_ISSUER".into(), eid_issuer());
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

pub async fn delete_redis_prefix(prefix: &str) {
    let Ok(client) = redis::Client::open(redis_url()) else {
        return;
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return;
    };
    let keys: Vec<String> = match redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
    {
        Ok(keys) => keys,
        Err(_) => return,
    };
    if !keys.is_empty() {
        let _: Result<(), _> = redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
    }
}

/// A port nothing listens on.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// A TCP proxy that can be paused: while paused it cuts every open connection and closes new
/// ones at once, as a crashed or partitioned server would look to the client. It can also stall
/// Redis subscriptions: see [`stall_subscriptions`](Self::stall_subscriptions).
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
