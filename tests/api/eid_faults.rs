//! ID-token defects from a fault-injecting OpenID Provider: each refused, nothing left behind.
//!
//! Every test runs our gateway against its own [`FakeProvider`]. The provider is correct except
//! for the one defect its [`Scenario`] injects, and the positive control shows that a correct
//! answer signs the citizen in, so each refusal is the defect's doing.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::fake_provider::{
    CLIENT_ID, CLIENT_SECRET, FakeProvider, SUBJECT, Scenario, Signing, TokenEndpoint,
};
use crate::helpers::now;
use crate::helpers::{Options, TestApp, closed_port};
use crate::signin::{self, APP_REDIRECT, Request, browser, location, query_of};

const CALLBACK: &str = "/v1/auth/eid/callback";

/// Our gateway, its fake provider and a registered app.
struct Rig {
    app: TestApp,
    fake: FakeProvider,
    client_id: String,
}

/// A sign-in the app has started: the browser is at the provider's authorization endpoint.
struct SignIn {
    browser: reqwest::Client,
    request: Request,
    /// Our authorization request to the provider.
    to_provider: String,
    /// Our state and nonce towards the provider.
    state: String,
    nonce: String,
}

impl Rig {
    async fn start() -> Rig {
        Self::with(Scenario::default()).await
    }

    async fn with(scenario: Scenario) -> Rig {
        let fake = FakeProvider::start().await;
        fake.set(scenario);
        let app = TestApp::spawn_with(Options {
            env: vec![("MOTCUA_EID_ISSUER", fake.issuer.clone())],
            ..Options::default()
        })
        .await;
        let client_id = app.public_client(APP_REDIRECT).await;
        Rig {
            app,
            fake,
            client_id,
        }
    }

