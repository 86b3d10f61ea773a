//! Service providers: client credentials with scope down-scoping, and introspection.

use reqwest::StatusCode;
use serde_json::Value;

use motcua::clients::{ClientKind, NewClient};

use crate::helpers::TestApp;
use crate::helpers::{p256, public_jwk};
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
            ..Default::default()
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

// private_key_jwt (RFC 7523): the provider publishes its key; we fetch it from its jwks_uri.

struct KeyHost {
    jwks_uri: String,
    kid: String,
    key: jsonwebtoken::EncodingKey,
}

/// Serves `endpoint` at /jwks.json on a free port; returns its URI.
async fn serve_jwks(endpoint: impl poem::Endpoint + 'static) -> String {
    let route = poem::Route::new().at("/jwks.json", endpoint);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = poem::listener::TcpAcceptor::from_std(listener).unwrap();
    tokio::spawn(async move { poem::Server::new_with_acceptor(acceptor).run(route).await });
    format!("http://127.0.0.1:{port}/jwks.json")
}

async fn host_keys() -> KeyHost {
    let key = p256();
    let kid = crate::helpers::unique("k");
    let body = serde_json::json!({ "keys": [public_jwk(&key, &kid)] }).to_string();
    let jwks_uri = serve_jwks(poem::endpoint::make_sync(move |_| {
        poem::Response::builder()
            .content_type("application/json")
            .body(body.clone())
    }))
    .await;
    KeyHost { jwks_uri, kid, key }
}

async fn key_client(app: &TestApp, host: &KeyHost) -> String {
    app.client_with(NewClient {
        name: "Marketplace".into(),
        kind: ClientKind::Confidential,
        redirect_uris: vec![],
        scopes: vec!["listings:write".into()],
        rate_limit_per_min: None,
        jwks_uri: Some(host.jwks_uri.clone()),
        ..Default::default()
    })
    .await
    .0
}

fn assertion(
    client_id: &str,
    aud: &str,
    exp_in: i64,
    kid: &str,
    key: &jsonwebtoken::EncodingKey,
) -> String {
    assertion_for(client_id, serde_json::json!(aud), exp_in, kid, key)
}

fn assertion_for(
    client_id: &str,
    aud: Value,
    exp_in: i64,
    kid: &str,
    key: &jsonwebtoken::EncodingKey,
) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(kid.to_string());
    let claims = serde_json::json!({
        "iss": client_id, "sub": client_id, "aud": aud,
        "iat": now, "exp": now + exp_in, "jti": uuid::Uuid::new_v4().to_string(),
    });
    jsonwebtoken::encode(&header, &claims, key).unwrap()
}

