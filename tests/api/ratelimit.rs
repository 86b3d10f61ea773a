//! Rate limits: one budget per client across replicas, per address for anonymous callers,
//! per replica while Redis is away.

use std::time::Instant;

use reqwest::StatusCode;
use serde_json::Value;

use motcua::audit::RequestFacts;
use motcua::clients::{ClientKind, NewClient};
use motcua::ratelimit::{Caller, Quota};

use crate::helpers::{Options, TestApp, closed_port, counter};
use crate::signin::{APP_REDIRECT, Request, me, refresh, sign_in};

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .to_string()
}

async fn assert_rate_limited(response: reqwest::Response) -> Value {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        header(&response, "content-type"),
        "application/problem+json"
    );
    let retry: u64 = header(&response, "retry-after").parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert_eq!(header(&response, "ratelimit-remaining"), "0");
    let problem: Value = response.json().await.unwrap();
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .ends_with("/problems/rate-limited"),
        "{problem}"
    );
    assert_eq!(problem["status"], 429);
    problem
}

#[tokio::test]
async fn a_client_gets_exactly_its_limit_across_two_instances_then_429() {
    let first = TestApp::spawn().await;
    let second = first.replica().await;
    let (id, secret) = first
        .client_with(NewClient {
            name: "Marketplace".into(),
            kind: ClientKind::Confidential,
            redirect_uris: vec![],
            scopes: vec!["listings:write".into()],
            rate_limit_per_min: Some(5),
            ..NewClient::default()
        })
        .await;
    let secret = secret.unwrap();

    // Token requests and API calls with the token spend one budget, whichever replica serves.
    let response = first.client_credentials(&id, &secret).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "ratelimit-limit"), "5");
    assert_eq!(header(&response, "ratelimit-remaining"), "4");
    let body: Value = response.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap().to_string();
    let mut remaining = Vec::new();
    for (n, app) in [&second, &first, &second].into_iter().enumerate() {
        // A service token on a citizen's endpoint: refused (403), and counted all the same.
        let (response, expected) = match n {
            1 => (
                app.client
                    .get(app.url("/v1/me"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap(),
                StatusCode::FORBIDDEN,
            ),
            _ => (app.client_credentials(&id, &secret).await, StatusCode::OK),
        };
        assert_eq!(response.status(), expected);
        remaining.push(header(&response, "ratelimit-remaining"));
    }
    assert_eq!(remaining, ["3", "2", "1"]);
    let response = second.client_credentials(&id, &secret).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "ratelimit-remaining"), "0");

    // The sixth, on either replica, through either door, is refused.
    assert_rate_limited(first.client_credentials(&id, &secret).await).await;
    assert_rate_limited(
        second
            .client
            .get(second.url("/v1/me"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;

    // Another client's budget is its own.
    let (other, other_secret) = first
        .client_with(NewClient {
            name: "Agency".into(),
            kind: ClientKind::Confidential,
            scopes: vec!["dossiers:read".into()],
            ..NewClient::default()
        })
        .await;
    let response = second
        .client_credentials(&other, &other_secret.unwrap())
        .await;
    assert_eq!(response.status(), StatusCode::OK);

    // Refusals are audited, sampled: one entry for the burst, naming the client.
    let audited: Vec<(Option<String>, String)> =
        sqlx::query_as("SELECT client_id, outcome FROM audit_log WHERE action = 'rate_limited'")
            .fetch_all(&first.state.db)
            .await
            .unwrap();
    assert_eq!(audited, vec![(Some(id.clone()), "failure".to_string())]);
}

#[tokio::test]
async fn anonymous_callers_are_limited_per_address_believing_forwarded_for_only_from_trusted_proxies()
 {
    let env = |trusted: bool| {
        let mut env = vec![("MOTCUA_RATE_LIMIT_ANONYMOUS_PER_MIN", "3".to_string())];
        if trusted {
            env.push(("MOTCUA_TRUSTED_PROXIES", "127.0.0.1/32".to_string()));
        }
        env
    };
    let behind_proxy = TestApp::spawn_with(Options {
        env: env(true),
        ..Options::default()
    })
    .await;
    let get = |app: &TestApp, forwarded: &str| {
        app.client
            .get(app.url("/.well-known/jwks.json"))
            .header("x-forwarded-for", forwarded)
            .send()
    };
    for expected in ["2", "1", "0"] {
        let response = get(&behind_proxy, "198.51.100.7").await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, "ratelimit-remaining"), expected);
    }
    assert_rate_limited(get(&behind_proxy, "198.51.100.7").await.unwrap()).await;
    // Another citizen behind the same proxy has a budget of their own.
    assert_eq!(
        get(&behind_proxy, "198.51.100.8").await.unwrap().status(),
        StatusCode::OK
    );
    // Probes are never limited.
    for _ in 0..5 {
        assert_eq!(behind_proxy.get("/healthz").await.status(), StatusCode::OK);
    }

    // Without trusted proxies, a forged X-Forwarded-For buys nothing: the peer is the caller.
    let exposed = TestApp::spawn_with(Options {
        env: env(false),
        ..Options::default()
    })
    .await;
    for n in 0..3 {
        let response = get(&exposed, &format!("203.0.113.{n}")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_rate_limited(get(&exposed, "203.0.113.99").await.unwrap()).await;
}

#[tokio::test]
async fn failed_client_authentication_spends_the_callers_address_budget() {
    let app = TestApp::spawn_with(Options {
        env: vec![("MOTCUA_RATE_LIMIT_ANONYMOUS_PER_MIN", "3".to_string())],
        ..Options::default()
    })
    .await;
    let (id, secret) = app
        .client_with(NewClient {
            name: "Agency".into(),
            kind: ClientKind::Confidential,
            scopes: vec!["dossiers:read".into()],
            ..NewClient::default()
        })
        .await;
    // Guessing secrets: three wrong answers, then the address is told to wait.
    for _ in 0..3 {
        let response = app.client_credentials(&id, "guess").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    assert_rate_limited(app.client_credentials(&id, "guess").await).await;
    // From then on the address is refused: the right secret waits too, and the flood costs no
    // database lookups and records no more failures (the log samples failures, one entry a
    // minute; the rest are counted).
    assert_rate_limited(app.client_credentials(&id, &secret.unwrap()).await).await;
    assert_eq!(app.audited("client_authentication").await, 1);
    assert_eq!(
        crate::helpers::counter("motcua_audit_sampled_out_total"),
        2.0,
        "the two later wrong guesses are counted, and the refused requests are not failures"
    );
}

#[tokio::test]
async fn requests_refused_before_client_authentication_spend_the_address_budget() {
    let app = TestApp::spawn_with(Options {
        env: vec![("MOTCUA_RATE_LIMIT_ANONYMOUS_PER_MIN", "3".to_string())],
        ..Options::default()
    })
    .await;
    let garbage = || {
        app.client
            .post(app.url("/v1/auth/token"))
            .form(&[("grant_type", "password")])
            .send()
    };
    for expected in ["2", "1", "0"] {
        let response = garbage().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(header(&response, "ratelimit-remaining"), expected);
    }
    assert_rate_limited(garbage().await.unwrap()).await;
}

#[tokio::test]
async fn without_redis_each_instance_still_limits_and_nothing_fails() {
    let dead_redis = Some(format!("redis://127.0.0.1:{}", closed_port()));
    let limit = ("MOTCUA_RATE_LIMIT_ANONYMOUS_PER_MIN", "3".to_string());
    let first = TestApp::spawn_with(Options {
        redis_url: dead_redis.clone(),
        env: vec![limit.clone()],
        ..Options::default()
    })
    .await;
    let mut options = first.replica_options();
    options.redis_url = dead_redis;
    options.env.push(limit);
    let second = TestApp::spawn_with(options).await;
    // With nothing shared, each instance keeps its own budget for the address, in full.
    for app in [&first, &second] {
        for expected in ["2", "1", "0"] {
            let response = app.get("/.well-known/oauth-authorization-server").await;
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(header(&response, "ratelimit-remaining"), expected);
        }
        assert_rate_limited(app.get("/.well-known/oauth-authorization-server").await).await;
    }
}

/// Two replicas sharing a database and Redis, each address allowed `per_min` a minute.
async fn replicas_with_address_budget(per_min: u32) -> (TestApp, TestApp) {
    let budget = ("MOTCUA_RATE_LIMIT_ANONYMOUS_PER_MIN", per_min.to_string());
    let first = TestApp::spawn_with(Options {
        env: vec![budget.clone()],
        ..Options::default()
    })
    .await;
    let mut options = first.replica_options();
    options.env.push(budget);
    let second = TestApp::spawn_with(options).await;
    (first, second)
}

async fn confidential(app: &TestApp, per_min: i32, scopes: &[&str]) -> (String, String) {
    let (id, secret) = app
        .client_with(NewClient {
            name: "Agency".into(),
            kind: ClientKind::Confidential,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            rate_limit_per_min: Some(per_min),
            ..NewClient::default()
        })
        .await;
    (id, secret.unwrap())
}

#[tokio::test]
async fn each_citizen_of_an_app_has_the_apps_budget_to_themselves() {
    let app = TestApp::spawn().await;
    let (app_id, _) = app
        .client_with(NewClient {
            name: "Test app".into(),
            kind: ClientKind::Public,
            redirect_uris: vec![APP_REDIRECT.into()],
            rate_limit_per_min: Some(3),
            ..NewClient::default()
        })
        .await;
    let alice = sign_in(&app, &Request::new(&app_id), "citizen-l2").await;
    let bob = sign_in(&app, &Request::new(&app_id), "merchant").await;
    for expected in ["2", "1", "0"] {
        let response = me(&app, &alice.access_token).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, "ratelimit-remaining"), expected);
    }
    assert_rate_limited(me(&app, &alice.access_token).await).await;
    // Another citizen of the same app is untouched by the first one's spending.
    let response = me(&app, &bob.access_token).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "ratelimit-remaining"), "2");
}

