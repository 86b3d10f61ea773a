//! The README's degradation policy, one fault per row, each caused for real: Redis cut off by a
//! proxy, PostgreSQL cut off by a proxy or its connections killed with `pg_terminate_backend`,
//! the eID provider hanging or refusing connections, and SIGTERM sent to a real `motcua serve`
//! process under load.

mod eid;
mod postgres;
mod redis;
mod shutdown;

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, postgres_server_url, redis_url};
use crate::signin::{Request, browser, location, query_of};

/// A connection of the test's own to the app's database, not through any proxy of the app's.
pub async fn direct_db(app: &TestApp) -> sqlx::PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&format!("{}/{}", postgres_server_url(), app.db_name))
        .await
        .expect("direct connection to the test database")
}

/// Keys of the app's Redis prefix matching `pattern` (after the prefix), read directly.
pub async fn redis_keys(app: &TestApp, pattern: &str) -> Vec<String> {
    let client = ::redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    ::redis::cmd("KEYS")
        .arg(format!("{}{pattern}", app.redis_prefix))
        .query_async(&mut conn)
        .await
        .unwrap()
}

/// `/readyz`: its status and, when not ready, the problem's detail.
pub async fn readiness(app: &TestApp) -> (StatusCode, String) {
    let response = app.get("/readyz").await;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or_default();
    (
        status,
        body["detail"].as_str().unwrap_or_default().to_string(),
    )
}

/// Where a sign-in started at `app` sends the browser, and how long the answer took.
pub async fn start_sign_in(app: &TestApp, client_id: &str) -> (Request, String, Duration) {
    let request = Request::new(client_id);
    let started = Instant::now();
    let response = browser()
        .get(request.authorize_url(app))
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(response.status(), StatusCode::FOUND, "authorize");
    (request, location(&response), took)
}

/// The app's redirect URI with `temporarily_unavailable` (RFC 6749 §4.1.2.1), its state and our
/// issuer, and no code.
pub fn assert_temporarily_unavailable(app: &TestApp, request: &Request, to: &str) {
    assert!(
        to.starts_with(&request.redirect_uri),
        "expected the app's redirect URI, got {to}"
    );
    let params = query_of(to);
    assert_eq!(
        params.get("error").map(String::as_str),
        Some("temporarily_unavailable"),
        "{to}"
    );
    assert_eq!(params.get("state"), Some(&request.state), "{to}");
    assert_eq!(params.get("iss"), Some(&app.address), "{to}");
    assert!(!params.contains_key("code"), "{to}");
}

/// A 503 `service-unavailable` problem, to retry.
pub async fn assert_service_unavailable(response: reqwest::Response, what: &str) {
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{what}");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json",
        "{what}"
    );
    assert!(response.headers().contains_key("retry-after"), "{what}");
    let problem: Value = response.json().await.unwrap();
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .ends_with("/problems/service-unavailable"),
        "{what}: {problem}"
    );
    assert_eq!(problem["status"], 503, "{what}");
}
