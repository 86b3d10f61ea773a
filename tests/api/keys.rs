//! Signing-key rotation in phases, and step-up for operator endpoints.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{
    Options, TestApp, eventually, grant, motcua_with, operator_token, ops_console, promptly,
    stdout_json,
};
use crate::signin::{APP_REDIRECT, Request, jwt_parts, sign_in};

const DELAY_SECS: u64 = 6;

async fn app_with_fast_rotation() -> TestApp {
    TestApp::spawn_with(Options {
        env: vec![
            ("MOTCUA_JWKS_MAX_AGE_SECS", "1".into()),
            ("MOTCUA_KEY_ROTATION_DELAY_SECS", DELAY_SECS.to_string()),
        ],
        ..Options::default()
    })
    .await
}

fn rotate(app: &TestApp) -> Value {
    let delay = DELAY_SECS.to_string();
    stdout_json(&motcua_with(
        app,
        &["keys", "rotate"],
        &[
            ("MOTCUA_JWKS_MAX_AGE_SECS", "1"),
            ("MOTCUA_KEY_ROTATION_DELAY_SECS", &delay),
        ],
    ))
}

/// The key ids `app` publishes in its JWKS.
pub(crate) async fn published_kids(app: &TestApp) -> Vec<String> {
    let jwks: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_rotated_key_is_published_first_signs_after_the_delay_and_old_tokens_keep_working() {
    let app = app_with_fast_rotation().await;
    let client_id = app.public_client(APP_REDIRECT).await;
    let before = sign_in(&app, &Request::new(&client_id), "citizen-l2").await;
    let old_kid = jwt_parts(&before.access_token).0["kid"]
        .as_str()
        .unwrap()
        .to_string();

    // An hour's delay, which the test then lets pass on the keys' clock: no race with the
    // machine's speed on either side of the switch.
    let new_key = stdout_json(&motcua_with(
        &app,
        &["keys", "rotate"],
        &[
            ("MOTCUA_JWKS_MAX_AGE_SECS", "1"),
            ("MOTCUA_KEY_ROTATION_DELAY_SECS", "3600"),
        ],
    ));
    let new_kid = new_key["kid"].as_str().unwrap().to_string();
    assert_eq!(new_key["status"], "pending");
    app.state.tokens.keyring().reload().await.unwrap();

    // Published at once, next to the old key...
    let kids = published_kids(&app).await;
    assert!(
        kids.contains(&new_kid) && kids.contains(&old_kid),
        "{kids:?}"
    );
    // ...but the old key still signs until the delay has passed.
    let during =
        crate::signin::refreshed(&app, &client_id, before.refresh_token.as_deref().unwrap()).await;
    assert_eq!(jwt_parts(&during.access_token).0["kid"], old_kid.as_str());

    let until_signing: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM signing_from - now())::float8 FROM signing_keys WHERE kid = $1",
    )
    .bind(&new_kid)
    .fetch_one(&app.state.db)
    .await
    .unwrap();
    advance_key_clock(&app, Duration::from_secs_f64(until_signing + 1.0)).await;
    let after =
        crate::signin::refreshed(&app, &client_id, during.refresh_token.as_deref().unwrap()).await;
    assert_eq!(jwt_parts(&after.access_token).0["kid"], new_kid.as_str());

    // A token signed before the rotation still verifies: the old key stays published.
    let me = app
        .client
        .get(app.url("/v1/me"))
        .bearer_auth(&before.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    assert!(published_kids(&app).await.contains(&old_kid));

    let keys = stdout_json(&motcua_with(&app, &["keys", "list"], &[]));
    let status_of = |kid: &str| {
        keys.as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status_of(&new_kid), "active");
    assert_eq!(status_of(&old_kid), "retired");
    assert_eq!(app.audited("signing_key_rotated").await, 1);

    // Once every token the old key signed has expired, it is no longer published, and a token
    // it signed (presented as if the clock had not moved) no longer verifies.
    advance_key_clock(
        &app,
        app.state.config.access_token_ttl + Duration::from_secs(120),
    )
    .await;
    let kids = published_kids(&app).await;
    assert!(
        !kids.contains(&old_kid) && kids.contains(&new_kid),
        "{kids:?}"
    );
    assert_eq!(
        crate::signin::me_status(&app, &before.access_token).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        crate::signin::me_status(&app, &after.access_token).await,
        StatusCode::OK
    );
}