#[tokio::test]
async fn guessing_a_clients_secret_leaves_its_budget_untouched() {
    let app = TestApp::spawn().await;
    let (id, secret) = confidential(&app, 5, &["dossiers:read"]).await;
    for _ in 0..3 {
        let response = app.client_credentials(&id, "guess").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = app.client_credentials(&id, &secret).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "ratelimit-limit"), "5");
    assert_eq!(
        header(&response, "ratelimit-remaining"),
        "4",
        "the guesses spent the client's own budget"
    );
}

#[tokio::test]
async fn introspection_and_revocation_spend_the_clients_budget() {
    let app = TestApp::spawn().await;
    let (id, secret) = confidential(&app, 5, &["dossiers:read"]).await;
    let response = app.client_credentials(&id, &secret).await;
    assert_eq!(header(&response, "ratelimit-remaining"), "4");
    let token = response.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let response = app
        .client
        .post(app.url("/v1/auth/introspect"))
        .basic_auth(&id, Some(&secret))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "ratelimit-limit"), "5");
    assert_eq!(header(&response, "ratelimit-remaining"), "3");
    let response = app
        .client
        .post(app.url("/v1/auth/revoke"))
        .basic_auth(&id, Some(&secret))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "ratelimit-limit"), "5");
    assert_eq!(header(&response, "ratelimit-remaining"), "2");
}

