//! Sign-in through the eID simulator, end to end over HTTP.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Options, TestApp, closed_port};
use crate::signin::{
    self, APP_REDIRECT, AtProvider, Request, browse_sign_in, browser, exchange, jwt_parts,
    query_of, sign_in, to_callback,
};

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(&app.state.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn citizen_signs_in_with_the_eid_and_reads_their_profile() {
    let app = TestApp::spawn().await;
    let client_id = app.public_client(APP_REDIRECT).await;
    let mut request = Request::new(&client_id);
    request.scope = Some("profile".into());
    let tokens = sign_in(&app, &request, "citizen-l2").await;
    assert_eq!(tokens.token_type, "Bearer");
    assert_eq!(tokens.expires_in, 600);
    assert_eq!(tokens.scope, "profile");
    assert!(tokens.id_token.is_none(), "no openid scope, no ID token");

    let me: Value = app
        .client
        .get(app.url("/v1/me"))
        .bearer_auth(&tokens.access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["name"], "Nguyễn Thị Lan");
    assert_eq!(me["id_number_masked"], "********1234");
    assert_eq!(me["level"], 2);
    assert_eq!(me["provider"], crate::helpers::eid_issuer());

    // RFC 9068 access token, ES256 with a kid from our JWKS, and no personal data in it.
    let (header, claims) = jwt_parts(&tokens.access_token);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "ES256");
    let jwks: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == header["kid"])
    );
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k.get("d").is_none()),
        "private parts never published"
    );
    assert_eq!(claims["iss"], app.address);
    assert_eq!(claims["aud"], app.address);
    assert_eq!(claims["sub"], me["sub"]);
    assert_eq!(claims["client_id"], client_id);
    assert_eq!(claims["acr"], "2");
    for claim in ["exp", "iat", "jti", "scope", "sid", "auth_time"] {
        assert!(!claims[claim].is_null(), "missing {claim}");
    }
    let text = claims.to_string();
    assert!(
        !text.contains("079190001234") && !text.contains("Lan"),
        "personal data in token: {text}"
    );
    assert!(
        uuid::Uuid::parse_str(me["sub"].as_str().unwrap()).is_ok(),
        "our sub is our own UUID"
    );
}

#[tokio::test]
async fn openid_scope_gives_the_app_an_id_token_it_can_verify() {
    let app = TestApp::spawn().await;
    let client_id = app.public_client(APP_REDIRECT).await;
    let mut request = Request::new(&client_id);
    request.scope = Some("openid profile".into());
    request.nonce = Some("n-0S6_WzA2Mj".into());
    let tokens = sign_in(&app, &request, "citizen-l1").await;
    let id_token = tokens.id_token.expect("ID token with openid");

    // Without a scope parameter the app gets the scopes it was registered with.
    let default = sign_in(&app, &Request::new(&client_id), "citizen-l1").await;
    assert_eq!(default.scope, "offline_access openid profile");

    let jwks: jsonwebtoken::jwk::JwkSet = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(&id_token).unwrap();
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("kid published");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&[&client_id]);
    validation.set_issuer(&[&app.address]);
    let claims = jsonwebtoken::decode::<Value>(
        &id_token,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
        &validation,
    )
    .expect("ID token verifies with our JWKS")
    .claims;
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(claims["acr"], "1");
    assert!(claims["auth_time"].is_i64());
    assert_eq!(claims["sub"], jwt_parts(&tokens.access_token).1["sub"]);
}

#[tokio::test]
async fn level_2_request_for_a_level_1_citizen_is_access_denied_and_leaves_nothing_behind() {
    let app = TestApp::spawn().await;
    let client_id = app.public_client(APP_REDIRECT).await;
    let mut request = Request::new(&client_id);
    request.acr_values = Some("2".into());
    let back = browse_sign_in(&app, &browser(), &request, "citizen-l1").await;
    let params = query_of(&back);
    assert_eq!(params["error"], "access_denied", "{back}");
    assert_eq!(params["state"], request.state);
    assert_eq!(params["iss"], app.address);
    assert!(!params.contains_key("code"));
    assert_eq!(count(&app, "SELECT count(*) FROM citizens").await, 0);
}

#[tokio::test]
async fn level_2_request_for_a_level_2_citizen_succeeds_with_acr_2() {
    let app = TestApp::spawn().await;
    let client_id = app.public_client(APP_REDIRECT).await;
    let mut request = Request::new(&client_id);
    request.acr_values = Some("2".into());
    let tokens = sign_in(&app, &request, "official").await;
    assert_eq!(jwt_parts(&tokens.access_token).1["acr"], "2");
}

