//! The operator API: who may use it (every operation, from the OpenAPI document), and what
//! operators do with clients, sessions, tokens, roles, keys and the audit log.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, promptly};
use crate::helpers::{grant, ok_json, operator_token, ops, ops_console};
use crate::signin::{APP_REDIRECT, Request, jwt_parts, sign_in};

async fn introspect_as_operator(app: &TestApp, operator: &str, token: &str) -> Value {
    ok_json(
        ops(
            app,
            operator,
            Method::POST,
            "/v1/ops/tokens/introspect",
            Some(json!({ "token": token })),
        )
        .await,
        StatusCode::OK,
    )
    .await
}

/// A body each operation accepts, so that what answers is the authorization check and not
/// the body parser.
fn sample_body(operation_id: &str) -> Option<Value> {
    match operation_id {
        "opsCreateClient" => Some(json!({ "name": "x", "kind": "confidential" })),
        "opsUpdateClient" => Some(json!({})),
        "opsRetireKey" => Some(json!({})),
        "opsIntrospectToken" => Some(json!({ "token": "x" })),
        "opsRevokeToken" => Some(json!({ "jti": "x" })),
        "opsCreateWebhook" => {
            Some(json!({ "url": "https://x.example", "events": ["dossier.submitted"] }))
        }
        "opsSetHoliday" => Some(json!({ "name": "x", "kind": "holiday" })),
        _ => None,
    }
}

#[tokio::test]
async fn every_operator_operation_refuses_citizens_and_challenges_level_1_operators() {
    let app = TestApp::spawn().await;
    let console = ops_console(&app).await;
    let citizen = sign_in(&app, &Request::new(&console), "citizen-l2").await;
    let weak = sign_in(&app, &Request::new(&console), "citizen-l1").await;
    grant(
        &app,
        jwt_parts(&weak.access_token).1["sub"].as_str().unwrap(),
        "operator",
    );

    // Every operation under /v1/ops, as the document lists them: none can be forgotten.
    let spec: Value = app.get("/openapi.json").await.json().await.unwrap();
    let mut operations = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        if !path.starts_with("/v1/ops") {
            continue;
        }
        for (method, operation) in item.as_object().unwrap() {
            let concrete = path
                .replace("{id}", "mc_aaaaaaaaaaaaaaaaaaaaaaaa")
                .replace("{sub}", &uuid::Uuid::new_v4().to_string())
                .replace("{sid}", &uuid::Uuid::new_v4().to_string())
                .replace("{kid}", "2026-11-28-abcdefgh")
                .replace("{role}", "merchant")
                .replace("{webhook_id}", "wh_aaaaaaaaaaaaaaaaaaaaaaaa")
                .replace("{delivery_id}", &uuid::Uuid::new_v4().to_string())
                .replace("{day}", "2026-12-24");
            assert!(!concrete.contains('{'), "unfilled parameter in {path}");
            assert!(
                operation["security"]
                    .as_array()
                    .is_some_and(|s| !s.is_empty()),
                "{method} {path} declares its security requirement"
            );
            operations.push((
                method.to_uppercase().parse::<Method>().unwrap(),
                concrete,
                sample_body(operation["operationId"].as_str().unwrap()),
            ));
        }
    }
    assert!(operations.len() >= 20, "{} operations", operations.len());

    for (method, path, body) in operations {
        let response = ops(
            &app,
            &citizen.access_token,
            method.clone(),
            &path,
            body.clone(),
        )
        .await;
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "citizen: {method} {path}"
        );
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );

        let response = ops(&app, &weak.access_token, method.clone(), &path, body).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "level 1: {method} {path}"
        );
        let challenge = response.headers()["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.contains("insufficient_user_authentication")
                && challenge.contains("acr_values=\"2\""),
            "{method} {path}: {challenge}"
        );
    }
}

