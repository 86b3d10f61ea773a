use std::time::Duration;

use crate::helpers::{Options, Silent, TcpProxy, TestApp, closed_port, eventually};

#[tokio::test]
async fn healthz_answers_ok() {
    let app = TestApp::spawn().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn readyz_is_ready_when_postgres_and_redis_answer() {
    let app = TestApp::spawn().await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["postgres"], "up");
    assert_eq!(body["redis"], "up");
}

async fn readiness(app: &TestApp) -> (u16, serde_json::Value) {
    let response = app.get("/readyz").await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

#[tokio::test]
async fn readyz_names_a_redis_that_never_answers_and_the_app_still_starts() {
    // Accepts and never replies: only the readiness timeout gets the check out.
    let silent = Silent::start().await;
    let app = TestApp::spawn_with(Options {
        redis_url: Some(format!("redis://{}", silent.addr)),
        ..Options::default()
    })
    .await;
    let started = std::time::Instant::now();
    let response = app.get("/readyz").await;
    // The check gives up after 1 s; the client would wait 30 s for a hung one.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "readiness must not hang: {:?}",
        started.elapsed()
    );
    assert_eq!(response.status(), 503);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["status"], 503);
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .ends_with("/problems/not-ready")
    );
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("redis"), "{detail}");
    assert!(!detail.contains("postgres"), "{detail}");
    // Liveness does not depend on Redis.
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn readyz_reports_an_outage_of_either_store_and_recovers_without_restart() {
    let postgres = url::Url::parse(&crate::helpers::postgres_server_url()).unwrap();
    let postgres = format!(
        "{}:{}",
        postgres.host_str().unwrap(),
        postgres.port().unwrap_or(5432)
    );
    let cases = [
        ("redis", "postgres", crate::helpers::redis_addr()),
        ("postgres", "redis", postgres.parse().unwrap()),
    ];
    for (down, up, target) in cases {
        let proxy = TcpProxy::start(target).await;
        let options = match down {
            "redis" => Options {
                redis_url: Some(format!("redis://{}", proxy.addr)),
                ..Options::default()
            },
            _ => Options {
                postgres_addr: Some(proxy.addr),
                ..Options::default()
            },
        };
        let app = TestApp::spawn_with(options).await;
        assert_eq!(readiness(&app).await.0, 200, "{down}");

        proxy.pause();
        let (status, problem) = readiness(&app).await;
        assert_eq!(status, 503, "{down}: {problem}");
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains(down), "{detail}");
        assert!(!detail.contains(up), "{detail}");

        proxy.resume();
        assert!(
            eventually(Duration::from_secs(10), || async {
                readiness(&app).await.0 == 200
            })
            .await,
            "readiness recovers once {down} is back"
        );
    }
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_status() {
    let app = TestApp::spawn().await;
    app.get("/healthz").await;
    app.get("/no/such/route").await;
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("motcua_http_requests_total")
                && l.contains("route=\"/healthz\"")
                && l.contains("status=\"200\"")),
        "{text}"
    );
    assert!(
        text.contains("route=\"unmatched\""),
        "unknown paths share one label: {text}"
    );
    assert!(text.contains("motcua_http_request_duration_seconds_bucket"));
    assert!(text.contains("motcua_db_pool_connections"));
}

#[tokio::test]
async fn metrics_label_made_up_methods_as_other_so_callers_cannot_add_series() {
    let app = TestApp::spawn().await;
    for method in ["FROBNICATE", "XYZZY"] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = app
            .client
            .request(method, app.url("/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405);
    }
    let text = app.get("/metrics").await.text().await.unwrap();
    let series: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.starts_with("motcua_http_requests_total{") && l.contains("route=\"/healthz\"")
        })
        .filter(|l| l.contains("status=\"405\""))
        .collect();
    assert!(
        !text.contains("FROBNICATE") && !text.contains("XYZZY"),
        "{text}"
    );
    assert_eq!(series.len(), 1, "{series:?}");
    assert!(series[0].contains("method=\"other\""), "{series:?}");
    assert!(
        series[0].ends_with(" 2"),
        "both requests in one series: {series:?}"
    );
}

#[tokio::test]
async fn shutdown_turns_readiness_off_and_lets_in_flight_requests_finish() {
    let mut app = TestApp::spawn().await;
    // A request whose body is still arriving when shutdown begins.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let body = reqwest::Body::wrap_stream(tokio_stream_from(rx));
    let in_flight = tokio::spawn(app.client.post(app.url("/healthz")).body(body).send());
    // Shut down only once the server has taken the request in.
    assert!(
        eventually(Duration::from_secs(10), || async {
            crate::helpers::counter("motcua_http_requests_in_flight") >= 1.0
        })
        .await,
        "the request never reached the server"
    );

    let state = app.state.clone();
    let stopping = tokio::spawn(async move {
        app.stop().await;
    });
    assert!(
        eventually(Duration::from_secs(2), || async {
            !state.ready.load(std::sync::atomic::Ordering::SeqCst)
        })
        .await,
        "readiness turns false as soon as shutdown starts"
    );
    tx.send(Ok(b"late".to_vec())).await.unwrap();
    drop(tx);
    let response = in_flight
        .await
        .unwrap()
        .expect("in-flight request completes");
    // The request was routed to a GET-only path: what matters is that it got its answer.
    assert_eq!(response.status(), 405);
    stopping.await.unwrap();
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[tokio::test]
async fn a_redis_cluster_that_is_down_does_not_stop_start_up() {
    // No node of the listed cluster answers: the connection is lazy, as to one server.
    let nodes = [closed_port(), closed_port()].map(|port| format!("redis://127.0.0.1:{port}"));
    let app = TestApp::spawn_with(Options {
        redis_url: Some(nodes.join(",")),
        env: vec![("MOTCUA_REDIS_CLUSTER", "1".into())],
        ..Options::default()
    })
    .await;
    let (status, body) = readiness(&app).await;
    assert_eq!(status, 503);
    assert!(body["detail"].as_str().unwrap().contains("redis"), "{body}");
    // Public reads come from PostgreSQL, promptly.
    let started = std::time::Instant::now();
    for _ in 0..5 {
        assert_eq!(app.get("/v1/procedures").await.status(), 200);
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}
