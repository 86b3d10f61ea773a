//! Revocation reaches every replica even when Redis fails: when the fan-out cannot be written
//! at all, and when a replica's subscription silently stops delivering.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::operator_token;
use crate::helpers::{Options, TcpProxy, TestApp, eventually, redis_addr};
use crate::signin::{APP_REDIRECT, Request, logout, me_status, sign_in};

/// The README's bound: a revoked token is refused on every replica within 5 s. The time it
/// actually took is printed.
const DEADLINE: Duration = Duration::from_secs(5);

/// A replica whose Redis goes through `proxy`, beside `of`.
async fn replica_through(of: &TestApp, proxy: &TcpProxy, env: &[(&'static str, &str)]) -> TestApp {
    let mut options = Options {
        redis_url: Some(format!("redis://{}", proxy.addr)),
        ..of.replica_options()
    };
    options
        .env
        .extend(env.iter().map(|(key, value)| (*key, value.to_string())));
    TestApp::spawn_with(options).await
}

async fn live(app: &TestApp, want: bool) -> bool {
    eventually(DEADLINE, || async {
        app.state.revocations.is_live() == want
    })
    .await
}

/// Waits until `app` refuses `access_token`; panics naming `what` after the deadline.
async fn refused_within_bound(app: &TestApp, access_token: &str, what: &str) {
    let since = Instant::now();
    let refused = eventually(DEADLINE, || async {
        me_status(app, access_token).await == StatusCode::UNAUTHORIZED
    })
    .await;
    assert!(
        refused,
        "the other replica still accepted the token {DEADLINE:?} after {what}"
    );
    eprintln!("{what}: refused elsewhere after {:?}", since.elapsed());
}

#[tokio::test]
async fn revocations_written_while_redis_is_down_reach_the_other_replicas() {
    let b = TestApp::spawn().await;
    let proxy = TcpProxy::start(redis_addr()).await;
    let a = replica_through(&b, &proxy, &[]).await;
    // Signing in goes through the public URL, which is B's.
    let client_id = b.public_client(APP_REDIRECT).await;
    let revoked = sign_in(&b, &Request::new(&client_id), "citizen-l2").await;
    let logged_out = sign_in(&b, &Request::new(&client_id), "citizen-l2").await;
    assert!(live(&b, true).await);
    assert_eq!(me_status(&b, &revoked.access_token).await, StatusCode::OK);
    assert_eq!(
        me_status(&b, &logged_out.access_token).await,
        StatusCode::OK
    );

    // A loses Redis just before it revokes: PostgreSQL commits, the fan-out fails.
    proxy.pause();
    let response = a
        .client
        .post(a.url("/v1/auth/revoke"))
        .form(&[
            ("token", revoked.access_token.as_str()),
            ("client_id", client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    refused_within_bound(&b, &revoked.access_token, "an RFC 7009 revocation").await;

    logout(&a, &logged_out).await;
    refused_within_bound(&b, &logged_out.access_token, "a logout").await;
    // B's subscription never went down: the poll of PostgreSQL did it.
    assert!(b.state.revocations.is_live());
}

#[tokio::test]
async fn a_client_suspended_while_redis_is_down_is_cut_off_on_the_other_replicas() {
    let b = TestApp::spawn().await;
    let proxy = TcpProxy::start(redis_addr()).await;
    let a = replica_through(&b, &proxy, &[]).await;
    // Signing in goes through the public URL, which is B's.
    let operator = operator_token(&b).await;
    let app_id = b.public_client(APP_REDIRECT).await;
    let citizen = sign_in(&b, &Request::new(&app_id), "citizen-l2").await;
    assert!(live(&b, true).await);
    assert_eq!(me_status(&b, &citizen.access_token).await, StatusCode::OK);

    proxy.pause();
    let response = a
        .client
        .post(a.url(&format!("/v1/ops/clients/{app_id}/suspend")))
        .bearer_auth(&operator)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    refused_within_bound(&b, &citizen.access_token, "a client suspension").await;
}

#[tokio::test]
async fn a_subscription_that_stops_delivering_is_noticed_and_replaced() {
    let a = TestApp::spawn().await;
    let proxy = TcpProxy::start(redis_addr()).await;
    // A slow poll, so that the last revocation below can only arrive in time over pub/sub.
    let b = replica_through(&a, &proxy, &[("MOTCUA_REVOCATION_POLL_MS", "4000")]).await;
    let client_id = a.public_client(APP_REDIRECT).await;
    let first = sign_in(&a, &Request::new(&client_id), "citizen-l2").await;
    let second = sign_in(&a, &Request::new(&client_id), "citizen-l2").await;
    assert!(live(&b, true).await);
    assert_eq!(me_status(&b, &first.access_token).await, StatusCode::OK);
    assert_eq!(me_status(&b, &second.access_token).await, StatusCode::OK);

    // B's subscription still looks open but delivers nothing; its commands still reach Redis.
    proxy.stall_subscriptions();
    logout(&a, &first).await;
    refused_within_bound(&b, &first.access_token, "a logout during the stall").await;
    assert!(
        live(&b, false).await,
        "the stalled subscription was never noticed"
    );

    proxy.unstall();
    assert!(live(&b, true).await, "the subscription was never rebuilt");
    logout(&a, &second).await;
    refused_within_bound(&b, &second.access_token, "a logout after the rebuild").await;
}

/// Rotates the client's secret through the operator API of `on`.
async fn rotate_secret(on: &TestApp, operator: &str, id: &str) {
    let path = format!("/v1/ops/clients/{id}/secret");
    let response = crate::helpers::ops(on, operator, reqwest::Method::POST, &path, None).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_rotated_secret_is_refused_at_once_by_a_replica_holding_the_client_in_memory() {
    let a = TestApp::spawn().await;
    let b = a.replica().await;
    let operator = operator_token(&a).await;
    let (id, secret) = a.service_client(&["dossiers:read"]).await;
    assert!(live(&b, true).await);
    // B reads the client once and keeps it for up to a second.
    let token = || async { b.client_credentials(&id, &secret).await.status() };
    assert_eq!(token().await, StatusCode::OK);
    let held = Instant::now();
    assert!(b.state.clients.holds(&id));

    rotate_secret(&a, &operator, &id).await;
    loop {
        match token().await {
            StatusCode::OK => assert!(held.elapsed() < DEADLINE, "the old secret still works"),
            refused => {
                assert_eq!(refused, StatusCode::UNAUTHORIZED);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Before the entry would have expired by itself: the fan-out dropped it.
    let refused_after = held.elapsed();
    eprintln!("the old secret was refused on B {refused_after:?} after B read the client");
    assert!(
        refused_after < motcua::clients::cache::FRESH_FOR - Duration::from_millis(200),
        "refused only after {refused_after:?}, when the entry expired anyway"
    );
}

#[tokio::test]
async fn while_its_subscription_is_down_a_replica_reads_clients_from_postgresql() {
    let a = TestApp::spawn().await;
    let proxy = TcpProxy::start(redis_addr()).await;
    // A slow poll, so that only reading the table can refuse the old secret in time.
    let b = replica_through(&a, &proxy, &[("MOTCUA_REVOCATION_POLL_MS", "4000")]).await;
    let operator = operator_token(&a).await;
    let (id, secret) = a.service_client(&["dossiers:read"]).await;
    assert!(live(&b, true).await);

    proxy.stall_subscriptions();
    assert!(
        live(&b, false).await,
        "the stalled subscription was never noticed"
    );
    // B serves the client without keeping it: its cut-offs may be late.
    let response = b.client_credentials(&id, &secret).await;
    assert_eq!(response.status(), StatusCode::OK);
    let served = Instant::now();
    assert!(!b.state.clients.holds(&id));
    rotate_secret(&a, &operator, &id).await;
    assert_eq!(
        b.client_credentials(&id, &secret).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert!(served.elapsed() < motcua::clients::cache::FRESH_FOR);
}
