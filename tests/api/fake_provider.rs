//! A fault-injecting OpenID Provider (test double) serving discovery, JWKS, token and userinfo.
//!
//! It behaves like a correct provider (authorization codes bound to the nonce, PKCE and redirect
//! URI it was given, client authentication at the token endpoint, ES256 ID tokens under a
//! published `kid`) until a test sets a [`Scenario`] that breaks one thing: a claim, the
//! signature, the userinfo subject or the token endpoint itself. Counters tell the test what the
//! relying party asked for (JWKS fetches, token requests, ID tokens actually handed out).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::helpers::now;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use poem::http::StatusCode;
use poem::listener::TcpAcceptor;
use poem::web::{Data, Form, Query};
use poem::{EndpointExt, Request, Response, Route, Server, get, handler, post};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// Our registration at the provider: the defaults of `MOTCUA_EID_CLIENT_ID` and
/// `MOTCUA_EID_CLIENT_SECRET`.
pub const CLIENT_ID: &str = "motcua";
pub const CLIENT_SECRET: &str = "motcua-dev-secret-change-me";
/// The subject the provider signs in unless a scenario says otherwise.
pub const SUBJECT: &str = "fake-eid-subject-0001";

/// How the next ID token is signed.
#[derive(Clone, Debug, Default)]
pub enum Signing {
    /// ES256 with the published key under its `kid`.
    #[default]
    Good,
    /// ES256 with a key the JWKS does not hold, under the published `kid`: a bad signature.
    ForeignKeyWithPublishedKid,
    /// ES256 with an unpublished key under a `kid` the JWKS does not list.
    UnknownKid,
    /// `alg: none` and an empty signature.
    AlgNone,
    /// HS256 keyed with these bytes, under the published `kid`.
    Hs256(Vec<u8>),
}

/// How the token endpoint answers.
#[derive(Clone, Debug, Default)]
pub enum TokenEndpoint {
    /// Checks the code, PKCE and client, then returns tokens.
    #[default]
    Normal,
    /// An RFC 6749 §5.2 error response.
    OAuthError { status: u16, error: &'static str },
    /// A failure of the provider's server (or of a proxy in front of it).
    ServerError {
        status: u16,
        content_type: &'static str,
        body: &'static str,
    },
    /// Answers normally, but only after this long.
    Slow(Duration),
}

/// What the provider does wrong at the next sign-in.
#[derive(Clone, Debug, Default)]
pub struct Scenario {
    /// ID-token claim overrides, applied in order: `Some` sets a claim, `None` removes it.
    pub claims: Vec<(&'static str, Option<Value>)>,
    pub signing: Signing,
    /// The `sub` the userinfo endpoint answers with (default: the ID token's).
    pub userinfo_sub: Option<String>,
    pub token_endpoint: TokenEndpoint,
    /// The authorization endpoint sends the browser back with this error instead of a code.
    pub authorize_error: Option<&'static str>,
    /// The token endpoint the discovery document advertises (default: our own `/token`).
    pub advertised_token_endpoint: Option<String>,
}

impl Scenario {
    /// Sets an ID-token claim.
    pub fn claim(mut self, name: &'static str, value: Value) -> Self {
        self.claims.push((name, Some(value)));
        self
    }

    /// Leaves an ID-token claim out.
    pub fn without(mut self, name: &'static str) -> Self {
        self.claims.push((name, None));
        self
    }

    pub fn signed(mut self, signing: Signing) -> Self {
        self.signing = signing;
        self
    }
}

/// A P-256 signing key and the `kid` it is published under.
#[derive(Clone)]
struct ProviderKey {
    kid: String,
    pkcs8: Vec<u8>,
    public_point: Vec<u8>,
}

impl ProviderKey {
    fn generate() -> Self {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("P-256 key");
        Self {
            kid: crate::helpers::unique("fake-es-"),
            pkcs8: pair.to_pkcs8v1().expect("PKCS#8").as_ref().to_vec(),
            public_point: pair.public_key().as_ref().to_vec(),
        }
    }

    fn encoding_key(&self) -> EncodingKey {
        EncodingKey::from_ec_der(&self.pkcs8)
    }