#[tokio::test]
async fn the_apps_code_works_once_and_only_with_its_pkce_verifier() {
    let app = TestApp::spawn().await;
    let client_id = app.public_client(APP_REDIRECT).await;
    let request = Request::new(&client_id);
    let back = browse_sign_in(&app, &browser(), &request, "merchant").await;
    let code = query_of(&back)["code"].clone();

    let mut wrong = request.clone();
    wrong.code_verifier = "x".repeat(43);
    let response = exchange(&app, &wrong, &code).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");

    // A code that failed a check is spent: the right verifier no longer helps.
    let response = exchange(&app, &request, &code).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_code_cannot_be_redeemed_twice() {
    let app = TestApp::spawn().await;
    let client_id = app.public_client(APP_REDIRECT).await;
    let request = Request::new(&client_id);
    let back = browse_sign_in(&app, &browser(), &request, "merchant").await;
    let code = query_of(&back)["code"].clone();
    assert_eq!(
        exchange(&app, &request, &code).await.status(),
        StatusCode::OK
    );
    let replay = exchange(&app, &request, &code).await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        replay.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
}

#[tokio::test]
async fn unknown_clients_and_unregistered_redirect_uris_get_a_page_not_a_redirect() {
    let app = TestApp::spawn().await;
    let client_id = app.public_client(APP_REDIRECT).await;
    let mut unknown = Request::new("mc_doesnotexist000000000000");
    unknown.redirect_uri = "https://evil.example/steal".into();
    let mut foreign = Request::new(&client_id);
    foreign.redirect_uri = "https://evil.example/steal".into();
    for request in [unknown, foreign] {
        let response = app
            .client
            .get(request.authorize_url(&app))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(
            response.headers().get("location").is_none(),
            "never an open redirect"
        );
    }
}

#[tokio::test]
async fn authorization_requests_without_pkce_s256_are_refused() {
    let app = TestApp::spawn().await;
    let client_id = app.public_client(APP_REDIRECT).await;
    let request = Request::new(&client_id);
    let without = request
        .authorize_url(&app)
        .replace(&format!("&code_challenge={}", request.code_challenge()), "");
    let plain = request
        .authorize_url(&app)
        .replace("code_challenge_method=S256", "code_challenge_method=plain");
    for url in [without, plain] {
        let response = app.client.get(url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FOUND);
        let params = query_of(&signin::location(&response));
        assert_eq!(params["error"], "invalid_request");
        assert_eq!(params["state"], request.state);
    }
}

#[tokio::test]
async fn a_callback_in_another_browser_is_refused_and_spends_the_state() {
    let app = TestApp::spawn().await;
    let client_id = app.public_client(APP_REDIRECT).await;
    let request = Request::new(&client_id);
    let browser = browser();
    let callback = to_callback(&app, &browser, &request, AtProvider::SignInAs("citizen-l2")).await;
    // Another browser (no binding cookie) arriving with the provider's response.
    let stranger = signin::browser().get(&callback).send().await.unwrap();
    assert_eq!(stranger.status(), StatusCode::BAD_REQUEST);
    assert!(stranger.headers().get("location").is_none());
    // The state was consumed by that attempt: the right browser cannot use it either now. (A
    // replay after a success, and a forged state with a genuine binding cookie, are in
    // `eid_faults`.)
    let replay = browser.get(&callback).send().await.unwrap();
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert_eq!(count(&app, "SELECT count(*) FROM citizens").await, 0);
    assert!(
        count(
            &app,
            "SELECT count(*) FROM audit_log WHERE action = 'sign_in' AND outcome = 'failure'"
        )
        .await
            >= 2
    );
}

#[tokio::test]
async fn a_citizen_who_cancels_at_the_provider_returns_to_the_app_with_access_denied() {
    let app = TestApp::spawn().await;
    let client_id = app.public_client(APP_REDIRECT).await;
    let request = Request::new(&client_id);
    let browser = browser();
    let url = to_callback(&app, &browser, &request, AtProvider::Cancel).await;
    let back = signin::location(&browser.get(&url).send().await.unwrap());
    let params = query_of(&back);
    assert_eq!(params["error"], "access_denied", "{back}");
    assert_eq!(params["state"], request.state);
}

#[tokio::test]
async fn provider_down_sends_the_app_temporarily_unavailable_not_a_500() {
    let app = TestApp::spawn_with(Options {
        env: vec![(
            "MOTCUA_EID_ISSUER",
            format!("http://127.0.0.1:{}", closed_port()),
        )],
        ..Options::default()
    })
    .await;
    let client_id = app.public_client(APP_REDIRECT).await;
    let request = Request::new(&client_id);
    let response = app
        .client
        .get(request.authorize_url(&app))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let params = query_of(&signin::location(&response));
    assert_eq!(params["error"], "temporarily_unavailable");
    assert_eq!(params["state"], request.state);
}

#[tokio::test]
async fn any_replica_can_finish_a_sign_in_another_started() {
    let first = TestApp::spawn().await;
    // Replicas share the database, Redis and the public URL.
    let second = first.replica().await;
    let client_id = first.public_client(APP_REDIRECT).await;
    let request = Request::new(&client_id);
    let browser = browser();
    let url = to_callback(
        &first,
        &browser,
        &request,
        AtProvider::SignInAs("citizen-l2"),
    )
    .await;
    // The load balancer sends the callback to the other replica.
    let url = url.replacen(&first.address, &second.address, 1);
    let response = browser.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert!(query_of(&signin::location(&response)).contains_key("code"));
}

#[tokio::test]
async fn sign_ins_are_audited_without_personal_data_and_the_id_number_is_never_stored() {
    let app = TestApp::spawn().await;
    let client_id = app.public_client(APP_REDIRECT).await;
    sign_in(&app, &Request::new(&client_id), "citizen-l2").await;
    let entries: Vec<Value> = sqlx::query_scalar("SELECT to_jsonb(a) FROM audit_log a")
        .fetch_all(&app.state.db)
        .await
        .unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "sign_in" && e["outcome"] == "success")
    );
    assert!(entries.iter().any(|e| e["action"] == "token_issued"));
    let citizens: Vec<Value> = sqlx::query_scalar("SELECT to_jsonb(c) FROM citizens c")
        .fetch_all(&app.state.db)
        .await
        .unwrap();
    for row in entries.iter().chain(citizens.iter()) {
        let text = row.to_string();
        assert!(
            !text.contains("079190001234"),
            "identification number in clear: {text}"
        );
    }
    for entry in &entries {
        assert!(
            !entry.to_string().contains("Nguyễn"),
            "name in the audit log: {entry}"
        );
    }
    assert_eq!(citizens.len(), 1);
    assert!(
        citizens[0]["id_number_hmac"].is_string(),
        "keyed hash kept to match dossiers"
    );
}

