//! The core's hardening: bounded inputs, sampled anonymous failures, sessions that end however
//! many there are, refresh only with offline access, grant types and authentication methods per
//! client, replayed codes, recent sign-ins for operators, rate-limited readiness.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Options, TestApp, eventually};
use crate::helpers::{grant, ok_json, operator_token, ops, ops_console};
use crate::signin::{
    APP_REDIRECT, Request, browse_sign_in, browser, exchange, jwt_parts, query_of, sign_in,
};
use crate::signin::{me_status, refresh, refreshed, signed_in};

async fn audit_count(app: &TestApp, action: &str, reason: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = $1 AND reason = $2")
        .bind(action)
        .bind(reason)
        .fetch_one(&app.state.db)
        .await
        .unwrap()
}

/// The authorization endpoint's answer to `request` with one parameter replaced.
async fn authorize_with(app: &TestApp, request: &Request, name: &str, value: &str) -> String {
    let mut url = url::Url::parse(&request.authorize_url(app)).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != name)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(pairs)
        .append_pair(name, value);
    let response = browser().get(url.as_str()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    crate::signin::location(&response)
}

#[tokio::test]
async fn state_and_nonce_longer_than_512_characters_are_refused_before_anything_is_stored() {
    let app = TestApp::spawn().await;
    let client_id = app.public_client(APP_REDIRECT).await;
    let request = Request::new(&client_id);
    let pending = || async {
        let pattern = format!("{}login:*", app.redis_prefix);
        crate::helpers::redis_keys(&pattern).await.unwrap().len()
    };

    // The positive control: 512 characters are fine and go to the provider.
    let fine = authorize_with(&app, &request, "state", &"s".repeat(512)).await;
    assert!(!fine.starts_with(APP_REDIRECT), "{fine}");
    assert_eq!(pending().await, 1);

    for (name, value) in [
        ("state", "s".repeat(513)),
        ("nonce", "n".repeat(4096)),
        ("state", "tr\u{1ea1}ng th\u{e1}i".into()),
    ] {
        let back = authorize_with(&app, &request, name, &value).await;
        let params = query_of(&back);
        assert_eq!(params["error"], "invalid_request", "{name}: {back}");
        assert!(params["error_description"].contains(name), "{back}");
        // A state we refuse is not echoed back either.
        if name == "state" {
            assert!(!params.contains_key("state"), "{back}");
        }
    }
    assert_eq!(pending().await, 1, "nothing more was stored");
}

