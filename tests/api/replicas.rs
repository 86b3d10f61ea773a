//! Many replicas: three `motcua serve` processes on one PostgreSQL database and one Redis (a
//! server, or the cluster in the cluster pass), behind a round-robin TCP balancer whose address
//! is their public URL. Whichever replica a request lands on serves it the same, and what one
//! replica does (a logout, a revocation, a suspension, a key rotation, a write that invalidates
//! a cached read) holds on the others in time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};

use crate::dossiers_api::{LAN_ID_NUMBER, PROCEDURE};
use crate::helpers::{Options, TestApp, grant, ops_console};
use crate::keys::published_kids;
use crate::process::Process;
use crate::signin::{
    APP_REDIRECT, AtProvider, Request, Tokens, browser, exchange, jwt_parts, location, logout,
    me_status, query_of, refresh, refreshed, to_callback,
};

/// How soon a logout, revocation or suspension on one replica is refused on another.
const WITHIN: Duration = Duration::from_secs(1);

/// A TCP balancer: each connection goes to the next replica in turn, as a layer-4 load balancer
/// in front of a deployment does.
struct Balancer {
    address: String,
    /// Connections handed to each replica.
    served: Arc<Vec<AtomicUsize>>,
    task: tokio::task::JoinHandle<()>,
}