    /// The app opens our authorization endpoint; we send the browser to the provider.
    async fn begin(&self) -> SignIn {
        let browser = browser();
        let request = Request::new(&self.client_id);
        let response = browser
            .get(request.authorize_url(&self.app))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FOUND, "authorize");
        let to_provider = location(&response);
        assert!(
            to_provider.starts_with(&format!("{}/authorize?", self.fake.issuer)),
            "expected the provider's authorization endpoint, got {to_provider}"
        );
        let params = query_of(&to_provider);
        assert_eq!(params["client_id"], CLIENT_ID);
        SignIn {
            browser,
            request,
            state: params["state"].clone(),
            nonce: params["nonce"].clone(),
            to_provider,
        }
    }

    /// The citizen signs in at the provider, which sends the browser to our callback.
    async fn at_provider(&self, sign_in: &SignIn) -> String {
        let response = sign_in
            .browser
            .get(&sign_in.to_provider)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FOUND, "provider");
        let callback = location(&response);
        assert!(
            callback.starts_with(&self.app.url(CALLBACK)),
            "expected our callback, got {callback}"
        );
        callback
    }

    /// A whole sign-in up to our callback's answer, with the provider's current scenario.
    async fn attempt(&self) -> (SignIn, reqwest::Response) {
        let sign_in = self.begin().await;
        let callback = self.at_provider(&sign_in).await;
        let response = sign_in.browser.get(&callback).send().await.unwrap();
        (sign_in, response)
    }

    /// Our callback sent the app `error` (with its state, without a code) and nothing of the
    /// sign-in remains but a failure in the audit log.
    async fn assert_sent_back_with(
        &self,
        sign_in: &SignIn,
        response: reqwest::Response,
        error: &str,
    ) {
        assert_eq!(
            response.status(),
            StatusCode::FOUND,
            "callback: {}",
            response.text().await.unwrap_or_default()
        );
        let back = location(&response);
        assert!(
            back.starts_with(&sign_in.request.redirect_uri),
            "expected the app's redirect URI, got {back}"
        );
        let params = query_of(&back);
        assert_eq!(
            params.get("error").map(String::as_str),
            Some(error),
            "{back}; audited failures: {:?}",
            self.failure_reasons().await
        );
        assert_eq!(params.get("state"), Some(&sign_in.request.state), "{back}");
        assert_eq!(params.get("iss"), Some(&self.app.address), "{back}");
        assert!(!params.contains_key("code"), "{back}");
        self.assert_nothing_left_behind().await;
    }

    /// No citizen, no code for the app, and the failure is audited.
    async fn assert_nothing_left_behind(&self) {
        assert_eq!(self.citizens().await, 0, "a citizen was linked");
        assert_eq!(
            self.code_keys().await,
            Vec::<String>::new(),
            "a code was issued"
        );
        assert!(
            !self.failure_reasons().await.is_empty(),
            "no sign_in failure in the audit log"
        );
    }

    /// The provider handed out its (defective) ID token, we refused it, the app got
    /// access_denied and nothing was left behind.
    async fn assert_id_token_refused(&self) {
        // Counted around this attempt, so a repeated call proves as much as the first.
        let issued = self.fake.id_tokens_issued();
        let failures = self.failure_reasons().await.len();
        let (sign_in, response) = self.attempt().await;
        self.assert_sent_back_with(&sign_in, response, "access_denied")
            .await;
        assert_eq!(
            self.fake.id_tokens_issued(),
            issued + 1,
            "the provider must have issued the token (not refused our exchange)"
        );
        assert_eq!(
            self.failure_reasons().await.len(),
            failures + 1,
            "this refusal is audited"
        );
    }

    async fn citizens(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM citizens")
            .fetch_one(&self.app.state.db)
            .await
            .unwrap()
    }

    /// Reasons of the audited sign-in failures.
    async fn failure_reasons(&self) -> Vec<Option<String>> {
        sqlx::query_scalar(
            "SELECT reason FROM audit_log WHERE action = 'sign_in' AND outcome = 'failure' ORDER BY id",
        )
        .fetch_all(&self.app.state.db)
        .await
        .unwrap()
    }

    /// Our one-time codes for the app in Redis.
    async fn code_keys(&self) -> Vec<String> {
        crate::helpers::redis_keys(&format!("{}*code:*", self.app.redis_prefix))
            .await
            .unwrap()
    }
}

async fn id_token_is_refused(scenario: Scenario) {
    Rig::with(scenario).await.assert_id_token_refused().await;
}

// --- Positive control --------------------------------------------------------------------------

#[tokio::test]
async fn well_formed_es256_id_token_from_the_provider_signs_the_citizen_in() {
    let rig = Rig::start().await;
    let (sign_in, response) = rig.attempt().await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let back = location(&response);
    let params = query_of(&back);
    assert!(params.contains_key("code"), "no code in {back}");
    assert!(!params.contains_key("error"), "{back}");
    assert_eq!(params["state"], sign_in.request.state);
    assert_eq!(rig.citizens().await, 1);
    assert_eq!(rig.code_keys().await.len(), 1, "the code is kept in Redis");
    assert_eq!(rig.fake.id_tokens_issued(), 1);
    assert_eq!(
        rig.fake.jwks_fetches(),
        1,
        "discovery's JWKS served a known kid"
    );
    let provider_subject: String = sqlx::query_scalar("SELECT provider_subject FROM citizens")
        .fetch_one(&rig.app.state.db)
        .await
        .unwrap();
    assert_eq!(provider_subject, SUBJECT);

    // And the app can redeem it.
    let tokens = signin::exchange(&rig.app, &sign_in.request, &params["code"]).await;
    assert_eq!(tokens.status(), StatusCode::OK);
}

// --- Signatures and keys -----------------------------------------------------------------------

#[tokio::test]
async fn id_token_with_a_bad_signature_is_refused() {
    id_token_is_refused(Scenario::default().signed(Signing::ForeignKeyWithPublishedKid)).await;
}

