//! Errors are RFC 9457 problem details, in the caller's language, with the request id.

use std::sync::Arc;

use motcua::http::fields::BodySchemas;
use motcua::http::pipeline::{PipelineSettings, RequestPipeline};
use poem::EndpointExt;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, OpenApiService};
use serde_json::Value;

use crate::helpers::TestApp;

async fn problem(response: reqwest::Response) -> (u16, reqwest::header::HeaderMap, Value) {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    assert_eq!(
        headers["content-type"], "application/problem+json",
        "status {status}"
    );
    (status, headers, response.json().await.unwrap())
}

#[tokio::test]
async fn unknown_route_is_a_problem_with_type_title_status_instance_and_request_id() {
    let app = TestApp::spawn().await;
    let (status, headers, body) = problem(app.get("/v1/nothing-here?x=1").await).await;
    assert_eq!(status, 404);
    assert_eq!(body["type"], format!("{}/problems/not-found", app.address));
    assert_eq!(body["title"], "Not found");
    assert_eq!(body["status"], 404);
    assert_eq!(body["instance"], "/v1/nothing-here");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("/v1/nothing-here")
    );
    assert_eq!(
        body["request_id"],
        headers["x-request-id"].to_str().unwrap(),
        "the problem quotes the request id of its response"
    );
}

#[tokio::test]
async fn problems_speak_vietnamese_when_asked() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/v1/nothing-here"))
        .header("accept-language", "vi-VN,vi;q=0.9,en;q=0.5")
        .send()
        .await
        .unwrap();
    let (_, headers, body) = problem(response).await;
    assert_eq!(body["title"], "Không tìm thấy");
    assert_eq!(headers["content-language"], "vi");
    // The type is the same in every language: clients branch on it.
    assert_eq!(body["type"], format!("{}/problems/not-found", app.address));
}

#[tokio::test]
async fn requests_the_pipeline_refuses_get_the_problem_that_says_why() {
    let app = TestApp::spawn_with(crate::helpers::Options {
        env: vec![("MOTCUA_MAX_BODY_BYTES", "1024".into())],
        ..Default::default()
    })
    .await;
    let chunked = || {
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            (0..8).map(|_| Ok(vec![b'x'; 512])).collect();
        reqwest::Body::wrap_stream(futures::stream::iter(chunks))
    };
    let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str, Option<&str>)> = vec![
        (
            "a wrong method",
            app.client.delete(app.url("/healthz")),
            405,
            "method-not-allowed",
            None,
        ),
        (
            "a body over the limit, with its length",
            app.client
                .post(app.url("/healthz"))
                .header("content-type", "application/json")
                .body(vec![b'x'; 4096]),
            413,
            "payload-too-large",
            Some("1024"),
        ),
        (
            "a chunked body over the limit, without a length",
            app.client.post(app.url("/healthz")).body(chunked()),
            413,
            "payload-too-large",
            None,
        ),
    ];
    for (what, request, want_status, want_type, in_detail) in cases {
        let (status, _, body) = problem(request.send().await.unwrap()).await;
        assert_eq!(status, want_status, "{what}: {body}");
        assert_eq!(body["status"], want_status, "{what}: {body}");
        assert!(
            body["type"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/problems/{want_type}")),
            "{what}: {body}"
        );
        if let Some(fragment) = in_detail {
            assert!(
                body["detail"].as_str().unwrap().contains(fragment),
                "{what}: {body}"
            );
        }
    }
}

#[tokio::test]
async fn request_id_is_echoed_when_sane_and_replaced_when_not() {
    let app = TestApp::spawn().await;
    let given = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "mobile-7f3a.42")
        .send()
        .await
        .unwrap();
    assert_eq!(given.headers()["x-request-id"], "mobile-7f3a.42");

    let fresh = app.get("/healthz").await;
    let id = fresh.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");

    let hostile = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "<script>alert(1)</script>")
        .send()
        .await
        .unwrap();
    let replaced = hostile.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(replaced).is_ok(), "{replaced}");
}

#[tokio::test]
async fn responses_carry_security_headers() {
    let app = TestApp::spawn().await;
    let response = app.get("/healthz").await;
    let headers = response.headers();
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
}