#[tokio::test]
async fn me_without_a_token_is_a_401_problem_with_a_bearer_challenge() {
    let app = TestApp::spawn().await;
    let response = app.get("/v1/me").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
}

#[tokio::test]
async fn discovery_documents_name_every_endpoint_and_capability() {
    let app = TestApp::spawn().await;
    let oauth: Value = app
        .get("/.well-known/oauth-authorization-server")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(oauth["issuer"], app.address);
    assert_eq!(
        oauth["authorization_endpoint"],
        app.url("/v1/auth/authorize")
    );
    assert_eq!(oauth["token_endpoint"], app.url("/v1/auth/token"));
    assert_eq!(oauth["jwks_uri"], app.url("/.well-known/jwks.json"));
    assert_eq!(
        oauth["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        oauth["authorization_response_iss_parameter_supported"],
        true
    );
    assert_eq!(oauth["acr_values_supported"], serde_json::json!(["1", "2"]));
    assert!(oauth.get("id_token_signing_alg_values_supported").is_none());

    let openid: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(openid["issuer"], app.address);
    assert_eq!(
        openid["id_token_signing_alg_values_supported"],
        serde_json::json!(["ES256"])
    );
    assert_eq!(
        openid["subject_types_supported"],
        serde_json::json!(["public"])
    );
    for (key, value) in oauth.as_object().unwrap() {
        assert_eq!(&openid[key], value, "{key} differs between the documents");
    }
}

#[tokio::test]
async fn without_profile_neither_the_profile_nor_the_devices_are_shown() {
    let app = TestApp::spawn().await;
    let client_id = app.public_client(APP_REDIRECT).await;
    let mut request = Request::new(&client_id);
    request.scope = Some("openid offline_access".into());
    let tokens = sign_in(&app, &request, "citizen-l2").await;
    for path in ["/v1/me", "/v1/me/sessions"] {
        let response = app
            .client
            .get(app.url(path))
            .bearer_auth(&tokens.access_token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
    }
}

#[tokio::test]
async fn the_binding_cookie_follows_a_path_prefix_in_the_public_url() {
    use reqwest::cookie::CookieStore;
    // Served below /gw by a reverse proxy that strips the prefix.
    let public_url = format!("http://127.0.0.1:{}/gw", closed_port());
    let app = TestApp::spawn_with(Options {
        env: vec![("MOTCUA_PUBLIC_URL", public_url.clone())],
        ..Options::default()
    })
    .await;
    let client_id = app.public_client(APP_REDIRECT).await;
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let browser = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = browser
        .get(Request::new(&client_id).authorize_url(&app))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        set_cookie.contains("; Path=/gw/v1/auth/eid/callback;"),
        "{set_cookie}"
    );
    // The provider returns the browser to our callback under the prefix, and the browser sends
    // the cookie there.
    let callback = query_of(&signin::location(&response))["redirect_uri"].clone();
    assert_eq!(callback, format!("{public_url}/v1/auth/eid/callback"));
    let sent = jar.cookies(&reqwest::Url::parse(&callback).unwrap());
    assert!(
        sent.is_some_and(|c| c
            .to_str()
            .unwrap()
            .starts_with(motcua::identity::login::BINDING_COOKIE_PREFIX)),
        "no binding cookie for {callback}"
    );
}
