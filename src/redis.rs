//! The shared Redis connection, with a short circuit breaker.
//!
//! Redis holds caches, login state and rate-limit counters: losing it must make the service
//! slower, never broken. The connection is lazy (the service starts while Redis is down), and after
//! a connection failure callers skip Redis for a moment instead of each waiting for its timeout.
//!
//! Redis is one server or a Redis Cluster (`MOTCUA_REDIS_CLUSTER=1`, `REDIS_URL` then lists
//! nodes, comma-separated). Callers see one [`Connection`] type either way; what a cluster asks
//! of them is that keys one script or transaction touches share a hash tag (`{…}`), and that a
//! walk of the keyspace goes through [`Redis::scan`], which visits every master.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClientBuilder, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{MultipleNodeRoutingInfo, RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, Value};

/// How long Redis is skipped after a connection-level failure.
const BREAKER_OPEN_FOR: Duration = Duration::from_millis(1_000);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);
/// A cluster request, redirections and retries included: room for one slot-map refresh after a
/// failover, still well under a request's budget.
const CLUSTER_OVERALL_TIMEOUT: Duration = Duration::from_millis(1_000);
/// On a cluster, one master failing fails only its slots' operations: the breaker opens after
/// this many connection failures in a row (no success in between), which a cluster that is
/// wholly unreachable produces at once and one failing over does not...
const CLUSTER_FAILURES_TO_OPEN: u32 = 5;
/// ...and while it is open, one operation this often still goes through, and closes it by
/// succeeding: the other masters' slots, or a failed-over one, are back within this long.
const CLUSTER_PROBE_EVERY: Duration = Duration::from_millis(50);

/// A connection to the server or to the cluster, for one operation or many: cheap to clone
/// (both kinds multiplex), and a [`ConnectionLike`], so commands, pipelines and scripts run on
/// it alike. On a cluster each command goes to the master of its key's slot; a pipeline or
/// script must keep its keys in one slot.
#[derive(Clone)]
pub enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Connection {
    pub fn is_cluster(&self) -> bool {
        matches!(self, Connection::Cluster(_))
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Single(conn) => conn.req_packed_command(cmd),
            Connection::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Connection::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(conn) => conn.get_db(),
            Connection::Cluster(conn) => conn.get_db(),
        }
    }
}

#[derive(Clone)]
pub struct Redis {
    inner: Arc<Inner>,
}

struct Inner {
    /// The server, or each listed cluster node: for connections of their own (pub/sub).
    clients: Vec<redis::Client>,
    connection: Connection,
    prefix: String,
    epoch: Instant,
    /// Milliseconds since `epoch` until which the breaker stays open; 0 when closed.
    open_until_ms: AtomicU64,
    /// Connection failures since the last success.
    failures: AtomicU32,
    failures_to_open: u32,
    /// While the breaker is open, one operation goes through this often (cluster only).
    probe_every: Option<Duration>,
    /// Milliseconds since `epoch` of the last operation let through the open breaker.
    last_probe_ms: AtomicU64,
}

impl Redis {
    /// Prepares the connection without opening it: start-up does not depend on Redis. With
    /// `cluster`, `url` lists the cluster's nodes (any of them; the others are discovered),
    /// comma-separated.
    pub fn open(url: &str, prefix: &str, cluster: bool) -> Result<Self, RedisError> {
        if cluster {
            Self::cluster(url, prefix)
        } else {
            Self::new(url, prefix)
        }
    }

