//! The committed OpenAPI document is the interface: it must be exactly what the code serves.

use crate::helpers::TestApp;

#[test]
fn committed_openapi_document_matches_the_code() {
    let generated = motcua::startup::openapi_json();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/openapi.json differs from the code. Regenerate it with:\n\n    cargo run --quiet -- openapi > openapi/openapi.json\n"
    );
}

#[tokio::test]
async fn the_served_document_is_the_committed_one_and_docs_are_interactive() {
    let app = TestApp::spawn().await;
    let served: serde_json::Value = app.get("/openapi.json").await.json().await.unwrap();
    let committed: serde_json::Value =
        serde_json::from_str(&motcua::startup::openapi_json()).unwrap();
    assert_eq!(served, committed);
    let docs = app.get("/docs").await;
    assert_eq!(docs.status(), 200);
    assert!(
        docs.text()
            .await
            .unwrap()
            .to_lowercase()
            .contains("swagger")
    );
}

#[test]
fn every_operation_has_a_summary_an_id_and_documented_responses() {
    let spec: serde_json::Value = serde_json::from_str(&motcua::startup::openapi_json()).unwrap();
    let paths = spec["paths"].as_object().unwrap();
    assert!(!paths.is_empty());
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{method} {path}: summary"
            );
            assert!(
                op["operationId"].is_string(),
                "{method} {path}: operationId"
            );
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses
                    .keys()
                    .any(|s| s.starts_with('2') || s.starts_with('3')),
                "{method} {path}: a success or redirect response"
            );
        }
    }
}
