//! Drives a sign-in the way a phone does: the app opens our authorization endpoint in a
//! browser, the citizen signs in at the eID provider's form, the browser comes back through our
//! callback to the app's redirect URI, and the app exchanges the code.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use url::Url;

use crate::helpers::TestApp;

pub const APP_REDIRECT: &str = "http://127.0.0.1/oauth/callback";

/// What the app sends to the authorization endpoint.
#[derive(Debug, Clone)]
pub struct Request {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: Option<String>,
    pub state: String,
    pub nonce: Option<String>,
    pub acr_values: Option<String>,
    pub max_age: Option<u64>,
    pub code_verifier: String,
}

impl Request {
    pub fn new(client_id: &str) -> Self {
        Self {
            client_id: client_id.to_string(),
            redirect_uri: "http://127.0.0.1:53117/oauth/callback".into(),
            scope: None,
            state: crate::helpers::unique("st"),
            nonce: None,
            acr_values: None,
            max_age: None,
            code_verifier: URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes().repeat(2)),
        }
    }

    pub fn code_challenge(&self) -> String {
        motcua::crypto::sha256_b64(self.code_verifier.as_bytes())
    }

    pub fn authorize_url(&self, app: &TestApp) -> String {
        let mut url = Url::parse(&app.url("/v1/auth/authorize")).unwrap();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &self.client_id)
                .append_pair("redirect_uri", &self.redirect_uri)
                .append_pair("state", &self.state)
                .append_pair("code_challenge", &self.code_challenge())
                .append_pair("code_challenge_method", "S256");
            if let Some(scope) = &self.scope {
                q.append_pair("scope", scope);
            }
            if let Some(nonce) = &self.nonce {
                q.append_pair("nonce", nonce);
            }
            if let Some(acr) = &self.acr_values {
                q.append_pair("acr_values", acr);
            }
            if let Some(max_age) = self.max_age {
                q.append_pair("max_age", &max_age.to_string());
            }
        }
        url.to_string()
    }
}

/// A browser: keeps cookies, never follows redirects by itself.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub fn location(response: &reqwest::Response) -> String {
    let base = response.url().clone();
    let raw = response
        .headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location from {base} ({})", response.status()))
        .to_str()
        .unwrap();
    base.join(raw).unwrap().to_string()
}

pub fn query_of(url: &str) -> HashMap<String, String> {
    Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// What the citizen does at the provider's login page.
#[derive(Debug, Clone, Copy)]
pub enum AtProvider<'a> {
    SignInAs(&'a str),
    Cancel,
}

/// Opens our authorization endpoint and goes through the eID simulator's pages; returns our
/// callback URL as the provider sends the browser there (not yet followed).
pub async fn to_callback(
    app: &TestApp,
    browser: &reqwest::Client,
    request: &Request,
    at: AtProvider<'_>,
) -> String {
    let response = browser
        .get(request.authorize_url(app))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::FOUND,
        "authorize: {}",
        response.text().await.unwrap_or_default()
    );
    let mut url = location(&response);
    while url.starts_with(&crate::helpers::eid_issuer()) {
        let response = browser.get(&url).send().await.unwrap();
        if response.status().is_redirection() {
            url = location(&response);
            continue;
        }
        assert_eq!(response.status(), StatusCode::OK, "provider page {url}");
        let posted = match at {
            AtProvider::SignInAs(citizen) => browser
                .post(format!("{url}/login"))
                .form(&[("login", citizen)]),
            AtProvider::Cancel => browser.post(format!("{url}/abort")),
        };
        url = location(&posted.send().await.unwrap());
    }
    url
}

/// Signs in at the eID simulator as `citizen` and returns the URL the browser is finally sent
/// to (the app's redirect URI, with a code or an error).
pub async fn browse_sign_in(
    app: &TestApp,
    browser: &reqwest::Client,
    request: &Request,
    citizen: &str,
) -> String {
    let callback = to_callback(app, browser, request, AtProvider::SignInAs(citizen)).await;
    assert!(
        callback.starts_with(&app.address),
        "expected our callback, got {callback}"
    );
    let response = browser.get(&callback).send().await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::FOUND,
        "callback: {}",
        response.text().await.unwrap_or_default()
    );
    location(&response)
}

#[derive(Debug, serde::Deserialize)]
pub struct Tokens {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    pub scope: String,
    pub id_token: Option<String>,
    pub refresh_token: Option<String>,
}

pub async fn exchange(app: &TestApp, request: &Request, code: &str) -> reqwest::Response {
    app.client
        .post(app.url("/v1/auth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &request.redirect_uri),
            ("client_id", &request.client_id),
            ("code_verifier", &request.code_verifier),
        ])
        .send()
        .await
        .unwrap()
}

/// A whole sign-in; returns the tokens.
pub async fn sign_in(app: &TestApp, request: &Request, citizen: &str) -> Tokens {
    let back = browse_sign_in(app, &browser(), request, citizen).await;
    let params = query_of(&back);
    assert_eq!(params.get("state"), Some(&request.state), "{back}");
    let code = params
        .get("code")
        .unwrap_or_else(|| panic!("no code in {back}"));
    let response = exchange(app, request, code).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// Decodes a JWT's header and payload without verifying it (tests inspect what we issued).
pub fn jwt_parts(token: &str) -> (serde_json::Value, serde_json::Value) {
    let mut parts = token.split('.');
    let mut next = || {
        let bytes = URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap();
        serde_json::from_slice(&bytes).unwrap()
    };
    (next(), next())
}

pub async fn signed_in(app: &TestApp) -> (String, Tokens) {
    let client_id = app.public_client(APP_REDIRECT).await;
    let tokens = sign_in(app, &Request::new(&client_id), "citizen-l2").await;
    assert!(
        tokens.refresh_token.is_some(),
        "offline_access gives a refresh token"
    );
    (client_id, tokens)
}

/// The province's own app: the only kind granted `account` (the device list).
pub async fn province_app(app: &TestApp) -> String {
    app.client_with(motcua::clients::NewClient {
        name: "Province app".into(),
        kind: motcua::clients::ClientKind::Public,
        redirect_uris: vec![APP_REDIRECT.into()],
        scopes: ["openid", "profile", "offline_access", "account"]
            .map(String::from)
            .to_vec(),
        ..Default::default()
    })
    .await
    .0
}

pub async fn refresh(app: &TestApp, client_id: &str, refresh_token: &str) -> reqwest::Response {
    app.client
        .post(app.url("/v1/auth/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", client_id),
        ])
        .send()
        .await
        .unwrap()
}

pub async fn refreshed(app: &TestApp, client_id: &str, refresh_token: &str) -> Tokens {
    let response = refresh(app, client_id, refresh_token).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

pub async fn me_status(app: &TestApp, access_token: &str) -> StatusCode {
    me(app, access_token).await.status()
}

/// `GET /v1/me` with `access_token`.
pub async fn me(app: &TestApp, access_token: &str) -> reqwest::Response {
    app.client
        .get(app.url("/v1/me"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
}

/// `POST /v1/auth/logout` with the session's access token: 204.
pub async fn logout(app: &TestApp, tokens: &Tokens) {
    let response = app
        .client
        .post(app.url("/v1/auth/logout"))
        .bearer_auth(&tokens.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}