impl Balancer {
    fn start(listener: TcpListener, replicas: Vec<SocketAddr>) -> Balancer {
        let address = format!("http://{}", listener.local_addr().unwrap());
        let served: Arc<Vec<AtomicUsize>> =
            Arc::new(replicas.iter().map(|_| AtomicUsize::new(0)).collect());
        let counts = served.clone();
        let task = tokio::spawn(async move {
            let mut next = 0;
            while let Ok((mut inbound, _)) = listener.accept().await {
                let n = next % replicas.len();
                next += 1;
                counts[n].fetch_add(1, Ordering::SeqCst);
                let replica = replicas[n];
                tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(replica).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Balancer {
            address,
            served,
            task,
        }
    }

    fn served(&self) -> Vec<usize> {
        self.served
            .iter()
            .map(|n| n.load(Ordering::SeqCst))
            .collect()
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One deployment: three processes behind the balancer.
/// Fields drop in order: the balancer and the processes go before `owner` drops the database
/// and the Redis prefix they use.
struct Deployment {
    balancer: Balancer,
    /// Kept for their lifetime: dropping one kills its process.
    processes: Vec<Process>,
    /// The helpers' handles on each process: A, B, C.
    replicas: Vec<TestApp>,
    /// Created and migrated the database and owns it and the Redis prefix; the set-up's handle
    /// on them (clients, roles, the demo catalogue, SQL). In process and out of the balancer:
    /// it takes no traffic.
    owner: TestApp,
}

impl Deployment {
    async fn start(env: &[(&'static str, &str)]) -> Deployment {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let public_url = format!("http://{}", listener.local_addr().unwrap());
        let mut env: Vec<(&'static str, String)> = env
            .iter()
            .map(|(key, value)| (*key, value.to_string()))
            .collect();
        env.push(("MOTCUA_PUBLIC_URL", public_url));
        let owner = TestApp::spawn_with(Options {
            env: env.clone(),
            ..Options::default()
        })
        .await;
        let processes = futures::future::join_all(
            ["a", "b", "c"].map(|name| Process::serve(&owner, name, &env)),
        )
        .await;
        let replicas = processes.iter().map(|p| owner.at(&p.address)).collect();
        let addresses = processes
            .iter()
            .map(|p| SocketAddr::from(([127, 0, 0, 1], p.port())))
            .collect();
        let balancer = Balancer::start(listener, addresses);
        Deployment {
            owner,
            processes,
            replicas,
            balancer,
        }
    }

    fn abc(&self) -> (&TestApp, &TestApp, &TestApp) {
        (&self.replicas[0], &self.replicas[1], &self.replicas[2])
    }

    /// The public URL: the balancer.
    fn public(&self) -> TestApp {
        self.owner.at(&self.balancer.address)
    }

    /// The servers' logs, for a failure's message.
    fn logs(&self) -> String {
        self.processes
            .iter()
            .map(|p| p.log_text())
            .collect::<Vec<_>>()
            .join("\n---\n")
    }
}

/// A sign-in started at `start`, whose return through our callback (sent by the provider to
/// the public URL) is taken to `finish`, and whose code `finish` redeems.
async fn sign_in_across(
    d: &Deployment,
    start: &TestApp,
    finish: &TestApp,
    request: &Request,
    citizen: &str,
) -> Tokens {
    let browser = browser();
    let callback = to_callback(start, &browser, request, AtProvider::SignInAs(citizen)).await;
    let public = &d.balancer.address;
    assert!(callback.starts_with(public), "{callback}");
    let callback = callback.replacen(public, &finish.address, 1);
    let response = browser.get(&callback).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND, "{}", d.logs());
    let back = location(&response);
    let params = query_of(&back);
    assert_eq!(params.get("state"), Some(&request.state), "{back}");
    assert_eq!(params.get("iss"), Some(public), "{back}");
    let code = params.get("code").expect("a code");
    let response = exchange(finish, request, code).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// An operator's token from the console, signed in at level 2 on `on`.
async fn operator_on(d: &Deployment, on: &TestApp) -> String {
    let console = ops_console(&d.owner).await;
    let mut request = Request::new(&console);
    request.acr_values = Some("2".into());
    let tokens = sign_in_across(d, on, on, &request, "official").await;
    let sub = jwt_parts(&tokens.access_token).1["sub"]
        .as_str()
        .unwrap()
        .to_string();
    grant(&d.owner, &sub, "operator");
    tokens.access_token
}

/// Waits until `access_token` is refused on `on`, at most [`WITHIN`]; returns how long it took.
async fn refused_within(on: &TestApp, access_token: &str, what: &str) -> Duration {
    let started = Instant::now();
    loop {
        if me_status(on, access_token).await == StatusCode::UNAUTHORIZED {
            let took = started.elapsed();
            eprintln!("{what}: refused after {took:?}");
            return took;
        }
        assert!(
            started.elapsed() < WITHIN,
            "{what}: still accepted after {WITHIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A `client_credentials` access token from `replica`.
async fn token_from(replica: &TestApp, id: &str, secret: &str) -> String {
    let response = replica.client_credentials(id, secret).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

/// Cache hits, as `replica` reports them on `/metrics`.
async fn cache_hits(replica: &TestApp) -> f64 {
    let text = replica.get("/metrics").await.text().await.unwrap();
    text.lines()
        .filter(|line| {
            line.starts_with("motcua_cache_requests_total{") && line.contains("result=\"hit\"")
        })
        .filter_map(|line| line.split_whitespace().last()?.parse::<f64>().ok())
        .sum()
}

/// A client without keep-alive: through the balancer, each request lands on the next replica.
fn one_request_per_connection() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_sign_in_started_on_one_replica_finishes_on_another_and_its_tokens_work_on_every_one() {
    let d = Deployment::start(&[]).await;
    let (a, b, c) = d.abc();
    let client_id = d.owner.public_client(APP_REDIRECT).await;
    let request = Request::new(&client_id);
    // Started on A (its login state and browser binding kept in Redis), back on B, which
    // redeems the code.
    let tokens = sign_in_across(&d, a, b, &request, "citizen-l2").await;
    for replica in [a, b, c] {
        assert_eq!(
            me_status(replica, &tokens.access_token).await,
            StatusCode::OK
        );
    }
    // Through the balancer, request after request on the next replica.
    let public = d.public();
    let client = one_request_per_connection();
    let before = d.balancer.served();
    for _ in 0..6 {
        let response = client
            .get(public.url("/v1/me"))
            .bearer_auth(&tokens.access_token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let after = d.balancer.served();
    for (n, (was, is)) in before.iter().zip(&after).enumerate() {
        assert_eq!(is - was, 2, "replica {n}: {before:?} then {after:?}");
    }

    // Rotation on B then C; the oldest refresh token, replayed on A, is a reuse: the family
    // ends, and its newest access token is refused on B.
    let r0 = tokens.refresh_token.clone().unwrap();
    let g1 = refreshed(b, &client_id, &r0).await;
    let g2 = refreshed(c, &client_id, g1.refresh_token.as_deref().unwrap()).await;
    assert_eq!(me_status(a, &g2.access_token).await, StatusCode::OK);
    let reuse = refresh(a, &client_id, &r0).await;
    assert_eq!(reuse.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        reuse.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    refused_within(b, &g2.access_token, "a reused refresh token on A, on B").await;
    let newest = refresh(c, &client_id, g2.refresh_token.as_deref().unwrap()).await;
    assert_eq!(newest.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_logout_a_revocation_or_a_suspension_on_one_replica_is_refused_on_another_within_a_second()
 {
    let d = Deployment::start(&[]).await;
    let (a, b, c) = d.abc();
    let client_id = d.owner.public_client(APP_REDIRECT).await;

    // Logout on B.
    let tokens = sign_in_across(&d, a, a, &Request::new(&client_id), "citizen-l2").await;
    assert_eq!(me_status(a, &tokens.access_token).await, StatusCode::OK);
    logout(b, &tokens).await;
    refused_within(a, &tokens.access_token, "a logout on B, on A").await;

    // Revocation (RFC 7009) of an access token on B.
    let tokens = sign_in_across(&d, c, c, &Request::new(&client_id), "citizen-l2").await;
    assert_eq!(me_status(a, &tokens.access_token).await, StatusCode::OK);
    let response = b
        .client
        .post(b.url("/v1/auth/revoke"))
        .form(&[
            ("token", tokens.access_token.as_str()),
            ("client_id", &client_id),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    refused_within(a, &tokens.access_token, "a revocation on B, on A").await;

    // An operator suspends the app on B: its citizens' tokens are refused on A, and it gets
    // no new ones anywhere.
    let operator = operator_on(&d, c).await;
    let tokens = sign_in_across(&d, a, a, &Request::new(&client_id), "citizen-l2").await;
    assert_eq!(me_status(a, &tokens.access_token).await, StatusCode::OK);
    let response = b
        .client
        .post(b.url(&format!("/v1/ops/clients/{client_id}/suspend")))
        .bearer_auth(&operator)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    refused_within(a, &tokens.access_token, "a suspension on B, on A").await;
    let refused = refresh(c, &client_id, tokens.refresh_token.as_deref().unwrap()).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn rate_limits_are_one_budget_whichever_replica_serves() {
    let d = Deployment::start(&[]).await;
    let (id, secret) = d
        .owner
        .client_with(motcua::clients::NewClient {
            name: "Marketplace".into(),
            kind: motcua::clients::ClientKind::Confidential,
            scopes: vec!["listings:write".into()],
            rate_limit_per_min: Some(6),
            ..Default::default()
        })
        .await;
    let secret = secret.unwrap();
    let public = d.public();
    let client = one_request_per_connection();
    let before = d.balancer.served();
    let mut statuses = Vec::new();
    for _ in 0..9 {
        let response = client
            .post(public.url("/v1/auth/token"))
            .basic_auth(&id, Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    let after = d.balancer.served();
    // Three requests on each replica, six of nine accepted: one budget, not one per replica
    // (which would have accepted all nine).
    for (n, (was, is)) in before.iter().zip(&after).enumerate() {
        assert_eq!(is - was, 3, "replica {n}: {before:?} then {after:?}");
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 200, 429, 429, 429]);
}

#[tokio::test]
async fn a_key_rotated_on_one_replica_is_published_by_the_others_first_and_used_on_schedule() {
    let delay = Duration::from_secs(8);
    let d = Deployment::start(&[
        ("MOTCUA_JWKS_MAX_AGE_SECS", "1"),
        ("MOTCUA_KEY_ROTATION_DELAY_SECS", "8"),
    ])
    .await;
    let (a, b, c) = d.abc();
    let (id, secret) = d.owner.service_client(&["dossiers:read"]).await;
    let kid = |token: &str| jwt_parts(token).0["kid"].as_str().unwrap().to_string();
    let old_token = token_from(b, &id, &secret).await;
    let old_kid = kid(&old_token);

    let operator = operator_on(&d, a).await;
    let rotated_at = Instant::now();
    let response = a
        .client
        .post(a.url("/v1/ops/keys/rotate"))
        .bearer_auth(&operator)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let new_kid = response.json::<Value>().await.unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_string();

    // B and C publish the new key before anyone signs with it, and sign on with the old one.
    for replica in [b, c] {
        while !published_kids(replica).await.contains(&new_kid) {
            assert!(
                rotated_at.elapsed() < delay - Duration::from_secs(1),
                "{} had not published the new key a second before its first use",
                replica.address
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let publishing = rotated_at.elapsed();
    eprintln!("the new key was published everywhere after {publishing:?}");
    assert!(
        publishing < delay - Duration::from_secs(1),
        "published after {publishing:?}, too close to its first use"
    );
    assert_eq!(kid(&token_from(b, &id, &secret).await), old_kid);

    // On schedule, B signs with the new key; every replica accepts that token and the old one.
    tokio::time::sleep((delay + Duration::from_millis(500)).saturating_sub(rotated_at.elapsed()))
        .await;
    let new_token = token_from(b, &id, &secret).await;
    assert_eq!(kid(&new_token), new_kid);
    for replica in [a, b, c] {
        for token in [&old_token, &new_token] {
            let response = replica
                .client
                .post(replica.url("/v1/auth/introspect"))
                .basic_auth(&id, Some(&secret))
                .form(&[("token", token.as_str())])
                .send()
                .await
                .unwrap();
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["active"], true, "{}: {body}", replica.address);
        }
    }
}

#[tokio::test]
async fn idempotent_retries_on_different_replicas_write_once_and_a_write_on_one_is_read_on_another()
{
    let d = Deployment::start(&[]).await;
    let (a, b, c) = d.abc();
    motcua::dossiers::seed::load(&d.owner.state.db, &d.owner.state.master_key(), 0)
        .await
        .unwrap();
    let agency_code: String =
        sqlx::query_scalar("SELECT agency_code FROM procedures WHERE code = $1")
            .bind(PROCEDURE)
            .fetch_one(&d.owner.state.db)
            .await
            .unwrap();
    let (id, secret) = d
        .owner
        .client_with(motcua::clients::NewClient {
            name: "Back office".into(),
            scopes: vec!["dossiers:write".into()],
            agencies: vec![agency_code],
            ..Default::default()
        })
        .await;
    let response = a.client_credentials(&id, &secret.unwrap()).await;
    let agency = response.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let post = |replica: &TestApp, path: String, body: Value, key: Option<&str>| {
        let mut request = replica
            .client
            .post(replica.url(&path))
            .bearer_auth(&agency)
            .json(&body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        async move { request.send().await.unwrap() }
    };

    // The same registration, retried on each replica at once: one dossier, one answer.
    let body = json!({
        "procedure_code": PROCEDURE,
        "applicant_id_number": LAN_ID_NUMBER,
        "applicant_name": "Nguyễn Thị Lan",
    });
    let attempts = [a, b, c, a, b, c].map(|replica| {
        post(
            replica,
            "/v1/agency/dossiers".into(),
            body.clone(),
            Some("counter-7-2026-12-06"),
        )
    });
    let mut answers = Vec::new();
    for response in futures::future::join_all(attempts).await {
        assert_eq!(response.status(), StatusCode::CREATED);
        answers.push(response.json::<Value>().await.unwrap());
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM dossiers")
        .fetch_one(&d.owner.state.db)
        .await
        .unwrap();
    assert_eq!(count, 1);
    let code = answers[0]["code"].as_str().unwrap().to_string();

    // The citizen reads it on C (the first read links it to them), then twice on B (the second
    // from the cache); the agency moves it on A; B's next read has the new status.
    let app_id = d.owner.public_client(APP_REDIRECT).await;
    let citizen = sign_in_across(&d, c, c, &Request::new(&app_id), "citizen-l2").await;
    let read = |replica: &TestApp| {
        let request = replica
            .client
            .get(replica.url(&format!("/v1/me/dossiers/{code}")))
            .bearer_auth(&citizen.access_token);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<Value>().await.unwrap()
        }
    };
    assert_eq!(read(c).await["status"], "received");
    assert_eq!(read(b).await["status"], "received");
    let hits = cache_hits(b).await;
    assert_eq!(read(b).await["status"], "received");
    assert!(
        cache_hits(b).await > hits,
        "B's second read missed the cache"
    );
    let moved = post(
        a,
        format!("/v1/agency/dossiers/{code}/transitions"),
        json!({ "to": "processing" }),
        None,
    )
    .await;
    assert_eq!(moved.status(), StatusCode::OK, "{}", d.logs());
    assert_eq!(read(b).await["status"], "processing");
    assert_eq!(read(c).await["status"], "processing");
}