#[tokio::test]
async fn id_token_with_alg_none_is_refused() {
    id_token_is_refused(Scenario::default().signed(Signing::AlgNone)).await;
}

#[tokio::test]
async fn id_token_signed_with_hs256_using_the_providers_public_key_is_refused() {
    let rig = Rig::start().await;
    for key in [rig.fake.public_key_point(), rig.fake.public_jwk_json()] {
        rig.fake
            .set(Scenario::default().signed(Signing::Hs256(key)));
        rig.assert_id_token_refused().await;
    }
    assert_eq!(rig.fake.id_tokens_issued(), 2);
}

#[tokio::test]
async fn id_token_signed_with_hs256_using_our_client_secret_is_refused() {
    id_token_is_refused(
        Scenario::default().signed(Signing::Hs256(CLIENT_SECRET.as_bytes().to_vec())),
    )
    .await;
}

#[tokio::test]
async fn id_token_with_an_unknown_kid_is_refused() {
    let rig = Rig::with(Scenario::default().signed(Signing::UnknownKid)).await;
    rig.assert_id_token_refused().await;
    assert_eq!(
        rig.fake.jwks_fetches(),
        2,
        "discovery, then one refetch in case the provider rotated its keys"
    );
}

#[tokio::test]
async fn rotated_provider_key_is_picked_up_by_refetching_the_jwks() {
    let rig = Rig::start().await;
    let sign_in = rig.begin().await;
    assert_eq!(rig.fake.jwks_fetches(), 1, "discovery fetched the old key");
    // The JWKS now holds only a new key, and the ID token is signed with it.
    rig.fake.rotate_key();
    let callback = rig.at_provider(&sign_in).await;
    let response = sign_in.browser.get(&callback).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let back = location(&response);
    let params = query_of(&back);
    assert!(
        params.contains_key("code"),
        "no code in {back}; audited failures: {:?}",
        rig.failure_reasons().await
    );
    assert_eq!(params["state"], sign_in.request.state);
    assert_eq!(rig.citizens().await, 1);
    assert_eq!(rig.fake.jwks_fetches(), 2, "exactly one refetch");
}

#[tokio::test]
async fn forged_unknown_kids_cannot_make_us_hammer_the_providers_jwks() {
    let rig = Rig::with(Scenario::default().signed(Signing::UnknownKid)).await;
    let started = Instant::now();
    for _ in 0..5 {
        rig.assert_id_token_refused().await;
    }
    assert_eq!(rig.fake.id_tokens_issued(), 5);
    // One refetch per 10 s at most, however long a loaded machine took for the five.
    let windows = started.elapsed().as_secs() / 10 + 1;
    let fetches = rig.fake.jwks_fetches() as u64;
    assert!(
        fetches <= 1 + windows,
        "{fetches} JWKS fetches in {:?}: discovery's, then at most one per 10 s",
        started.elapsed()
    );
}

// --- Claims ------------------------------------------------------------------------------------

