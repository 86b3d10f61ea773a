//! Redis down: public and cached reads come from PostgreSQL (also on a replica that starts during
//! the outage), signed-in citizens carry on, rate limits hold per replica, a sign-in cannot start
//! (its state would be lost) and says so to the app, readiness names Redis, and everything
//! recovers by itself when Redis returns.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{assert_temporarily_unavailable, readiness, redis_keys, start_sign_in};
use crate::dossiers_api::{LAN_ID_NUMBER, PROCEDURE, agency_token};
use crate::helpers::{Options, TcpProxy, TestApp, ok_json, promptly, redis_addr};
use crate::listings_api::{Rig, product};
use crate::signin::{Tokens, signed_in};

/// A deployment whose Redis goes through a proxy the test cuts, with a published listing.
struct Outage {
    proxy: TcpProxy,
    rig: Rig,
    listing: String,
}

impl Outage {
    async fn start() -> Outage {
        let proxy = TcpProxy::start(redis_addr()).await;
        let app = TestApp::spawn_with(Options {
            redis_url: Some(format!("redis://{}", proxy.addr)),
            ..Options::default()
        })
        .await;
        let rig = Rig::on(app, None).await;
        let listing = rig
            .publish(&rig.partner, product("Nước mắm Gành Đỏ", 85_000, "food"))
            .await["id"]
            .as_str()
            .unwrap()
            .to_string();
        Outage {
            proxy,
            rig,
            listing,
        }
    }

    fn app(&self) -> &TestApp {
        &self.rig.app
    }

    fn detail(&self) -> String {
        format!("/v1/listings/{}", self.listing)
    }

    /// The listing's page and a search finding it answer 200, on `app`.
    async fn assert_public_reads(&self, app: &TestApp) {
        let detail = ok_json(app.get(&self.detail()).await, StatusCode::OK).await;
        assert_eq!(detail["title"], "Nước mắm Gành Đỏ");
        let found = ok_json(app.get("/v1/listings?q=nuoc%20mam").await, StatusCode::OK).await;
        assert_eq!(found["items"][0]["id"], self.listing.as_str(), "{found}");
    }

    /// Cached entries of the listing's page in Redis.
    async fn cached_detail(&self) -> usize {
        let pattern = format!("cache:{{listing:{}}}:v[0-9]*", self.listing);
        redis_keys(self.app(), &pattern).await.len()
    }
}

/// A citizen signed in through the eID simulator, with a dossier of theirs.
async fn citizen_with_a_dossier(app: &TestApp) -> (String, Tokens, String) {
    let agency_code: String =
        sqlx::query_scalar("SELECT agency_code FROM procedures WHERE code = $1")
            .bind(PROCEDURE)
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    let agency = agency_token(app, vec![agency_code], "dossiers:write").await;
    let registered = app
        .client
        .post(app.url("/v1/agency/dossiers"))
        .bearer_auth(&agency)
        .json(&json!({
            "procedure_code": PROCEDURE,
            "applicant_id_number": LAN_ID_NUMBER,
            "applicant_name": "Nguyễn Thị Lan",
        }))
        .send()
        .await
        .unwrap();
    let code = ok_json(registered, StatusCode::CREATED).await["code"]
        .as_str()
        .unwrap()
        .to_string();
    let (client_id, tokens) = signed_in(app).await;
    (client_id, tokens, code)
}