    /// One server, lazily connected.
    pub fn new(url: &str, prefix: &str) -> Result<Self, RedisError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let manager = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
        Ok(Self::with(
            vec![client],
            Connection::Single(manager),
            prefix,
            (1, None),
        ))
    }

    /// A Redis Cluster from a comma-separated list of node URLs, lazily connected: the
    /// connection finds the cluster's nodes and slots on first use, and again after a failover.
    pub fn cluster(urls: &str, prefix: &str) -> Result<Self, RedisError> {
        let clients = urls
            .split(',')
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .map(redis::Client::open)
            .collect::<Result<Vec<_>, _>>()?;
        if clients.is_empty() {
            return Err(RedisError::from((
                ErrorKind::InvalidClientConfig,
                "no cluster node listed",
            )));
        }
        let client = ClusterClientBuilder::new(
            clients
                .iter()
                .map(|client| client.get_connection_info().clone()),
        )
        .connection_timeout(CONNECT_TIMEOUT)
        .response_timeout(RESPONSE_TIMEOUT)
        .overall_response_timeout(Some(CLUSTER_OVERALL_TIMEOUT))
        .retries(3)
        .min_retry_wait(10)
        .max_retry_wait(200)
        .build()?;
        let config = ClusterConfig::new()
            .set_connection_timeout(CONNECT_TIMEOUT)
            .set_response_timeout(RESPONSE_TIMEOUT);
        let connection = client.get_pending_async_connection_with_config(config);
        Ok(Self::with(
            clients,
            Connection::Cluster(connection),
            prefix,
            (CLUSTER_FAILURES_TO_OPEN, Some(CLUSTER_PROBE_EVERY)),
        ))
    }

    fn with(
        clients: Vec<redis::Client>,
        connection: Connection,
        prefix: &str,
        (failures_to_open, probe_every): (u32, Option<Duration>),
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                clients,
                connection,
                prefix: prefix.to_string(),
                epoch: Instant::now(),
                open_until_ms: AtomicU64::new(0),
                failures: AtomicU32::new(0),
                failures_to_open,
                probe_every,
                last_probe_ms: AtomicU64::new(0),
            }),
        }
    }

    /// Whether this is a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.inner.connection.is_cluster()
    }

    /// A client for a connection of its own (pub/sub). On a cluster, the listed nodes in turn
    /// (`attempt` picks one): a classic PUBLISH reaches every node, so any one will do, and the
    /// next attempt after a failure asks another.
    pub fn client(&self, attempt: usize) -> &redis::Client {
        &self.inner.clients[attempt % self.inner.clients.len()]
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

    /// A connection for one operation, or an error at once while the breaker is open (on a
    /// cluster, but for the occasional probe).
    pub fn connection(&self) -> Result<Connection, RedisError> {
        let now = self.now_ms();
        if now < self.inner.open_until_ms.load(Ordering::Relaxed) && !self.probe(now) {
            return Err(RedisError::from((
                ErrorKind::Io,
                "redis skipped: recent connection failure",
            )));
        }
        Ok(self.inner.connection.clone())
    }

    /// Whether this operation may go through the open breaker as its probe.
    fn probe(&self, now: u64) -> bool {
        let Some(every) = self.inner.probe_every else {
            return false;
        };
        let last = self.inner.last_probe_ms.load(Ordering::Relaxed);
        now.saturating_sub(last) >= every.as_millis() as u64
            && self
                .inner
                .last_probe_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// Records the outcome of an operation: connection-level failures open the breaker (on a
    /// cluster, a run of them).
    pub fn observe<T>(&self, result: &Result<T, RedisError>) {
        match result {
            Err(err) if is_connection_failure(err) => {
                let failures = self.inner.failures.fetch_add(1, Ordering::Relaxed) + 1;
                if failures >= self.inner.failures_to_open {
                    let until = self.now_ms() + BREAKER_OPEN_FOR.as_millis() as u64;
                    self.inner.open_until_ms.store(until, Ordering::Relaxed);
                    self.inner.failures.store(0, Ordering::Relaxed);
                }
            }
            Err(_) => {}
            // Read first: the hot path then writes nothing shared. On a cluster a success (a
            // probe's) closes the breaker.
            Ok(_) => {
                if self.inner.failures.load(Ordering::Relaxed) != 0 {
                    self.inner.failures.store(0, Ordering::Relaxed);
                }
                if self.inner.probe_every.is_some()
                    && self.inner.open_until_ms.load(Ordering::Relaxed) != 0
                {
                    self.inner.open_until_ms.store(0, Ordering::Relaxed);
                }
            }
        }
    }

    /// Runs one command-producing closure with the breaker applied.
    pub async fn run<T, F, Fut>(&self, op: F) -> Result<T, RedisError>
    where
        F: FnOnce(Connection) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        let conn = self.connection()?;
        let result = op(conn).await;
        self.observe(&result);
        result
    }

    /// A real round trip, ignoring the breaker: readiness must see the truth. On a cluster the
    /// PING goes to every master: one that does not answer leaves its slots unserved.
    pub async fn ping(&self, timeout: Duration) -> Result<(), RedisError> {
        let mut conn = self.inner.connection.clone();
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
            self.inner.failures.store(0, Ordering::Relaxed);
        }
        result
    }

    /// Walks the keys matching `pattern` (a `SCAN MATCH` glob), a batch at a time; on a cluster,
    /// every master's keys, one master after the other. The breaker applies to its start.
    pub async fn scan(&self, pattern: &str, count: usize) -> Result<Scan, RedisError> {
        let mut conn = self.connection()?;
        let nodes = match &mut conn {
            Connection::Single(_) => vec![None],
            Connection::Cluster(cluster) => {
                let masters = cluster
                    .route_command(
                        redis::cmd("PING"),
                        RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None)),
                    )
                    .await;
                self.observe(&masters);
                master_addresses(masters?)?.into_iter().map(Some).collect()
            }
        };
        Ok(Scan {
            conn,
            nodes,
            cursor: 0,
            pattern: pattern.to_string(),
            count,
        })
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

