//! Sessions that survive flaky phones: refresh rotation, the grace window, reuse detection,
//! revocation everywhere, logout and the citizen's device list.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Options, TestApp, advance_session_clock, eventually, rows_containing};
use crate::signin::{
    APP_REDIRECT, Request, Tokens, jwt_parts, logout, me_status, province_app, refresh, refreshed,
    sign_in, signed_in,
};

async fn revoke(app: &TestApp, client_id: &str, token: &str) -> StatusCode {
    app.client
        .post(app.url("/v1/auth/revoke"))
        .form(&[("token", token), ("client_id", client_id)])
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn refreshing_rotates_the_refresh_token_and_issues_a_new_access_token() {
    let app = TestApp::spawn().await;
    let (client_id, first) = signed_in(&app).await;
    let r0 = first.refresh_token.clone().unwrap();
    let second = refreshed(&app, &client_id, &r0).await;
    let r1 = second.refresh_token.clone().unwrap();
    assert_ne!(r0, r1);
    assert!(r1.len() >= 43, "at least 256 bits");
    assert_ne!(first.access_token, second.access_token);
    assert_eq!(me_status(&app, &second.access_token).await, StatusCode::OK);
    let third = refreshed(&app, &client_id, &r1).await;
    assert_ne!(third.refresh_token.unwrap(), r1);
    // The refresh token is stored only as a hash: its hash is there, the token nowhere.
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM refresh_tokens WHERE token_sha256 = $1")
            .bind(motcua::crypto::sha256(r0.as_bytes()).to_vec())
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    assert_eq!(stored, 1);
    for token in [&r0, &r1, &first.access_token] {
        assert_eq!(rows_containing(&app, token).await, Vec::<String>::new());
    }
}

#[tokio::test]
async fn the_predecessor_within_the_grace_window_gets_the_same_pair_again() {
    let app = TestApp::spawn().await;
    let (client_id, first) = signed_in(&app).await;
    let r0 = first.refresh_token.unwrap();
    let lost = refreshed(&app, &client_id, &r0).await;
    // The phone never saw that response and retries with the same token.
    let retry = refreshed(&app, &client_id, &r0).await;
    assert_eq!(retry.refresh_token, lost.refresh_token);
    assert_eq!(retry.access_token, lost.access_token);
    // And the family lives on.
    refreshed(&app, &client_id, &lost.refresh_token.unwrap()).await;
}

#[tokio::test]
async fn a_token_two_generations_old_revokes_the_whole_family() {
    let app = TestApp::spawn().await;
    let (client_id, first) = signed_in(&app).await;
    let r0 = first.refresh_token.unwrap();
    let g1 = refreshed(&app, &client_id, &r0).await;
    let g2 = refreshed(&app, &client_id, g1.refresh_token.as_deref().unwrap()).await;
    assert_eq!(me_status(&app, &g2.access_token).await, StatusCode::OK);

    let reuse = refresh(&app, &client_id, &r0).await;
    assert_eq!(reuse.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        reuse.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );

    // The newest refresh and access tokens die with the family.
    assert_eq!(
        refresh(&app, &client_id, g2.refresh_token.as_deref().unwrap())
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        me_status(&app, &g2.access_token).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.audited("refresh_token_reuse").await, 1);
}

#[tokio::test]
async fn many_concurrent_refreshes_of_one_token_yield_exactly_one_new_pair() {
    let app = TestApp::spawn().await;
    let (client_id, first) = signed_in(&app).await;
    let r0 = first.refresh_token.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (client, url, client_id, r0) = (
            app.client.clone(),
            app.url("/v1/auth/token"),
            client_id.clone(),
            r0.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let response = client
                .post(url)
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &r0),
                    ("client_id", &client_id),
                ])
                .send()
                .await
                .unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        }));
    }
    let mut pairs = std::collections::HashSet::new();
    for task in tasks {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        pairs.insert((
            body["access_token"].to_string(),
            body["refresh_token"].to_string(),
        ));
    }
    assert_eq!(pairs.len(), 1, "every caller got the same new pair");
    let children: i64 =
        sqlx::query_scalar("SELECT count(*) FROM refresh_tokens WHERE parent_id IS NOT NULL")
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    assert_eq!(children, 1);
}