#[tokio::test]
async fn operators_register_update_rotate_and_delete_service_providers() {
    // The first replica believes the loopback proxy's X-Forwarded-For, so a failure can come
    // from another address (failures of one client, reason and address are sampled a minute).
    let first = TestApp::spawn_with(Options {
        env: vec![("MOTCUA_TRUSTED_PROXIES", "127.0.0.1".into())],
        ..Options::default()
    })
    .await;
    let second = first.replica().await;
    let operator = operator_token(&first).await;

    // Registered with bindings; the secret is shown once.
    let created = ok_json(
        ops(
            &first,
            &operator,
            Method::POST,
            "/v1/ops/clients",
            Some(json!({
                "name": "Sở Tư pháp back office",
                "kind": "confidential",
                "scopes": ["dossiers:read", "dossiers:write"],
                "rate_limit_per_min": 600,
                "agencies": ["000.00.12.H12", "000.00.13.H12"],
            })),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let id = created["client_id"].as_str().unwrap().to_string();
    let secret = created["client_secret"].as_str().unwrap().to_string();
    assert_eq!(
        created["agencies"],
        json!(["000.00.12.H12", "000.00.13.H12"])
    );
    let shown = ok_json(
        ops(
            &first,
            &operator,
            Method::GET,
            &format!("/v1/ops/clients/{id}"),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert!(shown.get("client_secret").is_none());
    // A wrong secret now, from another address, long before the refusal the time filters look
    // for below.
    let early = first
        .client
        .post(first.url("/v1/auth/token"))
        .basic_auth(&id, Some("not-the-secret"))
        .header("x-forwarded-for", "203.0.113.7")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(early.status(), StatusCode::UNAUTHORIZED);

    // Its tokens carry the bindings, for resource servers that verify offline.
    let body: Value = first
        .client_credentials(&id, &secret)
        .await
        .json()
        .await
        .unwrap();
    let old_token = body["access_token"].as_str().unwrap().to_string();
    let claims = jwt_parts(&old_token).1;
    assert_eq!(
        claims["agencies"],
        json!(["000.00.12.H12", "000.00.13.H12"])
    );
    assert!(claims.get("merchant_id").is_none());
    let seen = introspect_as_operator(&first, &operator, &old_token).await;
    assert_eq!(seen["active"], true);
    assert_eq!(seen["agencies"], json!(["000.00.12.H12", "000.00.13.H12"]));

    // Invalid changes are refused with the field at fault, and change nothing.
    let refused = ok_json(
        ops(
            &first,
            &operator,
            Method::PATCH,
            &format!("/v1/ops/clients/{id}"),
            Some(json!({ "merchant_id": "htx-ca-phe" })),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(refused["errors"][0]["pointer"], "/agencies");
    let refused = ok_json(
        ops(
            &first,
            &operator,
            Method::PATCH,
            &format!("/v1/ops/clients/{id}"),
            Some(json!({ "scopes": ["root"] })),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(refused["errors"][0]["pointer"], "/scopes");

    // Narrowing scopes and bindings cuts off the tokens issued before, on every replica.
    let updated = ok_json(
        ops(
            &first,
            &operator,
            Method::PATCH,
            &format!("/v1/ops/clients/{id}"),
            Some(json!({
                "scopes": ["dossiers:read"],
                "agencies": ["000.00.12.H12"],
                "rate_limit_per_min": null,
            })),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(updated["scopes"], json!(["dossiers:read"]));
    assert!(updated.get("rate_limit_per_min").is_none());
    promptly(
        "the narrowed client's old token on the second replica",
        || async {
            introspect_as_operator(&second, &operator, &old_token).await["active"] == false
        },
    )
    .await;
    let body: Value = second
        .client_credentials(&id, &secret)
        .await
        .json()
        .await
        .unwrap();
    let new_token = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(body["scope"], "dossiers:read");
    assert_eq!(
        jwt_parts(&new_token).1["agencies"],
        json!(["000.00.12.H12"])
    );
    assert_eq!(
        introspect_as_operator(&first, &operator, &new_token).await["active"],
        true
    );

    // A new secret: the old one and its tokens stop working at once.
    let rotated = ok_json(
        ops(
            &first,
            &operator,
            Method::POST,
            &format!("/v1/ops/clients/{id}/secret"),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let new_secret = rotated["client_secret"].as_str().unwrap().to_string();
    assert_ne!(new_secret, secret);
    let rfc3339 = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let before_refusal = rfc3339(time::OffsetDateTime::now_utc());
    assert_eq!(
        second.client_credentials(&id, &secret).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let after_refusal = rfc3339(time::OffsetDateTime::now_utc());
    assert_eq!(
        introspect_as_operator(&first, &operator, &new_token).await["active"],
        false
    );
    let body: Value = second
        .client_credentials(&id, &new_secret)
        .await
        .json()
        .await
        .unwrap();
    let latest = body["access_token"].as_str().unwrap().to_string();

    // Apps have no secret to rotate.
    let app_id = first.public_client(APP_REDIRECT).await;
    // An operation on another target, which the target filter below must leave out.
    ok_json(
        ops(
            &first,
            &operator,
            Method::GET,
            &format!("/v1/ops/clients/{app_id}"),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    ok_json(
        ops(
            &first,
            &operator,
            Method::POST,
            &format!("/v1/ops/clients/{app_id}/secret"),
            None,
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;

    // Deleted: its tokens stop on every replica within a second, it cannot authenticate, it is
    // gone from the listing.
    let response = ops(
        &first,
        &operator,
        Method::DELETE,
        &format!("/v1/ops/clients/{id}"),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    promptly(
        "the deleted client's token on the second replica",
        || async { introspect_as_operator(&second, &operator, &latest).await["active"] == false },
    )
    .await;
    assert_eq!(
        second.client_credentials(&id, &new_secret).await.status(),
        StatusCode::UNAUTHORIZED
    );
    ok_json(
        ops(
            &first,
            &operator,
            Method::GET,
            &format!("/v1/ops/clients/{id}"),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    ok_json(
        ops(
            &first,
            &operator,
            Method::DELETE,
            &format!("/v1/ops/clients/{id}"),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;

    // Every step is in the audit log under the operator's name, newest first, in pages.
    let sub = jwt_parts(&operator).1["sub"].as_str().unwrap().to_string();
    let actor = format!("operator:{sub}");
    let page = ok_json(
        ops(
            &first,
            &operator,
            Method::GET,
            &format!("/v1/ops/audit?actor={actor}&target={id}&limit=2"),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let actions: Vec<&str> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["client_deleted", "client_secret_rotated"]);
    let before = page["next_before"].as_i64().unwrap();
    let page = ok_json(
        ops(
            &first,
            &operator,
            Method::GET,
            &format!("/v1/ops/audit?actor={actor}&target={id}&limit=2&before={before}"),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let actions: Vec<&str> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["client_updated", "client_shown"]);
    let last = ok_json(
        ops(
            &first,
            &operator,
            Method::GET,
            &format!(
                "/v1/ops/audit?actor={actor}&target={id}&limit=2&before={}",
                page["next_before"]
            ),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(last["entries"].as_array().unwrap().len(), 1, "{last}");
    assert_eq!(last["entries"][0]["action"], "client_created");
    assert!(last.get("next_before").is_none());
    // Without the target filter the other client's entry is there: the filter left it out.
    let shown = ok_json(
        ops(
            &first,
            &operator,
            Method::GET,
            &format!("/v1/ops/audit?actor={actor}&action=client_shown"),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let targets: Vec<&str> = shown["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["target"].as_str().unwrap())
        .collect();
    assert_eq!(targets, [app_id.as_str(), id.as_str()]);
    for entry in page["entries"].as_array().unwrap() {
        assert!(
            entry["request_id"].is_string() && entry["client_ip"] == "127.0.0.1",
            "{entry}"
        );
    }
    // Filters by action and time as well: the refused old secret, and nothing else, falls in
    // its window; the wrong secret tried at the start falls before it.
    let failures = |window: String| {
        let path = format!("/v1/ops/audit?action=client_authentication&client_id={id}&{window}");
        let (app, operator) = (&first, &operator);
        async move {
            let page = ok_json(
                ops(app, operator, Method::GET, &path, None).await,
                StatusCode::OK,
            )
            .await;
            page["entries"].as_array().unwrap().clone()
        }
    };
    let inside = failures(format!("since={before_refusal}&until={after_refusal}")).await;
    assert_eq!(inside.len(), 1, "{inside:?}");
    assert_eq!(inside[0]["outcome"], "failure");
    let since = failures(format!("since={before_refusal}")).await;
    assert_eq!(since, inside);
    let earlier = failures(format!("until={before_refusal}")).await;
    assert_eq!(earlier.len(), 1, "{earlier:?}");
    assert_ne!(earlier[0]["seq"], inside[0]["seq"]);
    assert_eq!(failures(String::new()).await.len(), 2);
}

#[tokio::test]
async fn operators_end_citizens_sessions_revoke_tokens_and_manage_roles() {
    let app = TestApp::spawn().await;
    let operator = operator_token(&app).await;
    let operator_sub = jwt_parts(&operator).1["sub"].as_str().unwrap().to_string();
    let app_id = app.public_client(APP_REDIRECT).await;
    let phone = sign_in(&app, &Request::new(&app_id), "citizen-l2").await;
    let tablet = sign_in(&app, &Request::new(&app_id), "citizen-l2").await;
    let sub = jwt_parts(&phone.access_token).1["sub"]
        .as_str()
        .unwrap()
        .to_string();
    let me = |token: String| {
        let app = &app;
        async move {
            app.client
                .get(app.url("/v1/me"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };

    let sessions = ok_json(
        ops(
            &app,
            &operator,
            Method::GET,
            &format!("/v1/ops/citizens/{sub}/sessions"),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(sessions["items"].as_array().unwrap().len(), 2, "{sessions}");

    // One session (the phone's) ends; the tablet keeps working.
    let phone_sid = jwt_parts(&phone.access_token).1["sid"]
        .as_str()
        .unwrap()
        .to_string();
    let response = ops(
        &app,
        &operator,
        Method::DELETE,
        &format!("/v1/ops/citizens/{sub}/sessions/{phone_sid}"),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        me(phone.access_token.clone()).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(me(tablet.access_token.clone()).await, StatusCode::OK);
    // Another citizen's live session is not found under this citizen, and keeps working.
    let stranger = sign_in(&app, &Request::new(&app_id), "merchant").await;
    let stranger_sid = jwt_parts(&stranger.access_token).1["sid"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(me(stranger.access_token.clone()).await, StatusCode::OK);
    ok_json(
        ops(
            &app,
            &operator,
            Method::DELETE,
            &format!("/v1/ops/citizens/{sub}/sessions/{stranger_sid}"),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(me(stranger.access_token.clone()).await, StatusCode::OK);
    let other = uuid::Uuid::new_v4();

    // An access token denied by its jti alone.
    let jti = jwt_parts(&tablet.access_token).1["jti"]
        .as_str()
        .unwrap()
        .to_string();
    let response = ops(
        &app,
        &operator,
        Method::POST,
        "/v1/ops/tokens/revoke",
        Some(json!({ "jti": jti })),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        me(tablet.access_token.clone()).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        introspect_as_operator(&app, &operator, &tablet.access_token).await["active"],
        false
    );
    // The tablet's refresh token is still good (and visible to operators)...
    let refresh = tablet.refresh_token.clone().unwrap();
    let seen = introspect_as_operator(&app, &operator, &refresh).await;
    assert_eq!(seen["active"], true);
    assert_eq!(seen["sub"], sub.as_str());
    // ...until all of the citizen's sessions end.
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
    assert_eq!(ended["ended"], 1);
    assert_eq!(
        introspect_as_operator(&app, &operator, &refresh).await["active"],
        false
    );

    // Roles: granted and revoked by an operator, never the operator's own.
    let roles = ok_json(
        ops(
            &app,
            &operator,
            Method::PUT,
            &format!("/v1/ops/citizens/{sub}/roles/merchant"),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(roles["roles"], json!(["merchant"]));
    let refused = ok_json(
        ops(
            &app,
            &operator,
            Method::PUT,
            &format!("/v1/ops/citizens/{sub}/roles/root"),
            None,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(refused["errors"][0]["pointer"], "/role");
    ok_json(
        ops(
            &app,
            &operator,
            Method::PUT,
            &format!("/v1/ops/citizens/{other}/roles/agency"),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let roles = ok_json(
        ops(
            &app,
            &operator,
            Method::DELETE,
            &format!("/v1/ops/citizens/{sub}/roles/merchant"),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(roles["roles"], json!([]));
    ok_json(
        ops(
            &app,
            &operator,
            Method::DELETE,
            &format!("/v1/ops/citizens/{operator_sub}/roles/operator"),
            None,
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    let roles = ok_json(
        ops(
            &app,
            &operator,
            Method::GET,
            &format!("/v1/ops/citizens/{operator_sub}/roles"),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(roles["roles"], json!(["operator"]));

    // Every operation, reads included, is audited with its target, the address and the request
    // id; refused ones (the 404s, 409 and 422 above) are not operations that happened.
    type Entry = (String, Option<String>, Option<String>, Option<String>);
    let entries: Vec<Entry> = sqlx::query_as(
        "SELECT action, target, host(client_ip), request_id FROM audit_log
          WHERE actor = $1 ORDER BY chain_seq",
    )
    .bind(format!("operator:{operator_sub}"))
    .fetch_all(&app.state.db)
    .await
    .unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        actions,
        [
            "citizen_sessions_listed",
            "session_revoked",
            "token_revoked",
            "token_introspected",
            "token_introspected",
            "sessions_revoked",
            "token_introspected",
            "role_granted",
            "role_revoked",
            "roles_listed",
        ]
    );
    for (action, target, ip, request_id) in &entries {
        assert!(
            target.as_deref().is_some_and(|t| !t.is_empty())
                && ip.as_deref() == Some("127.0.0.1")
                && request_id.as_deref().is_some_and(|r| !r.is_empty()),
            "{action}: target {target:?}, address {ip:?}, request id {request_id:?}"
        );
    }
    // An inactive token is named by its hash, a live one by its session; neither by itself.
    assert_eq!(
        entries[3].1,
        Some(format!(
            "sha256:{}",
            motcua::crypto::sha256_b64(tablet.access_token.as_bytes())
        ))
    );
    assert_eq!(
        entries[4].1,
        jwt_parts(&tablet.access_token).1["sid"]
            .as_str()
            .map(String::from)
    );
    for token in [&tablet.access_token, &refresh, &phone.access_token] {
        assert_eq!(
            crate::helpers::rows_containing(&app, token).await,
            Vec::<String>::new()
        );
    }
}

#[tokio::test]
async fn operators_retire_keys_and_withdraw_a_compromised_one() {
    let app = TestApp::spawn_with(Options {
        env: vec![
            ("MOTCUA_JWKS_MAX_AGE_SECS", "1".into()),
            ("MOTCUA_KEY_ROTATION_DELAY_SECS", "2".into()),
        ],
        ..Options::default()
    })
    .await;
    let operator = operator_token(&app).await;
    let keys = ok_json(
        ops(&app, &operator, Method::GET, "/v1/ops/keys", None).await,
        StatusCode::OK,
    )
    .await;
    let old = keys[0]["kid"].as_str().unwrap().to_string();
    // The audit chain's head is signed with the current key.
    motcua::audit::chain::checkpoint(&app.state.db, &app.state.tokens)
        .await
        .unwrap()
        .expect("a checkpoint");

    // The only signing key cannot be retired.
    let refused = ok_json(
        ops(
            &app,
            &operator,
            Method::POST,
            &format!("/v1/ops/keys/{old}/retire"),
            Some(json!({})),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        refused["detail"].as_str().unwrap().contains("rotate first"),
        "{refused}"
    );
    ok_json(
        ops(
            &app,
            &operator,
            Method::POST,
            "/v1/ops/keys/nope/retire",
            Some(json!({})),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;

    // Rotated: still refused while the new key is pending, accepted once it signs.
    let new = ok_json(
        ops(&app, &operator, Method::POST, "/v1/ops/keys/rotate", None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(new["status"], "pending");
    ok_json(
        ops(
            &app,
            &operator,
            Method::POST,
            &format!("/v1/ops/keys/{old}/retire"),
            Some(json!({})),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    // Refused until the new key signs (the rotation delay), then accepted: wait for that.
    let deadline = std::time::Instant::now() + crate::helpers::PROMPTLY;
    let retired = loop {
        let response = ops(
            &app,
            &operator,
            Method::POST,
            &format!("/v1/ops/keys/{old}/retire"),
            Some(json!({ "withdraw": true })),
        )
        .await;
        if response.status() != StatusCode::CONFLICT {
            break ok_json(response, StatusCode::OK).await;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the new key never signed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(retired["status"], "withdrawn");

    // Withdrawn: out of the JWKS, and the operator's own token (signed by it) stops working.
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
            .all(|k| k["kid"] != old.as_str())
    );
    assert_eq!(jwt_parts(&operator).0["kid"], old.as_str());
    let response = ops(&app, &operator, Method::GET, "/v1/ops/keys", None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // What the withdrawn key signed is no evidence any more: its checkpoint is set aside.
    let (ok, report) = crate::audit::verify(&app);
    assert!(ok, "{report}");
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["checkpoints"], 0, "{report}");
    assert_eq!(report["untrusted_checkpoints"], 1, "{report}");
}

#[tokio::test]
async fn narrowing_an_apps_scopes_reaches_its_citizens_at_once_and_renaming_changes_nothing() {
    let app = TestApp::spawn().await;
    let operator = operator_token(&app).await;
    let app_id = app.public_client(APP_REDIRECT).await;
    let citizen = sign_in(&app, &Request::new(&app_id), "citizen-l2").await;
    let me = |token: String| {
        let app = &app;
        async move {
            app.client
                .get(app.url("/v1/me"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let path = format!("/v1/ops/clients/{app_id}");
    let patch = |body: Value| ops(&app, &operator, Method::PATCH, &path, Some(body));

    // A new name or rate limit leaves every token as it was.
    ok_json(
        patch(json!({ "name": "Cà Mau một cửa 2", "rate_limit_per_min": 100 })).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(me(citizen.access_token.clone()).await, StatusCode::OK);

    // Taking `profile` away: the access token stops, and refreshing does not bring it back.
    ok_json(
        patch(json!({ "scopes": ["openid", "offline_access"] })).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        me(citizen.access_token.clone()).await,
        StatusCode::UNAUTHORIZED
    );
    let response = app
        .client
        .post(app.url("/v1/auth/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", citizen.refresh_token.as_deref().unwrap()),
            ("client_id", app_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let renewed = ok_json(response, StatusCode::OK).await;
    let scopes = |scope: &Value| {
        let mut scopes: Vec<String> = scope
            .as_str()
            .unwrap()
            .split(' ')
            .map(String::from)
            .collect();
        scopes.sort();
        scopes
    };
    assert_eq!(scopes(&renewed["scope"]), ["offline_access", "openid"]);
    let fresh = renewed["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        scopes(&jwt_parts(&fresh).1["scope"]),
        ["offline_access", "openid"]
    );
    assert_eq!(
        me(fresh).await,
        StatusCode::FORBIDDEN,
        "/v1/me needs profile"
    );
}

async fn registered(app: &TestApp, operator: &str, body: Value) -> Value {
    ok_json(
        ops(app, operator, Method::POST, "/v1/ops/clients", Some(body)).await,
        StatusCode::CREATED,
    )
    .await
}

#[tokio::test]
async fn concurrent_updates_of_one_client_lose_no_change() {
    let app = TestApp::spawn().await;
    let operator = operator_token(&app).await;
    let created = registered(
        &app,
        &operator,
        json!({ "name": "Original", "kind": "confidential", "scopes": ["dossiers:read"] }),
    )
    .await;
    let id = created["client_id"].as_str().unwrap().to_string();
    let path = format!("/v1/ops/clients/{id}");
    // Operators change different fields at once: each change must survive the others.
    let patches: Vec<Value> = (0..6)
        .map(|i| match i % 2 {
            0 => json!({ "name": format!("Renamed {i}") }),
            _ => json!({ "rate_limit_per_min": 100 + i }),
        })
        .collect();
    let results = futures::future::join_all(patches.into_iter().map(|patch| {
        let (app, operator, path) = (&app, &operator, &path);
        async move {
            ops(app, operator, Method::PATCH, path, Some(patch))
                .await
                .status()
        }
    }))
    .await;
    assert!(results.iter().all(|s| *s == StatusCode::OK), "{results:?}");
    let shown = ok_json(
        ops(&app, &operator, Method::GET, &path, None).await,
        StatusCode::OK,
    )
    .await;
    assert!(
        shown["name"].as_str().unwrap().starts_with("Renamed"),
        "{shown}"
    );
    assert!(
        shown["rate_limit_per_min"].as_i64().unwrap() > 100,
        "{shown}"
    );
    assert_eq!(shown["scopes"], json!(["dossiers:read"]));
}

#[tokio::test]
async fn a_deleted_clients_id_stays_taken() {
    let app = TestApp::spawn().await;
    let operator = operator_token(&app).await;
    let created = registered(
        &app,
        &operator,
        json!({ "name": "Short-lived", "kind": "confidential", "scopes": ["dossiers:read"] }),
    )
    .await;
    let id = created["client_id"].as_str().unwrap().to_string();
    let response = ops(
        &app,
        &operator,
        Method::DELETE,
        &format!("/v1/ops/clients/{id}"),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // The row stays, so no later client can be given the id (it is the primary key).
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM clients WHERE id = $1")
        .bind(&id)
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    assert_eq!(kept, 1);
    let reuse =
        sqlx::query("INSERT INTO clients (id, name, kind) VALUES ($1, 'Impostor', 'public')")
            .bind(&id)
            .execute(&app.state.db)
            .await;
    assert!(
        reuse.is_err(),
        "the deleted client's id was given out again"
    );
    ok_json(
        ops(
            &app,
            &operator,
            Method::GET,
            &format!("/v1/ops/clients/{id}"),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn a_suspended_client_gets_no_new_tokens_of_any_grant() {
    let app = TestApp::spawn().await;
    let operator = operator_token(&app).await;
    let provider = registered(
        &app,
        &operator,
        json!({ "name": "Back office", "kind": "confidential", "scopes": ["dossiers:read"] }),
    )
    .await;
    let (provider_id, secret) = (
        provider["client_id"].as_str().unwrap().to_string(),
        provider["client_secret"].as_str().unwrap().to_string(),
    );
    let app_id = app.public_client(APP_REDIRECT).await;
    let signed_in = sign_in(&app, &Request::new(&app_id), "citizen-l2").await;
    // A code obtained just before the suspension, not yet exchanged.
    let pending = Request::new(&app_id);
    let back =
        crate::signin::browse_sign_in(&app, &crate::signin::browser(), &pending, "merchant").await;
    let code = crate::signin::query_of(&back)["code"].clone();
    assert_eq!(
        app.client_credentials(&provider_id, &secret).await.status(),
        StatusCode::OK
    );

    for id in [&provider_id, &app_id] {
        let response = ops(
            &app,
            &operator,
            Method::POST,
            &format!("/v1/ops/clients/{id}/suspend"),
            None,
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let refused = |response: reqwest::Response, grant: &str| {
        assert!(
            response.status().is_client_error(),
            "{grant}: {}",
            response.status()
        );
        assert!(response.headers().get("location").is_none(), "{grant}");
    };
    refused(
        app.client_credentials(&provider_id, &secret).await,
        "client_credentials",
    );
    refused(
        crate::signin::refresh(&app, &app_id, signed_in.refresh_token.as_deref().unwrap()).await,
        "refresh_token",
    );
    refused(
        crate::signin::exchange(&app, &pending, &code).await,
        "authorization_code",
    );
    // And no new sign-in starts for it.
    refused(
        crate::signin::browser()
            .get(Request::new(&app_id).authorize_url(&app))
            .send()
            .await
            .unwrap(),
        "authorize",
    );
}