#[tokio::test]
async fn public_clients_spend_their_callers_address_budget() {
    let app = TestApp::spawn_with(Options {
        env: vec![("MOTCUA_RATE_LIMIT_ANONYMOUS_PER_MIN", "3".to_string())],
        ..Options::default()
    })
    .await;
    let (app_id, _) = app
        .client_with(NewClient {
            name: "Test app".into(),
            kind: ClientKind::Public,
            redirect_uris: vec![APP_REDIRECT.into()],
            rate_limit_per_min: Some(1000),
            ..NewClient::default()
        })
        .await;
    for expected in ["2", "1"] {
        let response = refresh(&app, &app_id, "not-a-refresh-token").await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(header(&response, "ratelimit-limit"), "3");
        assert_eq!(header(&response, "ratelimit-remaining"), expected);
    }
    // The same budget as any anonymous request from the address.
    let response = app.get("/.well-known/oauth-authorization-server").await;
    assert_eq!(header(&response, "ratelimit-remaining"), "0");
    assert_rate_limited(refresh(&app, &app_id, "not-a-refresh-token").await).await;
}

#[tokio::test]
async fn the_shared_budget_refills_at_its_rate_and_the_headers_say_when() {
    let (first, second) = replicas_with_address_budget(30).await;
    let path = "/.well-known/oauth-authorization-server";
    let response = first.get(path).await;
    assert_eq!(header(&response, "ratelimit-policy"), "30;w=60");
    assert_eq!(header(&response, "ratelimit-limit"), "30");
    let reset_after_one: u64 = header(&response, "ratelimit-reset").parse().unwrap();
    assert!((1..=2).contains(&reset_after_one), "{reset_after_one}");
    let mut last = response;
    while last.status() == StatusCode::OK {
        last = first.get(path).await;
    }
    assert_rate_limited(last).await;
    let refused = second.get(path).await;
    let reset: u64 = header(&refused, "ratelimit-reset").parse().unwrap();
    assert!(
        (55..=60).contains(&reset),
        "an empty budget is full again in 60 s: {reset}"
    );
    assert_rate_limited(refused).await;
    // One request comes back every 2 s, in the budget both replicas share through Redis.
    assert!(
        crate::helpers::eventually(std::time::Duration::from_secs(15), || async {
            second.get(path).await.status() == StatusCode::OK
        })
        .await,
        "the budget never refilled"
    );
}