/// The keys' clock, which the test controls: every key's schedule moves back by `by`, as if
/// that much time had passed, and the server reloads its keys.
async fn advance_key_clock(app: &TestApp, by: Duration) {
    let by = sqlx::postgres::types::PgInterval::try_from(by).unwrap();
    sqlx::query(
        "UPDATE signing_keys SET created_at = created_at - $1, signing_from = signing_from - $1,
                retired_at = retired_at - $1, unpublish_at = unpublish_at - $1",
    )
    .bind(by)
    .execute(&app.state.db)
    .await
    .unwrap();
    app.state.tokens.keyring().reload().await.unwrap();
}

#[tokio::test]
async fn running_servers_pick_up_a_rotation_within_seconds() {
    let app = app_with_fast_rotation().await;
    let new_kid = rotate(&app)["kid"].as_str().unwrap().to_string();
    assert!(
        eventually(Duration::from_secs(7), || async {
            published_kids(&app).await.contains(&new_kid)
        })
        .await,
        "the server never published the key the CLI made"
    );
}

async fn ops_keys(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .get(app.url("/v1/ops/keys"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn operator_endpoints_refuse_citizens_and_challenge_level_1_operators() {
    let app = TestApp::spawn().await;
    let client_id = ops_console(&app).await;

    // A citizen without the role: 403.
    let citizen = sign_in(&app, &Request::new(&client_id), "citizen-l2").await;
    let response = ops_keys(&app, &citizen.access_token).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );

    // An operator signed in at level 1: the RFC 9470 step-up challenge.
    let weak = sign_in(&app, &Request::new(&client_id), "citizen-l1").await;
    grant(
        &app,
        jwt_parts(&weak.access_token).1["sub"].as_str().unwrap(),
        "operator",
    );
    let response = ops_keys(&app, &weak.access_token).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(
        challenge.contains("error=\"insufficient_user_authentication\""),
        "{challenge}"
    );
    assert!(challenge.contains("acr_values=\"2\""), "{challenge}");

    // The same operator role at level 2 (asked for with acr_values=2) gets through.
    let mut request = Request::new(&client_id);
    request.acr_values = Some("2".into());
    let strong = sign_in(&app, &request, "official").await;
    grant(
        &app,
        jwt_parts(&strong.access_token).1["sub"].as_str().unwrap(),
        "operator",
    );
    let response = ops_keys(&app, &strong.access_token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let keys: Value = response.json().await.unwrap();
    assert_eq!(keys[0]["status"], "active");
}

#[tokio::test]
async fn role_grant_refuses_an_unknown_subject() {
    let app = TestApp::spawn().await;
    let out = motcua_with(
        &app,
        &[
            "role",
            "grant",
            "--subject",
            &uuid::Uuid::new_v4().to_string(),
            "--role",
            "operator",
        ],
        &[],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("signed in once"));
}

#[tokio::test]
async fn an_operators_sign_in_to_another_app_carries_no_operator_powers() {
    let app = TestApp::spawn().await;
    let operator = operator_token(&app).await;
    let other_app = app.public_client(APP_REDIRECT).await;
    assert_eq!(ops_keys(&app, &operator).await.status(), StatusCode::OK);

    let mut elsewhere = Request::new(&other_app);
    elsewhere.acr_values = Some("2".into());
    let token = sign_in(&app, &elsewhere, "official").await;
    assert_eq!(
        ops_keys(&app, &token.access_token).await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_suspended_clients_tokens_stop_on_another_instance_within_a_second() {
    let first = TestApp::spawn().await;
    let second = first.replica().await;
    let operator = operator_token(&first).await;
    let app_id = first.public_client(APP_REDIRECT).await;
    let citizen = sign_in(&first, &Request::new(&app_id), "citizen-l2").await;
    assert!(
        eventually(Duration::from_secs(5), || async {
            second.state.revocations.is_live()
        })
        .await
    );
    let me = |app: &TestApp| {
        let request = app
            .client
            .get(app.url("/v1/me"))
            .bearer_auth(&citizen.access_token);
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(me(&second).await, StatusCode::OK);

    let response = first
        .client
        .post(first.url(&format!("/v1/ops/clients/{app_id}/suspend")))
        .bearer_auth(&operator)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap()["status"],
        "suspended"
    );
    promptly(
        "the suspended client's token on the other instance",
        || async { me(&second).await == StatusCode::UNAUTHORIZED },
    )
    .await;
    // A token stamped just after the suspension, as one being minted while it committed (or by
    // a replica whose clock runs ahead) would be, falls inside the cut-off's margin and dies too.
    let minted_meanwhile = {
        let claims = jwt_parts(&citizen.access_token).1;
        let mut late = first.state.tokens.access_claims(
            claims["sub"].as_str().unwrap(),
            &app_id,
            claims["scope"].as_str().unwrap(),
            time::OffsetDateTime::now_utc(),
        );
        late.sid = claims["sid"].as_str().map(String::from);
        first.state.tokens.sign_access(&late).unwrap()
    };
    for app in [&first, &second] {
        promptly("a token minted inside the cut-off's margin", || async {
            crate::signin::me_status(app, &minted_meanwhile).await == StatusCode::UNAUTHORIZED
        })
        .await;
    }

    // Suspended clients get no new tokens; resumed, they do, but the old ones stay dead.
    let refresh = |app: &TestApp| {
        let request = app.client.post(app.url("/v1/auth/token")).form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", citizen.refresh_token.as_deref().unwrap()),
            ("client_id", app_id.as_str()),
        ]);
        async move { request.send().await.unwrap() }
    };
    assert_eq!(refresh(&second).await.status(), StatusCode::UNAUTHORIZED);
    let response = first
        .client
        .post(first.url(&format!("/v1/ops/clients/{app_id}/resume")))
        .bearer_auth(&operator)
        .send()
        .await
        .unwrap();
    assert_eq!(response.json::<Value>().await.unwrap()["status"], "active");
    // Resuming revives none of the old tokens, on either instance.
    assert_eq!(me(&first).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&second).await, StatusCode::UNAUTHORIZED);
    for app in [&first, &second] {
        assert_eq!(
            crate::signin::me_status(app, &minted_meanwhile).await,
            StatusCode::UNAUTHORIZED
        );
    }
    // The token endpoint itself waits out the cut-off's margin, so a token obtained at once
    // after resuming is not caught by it.
    let renewed: Value = refresh(&first).await.json().await.unwrap();
    let fresh = renewed["access_token"]
        .as_str()
        .expect("a new token after resuming");
    let response = first
        .client
        .get(first.url("/v1/me"))
        .bearer_auth(fresh)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn operators_list_and_show_clients_with_keyset_pages() {
    let app = TestApp::spawn().await;
    let operator = operator_token(&app).await;
    for _ in 0..3 {
        app.public_client(APP_REDIRECT).await;
    }
    let page = |after: Option<String>| {
        let mut url = app.url("/v1/ops/clients?limit=2");
        if let Some(after) = after {
            url.push_str(&format!("&after={after}"));
        }
        let request = app.client.get(url).bearer_auth(&operator);
        async move {
            request
                .send()
                .await
                .unwrap()
                .json::<Vec<Value>>()
                .await
                .unwrap()
        }
    };
    let first = page(None).await;
    assert_eq!(first.len(), 2);
    let second = page(first[1]["client_id"].as_str().map(str::to_string)).await;
    assert_eq!(second.len(), 2, "4 clients: the console and three apps");
    assert!(second[0]["client_id"].as_str() > first[1]["client_id"].as_str());
    assert!(
        first
            .iter()
            .chain(&second)
            .all(|c| c.get("client_secret").is_none())
    );
    let id = second[0]["client_id"].as_str().unwrap();
    let shown: Value = app
        .client
        .get(app.url(&format!("/v1/ops/clients/{id}")))
        .bearer_auth(&operator)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["client_id"], id);
    let missing = app
        .client
        .get(app.url("/v1/ops/clients/mc_nothere"))
        .bearer_auth(&operator)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

/// Rotates through the operator API, then retires (or withdraws) the new key while it is still
/// pending: once its start has passed, something must still sign tokens, ID tokens and audit
/// checkpoints.
async fn retiring_the_pending_key_keeps_a_signer(withdraw: bool) {
    let app = TestApp::spawn_with(Options {
        env: vec![
            ("MOTCUA_JWKS_MAX_AGE_SECS", "1".into()),
            // Long enough for the rotate-then-retire round trip on a loaded machine: the key
            // must still be pending when it is retired.
            ("MOTCUA_KEY_ROTATION_DELAY_SECS", "6".into()),
        ],
        ..Options::default()
    })
    .await;
    let operator = operator_token(&app).await;
    let old_kid = jwt_parts(&operator).0["kid"].as_str().unwrap().to_string();
    let post = |path: String, body: Option<Value>| {
        let mut request = app.client.post(app.url(&path)).bearer_auth(&operator);
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move { request.send().await.unwrap() }
    };
    let rotated = post("/v1/ops/keys/rotate".into(), None).await;
    assert_eq!(rotated.status(), StatusCode::OK);
    let new_key: Value = rotated.json().await.unwrap();
    assert_eq!(new_key["status"], "pending");
    let new_kid = new_key["kid"].as_str().unwrap();
    let retired = post(
        format!("/v1/ops/keys/{new_kid}/retire"),
        Some(serde_json::json!({ "withdraw": withdraw })),
    )
    .await;
    assert_eq!(retired.status(), StatusCode::OK);
    let retired: Value = retired.json().await.unwrap();
    assert_eq!(
        retired["status"],
        if withdraw { "withdrawn" } else { "retired" }
    );

    let signing_from = time::OffsetDateTime::parse(
        new_key["signing_from"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let wait = signing_from - time::OffsetDateTime::now_utc() + time::Duration::milliseconds(500);
    tokio::time::sleep(Duration::try_from(wait).unwrap_or_default()).await;

    // The old key signs on: a sign-in (access and ID token) works, and its token verifies.
    let client_id = app.public_client(APP_REDIRECT).await;
    let mut request = Request::new(&client_id);
    request.scope = Some("openid profile".into());
    let tokens = sign_in(&app, &request, "citizen-l2").await;
    assert_eq!(jwt_parts(&tokens.access_token).0["kid"], old_kid.as_str());
    assert!(tokens.id_token.is_some());
    let me = app
        .client
        .get(app.url("/v1/me"))
        .bearer_auth(&tokens.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    motcua::audit::chain::checkpoint(&app.state.db, &app.state.tokens)
        .await
        .expect("the audit chain's head can still be signed");

    let keys: Value = app
        .client
        .get(app.url("/v1/ops/keys"))
        .bearer_auth(&operator)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let old = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == old_kid.as_str())
        .unwrap();
    assert_eq!(old["status"], "active", "{keys}");
    assert!(old.get("retired_at").is_none(), "{keys}");
    // The audit log says which key got its schedule back.
    let restored = || async {
        sqlx::query_scalar::<_, Value>(
            "SELECT details->'restored' FROM audit_log WHERE action = 'signing_key_retired'",
        )
        .fetch_optional(&app.state.db)
        .await
        .unwrap()
            == Some(serde_json::json!([old_kid]))
    };
    assert!(eventually(Duration::from_secs(5), restored).await);
}

#[tokio::test]
async fn withdrawing_a_pending_key_leaves_the_key_it_was_replacing_signing() {
    retiring_the_pending_key_keeps_a_signer(true).await;
}

#[tokio::test]
async fn retiring_a_pending_key_leaves_the_key_it_was_replacing_signing() {
    retiring_the_pending_key_keeps_a_signer(false).await;
}