    fn jwk(&self) -> Jwk {
        let mut jwk = Jwk::from_encoding_key(&self.encoding_key(), Algorithm::ES256).expect("JWK");
        jwk.common.key_id = Some(self.kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        jwk
    }

    /// ES256 over `claims` with this key, under `kid`.
    fn sign(&self, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.to_string());
        jsonwebtoken::encode(&header, claims, &self.encoding_key()).expect("ES256 signature")
    }
}

/// What the authorization endpoint promised the token endpoint.
struct Grant {
    redirect_uri: String,
    nonce: Option<String>,
    code_challenge: String,
}

struct Shared {
    issuer: String,
    scenario: Mutex<Scenario>,
    key: Mutex<ProviderKey>,
    grants: Mutex<HashMap<String, Grant>>,
    /// Access token → the subject it was issued for.
    access_tokens: Mutex<HashMap<String, String>>,
    jwks_fetches: AtomicUsize,
    token_requests: AtomicUsize,
    id_tokens_issued: AtomicUsize,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The running provider; stops when dropped.
pub struct FakeProvider {
    /// Its issuer identifier and base URL (no trailing slash).
    pub issuer: String,
    shared: Arc<Shared>,
    server: JoinHandle<std::io::Result<()>>,
}

impl FakeProvider {
    pub async fn start() -> FakeProvider {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
        listener.set_nonblocking(true).expect("non-blocking");
        let issuer = format!(
            "http://127.0.0.1:{}",
            listener.local_addr().expect("local addr").port()
        );
        let shared = Arc::new(Shared {
            issuer: issuer.clone(),
            scenario: Mutex::new(Scenario::default()),
            key: Mutex::new(ProviderKey::generate()),
            grants: Mutex::new(HashMap::new()),
            access_tokens: Mutex::new(HashMap::new()),
            jwks_fetches: AtomicUsize::new(0),
            token_requests: AtomicUsize::new(0),
            id_tokens_issued: AtomicUsize::new(0),
        });
        let routes = Route::new()
            .at("/.well-known/openid-configuration", get(discovery))
            .at("/jwks", get(jwks))
            .at("/authorize", get(authorize))
            .at("/token", post(token))
            .at("/userinfo", get(userinfo).post(userinfo))
            .data(shared.clone());
        let acceptor = TcpAcceptor::from_std(listener).expect("acceptor");
        let server = tokio::spawn(Server::new_with_acceptor(acceptor).run(routes));
        FakeProvider {
            issuer,
            shared,
            server,
        }
    }

    /// Sets what goes wrong from now on.
    pub fn set(&self, scenario: Scenario) {
        *lock(&self.shared.scenario) = scenario;
    }

    /// Replaces the provider's key (and its JWKS) with a new one under a new `kid`.
    pub fn rotate_key(&self) {
        *lock(&self.shared.key) = ProviderKey::generate();
    }

    /// The published key's uncompressed SEC1 point (what an `alg` confusion attack would key
    /// HS256 with).
    pub fn public_key_point(&self) -> Vec<u8> {
        lock(&self.shared.key).public_point.clone()
    }

    /// The published key as its JWK JSON text.
    pub fn public_jwk_json(&self) -> Vec<u8> {
        serde_json::to_vec(&lock(&self.shared.key).jwk()).expect("JWK JSON")
    }

    pub fn jwks_fetches(&self) -> usize {
        self.shared.jwks_fetches.load(Ordering::SeqCst)
    }

    pub fn token_requests(&self) -> usize {
        self.shared.token_requests.load(Ordering::SeqCst)
    }