/// A walk of the keyspace started by [`Redis::scan`].
pub struct Scan {
    conn: Connection,
    /// The nodes still to walk, the current one last; `None` is the single server.
    nodes: Vec<Option<(String, u16)>>,
    cursor: u64,
    pattern: String,
    count: usize,
}

impl Scan {
    /// The next batch of keys (possibly empty), or `None` once every node has been walked.
    /// A key may come twice (`SCAN` promises no more), never not at all if it lived throughout.
    pub async fn next_batch(&mut self) -> Result<Option<Vec<String>>, RedisError> {
        let Some(node) = self.nodes.last().cloned() else {
            return Ok(None);
        };
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(self.cursor)
            .arg("MATCH")
            .arg(&self.pattern)
            .arg("COUNT")
            .arg(self.count);
        let (next, keys): (u64, Vec<String>) = match (&mut self.conn, node) {
            (Connection::Cluster(cluster), Some((host, port))) => {
                let routing =
                    RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host, port });
                redis::from_redis_value(cluster.route_command(cmd, routing).await?)?
            }
            (conn, _) => cmd.query_async(conn).await?,
        };
        if next == 0 {
            self.nodes.pop();
        }
        self.cursor = next;
        Ok(Some(keys))
    }
}

/// The masters' addresses from a reply every master gave (`address → reply`).
fn master_addresses(reply: Value) -> Result<Vec<(String, u16)>, RedisError> {
    let Value::Map(replies) = reply else {
        return Err(RedisError::from((
            ErrorKind::Client,
            "unexpected reply listing the cluster's masters",
        )));
    };
    let mut masters = Vec::with_capacity(replies.len());
    for (address, reply) in replies {
        if let Value::ServerError(err) = reply {
            return Err(RedisError::from(err));
        }
        let address: String = redis::from_redis_value(address)?;
        let parsed = address
            .rsplit_once(':')
            .and_then(|(host, port)| Some((host.to_string(), port.parse().ok()?)));
        match parsed {
            Some(master) => masters.push(master),
            None => {
                return Err(RedisError::from((
                    ErrorKind::Client,
                    "unparsable cluster node address",
                    address,
                )));
            }
        }
    }
    Ok(masters)
}
