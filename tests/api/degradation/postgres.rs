//! PostgreSQL down: cached reads keep serving, writes answer 503 problem+json within a few
//! seconds, nothing acknowledged is lost, and the pool reconnects without a restart, whether the
//! server is cut off or its connections are killed with `pg_terminate_backend`.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use super::{assert_service_unavailable, direct_db, readiness};
use crate::helpers::{ok_json, promptly};
use crate::listings_api::{Rig, product};

/// How long a request may take while PostgreSQL is away: the pool's 5 s acquire timeout, and
/// room for a loaded machine.
const BOUNDED: Duration = Duration::from_secs(10);

async fn timed(what: &str, request: impl Future<Output = reqwest::Response>) -> reqwest::Response {
    let started = Instant::now();
    let response = request.await;
    let took = started.elapsed();
    assert!(took < BOUNDED, "{what} took {took:?}");
    eprintln!("{what}: {} after {took:?}", response.status());
    response
}

#[tokio::test]
async fn postgres_down_cached_reads_serve_writes_answer_503_and_the_pool_reconnects() {
    let rig = Rig::start_with(true).await;
    rig.publish(&rig.partner, product("Muối hầm Sa Huỳnh", 40_000, "food"))
        .await;
    let listing = rig
        .publish(&rig.partner, product("Tỏi Lý Sơn", 150_000, "food"))
        .await;
    let id = listing["id"].as_str().unwrap().to_string();
    let path = format!("/v1/listings/{id}");
    // Acknowledged just before the cut.
    let renamed = rig
        .patch(&rig.partner, &path, json!({ "title": "Tỏi cô đơn Lý Sơn" }))
        .await;
    ok_json(renamed, StatusCode::OK).await;
    // Warm the cache: the first read loads, the second is a hit.
    for _ in 0..2 {
        ok_json(rig.app.get(&path).await, StatusCode::OK).await;
    }
    let cached = rig.app.get(&path).await.bytes().await.unwrap();

    // Cut: live connections are dropped, new ones closed at once.
    let proxy = rig.postgres.as_ref().unwrap();
    proxy.pause();

    for _ in 0..3 {
        let hit = timed("a cached read", rig.app.get(&path)).await;
        assert_eq!(hit.status(), StatusCode::OK);
        assert_eq!(hit.bytes().await.unwrap(), cached);
    }
    let change = json!({ "price_vnd": 180_000 });
    let write = timed("a write", rig.patch(&rig.partner, &path, change.clone())).await;
    assert_service_unavailable(write, "PATCH while PostgreSQL is down").await;
    let create = rig.post(
        &rig.partner,
        "/v1/listings",
        product("Hành Lý Sơn", 60_000, "food"),
    );
    assert_service_unavailable(timed("a creation", create).await, "POST").await;
    let uncached = timed("an uncached read", rig.app.get("/v1/listings?q=toi")).await;
    assert_service_unavailable(uncached, "an uncached search").await;
    let (status, detail) = readiness(&rig.app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        detail.contains("postgres") && !detail.contains("redis"),
        "{detail}"
    );

    proxy.resume();

    // The same write succeeds once the pool has reconnected, without a restart.
    promptly("the write after PostgreSQL returns", || async {
        rig.patch(&rig.partner, &path, change.clone())
            .await
            .status()
            == StatusCode::OK
    })
    .await;
    let after = ok_json(rig.app.get(&path).await, StatusCode::OK).await;
    assert_eq!(after["price_vnd"], 180_000);
    assert_eq!(after["title"], "Tỏi cô đơn Lý Sơn");
    assert_eq!(readiness(&rig.app).await.0, StatusCode::OK);
    // Nothing acknowledged before the cut was lost; the refused creation wrote nothing.
    let db = direct_db(&rig.app).await;
    let titles: Vec<String> =
        sqlx::query_scalar("SELECT title FROM listings WHERE merchant_id = $1 ORDER BY title")
            .bind(rig.merchant)
            .fetch_all(&db)
            .await
            .unwrap();
    assert_eq!(titles, ["Muối hầm Sa Huỳnh", "Tỏi cô đơn Lý Sơn"]);
}

/// Kills every connection of the app's database but the caller's; returns how many.
async fn terminate_backends(db: &sqlx::PgPool, name: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
           FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(name)
    .fetch_one(db)
    .await
    .unwrap()
}

/// Sends `request` once, and once more if the first answer was a 503 to retry (never a 500).
async fn at_most_one_retry<F, Fut>(what: &str, mut request: F) -> reqwest::Response
where
    F: FnMut() -> Fut,
    Fut: Future<Output = reqwest::Response>,
{
    let first = timed(what, request()).await;
    if first.status() != StatusCode::SERVICE_UNAVAILABLE {
        return first;
    }
    assert_service_unavailable(first, what).await;
    timed(what, request()).await
}

#[tokio::test]
async fn postgres_connections_killed_with_pg_terminate_backend_are_replaced_at_once() {
    let rig = Rig::start().await;
    let db = direct_db(&rig.app).await;
    let listing = rig
        .publish(&rig.partner, product("Bánh ít lá gai", 5_000, "food"))
        .await;
    let path = format!("/v1/listings/{}", listing["id"].as_str().unwrap());
    for round in 1..=3 {
        // The pool holds idle connections from the requests before.
        ok_json(
            rig.app.get("/v1/listings?sort=price_asc").await,
            StatusCode::OK,
        )
        .await;
        let killed = terminate_backends(&db, &rig.app.db_name).await;
        assert!(
            killed >= 1,
            "round {round}: no connection of the app to kill"
        );
        eprintln!("round {round}: killed {killed} connections");

        let price = 5_000 + round * 100;
        let write = at_most_one_retry("a write after the kill", || {
            rig.patch(&rig.partner, &path, json!({ "price_vnd": price }))
        })
        .await;
        assert_eq!(ok_json(write, StatusCode::OK).await["price_vnd"], price);
        let search = format!("/v1/listings?q=banh&sort=price_desc&limit={}", 10 + round);
        let read =
            at_most_one_retry("an uncached read after the kill", || rig.app.get(&search)).await;
        assert_eq!(read.status(), StatusCode::OK);
        let created = at_most_one_retry("a creation after the kill", || {
            rig.post(
                &rig.partner,
                "/v1/listings",
                product("Bánh tổ", 30_000, "food"),
            )
        })
        .await;
        assert_eq!(created.status(), StatusCode::CREATED);
        assert_eq!(readiness(&rig.app).await.0, StatusCode::OK);
    }
    let stored: i64 = sqlx::query_scalar("SELECT price_vnd FROM listings WHERE id = $1")
        .bind(uuid::Uuid::parse_str(listing["id"].as_str().unwrap()).unwrap())
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(stored, 5_300);
}