#[tokio::test]
async fn anonymous_failures_are_audited_once_a_minute_per_address() {
    let app = TestApp::spawn().await;
    for _ in 0..5 {
        let response = app
            .client
            .post(app.url("/v1/auth/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "mc_nobody"),
                ("client_secret", "guess"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let callback = app.get("/v1/auth/eid/callback?state=forged&code=x").await;
        assert_eq!(callback.status(), StatusCode::BAD_REQUEST);
    }
    assert_eq!(
        audit_count(&app, "client_authentication", "unknown or suspended client").await,
        1
    );
    assert_eq!(
        audit_count(&app, "sign_in", "unknown, expired or replayed state").await,
        1
    );
    // Failures against a real client are sampled per client and address too: client ids are
    // not secret, so anyone could otherwise write one row per guess.
    let (id, _) = app
        .client_with(motcua::clients::NewClient {
            name: "Provider".into(),
            scopes: vec!["dossiers:read".into()],
            ..Default::default()
        })
        .await;
    for _ in 0..3 {
        let response = app.client_credentials(&id, "wrong").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        audit_count(
            &app,
            "client_authentication",
            "client authentication failed"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn metrics_are_rate_limited_per_address_and_the_probes_are_not() {
    let app = TestApp::spawn_with(Options {
        env: vec![("MOTCUA_RATE_LIMIT_ANONYMOUS_PER_MIN", "3".into())],
        ..Options::default()
    })
    .await;
    for _ in 0..3 {
        assert_eq!(app.get("/metrics").await.status(), StatusCode::OK);
    }
    let refused = app.get("/metrics").await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
    // A refused probe would take a busy replica out of service.
    for _ in 0..5 {
        assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
        assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn concurrent_readiness_probes_share_one_dependency_check() {
    let app = TestApp::spawn().await;
    let before = readiness_checks(&app).await;
    let probes = (0..20).map(|_| app.get("/readyz"));
    for response in futures::future::join_all(probes).await {
        assert_eq!(response.status(), StatusCode::OK);
    }
    let checks = readiness_checks(&app).await - before;
    assert!(
        (1..20).contains(&(checks as i64)),
        "{checks} checks for 20 probes"
    );
}

/// How many readiness checks this process has run (all test servers share its metrics).
async fn readiness_checks(app: &TestApp) -> f64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines()
        .find(|l| l.starts_with("motcua_readiness_checks_total"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn a_refresh_is_refused_once_the_app_has_lost_offline_access() {
    let app = TestApp::spawn().await;
    let (client_id, tokens) = signed_in(&app).await;
    // The positive control: refreshing works while the app has offline access.
    let next = refreshed(&app, &client_id, tokens.refresh_token.as_deref().unwrap()).await;
    sqlx::query("UPDATE clients SET scopes = ARRAY['openid', 'profile'] WHERE id = $1")
        .bind(&client_id)
        .execute(&app.state.db)
        .await
        .unwrap();
    let response = refresh(&app, &client_id, next.refresh_token.as_deref().unwrap()).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("offline_access"),
        "{body}"
    );
}

#[tokio::test]
async fn grace_replays_are_audited_and_a_closed_windows_copy_is_dropped() {
    let app = TestApp::spawn_with(Options {
        env: vec![("MOTCUA_REFRESH_GRACE_SECS", "5".into())],
        ..Options::default()
    })
    .await;
    let (client_id, tokens) = signed_in(&app).await;
    let r0 = tokens.refresh_token.unwrap();
    let first = refreshed(&app, &client_id, &r0).await;
    let kept = |token: String| {
        let db = app.state.db.clone();
        async move {
            let hash = motcua::crypto::sha256(token.as_bytes()).to_vec();
            sqlx::query_scalar::<_, bool>(
                "SELECT reply_enc IS NOT NULL FROM refresh_tokens WHERE token_sha256 = $1",
            )
            .bind(hash)
            .fetch_one(&db)
            .await
            .unwrap()
        }
    };
    assert!(kept(r0.clone()).await, "the reply is kept for the window");

    // A replay inside the window gets the same reply, and the log says who and from where.
    let again = refreshed(&app, &client_id, &r0).await;
    assert_eq!(again.access_token, first.access_token);
    let (target, ip): (String, Option<String>) = sqlx::query_as(
        "SELECT target, host(client_ip) FROM audit_log WHERE action = 'refresh_grace_replay'",
    )
    .fetch_one(&app.state.db)
    .await
    .unwrap();
    assert_eq!(
        target,
        jwt_parts(&first.access_token).1["sid"].as_str().unwrap()
    );
    assert_eq!(ip.as_deref(), Some("127.0.0.1"));

    // When the window closes, the copy of a live token goes.
    assert!(
        eventually(Duration::from_secs(15), || {
            let kept = kept(r0.clone());
            async move { !kept.await }
        })
        .await,
        "the predecessor's reply outlived its window"
    );
}

#[tokio::test]
async fn spending_the_successor_drops_the_predecessors_kept_reply_at_once() {
    // The default window (30 s) is far longer than this test: only the successor's use can
    // drop the copy.
    let app = TestApp::spawn().await;
    let (client_id, tokens) = signed_in(&app).await;
    let r0 = tokens.refresh_token.unwrap();
    let kept = |token: &str| {
        let hash = motcua::crypto::sha256(token.as_bytes()).to_vec();
        let db = app.state.db.clone();
        async move {
            sqlx::query_scalar::<_, bool>(
                "SELECT reply_enc IS NOT NULL FROM refresh_tokens WHERE token_sha256 = $1",
            )
            .bind(hash)
            .fetch_one(&db)
            .await
            .unwrap()
        }
    };
    let first = refreshed(&app, &client_id, &r0).await;
    assert!(kept(&r0).await);
    refreshed(&app, &client_id, first.refresh_token.as_deref().unwrap()).await;
    assert!(
        !kept(&r0).await,
        "the predecessor's copy outlived its successor's use"
    );
}

/// Opens `n` more sessions for the citizen `sub` of `client_id`, as sign-ins would.
async fn open_sessions(app: &TestApp, sub: Uuid, client_id: &str, n: usize) {
    let mut conn = app.state.db.acquire().await.unwrap();
    for _ in 0..n {
        let new = motcua::sessions::NewSession {
            id: Uuid::now_v7(),
            citizen_id: sub,
            client_id: client_id.into(),
            user_agent: Some("Phone".into()),
            level: motcua::tokens::Level::Two,
            scope: "openid profile".into(),
            auth_time: time::OffsetDateTime::now_utc(),
        };
        motcua::sessions::store::create(
            &mut conn,
            &new,
            time::Duration::days(1),
            time::Duration::days(2),
        )
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn operators_end_every_session_of_a_citizen_however_many_and_lists_page() {
    let app = TestApp::spawn().await;
    let operator = operator_token(&app).await;
    let (client_id, citizen) = signed_in(&app).await;
    let sub: Uuid = jwt_parts(&citizen.access_token).1["sub"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    open_sessions(&app, sub, &client_id, 149).await;

    // Every live session, in pages, none twice.
    let mut seen = std::collections::HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/ops/citizens/{sub}/sessions?limit=60&cursor={c}"),
            None => format!("/v1/ops/citizens/{sub}/sessions?limit=60"),
        };
        let page = ok_json(
            ops(&app, &operator, Method::GET, &path, None).await,
            StatusCode::OK,
        )
        .await;
        for item in page["items"].as_array().unwrap() {
            assert!(seen.insert(item["id"].as_str().unwrap().to_string()));
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 150);
    let bad = ops(
        &app,
        &operator,
        Method::GET,
        &format!("/v1/ops/citizens/{sub}/sessions?cursor=nonsense"),
        None,
    )
    .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    assert_eq!(me_status(&app, &citizen.access_token).await, StatusCode::OK);
    let ended = ok_json(
        ops(
            &app,
            &operator,
            Method::DELETE,
            &format!("/v1/ops/citizens/{sub}/sessions"),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(ended["ended"], 150);
    let live: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sessions WHERE citizen_id = $1 AND revoked_at IS NULL",
    )
    .bind(sub)
    .fetch_one(&app.state.db)
    .await
    .unwrap();
    assert_eq!(live, 0);
    assert_eq!(
        me_status(&app, &citizen.access_token).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_device_list_needs_the_account_scope_and_pages() {
    let app = TestApp::spawn().await;
    // An app with the default scopes (profile) does not see the citizen's devices.
    let (_, default_app) = signed_in(&app).await;
    let response = app
        .client
        .get(app.url("/v1/me/sessions"))
        .bearer_auth(&default_app.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let (own_app, _) = app
        .client_with(motcua::clients::NewClient {
            name: "Province app".into(),
            kind: motcua::clients::ClientKind::Public,
            redirect_uris: vec![APP_REDIRECT.into()],
            scopes: ["openid", "profile", "offline_access", "account"]
                .map(String::from)
                .to_vec(),
            ..Default::default()
        })
        .await;
    let mut request = Request::new(&own_app);
    request.scope = Some("openid profile account".into());
    let citizen = sign_in(&app, &request, "citizen-l2").await;
    let sub: Uuid = jwt_parts(&citizen.access_token).1["sub"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    open_sessions(&app, sub, &own_app, 2).await;
    let page = |cursor: Option<String>| {
        let mut url = app.url("/v1/me/sessions?limit=2");
        if let Some(c) = cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let request = app.client.get(url).bearer_auth(&citizen.access_token);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<Value>().await.unwrap()
        }
    };
    let first = page(None).await;
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let second = page(first["next_cursor"].as_str().map(String::from)).await;
    let items: Vec<&Value> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["items"].as_array().unwrap())
        .collect();
    // Both apps' sessions of this citizen: the default app's, this one's and the two opened.
    assert_eq!(items.len(), 4, "{first} {second}");
    assert!(second["next_cursor"].is_null());
    assert_eq!(items.iter().filter(|s| s["current"] == true).count(), 1);
}

#[tokio::test]
async fn a_replayed_authorization_code_revokes_what_its_first_redemption_issued() {
    let app = TestApp::spawn().await;
    let client_id = app.public_client(APP_REDIRECT).await;
    let request = Request::new(&client_id);
    let back = browse_sign_in(&app, &browser(), &request, "citizen-l2").await;
    let code = query_of(&back)["code"].clone();
    let first = exchange(&app, &request, &code).await;
    assert_eq!(first.status(), StatusCode::OK);
    let tokens: Value = first.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(me_status(&app, access).await, StatusCode::OK);

    let replay = exchange(&app, &request, &code).await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    let body: Value = replay.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(me_status(&app, access).await, StatusCode::UNAUTHORIZED);
    let refreshed = refresh(&app, &client_id, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(refreshed.status(), StatusCode::BAD_REQUEST);
    let replays: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'authorization_code_replay' AND target = $1",
    )
    .bind(jwt_parts(access).1["sid"].as_str().unwrap())
    .fetch_one(&app.state.db)
    .await
    .unwrap();
    assert_eq!(replays, 1);
}

#[tokio::test]
async fn a_code_redeemed_twice_at_once_leaves_no_working_token() {
    let app = TestApp::spawn().await;
    let client_id = app.public_client(APP_REDIRECT).await;
    for _ in 0..3 {
        let request = Request::new(&client_id);
        let back = browse_sign_in(&app, &browser(), &request, "citizen-l2").await;
        let code = query_of(&back)["code"].clone();
        let redemptions = (0..4).map(|_| exchange(&app, &request, &code));
        let mut issued = Vec::new();
        for response in futures::future::join_all(redemptions).await {
            if response.status() == StatusCode::OK {
                issued.push(response.json::<Value>().await.unwrap());
            } else {
                assert_eq!(response.status(), StatusCode::BAD_REQUEST);
            }
        }
        assert!(issued.len() <= 1, "a code redeemed twice: {issued:?}");
        for tokens in issued {
            let access = tokens["access_token"].as_str().unwrap().to_string();
            assert!(
                eventually(Duration::from_secs(5), || {
                    let access = access.clone();
                    let app = &app;
                    async move { me_status(app, &access).await == StatusCode::UNAUTHORIZED }
                })
                .await,
                "the access token of a replayed code still works"
            );
            let refreshed =
                refresh(&app, &client_id, tokens["refresh_token"].as_str().unwrap()).await;
            assert_eq!(refreshed.status(), StatusCode::BAD_REQUEST);
        }
    }
}

#[tokio::test]
async fn operator_powers_need_a_recent_sign_in_and_max_age_gets_one() {
    let app = TestApp::spawn().await;
    let console = ops_console(&app).await;
    let mut request = Request::new(&console);
    request.acr_values = Some("2".into());
    let operator = sign_in(&app, &request, "official").await;
    let claims = jwt_parts(&operator.access_token).1;
    grant(&app, claims["sub"].as_str().unwrap(), "operator");
    let keys = |token: String| {
        let app = &app;
        async move { ops(app, &token, Method::GET, "/v1/ops/keys", None).await }
    };
    assert_eq!(
        keys(operator.access_token.clone()).await.status(),
        StatusCode::OK
    );

    // The console session lives on by refreshing, but the sign-in behind it is nine hours old.
    sqlx::query("UPDATE sessions SET auth_time = now() - interval '9 hours' WHERE id = $1")
        .bind(Uuid::parse_str(claims["sid"].as_str().unwrap()).unwrap())
        .execute(&app.state.db)
        .await
        .unwrap();
    let refreshed = refreshed(&app, &console, operator.refresh_token.as_deref().unwrap()).await;
    let stale = keys(refreshed.access_token.clone()).await;
    assert_eq!(stale.status(), StatusCode::UNAUTHORIZED);
    let challenge = stale.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        challenge.contains("error=\"insufficient_user_authentication\""),
        "{challenge}"
    );
    assert!(challenge.contains("max_age=28800"), "{challenge}");
    // The token itself is still good for what is not an operator power.
    assert_eq!(
        me_status(&app, &refreshed.access_token).await,
        StatusCode::OK
    );

    // Answering the challenge: a sign-in with max_age, which the provider must confirm with
    // its auth_time.
    let mut again = Request::new(&console);
    again.acr_values = Some("2".into());
    again.max_age = Some(28800);
    let fresh = sign_in(&app, &again, "official").await;
    let auth_time = jwt_parts(&fresh.access_token).1["auth_time"]
        .as_i64()
        .unwrap();
    assert!(time::OffsetDateTime::now_utc().unix_timestamp() - auth_time < 600);
    assert_eq!(keys(fresh.access_token).await.status(), StatusCode::OK);
}

async fn provider(app: &TestApp, grant_types: &[&str]) -> (String, String) {
    let (id, secret) = app
        .client_with(motcua::clients::NewClient {
            name: "Back office".into(),
            scopes: vec!["dossiers:read".into()],
            redirect_uris: vec!["https://backoffice.example.vn/cb".into()],
            grant_types: grant_types.iter().map(|g| g.to_string()).collect(),
            ..Default::default()
        })
        .await;
    (id, secret.unwrap())
}

#[tokio::test]
async fn each_client_uses_only_the_grants_it_is_registered_for() {
    let app = TestApp::spawn().await;
    // Confidential without flags: client_credentials.
    let (id, secret) = provider(&app, &[]).await;
    assert_eq!(
        app.client_credentials(&id, &secret).await.status(),
        StatusCode::OK
    );
    // Registered for the code flow only: no client_credentials.
    let (id, secret) = provider(&app, &["authorization_code"]).await;
    let response = app.client_credentials(&id, &secret).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized_client");

    // An app registered without refresh_token gets no refresh token, whatever it asks.
    let (app_id, _) = app
        .client_with(motcua::clients::NewClient {
            name: "Kiosk".into(),
            kind: motcua::clients::ClientKind::Public,
            redirect_uris: vec![APP_REDIRECT.into()],
            grant_types: vec!["authorization_code".into()],
            ..Default::default()
        })
        .await;
    let tokens = sign_in(&app, &Request::new(&app_id), "citizen-l2").await;
    assert!(tokens.scope.contains("offline_access"));
    assert!(tokens.refresh_token.is_none());
    // An app registered without the code flow cannot start a sign-in.
    sqlx::query("UPDATE clients SET grant_types = ARRAY['refresh_token'] WHERE id = $1")
        .bind(&app_id)
        .execute(&app.state.db)
        .await
        .unwrap();
    let back = browse_to_app(&app, &app_id).await;
    assert_eq!(query_of(&back)["error"], "unauthorized_client", "{back}");
}

async fn browse_to_app(app: &TestApp, client_id: &str) -> String {
    let request = Request::new(client_id);
    let response = browser()
        .get(request.authorize_url(app))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    crate::signin::location(&response)
}

#[tokio::test]
async fn moving_a_client_to_private_key_jwt_retires_its_secret_and_back_issues_a_new_one() {
    let app = TestApp::spawn().await;
    let operator = operator_token(&app).await;
    let (id, secret) = provider(&app, &["client_credentials"]).await;
    let before = app.client_credentials(&id, &secret).await;
    assert_eq!(before.status(), StatusCode::OK);
    let path = format!("/v1/ops/clients/{id}");

    let moved = ok_json(
        ops(
            &app,
            &operator,
            Method::PATCH,
            &path,
            Some(json!({ "jwks_uri": "https://backoffice.example.vn/jwks.json" })),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(moved["token_endpoint_auth_method"], "private_key_jwt");
    assert!(moved.get("client_secret").is_none());
    let refused = app.client_credentials(&id, &secret).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");

    let back = ok_json(
        ops(
            &app,
            &operator,
            Method::PATCH,
            &path,
            Some(json!({ "jwks_uri": null })),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(back["token_endpoint_auth_method"], "client_secret_basic");
    let fresh = back["client_secret"].as_str().expect("a new secret");
    assert_eq!(
        app.client_credentials(&id, &secret).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // The cut-off of the change lies a moment ahead; a token obtained now is not caught by it.
    let response = app.client_credentials(&id, fresh).await;
    assert_eq!(response.status(), StatusCode::OK);
    let token: Value = response.json().await.unwrap();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let introspected = ok_json(
        ops(
            &app,
            &operator,
            Method::POST,
            "/v1/ops/tokens/introspect",
            Some(json!({ "token": token["access_token"] })),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(introspected["active"], true, "{introspected}");
}

#[tokio::test]
async fn client_create_narrows_grant_types_on_the_command_line() {
    let app = TestApp::spawn().await;
    let out = crate::helpers::stdout_json(&crate::helpers::motcua_with(
        &app,
        &[
            "client",
            "create",
            "--name",
            "Web back office",
            "--kind",
            "confidential",
            "--redirect-uri",
            "https://backoffice.example.vn/cb",
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "refresh_token",
        ],
        &[],
    ));
    assert_eq!(
        out["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(out["token_endpoint_auth_method"], "client_secret_basic");
    let secret = out["client_secret"].as_str().unwrap();
    let response = app
        .client_credentials(out["client_id"].as_str().unwrap(), secret)
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}
