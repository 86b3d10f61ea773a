//! A Redis Cluster master failing for real: its replica takes over, and the gateway loses a few
//! cache reads, no sign-in and no revocation.
//!
//! Runs only against the cluster `scripts/redis-cluster` starts (3 masters, 3 replicas, failover
//! after 2 s): `scripts/test` runs this file in its cluster pass and leaves it out of the others.
//! Without `TEST_REDIS_CLUSTER=1` it fails at once, saying so. By hand:
//!
//! ```sh
//! eval "$(scripts/redis-cluster)"
//! cargo nextest run -E 'test(/^redis_cluster::/)'
//! ```

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::{TestApp, eventually, redis_cluster, redis_connection, redis_url};
use crate::signin::{
    APP_REDIRECT, AtProvider, Request, Tokens, browser, exchange, location, logout, me_status,
    query_of, sign_in, to_callback,
};

/// How long the cluster may take to notice the master is gone and promote its replica.
const FAILOVER_DEADLINE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_master_failing_over_costs_cache_reads_not_sign_ins_or_revocations() {
    assert!(
        redis_cluster(),
        "this test needs the Redis Cluster of scripts/redis-cluster: eval \"$(scripts/redis-cluster)\" first (TEST_REDIS_CLUSTER=1)"
    );
    let app = TestApp::spawn().await;
    let client_id = app.public_client(APP_REDIRECT).await;

    // Before the fault: one session revoked, one kept, the catalogue cached.
    let revoked_before = sign_in(&app, &Request::new(&client_id), "citizen-l2").await;
    logged_out(&app, &revoked_before).await;
    let kept = sign_in(&app, &Request::new(&client_id), "citizen-l2").await;
    assert_eq!(catalogue(&app).await, StatusCode::OK);

    // The victim: the master serving the catalogue's cache entries, which a sign-in waiting at
    // the provider shares too (sign-ins are started until one's state lands there).
    let victim = master_of(&format!("{}cache:{{catalogue}}:version", app.redis_prefix)).await;
    let (request, web, callback) = loop {
        let request = Request::new(&client_id);
        let web = browser();
        let callback = to_callback(&app, &web, &request, AtProvider::SignInAs("citizen-l2")).await;
        let state = query_of(&callback)["state"].clone();
        let key = format!(
            "{}login:{{{}}}",
            app.redis_prefix,
            motcua::crypto::sha256_b64(state.as_bytes())
        );
        if master_of(&key).await == victim {
            break (request, web, callback);
        }
    };
    // Replication is asynchronous: give the replica a moment to receive what was just written.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let _restart = Restart;
    let errors_before = cache_counter("error");
    kill(victim).await;
    let killed = Instant::now();

    // While the cluster notices and fails over, everything keeps answering: cached reads from
    // PostgreSQL, the kept token accepted, the revoked one refused.
    let mut reads_during = 0;
    while !failed_over(victim).await {
        assert!(
            killed.elapsed() < FAILOVER_DEADLINE,
            "no failover of 127.0.0.1:{victim} within {FAILOVER_DEADLINE:?}"
        );
        assert_eq!(
            catalogue(&app).await,
            StatusCode::OK,
            "a read in the failover"
        );
        assert_eq!(me_status(&app, &kept.access_token).await, StatusCode::OK);
        assert_eq!(
            me_status(&app, &revoked_before.access_token).await,
            StatusCode::UNAUTHORIZED
        );
        reads_during += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let failover = killed.elapsed();
    let errors_during = cache_counter("error") - errors_before;
    eprintln!(
        "failover of 127.0.0.1:{victim} took {failover:?}; {errors_during} of {reads_during} cache reads failed meanwhile"
    );

    // The gateway sees every slot served again (its readiness PINGs every master).
    let ready = Instant::now();
    assert!(
        eventually(Duration::from_secs(10), || async {
            app.get("/readyz").await.status() == StatusCode::OK
        })
        .await,
        "not ready again after the failover"
    );
    eprintln!("ready again {:?} after the failover", ready.elapsed());

    // The sign-in that waited at the provider completes: its state survived on the replica.
    let response = web.get(&callback).send().await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::FOUND,
        "callback after failover"
    );
    let back = location(&response);
    let code = query_of(&back)
        .get("code")
        .unwrap_or_else(|| panic!("no code after failover: {back}"))
        .clone();
    let response = exchange(&app, &request, &code).await;
    assert_eq!(response.status(), StatusCode::OK, "code after failover");
    let waited: Tokens = response.json().await.unwrap();
    assert_eq!(me_status(&app, &waited.access_token).await, StatusCode::OK);

    // A new sign-in completes; revocations before and after the failover hold.
    let fresh = sign_in(&app, &Request::new(&client_id), "citizen-l2").await;
    logged_out(&app, &fresh).await;
    for tokens in [&revoked_before, &fresh] {
        assert_eq!(
            me_status(&app, &tokens.access_token).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(me_status(&app, &kept.access_token).await, StatusCode::OK);

    // The cache serves again: hits, and no more failures.
    let (errors, hits) = (cache_counter("error"), cache_counter("hit"));
    for _ in 0..10 {
        assert_eq!(catalogue(&app).await, StatusCode::OK);
    }
    assert!(
        cache_counter("hit") >= hits + 9.0,
        "few cache hits after the failover"
    );
    let late = cache_counter("error") - errors;
    assert_eq!(late, 0.0, "cache reads failed after the failover");
}

/// Logs out and checks the token is refused at once where it was logged out.
async fn logged_out(app: &TestApp, tokens: &Tokens) {
    logout(app, tokens).await;
    assert_eq!(
        me_status(app, &tokens.access_token).await,
        StatusCode::UNAUTHORIZED
    );
}

/// A public, cached read (the catalogue's first page).
async fn catalogue(app: &TestApp) -> StatusCode {
    app.get("/v1/procedures?limit=5").await.status()
}

/// `motcua_cache_requests_total{result=…}` over every namespace, in this process.
fn cache_counter(result: &str) -> f64 {
    let label = format!("result=\"{result}\"");
    motcua::telemetry::metrics()
        .render()
        .lines()
        .filter(|line| line.starts_with("motcua_cache_requests_total{") && line.contains(&label))
        .filter_map(|line| line.split_whitespace().last()?.parse::<f64>().ok())
        .sum()
}

/// The cluster's nodes' ports, from `TEST_REDIS_URL`.
fn ports() -> Vec<u16> {
    redis_url()
        .split(',')
        .filter_map(|url| url::Url::parse(url.trim()).ok()?.port())
        .collect()
}

/// A plain connection to one node.
async fn node(port: u16) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
    redis::Client::open(format!("redis://127.0.0.1:{port}"))?
        .get_multiplexed_async_connection()
        .await
}

/// `CLUSTER NODES` as one node sees it: (port, flags, slot ranges) per node.
async fn cluster_nodes(port: u16) -> redis::RedisResult<Vec<(u16, String, Vec<(u16, u16)>)>> {
    let text: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query_async(&mut node(port).await?)
        .await?;
    Ok(text
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let address = fields.get(1)?.split('@').next()?;
            let port = address.rsplit_once(':')?.1.parse().ok()?;
            let slots = fields
                .iter()
                .skip(8)
                .filter_map(|range| {
                    let (from, to) = range.split_once('-').unwrap_or((range, range));
                    Some((from.parse().ok()?, to.parse().ok()?))
                })
                .collect();
            Some((port, fields.get(2)?.to_string(), slots))
        })
        .collect())
}