/// A busy budget is claimed a few requests at a time and decided in memory, yet two replicas
/// drawing from it at once admit exactly what it holds (and what refills meanwhile): every
/// request a slice holds was spent in Redis, and what a slice did not use went back.
#[tokio::test]
async fn a_busy_budget_is_drawn_in_slices_and_two_replicas_admit_what_it_holds_no_more() {
    let first = TestApp::spawn().await;
    let second = first.replica().await;
    // Slices of up to six requests; one request comes back every 10 ms.
    let quota = Quota { per_min: 6_000 };
    let in_memory_before = counter("motcua_rate_limit_from_slice_total");
    let started = Instant::now();
    let drawers = (0..8).map(|n| {
        let limiter = [&first, &second][n % 2].state.limiter.clone();
        tokio::spawn(async move {
            let facts = RequestFacts::default();
            let mut allowed = 0u64;
            while limiter.check_budget("busy", quota, &facts).await.allowed {
                allowed += 1;
            }
            allowed
        })
    });
    let allowed: u64 = futures::future::join_all(drawers)
        .await
        .into_iter()
        .map(Result::unwrap)
        .sum();
    let elapsed = started.elapsed();
    let refilled = elapsed.as_millis() as u64 / 10 + 1;
    assert!(
        (6_000..=6_000 + refilled).contains(&allowed),
        "{allowed} admitted in {elapsed:?}: the budget holds 6,000 and {refilled} refilled"
    );
    // Four drawers a replica: while one claims a slice of six, the other three go to Redis on
    // their own, so about five in nine are decided from memory.
    let in_memory = counter("motcua_rate_limit_from_slice_total") - in_memory_before;
    assert!(
        in_memory > 2_000.0,
        "only {in_memory} of {allowed} decided from slices"
    );
    // The refusals are audited as any other: sampled, one entry a minute per budget.
    assert_eq!(first.audited("rate_limited").await, 1);
}

/// With an address budget large enough for slices, the token endpoint's look at the address
/// may come from memory, but for at most 100 ms: past that, an address another replica has
/// spent gets no client authenticated, not even one held in memory.
#[tokio::test]
async fn an_address_spent_on_another_replica_gets_no_client_authenticated_once_the_look_is_old() {
    let (first, second) = replicas_with_address_budget(2000).await;
    let (id, secret) = confidential(&first, 1_000_000, &["dossiers:read"]).await;
    // The client is now held in memory, and the address's budget looked at: far from spent.
    assert_eq!(
        first.client_credentials(&id, &secret).await.status(),
        StatusCode::OK
    );
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    // Spent on the other replica, until the next request would wait at least 25 ms (one comes
    // back every 30 ms); then the look, straight at the limiter so that its timing is known
    // (the endpoint makes this same call for a client held in memory). A look that took longer
    // than 20 ms after the spending proves nothing, and the round is done again.
    let address = Caller::Ip(Some("127.0.0.1".parse().unwrap()));
    let facts = RequestFacts::default();
    let mut decision = None;
    for _ in 0..20 {
        let mut refusals = 0;
        let spent = loop {
            let decision = second.state.limiter.check(&address, &facts).await;
            refusals += u32::from(!decision.allowed);
            // Not the first refusal: that one is audited, which takes time of its own.
            if refusals > 1 && decision.retry_after >= std::time::Duration::from_millis(25) {
                break Instant::now();
            }
        };
        let looked = first
            .state
            .limiter
            .check_guarded(&address, &Caller::Client(id.clone()), &facts)
            .await;
        if spent.elapsed() < std::time::Duration::from_millis(20) {
            decision = Some(looked);
            break;
        }
    }
    let decision = decision.expect("no look within 20 ms of the spending in 20 rounds");
    assert!(!decision.allowed, "{decision:?}");
    assert_eq!(
        decision.limit, 2000,
        "the address's decision, not the client's"
    );
}