/// The one defect of each case, and what the audit log must give as the reason it was refused.
fn claim_cases() -> Vec<(&'static str, Scenario, &'static str)> {
    let now = now();
    vec![
        (
            "another issuer",
            Scenario::default().claim("iss", json!("https://evil.example")),
            "InvalidIssuer",
        ),
        (
            "another audience",
            Scenario::default().claim("aud", json!("another-relying-party")),
            "InvalidAudience(\"must contain",
        ),
        (
            "several audiences and no azp",
            // The fake provider sets no `azp` unless told to.
            Scenario::default().claim("aud", json!([CLIENT_ID, "another-relying-party"])),
            "is not a trusted audience",
        ),
        (
            "authorized for another party",
            Scenario::default().claim("azp", json!("another-relying-party")),
            "azp is not our client",
        ),
        (
            // Issued 5 minutes ago (fresh enough), expired 2 minutes ago (beyond the leeway).
            "expired",
            Scenario::default()
                .claim("iat", json!(now - 300))
                .claim("exp", json!(now - 120)),
            "ID token expired",
        ),
        (
            "issued far in the future",
            Scenario::default()
                .claim("iat", json!(now + 3600))
                .claim("exp", json!(now + 3900)),
            "iat is in the future",
        ),
        (
            "stale though not expired",
            Scenario::default()
                .claim("iat", json!(now - 3600))
                .claim("exp", json!(now + 3600)),
            "iat is too old",
        ),
        (
            "without iat",
            Scenario::default().without("iat"),
            "missing field `iat`",
        ),
        (
            "without nonce",
            Scenario::default().without("nonce"),
            "missing nonce claim",
        ),
        (
            "without sub",
            Scenario::default().without("sub"),
            "missing field `sub`",
        ),
        (
            "userinfo for another subject",
            Scenario {
                userinfo_sub: Some("another-citizen".into()),
                ..Scenario::default()
            },
            "userinfo: Invalid subject",
        ),
    ]
}