#[tokio::test]
async fn every_problem_type_is_documented_at_its_type_uri() {
    let app = TestApp::spawn().await;
    let response = app.get("/problems/not-found").await;
    assert_eq!(response.status(), 200);
    let page = response.text().await.unwrap();
    assert!(page.contains("Not found") && page.contains("Không tìm thấy"));
    assert_eq!(app.get("/problems/no-such-problem").await.status(), 404);
}

#[tokio::test]
async fn cors_allows_only_configured_origins() {
    let app = TestApp::spawn_with(crate::helpers::Options {
        env: vec![("MOTCUA_CORS_ORIGINS", "https://app.example.vn".into())],
        ..Default::default()
    })
    .await;
    let allowed = app
        .client
        .get(app.url("/healthz"))
        .header("origin", "https://app.example.vn")
        .send()
        .await
        .unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.vn"
    );
    let other = app
        .client
        .get(app.url("/healthz"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn a_request_that_outlives_the_timeout_gets_a_504_problem() {
    let app = TestApp::spawn_with(crate::helpers::Options {
        env: vec![("MOTCUA_REQUEST_TIMEOUT_SECS", "1".into())],
        ..Default::default()
    })
    .await;
    // A body that never finishes arriving while `tx` lives.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let body = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let started = std::time::Instant::now();
    let response = app
        .client
        .post(app.url("/healthz"))
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .unwrap();
    let (status, _, body) = problem(response).await;
    assert_eq!(status, 504);
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .ends_with("/problems/timeout")
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    drop(tx);
}

// Malformed JSON bodies: the shared pipeline in front of an operation that takes JSON. Capability
// APIs get the same rendering because they sit behind the same pipeline.

#[derive(Object)]
struct Greeting {
    #[oai(validator(max_length = 5))]
    name: String,
}

struct EchoApi;

#[OpenApi]
impl EchoApi {
    #[oai(path = "/echo", method = "post")]
    async fn echo(&self, body: Json<Greeting>) -> Json<String> {
        Json(body.0.name)
    }
}

async fn spawn_echo() -> String {
    let route = poem::Route::new()
        .nest("/", OpenApiService::new(EchoApi, "echo", "1"))
        .with(RequestPipeline::new(PipelineSettings {
            base_url: "http://api.test".into(),
            max_body_bytes: 1024,
            streamed_paths: &[],
            request_timeout: std::time::Duration::from_secs(5),
            trusted_proxies: vec![],
            hsts: false,
            body_schemas: Arc::new(BodySchemas::from_openapi(
                &OpenApiService::new(EchoApi, "echo", "1").spec(),
            )),
        }));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = poem::listener::TcpAcceptor::from_std(listener).unwrap();
    let route = Arc::new(route);
    tokio::spawn(async move { poem::Server::new_with_acceptor(acceptor).run(route).await });
    format!("http://127.0.0.1:{port}")
}

#[tokio::test]
async fn malformed_json_and_invalid_fields_are_400_problems_that_say_why() {
    let base = spawn_echo().await;
    let client = reqwest::Client::new();
    let send = |body: &'static str| {
        client
            .post(format!("{base}/echo"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    let (status, _, body) = problem(send("{\"name\": ").await.unwrap()).await;
    assert_eq!(status, 400);
    assert_eq!(body["type"], "http://api.test/problems/invalid-request");
    assert!(!body["detail"].as_str().unwrap().is_empty());

    let (status, _, body) = problem(send("{\"name\": \"far too long\"}").await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(body["detail"].as_str().unwrap().contains("name"), "{body}");
    assert_eq!(body["errors"][0]["pointer"], "/name", "{body}");
    assert_eq!(
        body["errors"][0]["detail"], "must be at most 5 characters",
        "{body}"
    );

    // A value of the wrong type is named by its field too, not only in the parser's sentence.
    let (status, _, body) = problem(send("{\"name\": [5]}").await.unwrap()).await;
    assert_eq!(status, 400);
    assert_eq!(body["type"], "http://api.test/problems/invalid-request");
    assert_eq!(body["errors"][0]["pointer"], "/name", "{body}");

    let wrong_type = client
        .post(format!("{base}/echo"))
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    let (status, _, _) = problem(wrong_type).await;
    assert_eq!(status, 415);

    let ok = send("{\"name\": \"An\"}").await.unwrap();
    assert_eq!(ok.status(), 200);
}