#[tokio::test]
async fn revoking_a_refresh_token_ends_the_session() {
    let app = TestApp::spawn().await;
    let (client_id, tokens) = signed_in(&app).await;
    let refresh_token = tokens.refresh_token.unwrap();
    assert_eq!(
        revoke(&app, &client_id, &refresh_token).await,
        StatusCode::OK
    );
    assert_eq!(
        me_status(&app, &tokens.access_token).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&app, &client_id, &refresh_token).await.status(),
        StatusCode::BAD_REQUEST
    );
    // Unknown tokens are not an error (RFC 7009 §2.2).
    assert_eq!(
        revoke(&app, &client_id, "no-such-token").await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn revoking_an_access_token_denies_it_but_not_the_session() {
    let app = TestApp::spawn().await;
    let (client_id, tokens) = signed_in(&app).await;
    assert_eq!(me_status(&app, &tokens.access_token).await, StatusCode::OK);
    assert_eq!(
        revoke(&app, &client_id, &tokens.access_token).await,
        StatusCode::OK
    );
    let response = app
        .client
        .get(app.url("/v1/me"))
        .bearer_auth(&tokens.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    let next = refreshed(&app, &client_id, tokens.refresh_token.as_deref().unwrap()).await;
    assert_eq!(me_status(&app, &next.access_token).await, StatusCode::OK);
}

#[tokio::test]
async fn another_client_cannot_revoke_or_refresh_an_apps_tokens() {
    let app = TestApp::spawn().await;
    let (_, tokens) = signed_in(&app).await;
    let other = app.public_client("http://127.0.0.1/other").await;
    assert_eq!(
        revoke(&app, &other, tokens.refresh_token.as_deref().unwrap()).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        refresh(&app, &other, tokens.refresh_token.as_deref().unwrap())
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(me_status(&app, &tokens.access_token).await, StatusCode::OK);
}

#[tokio::test]
async fn logout_ends_the_current_session() {
    let app = TestApp::spawn().await;
    let (client_id, tokens) = signed_in(&app).await;
    logout(&app, &tokens).await;
    assert_eq!(
        me_status(&app, &tokens.access_token).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&app, &client_id, tokens.refresh_token.as_deref().unwrap())
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn a_citizen_lists_their_devices_and_signs_one_out() {
    let app = TestApp::spawn().await;
    let client_id = province_app(&app).await;
    let request = || {
        let mut request = Request::new(&client_id);
        request.scope = Some("openid profile offline_access account".into());
        request
    };
    let phone = sign_in(&app, &request(), "citizen-l2").await;
    let tablet = sign_in(&app, &request(), "citizen-l2").await;
    let stranger = sign_in(&app, &request(), "merchant").await;

    let page: Value = app
        .client
        .get(app.url("/v1/me/sessions"))
        .bearer_auth(&phone.access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sessions = page["items"].as_array().unwrap();
    assert!(page["next_cursor"].is_null(), "{page}");
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    let tablet_sid = crate::signin::jwt_parts(&tablet.access_token).1["sid"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(sessions.iter().any(|s| s["id"] == tablet_sid));

    // Another citizen's session is not found, and stays alive.
    let stranger_sid = crate::signin::jwt_parts(&stranger.access_token).1["sid"]
        .as_str()
        .unwrap()
        .to_string();
    let response = app
        .client
        .delete(app.url(&format!("/v1/me/sessions/{stranger_sid}")))
        .bearer_auth(&phone.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        me_status(&app, &stranger.access_token).await,
        StatusCode::OK
    );

    let response = app
        .client
        .delete(app.url(&format!("/v1/me/sessions/{tablet_sid}")))
        .bearer_auth(&phone.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        me_status(&app, &tablet.access_token).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(me_status(&app, &phone.access_token).await, StatusCode::OK);
}

#[tokio::test]
async fn a_second_instance_refuses_a_revoked_token_within_a_second() {
    let first = TestApp::spawn().await;
    let second = first.replica().await;
    let (_, tokens) = signed_in(&first).await;
    // Wait until the second instance's subscription is up, then warm its verified-token cache.
    assert!(
        crate::helpers::eventually(Duration::from_secs(5), || async {
            second.state.revocations.is_live()
        })
        .await
    );
    assert_eq!(
        me_status(&second, &tokens.access_token).await,
        StatusCode::OK
    );

    let response = first
        .client
        .post(first.url("/v1/auth/logout"))
        .bearer_auth(&tokens.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    crate::helpers::promptly("a logout on the other instance", || async {
        me_status(&second, &tokens.access_token).await == StatusCode::UNAUTHORIZED
    })
    .await;
}

/// Writes a deny-list entry straight into Redis, as another replica's publish would leave it,
/// without telling PostgreSQL or the subscribers.
async fn deny_in_redis_only(app: &TestApp, sid: &str) {
    let mut conn = crate::helpers::redis_connection();
    let until = crate::helpers::now() + 600;
    let _: () = redis::cmd("SET")
        .arg(format!("{}deny:sid:{sid}", app.redis_prefix))
        .arg(until)
        .arg("EX")
        .arg(600)
        .query_async(&mut conn)
        .await
        .unwrap();
}

fn sid_of(tokens: &Tokens) -> String {
    jwt_parts(&tokens.access_token).1["sid"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn live(app: &TestApp, want: bool) -> bool {
    eventually(Duration::from_secs(10), || async {
        app.state.revocations.is_live() == want
    })
    .await
}

#[tokio::test]
async fn revocation_holds_while_the_subscription_is_down() {
    let proxy = crate::helpers::TcpProxy::start(crate::helpers::redis_addr()).await;
    let first = TestApp::spawn().await;
    let second = TestApp::spawn_with(Options {
        redis_url: Some(format!("redis://{}", proxy.addr)),
        ..first.replica_options()
    })
    .await;
    let (_, logged_out) = signed_in(&first).await;
    let (_, denied_in_redis) = signed_in(&first).await;
    let (_, untouched) = signed_in(&first).await;
    assert!(live(&second, true).await);
    for tokens in [&logged_out, &denied_in_redis] {
        assert_eq!(
            me_status(&second, &tokens.access_token).await,
            StatusCode::OK
        );
    }
    // The second instance loses Redis entirely: no subscription, no deny-list.
    proxy.pause();
    assert!(live(&second, false).await);
    logout(&first, &logged_out).await;
    assert_eq!(
        me_status(&second, &logged_out.access_token).await,
        StatusCode::UNAUTHORIZED,
        "PostgreSQL still knows"
    );
    // Only Redis knows of this one, and the second instance cannot reach it.
    deny_in_redis_only(&first, &sid_of(&denied_in_redis)).await;
    assert_eq!(
        me_status(&second, &denied_in_redis.access_token).await,
        StatusCode::OK,
        "neither PostgreSQL nor the in-process set knows of the Redis-only entry"
    );

    // Back online, the subscription reloads the deny-list from Redis: the in-process set alone
    // now refuses a token PostgreSQL never heard of and pub/sub never carried.
    proxy.resume();
    assert!(live(&second, true).await);
    assert_eq!(
        me_status(&second, &denied_in_redis.access_token).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        me_status(&second, &logged_out.access_token).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        me_status(&second, &untouched.access_token).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn while_the_subscription_is_down_each_check_asks_redis() {
    let proxy = crate::helpers::TcpProxy::start(crate::helpers::redis_addr()).await;
    let first = TestApp::spawn().await;
    let second = TestApp::spawn_with(Options {
        redis_url: Some(format!("redis://{}", proxy.addr)),
        ..first.replica_options()
    })
    .await;
    let (_, denied) = signed_in(&first).await;
    let (_, untouched) = signed_in(&first).await;
    assert!(live(&second, true).await);
    assert_eq!(
        me_status(&second, &denied.access_token).await,
        StatusCode::OK
    );
    // The subscription stops delivering while plain Redis commands still work.
    proxy.stall_subscriptions();
    assert!(live(&second, false).await);
    deny_in_redis_only(&first, &sid_of(&denied)).await;
    assert_eq!(
        me_status(&second, &denied.access_token).await,
        StatusCode::UNAUTHORIZED,
        "only Redis knows, so the check asked Redis"
    );
    assert_eq!(
        me_status(&second, &untouched.access_token).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_token_is_refused_when_neither_redis_nor_postgresql_answers() {
    let redis = crate::helpers::TcpProxy::start(crate::helpers::redis_addr()).await;
    let postgres_url = url::Url::parse(&crate::helpers::postgres_server_url()).unwrap();
    let postgres = crate::helpers::TcpProxy::start(
        format!(
            "{}:{}",
            postgres_url.host_str().unwrap(),
            postgres_url.port().unwrap_or(5432)
        )
        .parse()
        .unwrap(),
    )
    .await;
    let first = TestApp::spawn().await;
    let second = TestApp::spawn_with(Options {
        redis_url: Some(format!("redis://{}", redis.addr)),
        postgres_addr: Some(postgres.addr),
        ..first.replica_options()
    })
    .await;
    let (_, tokens) = signed_in(&first).await;
    assert!(live(&second, true).await);
    assert_eq!(
        me_status(&second, &tokens.access_token).await,
        StatusCode::OK
    );
    redis.pause();
    assert!(live(&second, false).await);
    // Redis alone gone: PostgreSQL answers for the token.
    assert_eq!(
        me_status(&second, &tokens.access_token).await,
        StatusCode::OK
    );
    postgres.pause();
    let status = me_status(&second, &tokens.access_token).await;
    assert!(
        status == StatusCode::UNAUTHORIZED || status == StatusCode::SERVICE_UNAVAILABLE,
        "nobody can say the token is good, yet it got {status}"
    );
    assert_ne!(status, StatusCode::OK);
}

#[tokio::test]
async fn an_idle_session_ends() {
    let app = TestApp::spawn_with(Options {
        env: vec![("MOTCUA_SESSION_IDLE_SECS", "600".into())],
        ..Options::default()
    })
    .await;
    let (client_id, tokens) = signed_in(&app).await;
    // Used within the idle limit, twice over the limit in all: each use extends it.
    advance_session_clock(&app, Duration::from_secs(500)).await;
    let used = refreshed(&app, &client_id, tokens.refresh_token.as_deref().unwrap()).await;
    advance_session_clock(&app, Duration::from_secs(500)).await;
    let used = refreshed(&app, &client_id, used.refresh_token.as_deref().unwrap()).await;
    // Then left unused past it.
    advance_session_clock(&app, Duration::from_secs(601)).await;
    let response = refresh(&app, &client_id, used.refresh_token.as_deref().unwrap()).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
}

#[tokio::test]
async fn a_session_ends_at_its_absolute_lifetime_even_when_used() {
    let app = TestApp::spawn_with(Options {
        env: vec![
            ("MOTCUA_SESSION_IDLE_SECS", "300".into()),
            ("MOTCUA_SESSION_ABSOLUTE_SECS", "600".into()),
        ],
        ..Options::default()
    })
    .await;
    let (client_id, tokens) = signed_in(&app).await;
    advance_session_clock(&app, Duration::from_secs(250)).await;
    let used = refreshed(&app, &client_id, tokens.refresh_token.as_deref().unwrap()).await;
    advance_session_clock(&app, Duration::from_secs(250)).await;
    let used = refreshed(&app, &client_id, used.refresh_token.as_deref().unwrap()).await;
    // Last used 150 s ago, well inside the idle limit, but 650 s after signing in.
    advance_session_clock(&app, Duration::from_secs(150)).await;
    let response = refresh(&app, &client_id, used.refresh_token.as_deref().unwrap()).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
}

#[tokio::test]
async fn the_predecessor_after_the_grace_window_ends_the_session() {
    let app = TestApp::spawn_with(Options {
        env: vec![("MOTCUA_REFRESH_GRACE_SECS", "30".into())],
        ..Options::default()
    })
    .await;
    let (client_id, first) = signed_in(&app).await;
    let r0 = first.refresh_token.unwrap();
    let next = refreshed(&app, &client_id, &r0).await;
    advance_session_clock(&app, Duration::from_secs(31)).await;
    let late = refresh(&app, &client_id, &r0).await;
    assert_eq!(late.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        late.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    assert_eq!(
        refresh(&app, &client_id, next.refresh_token.as_deref().unwrap())
            .await
            .status(),
        StatusCode::BAD_REQUEST,
        "the successor dies with the session"
    );
    assert_eq!(
        me_status(&app, &next.access_token).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.audited("refresh_token_reuse").await, 1);
}

#[tokio::test]
async fn without_offline_access_there_is_no_refresh_token() {
    let app = TestApp::spawn().await;
    let client_id = app.public_client(APP_REDIRECT).await;
    let mut request = Request::new(&client_id);
    request.scope = Some("openid profile".into());
    let tokens = sign_in(&app, &request, "citizen-l2").await;
    assert_eq!(tokens.refresh_token, None, "scope {}", tokens.scope);
    assert!(!tokens.scope.split(' ').any(|s| s == "offline_access"));
    assert_eq!(me_status(&app, &tokens.access_token).await, StatusCode::OK);
}

#[tokio::test]
async fn citizen_revocation_and_logout_are_audited() {
    let app = TestApp::spawn().await;
    let (client_id, revoked) = signed_in(&app).await;
    let (_, logged_out) = signed_in(&app).await;
    assert_eq!(
        revoke(&app, &client_id, revoked.refresh_token.as_deref().unwrap()).await,
        StatusCode::OK
    );
    logout(&app, &logged_out).await;
    let rows: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT action, target FROM audit_log ORDER BY chain_seq")
            .fetch_all(&app.state.db)
            .await
            .unwrap();
    for (tokens, action) in [(&revoked, "token_revoked"), (&logged_out, "logout")] {
        let entry = (action.to_string(), Some(sid_of(tokens)));
        assert!(rows.contains(&entry), "no {entry:?} in {rows:?}");
    }
}

async fn ttl_of(app: &TestApp, entry: &str) -> i64 {
    let mut conn = crate::helpers::redis_connection();
    redis::cmd("TTL")
        .arg(format!("{}deny:{entry}", app.redis_prefix))
        .query_async(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn deny_list_entries_expire_with_the_longest_access_token_life() {
    let app = TestApp::spawn_with(Options {
        env: vec![("MOTCUA_ACCESS_TOKEN_TTL_SECS", "120".into())],
        ..Options::default()
    })
    .await;
    let (client_id, session) = signed_in(&app).await;
    let token = sign_in(&app, &Request::new(&client_id), "citizen-l2").await;
    logout(&app, &session).await;
    assert_eq!(
        revoke(&app, &client_id, &token.access_token).await,
        StatusCode::OK
    );
    let leeway = motcua::tokens::LEEWAY_SECS as i64;
    // A session's entry outlives any token of it, and no longer: the longest token life.
    let longest = motcua::tokens::max_token_life(Duration::from_secs(120)).as_secs() as i64;
    let sid_ttl = ttl_of(&app, &format!("sid:{}", sid_of(&session))).await;
    assert!(
        (120..=longest).contains(&sid_ttl),
        "session entry TTL {sid_ttl}, longest token life {longest}"
    );
    // A token's entry lasts until the token would have expired anyway.
    let exp = jwt_parts(&token.access_token).1["exp"].as_i64().unwrap();
    let jti = jwt_parts(&token.access_token).1["jti"]
        .as_str()
        .unwrap()
        .to_string();
    let jti_ttl = ttl_of(&app, &format!("jti:{jti}")).await;
    let until_exp = exp - crate::helpers::now();
    assert!(
        jti_ttl > 0 && jti_ttl <= until_exp + leeway + 1,
        "token entry TTL {jti_ttl}, {until_exp} s before the token expires"
    );
}
