//! The `motcua` command line: results on stdout as JSON, errors on stderr naming what is wrong.

use std::process::{Command, Output};

use crate::helpers::{TestApp, motcua_with, postgres_server_url, redis_url, stdout_json};

fn motcua(app: &TestApp, args: &[&str]) -> Output {
    motcua_with(app, args, &[])
}

#[tokio::test]
async fn client_create_prints_a_public_client_without_a_secret() {
    let app = TestApp::spawn().await;
    let out = motcua(
        &app,
        &[
            "client",
            "create",
            "--name",
            "Cà Mau một cửa",
            "--kind",
            "public",
            "--redirect-uri",
            "vn.gov.camau.motcua:/oauth",
            "--redirect-uri",
            "http://127.0.0.1/cb",
        ],
    );
    let client = stdout_json(&out);
    let id = client["client_id"].as_str().unwrap();
    assert!(
        id.starts_with("mc_") && uuid::Uuid::parse_str(id).is_err(),
        "{id}"
    );
    assert!(client.get("client_secret").is_none());
    assert_eq!(client["redirect_uris"][0], "vn.gov.camau.motcua:/oauth");
    // The running server sees it at once: an authorization request is accepted.
    let response = app
        .client
        .get(app.url(&format!(
            "/v1/auth/authorize?client_id={id}&redirect_uri=http://127.0.0.1:4000/cb&response_type=code"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        302,
        "errors for a known client go back to the app"
    );
}

#[tokio::test]
async fn client_create_shows_a_confidential_secret_once_and_stores_only_its_hash() {
    let app = TestApp::spawn().await;
    let out = motcua(
        &app,
        &[
            "client",
            "create",
            "--name",
            "Agency back office",
            "--kind",
            "confidential",
            "--scope",
            "dossiers:write",
        ],
    );
    let client = stdout_json(&out);
    let secret = client["client_secret"].as_str().unwrap();
    assert!(secret.len() >= 43, "at least 256 bits");
    let stored: Vec<u8> = sqlx::query_scalar("SELECT secret_sha256 FROM clients WHERE id = $1")
        .bind(client["client_id"].as_str().unwrap())
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    assert_eq!(stored, motcua::crypto::sha256(secret.as_bytes()));
    // And the secret itself is nowhere: not in the client's row, not in the audit log.
    assert_eq!(
        crate::helpers::rows_containing(&app, secret).await,
        Vec::<String>::new()
    );
    // The entry the operator API writes for the same registration, with the command line as
    // its actor.
    let (actor, details): (String, serde_json::Value) = sqlx::query_as(
        "SELECT actor, details FROM audit_log WHERE action = 'client_created' AND target = $1",
    )
    .bind(client["client_id"].as_str().unwrap())
    .fetch_one(&app.state.db)
    .await
    .unwrap();
    assert_eq!(actor, "cli");
    assert_eq!(details, serde_json::json!({ "scopes": ["dossiers:write"] }));
}

#[tokio::test]
async fn client_create_refuses_an_insecure_redirect_uri_with_a_clear_message() {
    let app = TestApp::spawn().await;
    let out = motcua(
        &app,
        &[
            "client",
            "create",
            "--name",
            "x",
            "--kind",
            "public",
            "--redirect-uri",
            "http://example.vn/cb",
        ],
    );
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("http://example.vn/cb") && stderr.contains("loopback"),
        "{stderr}"
    );
}

#[tokio::test]
async fn client_create_binds_a_service_provider_to_agencies_or_a_merchant() {
    let app = TestApp::spawn().await;
    let base = [
        "client",
        "create",
        "--name",
        "Sở Tư pháp",
        "--kind",
        "confidential",
    ];
    let with =
        |extra: &[&'static str]| -> Vec<&str> { base.iter().chain(extra).copied().collect() };
    let client = stdout_json(&motcua(
        &app,
        &with(&[
            "--scope",
            "dossiers:write",
            "--agency",
            "000.00.13.H12",
            "--agency",
            "000.00.12.H12",
        ]),
    ));
    assert_eq!(
        client["agencies"],
        serde_json::json!(["000.00.12.H12", "000.00.13.H12"])
    );
    let stored: Vec<String> = sqlx::query_scalar("SELECT agencies FROM clients WHERE id = $1")
        .bind(client["client_id"].as_str().unwrap())
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    assert_eq!(stored, ["000.00.12.H12", "000.00.13.H12"]);

    let out = motcua(
        &app,
        &with(&["--agency", "000.00.12.H12", "--merchant", "htx-ca-phe"]),
    );
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not both"));
}

#[tokio::test]
async fn an_invalid_setting_stops_start_up_naming_the_variable() {
    let app = TestApp::spawn().await;
    let out = Command::new(env!("CARGO_BIN_EXE_motcua"))
        .arg("serve")
        .env("MOTCUA_LISTEN", "not-an-address")
        .env(
            "DATABASE_URL",
            format!("{}/{}", postgres_server_url(), app.db_name),
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("MOTCUA_LISTEN"));
}

/// Runs `motcua serve` with `env` on a free port; a server that starts anyway is stopped
/// after a while and counts as a success.
fn serve_with(app: &TestApp, env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_motcua"))
        .arg("serve")
        .env_remove("MOTCUA_MASTER_KEY")
        .env_remove("MOTCUA_EID_CLIENT_SECRET")
        .env_remove("MOTCUA_CONFIG")
        .env(
            "MOTCUA_LISTEN",
            format!("127.0.0.1:{}", crate::helpers::closed_port()),
        )
        .env(
            "DATABASE_URL",
            format!("{}/{}", postgres_server_url(), app.db_name),
        )
        .env("REDIS_URL", redis_url())
        .env(
            "MOTCUA_REDIS_CLUSTER",
            crate::helpers::redis_cluster_setting(),
        )
        .env("MOTCUA_REDIS_PREFIX", &app.redis_prefix)
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = child.kill();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn serve_refuses_development_secrets_behind_a_public_url() {
    let app = TestApp::spawn().await;
    let master = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [7u8; 32]);
    let out = serve_with(
        &app,
        &[
            ("MOTCUA_PUBLIC_URL", "https://motcua.camau.gov.vn"),
            ("MOTCUA_EID_CLIENT_SECRET", "the-registered-secret"),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("MOTCUA_MASTER_KEY"), "{stderr}");

    let out = serve_with(
        &app,
        &[
            ("MOTCUA_PUBLIC_URL", "http://10.20.0.7:8080"),
            ("MOTCUA_MASTER_KEY", &master),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("MOTCUA_EID_CLIENT_SECRET"), "{stderr}");
}

#[test]
fn openapi_prints_the_committed_document() {
    let out = Command::new(env!("CARGO_BIN_EXE_motcua"))
        .arg("openapi")
        .output()
        .unwrap();
    assert!(out.status.success());
    let committed =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json")).unwrap();
    assert_eq!(out.stdout, committed);
}