    /// Token responses that carried an ID token (the exchange itself was in order).
    pub fn id_tokens_issued(&self) -> usize {
        self.shared.id_tokens_issued.load(Ordering::SeqCst)
    }
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json")
        .header("cache-control", "no-store")
        .body(body.to_string())
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    json_response(status, &json!({ "error": error }))
}

fn redirect(location: &str) -> Response {
    Response::builder()
        .status(StatusCode::FOUND)
        .header("location", location)
        .finish()
}

#[handler]
fn discovery(Data(shared): Data<&Arc<Shared>>) -> Response {
    let issuer = &shared.issuer;
    let token_endpoint = lock(&shared.scenario)
        .advertised_token_endpoint
        .clone()
        .unwrap_or_else(|| format!("{issuer}/token"));
    json_response(
        StatusCode::OK,
        &json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": token_endpoint,
            "userinfo_endpoint": format!("{issuer}/userinfo"),
            "jwks_uri": format!("{issuer}/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            // HS256 is listed on purpose: the relying party must not accept it anyway.
            "id_token_signing_alg_values_supported": ["HS256", "RS256", "ES256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": true,
        }),
    )
}

#[handler]
fn jwks(Data(shared): Data<&Arc<Shared>>) -> Response {
    shared.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let set = JwkSet {
        keys: vec![lock(&shared.key).jwk()],
    };
    json_response(StatusCode::OK, &serde_json::to_value(set).expect("JWKS"))
}

/// Signs the citizen in at once (there is no login form) and sends the browser back with a code
/// bound to the request's nonce, PKCE challenge and redirect URI.
#[handler]
fn authorize(
    Data(shared): Data<&Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let param = |name: &str| query.get(name).map(String::as_str);
    let (Some(redirect_uri), Some("code"), Some(CLIENT_ID), Some(challenge), Some("S256")) = (
        param("redirect_uri"),
        param("response_type"),
        param("client_id"),
        param("code_challenge"),
        param("code_challenge_method"),
    ) else {
        return Response::builder()
            .status(StatusCode::BAD_REQUEST)
            .body("malformed authorization request");
    };
    let mut back = url::Url::parse(redirect_uri).expect("redirect_uri");
    let refusal = lock(&shared.scenario).authorize_error;
    {
        let mut pairs = back.query_pairs_mut();
        match refusal {
            Some(error) => {
                pairs.append_pair("error", error);
            }
            None => {
                let code = crate::helpers::unique("code-");
                lock(&shared.grants).insert(
                    code.clone(),
                    Grant {
                        redirect_uri: redirect_uri.to_string(),
                        nonce: query.get("nonce").cloned(),
                        code_challenge: challenge.to_string(),
                    },
                );
                pairs.append_pair("code", &code);
            }
        }
        if let Some(state) = param("state") {
            pairs.append_pair("state", state);
        }
        pairs.append_pair("iss", &shared.issuer);
    }
    redirect(back.as_str())
}

/// `client_secret_basic` or `client_secret_post` with our registration.
fn client_authenticated(req: &Request, form: &HashMap<String, String>) -> bool {
    if let Some(basic) = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Basic "))
    {
        let expected = STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
        return basic == expected;
    }
    form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
        && form.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET)
}

#[handler]
async fn token(
    req: &Request,
    Data(shared): Data<&Arc<Shared>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    shared.token_requests.fetch_add(1, Ordering::SeqCst);
    let scenario = lock(&shared.scenario).clone();
    match scenario.token_endpoint {
        TokenEndpoint::Normal => {}
        TokenEndpoint::OAuthError { status, error } => {
            return oauth_error(StatusCode::from_u16(status).expect("status"), error);
        }
        TokenEndpoint::ServerError {
            status,
            content_type,
            body,
        } => {
            let response =
                Response::builder().status(StatusCode::from_u16(status).expect("status"));
            return if content_type.is_empty() {
                response.body(body)
            } else {
                response.content_type(content_type).body(body)
            };
        }
        TokenEndpoint::Slow(delay) => tokio::time::sleep(delay).await,
    }

    if !client_authenticated(req, &form) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    // Codes are single use.
    let Some(grant) = form
        .get("code")
        .and_then(|code| lock(&shared.grants).remove(code))
    else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    let pkce_ok = form.get("code_verifier").is_some_and(|verifier| {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
        URL_SAFE_NO_PAD.encode(digest.as_ref()) == grant.code_challenge
    });
    if !pkce_ok || form.get("redirect_uri") != Some(&grant.redirect_uri) {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }

    let now = now();
    let mut claims = json!({
        "iss": shared.issuer,
        "aud": CLIENT_ID,
        "sub": SUBJECT,
        "iat": now,
        "exp": now + 300,
        "auth_time": now,
        "acr": "1",
        "name": "Công Dân Giả",
    });
    if let Some(nonce) = grant.nonce {
        claims["nonce"] = json!(nonce);
    }
    let object = claims.as_object_mut().expect("claims object");
    for (name, value) in &scenario.claims {
        match value {
            Some(value) => {
                object.insert((*name).to_string(), value.clone());
            }
            None => {
                object.remove(*name);
            }
        }
    }
    let id_token = build_id_token(shared, &scenario.signing, &claims);

    let access_token = crate::helpers::unique("at-");
    let subject = claims["sub"].as_str().unwrap_or(SUBJECT).to_string();
    lock(&shared.access_tokens).insert(access_token.clone(), subject);
    shared.id_tokens_issued.fetch_add(1, Ordering::SeqCst);
    json_response(
        StatusCode::OK,
        &json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 600,
            "id_token": id_token,
        }),
    )
}

fn build_id_token(shared: &Shared, signing: &Signing, claims: &Value) -> String {
    let key = lock(&shared.key).clone();
    match signing {
        Signing::Good => key.sign(&key.kid, claims),
        Signing::ForeignKeyWithPublishedKid => ProviderKey::generate().sign(&key.kid, claims),
        Signing::UnknownKid => {
            let stranger = ProviderKey::generate();
            stranger.sign(&stranger.kid, claims)
        }
        Signing::AlgNone => {
            let header = json!({ "alg": "none", "typ": "JWT", "kid": key.kid });
            format!(
                "{}.{}.",
                URL_SAFE_NO_PAD.encode(header.to_string()),
                URL_SAFE_NO_PAD.encode(claims.to_string())
            )
        }
        Signing::Hs256(secret) => {
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some(key.kid.clone());
            jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret))
                .expect("HS256 signature")
        }
    }
}

#[handler]
fn userinfo(req: &Request, Data(shared): Data<&Arc<Shared>>) -> Response {
    let subject = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .and_then(|bearer| lock(&shared.access_tokens).get(bearer).cloned());
    let Some(subject) = subject else {
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header("www-authenticate", "Bearer error=\"invalid_token\"")
            .finish();
    };
    let sub = lock(&shared.scenario)
        .userinfo_sub
        .clone()
        .unwrap_or(subject);
    json_response(StatusCode::OK, &json!({ "sub": sub }))
}