#[tokio::test]
async fn id_tokens_with_one_defective_claim_are_refused_for_that_reason() {
    let rig = Rig::start().await;
    let mut wrong = Vec::new();
    for (case, scenario, reason) in claim_cases() {
        rig.fake.set(scenario);
        rig.assert_id_token_refused().await;
        let audited = rig
            .failure_reasons()
            .await
            .pop()
            .flatten()
            .unwrap_or_default();
        if !audited.contains(reason) {
            wrong.push(format!("{case}: audited {audited:?}, expected {reason:?}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    // And the positive control: the same rig, with nothing wrong, signs the citizen in.
    rig.fake.set(Scenario::default());
    let (_, response) = rig.attempt().await;
    assert!(query_of(&location(&response)).contains_key("code"));
}

#[tokio::test]
async fn id_token_with_another_nonce_is_refused() {
    let rig = Rig::start().await;
    // The nonce of another sign-in of ours: genuine, but not this one's.
    let other = rig.begin().await;
    rig.fake
        .set(Scenario::default().claim("nonce", json!(other.nonce)));
    rig.assert_id_token_refused().await;
}

// --- State -------------------------------------------------------------------------------------

#[tokio::test]
async fn replayed_state_gets_an_error_page_and_never_reaches_the_provider() {
    let rig = Rig::start().await;
    let sign_in = rig.begin().await;
    let callback = rig.at_provider(&sign_in).await;
    let first = sign_in.browser.get(&callback).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::FOUND);
    assert!(query_of(&location(&first)).contains_key("code"));
    assert_eq!(rig.fake.token_requests(), 1);

    let replay = sign_in.browser.get(&callback).send().await.unwrap();
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert!(replay.headers().get("location").is_none());
    assert_eq!(
        rig.fake.token_requests(),
        1,
        "a replay must not redeem again"
    );
    assert_eq!(rig.failure_reasons().await.len(), 1);
}

#[tokio::test]
async fn forged_state_gets_an_error_page_and_never_reaches_the_provider() {
    let rig = Rig::start().await;
    // A browser with a genuine binding cookie, arriving with a state we never issued.
    let sign_in = rig.begin().await;
    let forged = format!(
        "{}?code=anything&state=forged-{}&iss={}",
        rig.app.url(CALLBACK),
        sign_in.state.chars().rev().collect::<String>(),
        rig.fake.issuer
    );
    let response = sign_in.browser.get(&forged).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get("location").is_none());
    assert_eq!(rig.fake.token_requests(), 0);
    rig.assert_nothing_left_behind().await;
}

// --- The provider refuses, fails or stalls -----------------------------------------------------

#[tokio::test]
async fn provider_error_access_denied_reaches_the_app_as_access_denied() {
    let rig = Rig::with(Scenario {
        authorize_error: Some("access_denied"),
        ..Scenario::default()
    })
    .await;
    let (sign_in, response) = rig.attempt().await;
    rig.assert_sent_back_with(&sign_in, response, "access_denied")
        .await;
    assert_eq!(rig.fake.token_requests(), 0);

    // The same error response, addressed to our callback directly.
    let sign_in = rig.begin().await;
    let url = format!(
        "{}?error=access_denied&state={}&iss={}",
        rig.app.url(CALLBACK),
        sign_in.state,
        rig.fake.issuer
    );
    let response = sign_in.browser.get(&url).send().await.unwrap();
    rig.assert_sent_back_with(&sign_in, response, "access_denied")
        .await;
}

#[tokio::test]
async fn unreachable_token_endpoint_sends_the_app_temporarily_unavailable() {
    let rig = Rig::with(Scenario {
        advertised_token_endpoint: Some(format!("http://127.0.0.1:{}/token", closed_port())),
        ..Scenario::default()
    })
    .await;
    let (sign_in, response) = rig.attempt().await;
    rig.assert_sent_back_with(&sign_in, response, "temporarily_unavailable")
        .await;
}

/// The provider's server fails at the code exchange with this status, type and body.
async fn token_endpoint_fails_with(
    rig: &Rig,
    status: u16,
    content_type: &'static str,
    body: &'static str,
) {
    rig.fake.set(Scenario {
        token_endpoint: TokenEndpoint::ServerError {
            status,
            content_type,
            body,
        },
        ..Scenario::default()
    });
    let (sign_in, response) = rig.attempt().await;
    rig.assert_sent_back_with(&sign_in, response, "temporarily_unavailable")
        .await;
}

#[tokio::test]
async fn token_endpoint_http_500_sends_the_app_temporarily_unavailable() {
    let rig = Rig::start().await;
    token_endpoint_fails_with(&rig, 500, "", "").await;
}

/// Outages rarely come with an empty body: a proxy's HTML page, a framework's text, or an OAuth
/// error JSON with a 5xx status are all "try again later", not "your sign-in was refused".
#[tokio::test]
async fn token_endpoint_server_errors_with_a_body_send_the_app_temporarily_unavailable() {
    let rig = Rig::start().await;
    token_endpoint_fails_with(&rig, 500, "text/plain", "Internal Server Error").await;
    token_endpoint_fails_with(
        &rig,
        502,
        "text/html",
        "<html><body><h1>502 Bad Gateway</h1></body></html>",
    )
    .await;
    token_endpoint_fails_with(
        &rig,
        503,
        "application/json",
        r#"{"error":"temporarily_unavailable"}"#,
    )
    .await;
}

#[tokio::test]
async fn token_endpoint_oauth_error_is_access_denied() {
    let rig = Rig::with(Scenario {
        token_endpoint: TokenEndpoint::OAuthError {
            status: 400,
            error: "invalid_grant",
        },
        ..Scenario::default()
    })
    .await;
    let (sign_in, response) = rig.attempt().await;
    rig.assert_sent_back_with(&sign_in, response, "access_denied")
        .await;
    assert_eq!(rig.fake.token_requests(), 1);
}

#[tokio::test]
async fn slow_token_endpoint_times_out_into_temporarily_unavailable() {
    let rig = Rig::with(Scenario {
        // Far longer than our 5 s timeout: only the timeout can bring the answer back sooner.
        token_endpoint: TokenEndpoint::Slow(Duration::from_secs(120)),
        ..Scenario::default()
    })
    .await;
    let sign_in = rig.begin().await;
    let callback = rig.at_provider(&sign_in).await;
    let started = Instant::now();
    let response = sign_in.browser.get(&callback).send().await.unwrap();
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(60),
        "we waited {took:?} for a stalled provider"
    );
    eprintln!("a stalled provider cost {took:?}");
    rig.assert_sent_back_with(&sign_in, response, "temporarily_unavailable")
        .await;
}
