//! Service providers: client credentials with scope down-scoping, and introspection.

use reqwest::StatusCode;
use serde_json::Value;

use motcua::clients::{ClientKind, NewClient};

use crate::helpers::TestApp;
use crate::signin::{APP_REDIRECT, Request, sign_in};

async fn provider(app: &TestApp, scopes: &[&str]) -> (String, String) {
    let (id, secret) = app
        .client_with(NewClient {
            name: "Agency back office".into(),
            kind: ClientKind::Confidential,
            redirect_uris: vec![],
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            rate_limit_per_min: None,
            jwks_uri: None,
        })
        .await;
    (id, secret.expect("a secret"))
}

async fn token(app: &TestApp, id: &str, secret: &str, scope: Option<&str>) -> reqwest::Response {
    let mut form = vec![("grant_type", "client_credentials")];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    app.client
        .post(app.url("/v1/auth/token"))
        .basic_auth(id, Some(secret))
        .form(&form)
        .send()
        .await
        .unwrap()
}

async fn introspect(app: &TestApp, id: &str, secret: &str, token: &str) -> Value {
    let response = app
        .client
        .post(app.url("/v1/auth/introspect"))
        .form(&[
            ("token", token),
            ("client_id", id),
            ("client_secret", secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

#[tokio::test]
async fn client_credentials_with_a_secret_issue_a_token_for_the_client_itself() {
    let app = TestApp::spawn().await;
    let (id, secret) = provider(&app, &["dossiers:read", "dossiers:write"]).await;
    let response = token(&app, &id, &secret, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "dossiers:read dossiers:write");
    assert!(body.get("refresh_token").is_none());
    let (header, claims) = crate::signin::jwt_parts(body["access_token"].as_str().unwrap());
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(claims["sub"], id);
    assert_eq!(claims["client_id"], id);
    assert!(claims.get("sid").is_none() && claims.get("acr").is_none());

    // client_secret_post works too.
    let response = app
        .client
        .post(app.url("/v1/auth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn scopes_are_down_scoped_to_what_was_asked_and_never_beyond_the_registration() {
    let app = TestApp::spawn().await;
    let (id, secret) = provider(&app, &["dossiers:read", "dossiers:write"]).await;
    let body: Value = token(&app, &id, &secret, Some("dossiers:read"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["scope"], "dossiers:read");
    let response = token(&app, &id, &secret, Some("dossiers:read listings:write")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_scope"
    );
}

#[tokio::test]
async fn a_wrong_secret_or_an_unknown_client_is_invalid_client_and_audited() {
    let app = TestApp::spawn().await;
    let (id, _) = provider(&app, &["dossiers:read"]).await;
    for (client, secret) in [
        (id.as_str(), "wrong-secret"),
        ("mc_unknownclient0000000000", "x"),
    ] {
        let response = token(&app, client, secret, None).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(
            response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Basic")
        );
        assert_eq!(
            response.json::<Value>().await.unwrap()["error"],
            "invalid_client"
        );
    }
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'client_authentication' AND outcome = 'failure'",
    )
    .fetch_one(&app.state.db)
    .await
    .unwrap();
    assert_eq!(audited, 2);
}

#[tokio::test]
async fn public_clients_cannot_use_client_credentials() {
    let app = TestApp::spawn().await;
    let app_id = app.public_client(APP_REDIRECT).await;
    let response = app
        .client
        .post(app.url("/v1/auth/token"))
        .form(&[("grant_type", "client_credentials"), ("client_id", &app_id)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "unauthorized_client"
    );
}

#[tokio::test]
async fn a_provider_introspects_its_own_tokens_but_not_others() {
    let app = TestApp::spawn().await;
    let (id, secret) = provider(&app, &["dossiers:read"]).await;
    let own: Value = token(&app, &id, &secret, None).await.json().await.unwrap();
    let own = own["access_token"].as_str().unwrap();
    let seen = introspect(&app, &id, &secret, own).await;
    assert_eq!(seen["active"], true);
    assert_eq!(seen["client_id"], id);
    assert_eq!(seen["sub"], id);
    assert_eq!(seen["scope"], "dossiers:read");
    assert_eq!(seen["token_type"], "Bearer");

    // A citizen's token issued to the app is not this provider's business.
    let app_id = app.public_client(APP_REDIRECT).await;
    let citizen = sign_in(&app, &Request::new(&app_id), "citizen-l2").await;
    assert_eq!(
        introspect(&app, &id, &secret, &citizen.access_token).await,
        serde_json::json!({"active": false})
    );
    assert_eq!(
        introspect(&app, &id, &secret, "garbage").await,
        serde_json::json!({"active": false})
    );
}

#[tokio::test]
async fn the_introspect_scope_sees_any_token_until_it_is_revoked() {
    let app = TestApp::spawn().await;
    let (gateway, secret) = provider(&app, &["introspect"]).await;
    let app_id = app.public_client(APP_REDIRECT).await;
    let citizen = sign_in(&app, &Request::new(&app_id), "citizen-l2").await;

    let seen = introspect(&app, &gateway, &secret, &citizen.access_token).await;
    assert_eq!(seen["active"], true);
    assert_eq!(seen["client_id"], app_id);
    assert_eq!(seen["acr"], "2");
    assert!(seen["sid"].is_string());
    let refresh = citizen.refresh_token.as_deref().unwrap();
    let seen = introspect(&app, &gateway, &secret, refresh).await;
    assert_eq!(seen["active"], true);
    assert_eq!(seen["token_type"], "refresh_token");

    let response = app
        .client
        .post(app.url("/v1/auth/logout"))
        .bearer_auth(&citizen.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        introspect(&app, &gateway, &secret, &citizen.access_token).await["active"],
        false
    );
    assert_eq!(
        introspect(&app, &gateway, &secret, refresh).await["active"],
        false
    );
}

#[tokio::test]
async fn introspection_requires_an_authenticated_confidential_client() {
    let app = TestApp::spawn().await;
    let app_id = app.public_client(APP_REDIRECT).await;
    let response = app
        .client
        .post(app.url("/v1/auth/introspect"))
        .form(&[("token", "x"), ("client_id", app_id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );
}