async fn with_assertion(app: &TestApp, assertion: &str) -> reqwest::Response {
    app.client
        .post(app.url("/v1/auth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn private_key_jwt_authenticates_a_client_by_its_published_key() {
    let app = TestApp::spawn().await;
    let host = host_keys().await;
    let id = key_client(&app, &host).await;
    let response = with_assertion(
        &app,
        &assertion(&id, &app.address, 60, &host.kid, &host.key),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "listings:write");
    assert_eq!(
        crate::signin::jwt_parts(body["access_token"].as_str().unwrap()).1["sub"],
        id
    );
}

#[tokio::test]
async fn a_replayed_assertion_is_refused() {
    let app = TestApp::spawn().await;
    let host = host_keys().await;
    let id = key_client(&app, &host).await;
    let once = assertion(&id, &app.address, 60, &host.kid, &host.key);
    assert_eq!(with_assertion(&app, &once).await.status(), StatusCode::OK);
    let replay = with_assertion(&app, &once).await;
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        replay.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );
}

#[tokio::test]
async fn expired_long_lived_misaddressed_or_foreign_assertions_are_refused() {
    let app = TestApp::spawn().await;
    let host = host_keys().await;
    let id = key_client(&app, &host).await;
    let foreign = p256();
    let cases = [
        (
            "expired",
            assertion(&id, &app.address, -120, &host.kid, &host.key),
        ),
        (
            "an hour long",
            assertion(&id, &app.address, 3600, &host.kid, &host.key),
        ),
        (
            "for the token endpoint, not our issuer",
            assertion(&id, &app.url("/v1/auth/token"), 60, &host.kid, &host.key),
        ),
        (
            "for another server",
            assertion(&id, "https://other.example.vn", 60, &host.kid, &host.key),
        ),
        (
            "signed by a key that is not published",
            assertion(&id, &app.address, 60, &host.kid, &foreign),
        ),
        (
            "naming an unknown kid",
            assertion(&id, &app.address, 60, "no-such-kid", &host.key),
        ),
    ];
    for (what, assertion) in cases {
        let response = with_assertion(&app, &assertion).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(
            response.json::<Value>().await.unwrap()["error"],
            "invalid_client",
            "{what}"
        );
    }
    // A client registered with a secret cannot use an assertion instead.
    let (secret_client, _) = provider(&app, &["dossiers:read"]).await;
    let response = with_assertion(
        &app,
        &assertion(&secret_client, &app.address, 60, &host.kid, &host.key),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

/// An assertion with exactly these claims.
fn signed_claims(claims: &Value, kid: &str, key: &jsonwebtoken::EncodingKey) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

#[tokio::test]
async fn assertions_for_another_subject_without_jti_or_longer_than_five_minutes_are_refused() {
    let app = TestApp::spawn().await;
    let host = host_keys().await;
    let id = key_client(&app, &host).await;
    let other = key_client(&app, &host).await;
    let now = crate::helpers::now();
    let claims = |exp_in: i64| {
        serde_json::json!({
            "iss": id, "sub": id, "aud": app.address, "iat": now, "exp": now + exp_in,
            "jti": uuid::Uuid::new_v4().to_string(),
        })
    };
    // Just inside the five minutes: accepted, the control for every case below.
    let inside = signed_claims(&claims(290), &host.kid, &host.key);
    assert_eq!(with_assertion(&app, &inside).await.status(), StatusCode::OK);

    let mut another_sub = claims(60);
    another_sub["sub"] = serde_json::json!(other);
    let mut another_iss = claims(60);
    another_iss["iss"] = serde_json::json!(other);
    let mut without_jti = claims(60);
    without_jti.as_object_mut().unwrap().remove("jti");
    let cases = [
        ("sub another client", another_sub),
        ("iss another client", another_iss),
        ("without jti", without_jti),
        ("just past five minutes", claims(320)),
    ];
    for (what, claims) in cases {
        let response = with_assertion(&app, &signed_claims(&claims, &host.kid, &host.key)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(
            response.json::<Value>().await.unwrap()["error"],
            "invalid_client",
            "{what}"
        );
    }
}

#[tokio::test]
async fn agencies_and_merchant_bindings_are_in_tokens_and_introspection() {
    let app = TestApp::spawn().await;
    let (introspector, introspector_secret) = provider(&app, &["introspect"]).await;
    for (binding, claim, value) in [
        (
            NewClient {
                agencies: vec!["000.00.12.H12".into()],
                ..NewClient::default()
            },
            "agencies",
            serde_json::json!(["000.00.12.H12"]),
        ),
        (
            NewClient {
                merchant_id: Some("htx-ca-phe".into()),
                ..NewClient::default()
            },
            "merchant_id",
            serde_json::json!("htx-ca-phe"),
        ),
    ] {
        let (id, secret) = app
            .client_with(NewClient {
                name: "Bound provider".into(),
                kind: ClientKind::Confidential,
                scopes: vec!["dossiers:read".into()],
                ..binding
            })
            .await;
        let secret = secret.unwrap();
        let body: Value = token(&app, &id, &secret, None).await.json().await.unwrap();
        let access = body["access_token"].as_str().unwrap();
        assert_eq!(crate::signin::jwt_parts(access).1[claim], value);
        for (who, who_secret) in [(&id, &secret), (&introspector, &introspector_secret)] {
            let seen = introspect(&app, who, who_secret, access).await;
            assert_eq!(seen["active"], true, "{seen}");
            assert_eq!(seen[claim], value, "{claim} as {who} sees it: {seen}");
        }
    }
}

#[tokio::test]
async fn an_assertion_audience_is_our_issuer_as_a_string_not_an_array_holding_it() {
    let app = TestApp::spawn().await;
    let host = host_keys().await;
    let id = key_client(&app, &host).await;
    for aud in [
        serde_json::json!([app.address]),
        serde_json::json!([app.address, "https://other.example.vn"]),
    ] {
        let response = with_assertion(
            &app,
            &assertion_for(&id, aud.clone(), 60, &host.kid, &host.key),
        )
        .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "aud {aud}");
        assert_eq!(
            response.json::<Value>().await.unwrap()["error"],
            "invalid_client"
        );
    }
    let response = with_assertion(
        &app,
        &assertion(&id, &app.address, 60, &host.kid, &host.key),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_changed_jwks_uri_stops_the_old_keys_at_once_on_every_replica() {
    let first = TestApp::spawn().await;
    let second = first.replica().await;
    let old = host_keys().await;
    let new = host_keys().await;
    let id = key_client(&first, &old).await;
    for app in [&first, &second] {
        let response =
            with_assertion(app, &assertion(&id, &first.address, 60, &old.kid, &old.key)).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "both replicas cached the old keys"
        );
    }
    sqlx::query("UPDATE clients SET jwks_uri = $2 WHERE id = $1")
        .bind(&id)
        .bind(&new.jwks_uri)
        .execute(&first.state.db)
        .await
        .unwrap();
    for app in [&first, &second] {
        let stale =
            with_assertion(app, &assertion(&id, &first.address, 60, &old.kid, &old.key)).await;
        assert_eq!(stale.status(), StatusCode::UNAUTHORIZED, "{}", app.address);
        let fresh =
            with_assertion(app, &assertion(&id, &first.address, 60, &new.kid, &new.key)).await;
        assert_eq!(fresh.status(), StatusCode::OK, "{}", app.address);
    }
}

#[tokio::test]
async fn a_client_jwks_larger_than_64_kb_is_refused_with_or_without_a_length() {
    let app = TestApp::spawn().await;
    let key = p256();
    let kid = crate::helpers::unique("k");
    // A real key set, padded past the cap with a member readers ignore.
    let body = serde_json::json!({
        "keys": [public_jwk(&key, &kid)],
        "padding": "x".repeat(70 * 1024),
    })
    .to_string();
    let sized = body.clone();
    let with_length = serve_jwks(poem::endpoint::make_sync(move |_| {
        poem::Response::builder()
            .content_type("application/json")
            .body(sized.clone())
    }))
    .await;
    let streamed = serve_jwks(poem::endpoint::make_sync(move |_| {
        let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = body
            .as_bytes()
            .chunks(4096)
            .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
            .collect();
        poem::Response::builder()
            .content_type("application/json")
            .body(poem::Body::from_bytes_stream(futures::stream::iter(chunks)))
    }))
    .await;
    for jwks_uri in [with_length, streamed] {
        let id = key_client(
            &app,
            &KeyHost {
                jwks_uri: jwks_uri.clone(),
                kid: kid.clone(),
                key: key.clone(),
            },
        )
        .await;
        let response = with_assertion(&app, &assertion(&id, &app.address, 60, &kid, &key)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{jwks_uri}");
        assert_eq!(
            response.json::<Value>().await.unwrap()["error"],
            "invalid_client"
        );
    }
}

#[tokio::test]
async fn a_failing_client_jwks_is_fetched_once_for_many_assertions_and_not_again_for_a_while() {
    let app = TestApp::spawn().await;
    let fetches = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = fetches.clone();
    let jwks_uri = serve_jwks(poem::endpoint::make(move |_| {
        let counted = counted.clone();
        async move {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            // Slow, so that every assertion below arrives while the fetch is under way.
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            poem::Response::builder()
                .status(poem::http::StatusCode::INTERNAL_SERVER_ERROR)
                .finish()
        }
    }))
    .await;
    let host = KeyHost {
        jwks_uri,
        kid: "k".into(),
        key: p256(),
    };
    let id = key_client(&app, &host).await;
    let attempts = (0..8).map(|_| {
        let assertion = assertion(&id, &app.address, 60, &host.kid, &host.key);
        let app = &app;
        async move { with_assertion(app, &assertion).await.status() }
    });
    let statuses = futures::future::join_all(attempts).await;
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::SERVICE_UNAVAILABLE),
        "{statuses:?}"
    );
    assert_eq!(fetches.load(std::sync::atomic::Ordering::SeqCst), 1);

    let again = with_assertion(
        &app,
        &assertion(&id, &app.address, 60, &host.kid, &host.key),
    )
    .await;
    assert_eq!(again.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        fetches.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "a second attempt right after the failure asked the provider again"
    );
}

#[tokio::test]
async fn changing_a_clients_jwks_uri_cuts_off_the_tokens_it_got_before() {
    let first = TestApp::spawn().await;
    let second = first.replica().await;
    let operator = crate::helpers::operator_token(&first).await;
    let old = host_keys().await;
    let new = host_keys().await;
    let id = key_client(&first, &old).await;
    let response = with_assertion(
        &first,
        &assertion(&id, &first.address, 60, &old.kid, &old.key),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let earlier = response.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    for app in [&first, &second] {
        assert!(token_active(app, &operator, &earlier).await);
    }
    crate::helpers::ok_json(
        crate::helpers::ops(
            &first,
            &operator,
            reqwest::Method::PATCH,
            &format!("/v1/ops/clients/{id}"),
            Some(serde_json::json!({ "jwks_uri": new.jwks_uri })),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    for app in [&first, &second] {
        crate::helpers::promptly("a token obtained under the old keys", || async {
            !token_active(app, &operator, &earlier).await
        })
        .await;
    }
    // Tokens obtained under the new keys work.
    let response = with_assertion(
        &second,
        &assertion(&id, &first.address, 60, &new.kid, &new.key),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let later = response.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(token_active(&first, &operator, &later).await);
}

async fn token_active(app: &TestApp, operator: &str, token: &str) -> bool {
    crate::helpers::ok_json(
        crate::helpers::ops(
            app,
            operator,
            reqwest::Method::POST,
            "/v1/ops/tokens/introspect",
            Some(serde_json::json!({ "token": token })),
        )
        .await,
        StatusCode::OK,
    )
    .await["active"]
        == true
}