/// The port of the master serving `key`'s slot.
async fn master_of(key: &str) -> u16 {
    let slot: u16 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(key)
        .query_async(&mut redis_connection())
        .await
        .unwrap();
    let nodes = cluster_nodes(ports()[0]).await.unwrap();
    nodes
        .into_iter()
        .find(|(_, flags, slots)| {
            flags.contains("master")
                && !flags.contains("fail")
                && slots.iter().any(|(from, to)| (*from..=*to).contains(&slot))
        })
        .map(|(port, ..)| port)
        .unwrap_or_else(|| panic!("no master serves slot {slot}"))
}

/// Stops a node at once, as a crash would (nothing is saved).
async fn kill(port: u16) {
    let mut conn = node(port).await.expect("the victim answers");
    // The node goes away before it could answer.
    let _: redis::RedisResult<()> = redis::cmd("SHUTDOWN")
        .arg("NOSAVE")
        .query_async(&mut conn)
        .await;
}

/// Whether the other nodes agree that `victim` failed and another master serves its slots.
async fn failed_over(victim: u16) -> bool {
    for port in ports().into_iter().filter(|port| *port != victim) {
        let Ok(nodes) = cluster_nodes(port).await else {
            return false;
        };
        let victim_failed = nodes
            .iter()
            .any(|(p, flags, _)| *p == victim && flags.contains("fail"));
        let covered: u32 = nodes
            .iter()
            .filter(|(_, flags, _)| flags.contains("master") && !flags.contains("fail"))
            .flat_map(|(_, _, slots)| slots)
            .map(|(from, to)| u32::from(*to - *from) + 1)
            .sum();
        if !victim_failed || covered != 16384 {
            return false;
        }
    }
    true
}

/// Starts the killed node again when the test ends, however it ends: it rejoins as a replica,
/// and the next run finds a healthy cluster.
struct Restart;

impl Drop for Restart {
    fn drop(&mut self) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/redis-cluster");
        let status = std::process::Command::new(script)
            .stdout(std::process::Stdio::null())
            .status();
        if !matches!(status, Ok(status) if status.success()) {
            eprintln!("scripts/redis-cluster could not restore the cluster: {status:?}");
        }
    }
}