async fn dossier_codes(app: &TestApp, access_token: &str) -> Vec<String> {
    let response = app
        .client
        .get(app.url("/v1/me/dossiers"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    let page = ok_json(response, StatusCode::OK).await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap().to_string())
        .collect()
}

/// A confidential client limited to `per_min` requests a minute, and a token of its own.
async fn limited_client(app: &TestApp, per_min: i32) -> String {
    let (id, secret) = app
        .client_with(motcua::clients::NewClient {
            name: "Back office".into(),
            kind: motcua::clients::ClientKind::Confidential,
            scopes: vec!["listings:write".into()],
            rate_limit_per_min: Some(per_min),
            ..Default::default()
        })
        .await;
    let response = app.client_credentials(&id, &secret.unwrap()).await;
    ok_json(response, StatusCode::OK).await["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Calls with the client's token: each answered, `RateLimit-Remaining` counting down from this
/// replica's own budget, and a 429 past it.
async fn assert_limited_locally(app: &TestApp, token: &str, per_min: u64) {
    let metadata = "/.well-known/oauth-authorization-server";
    for remaining in (0..per_min).rev() {
        let response = app
            .client
            .get(app.url(metadata))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["ratelimit-remaining"].to_str().unwrap(),
            remaining.to_string()
        );
    }
    let refused = app
        .client
        .get(app.url(metadata))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn redis_down_reads_citizens_and_rate_limits_carry_on_and_sign_in_start_is_temporarily_unavailable()
 {
    let outage = Outage::start().await;
    let app = outage.app();
    let (client_id, citizen, code) = citizen_with_a_dossier(app).await;
    let limited = limited_client(app, 3).await;
    // Warm the cache, so the outage also has entries it cannot reach.
    outage.assert_public_reads(app).await;
    assert_eq!(
        dossier_codes(app, &citizen.access_token).await,
        [code.as_str()]
    );

    outage.proxy.pause();

    let (status, detail) = readiness(app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        detail.contains("redis") && !detail.contains("postgres"),
        "{detail}"
    );
    outage.assert_public_reads(app).await;
    assert_eq!(
        dossier_codes(app, &citizen.access_token).await,
        [code.as_str()],
        "a citizen signed in before the outage reads their dossiers"
    );
    // Its state cannot be kept, so a sign-in does not start; the app is told to retry later.
    let (request, to, took) = start_sign_in(app, &client_id).await;
    assert_temporarily_unavailable(app, &request, &to);
    eprintln!("sign-in start refused after {took:?}");
    assert_limited_locally(app, &limited, 3).await;

    // A replica that starts while Redis is down serves the public too, and is not ready.
    let mut options = app.replica_options();
    options.redis_url = Some(format!("redis://{}", outage.proxy.addr));
    let late = TestApp::spawn_with(options).await;
    outage.assert_public_reads(&late).await;
    assert_eq!(readiness(&late).await.0, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        dossier_codes(&late, &citizen.access_token).await,
        [code.as_str()]
    );
    assert_eq!(late.get("/healthz").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn redis_back_everything_recovers_without_a_restart() {
    let outage = Outage::start().await;
    let app = outage.app();
    let client_id = app.public_client(crate::signin::APP_REDIRECT).await;
    outage.proxy.pause();
    let mut options = app.replica_options();
    options.redis_url = Some(format!("redis://{}", outage.proxy.addr));
    let late = TestApp::spawn_with(options).await;
    outage.assert_public_reads(app).await;
    assert_eq!(
        outage.cached_detail().await,
        0,
        "nothing cached while Redis is away"
    );
    let (request, to, _) = start_sign_in(app, &client_id).await;
    assert_temporarily_unavailable(app, &request, &to);

    outage.proxy.resume();

    for replica in [app, &late] {
        promptly("readiness after Redis returns", || async {
            readiness(replica).await.0 == StatusCode::OK
        })
        .await;
    }
    // Sign-ins start again, off to the provider with our state kept in Redis.
    let (_, to, _) = start_sign_in(app, &client_id).await;
    assert!(
        to.starts_with(&crate::helpers::eid_issuer()),
        "expected the provider, got {to}"
    );
    // The cache is written again: the next read stores the page, the one after is served from it.
    promptly("the listing's page cached again", || async {
        outage.assert_public_reads(app).await;
        outage.cached_detail().await > 0
    })
    .await;
    let cached: Value = ok_json(late.get(&outage.detail()).await, StatusCode::OK).await;
    assert_eq!(cached["id"], outage.listing.as_str());
}
