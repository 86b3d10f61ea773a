//! The relying party of the national eID: discovery (lazy, so `serve` starts while the provider
//! is down), the authorization URL, and the code exchange with ID-token validation per
//! OpenID Connect Core §3.1.3.7.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreErrorResponseType, CoreGenderClaim, CoreIdTokenVerifier,
    CoreJsonWebKey, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreProviderMetadata, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, ClaimsVerificationError, Client, ClientId, ClientSecret,
    EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields, IssuerUrl,
    JsonWebKeySetUrl, Nonce, OAuth2TokenResponse, PkceCodeVerifier, RedirectUrl, RequestTokenError,
    SignatureVerificationError, StandardErrorResponse, StandardTokenResponse, UserInfoClaims,
    UserInfoError,
};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;
use url::Url;

use crate::config::Config;

/// How long discovery results are trusted before being fetched again.
const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
/// After a failed discovery, requests fail fast for this long before the next attempt.
const DISCOVERY_RETRY: Duration = Duration::from_secs(2);
/// An unknown `kid` refetches the provider's JWKS at most this often, so forged tokens cannot
/// make us hammer the provider.
const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(10);
/// Tolerated clock difference with the provider.
const CLOCK_SKEW_SECS: i64 = 60;
/// An ID token issued longer ago than this is stale: the code was just issued.
const MAX_ID_TOKEN_AGE_SECS: i64 = 600;

/// Claims beyond the standard ones (the personal identification number's name is configurable).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct ExtraClaims {
    #[serde(flatten)]
    pub other: HashMap<String, serde_json::Value>,
}
impl AdditionalClaims for ExtraClaims {}

type IdFields = IdTokenFields<
    ExtraClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type ProviderTokenResponse = StandardTokenResponse<IdFields, CoreTokenType>;
type IdToken = openidconnect::IdToken<
    ExtraClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type IdClaims = openidconnect::IdTokenClaims<ExtraClaims, CoreGenderClaim>;
type ProviderClient = Client<
    ExtraClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    ProviderTokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Only asymmetric algorithms: the provider's discovery document must not be able to make us
/// accept HS256 keyed with our client secret (or with its public key).
const ALLOWED_ALGS: [CoreJwsSigningAlgorithm; 6] = [
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// Why a sign-in at the provider did not give us a verified identity.
#[derive(Debug, thiserror::Error)]
pub enum EidError {
    /// The provider could not be reached or answered nonsense: try again later.
    #[error("identity provider unavailable: {0}")]
    Unavailable(String),
    /// The provider answered, but its answer is refused (reason is for the audit log).
    #[error("identity provider response refused: {0}")]
    Refused(String),
}

/// A verified identity from the provider.
#[derive(Debug, Clone)]
pub struct EidIdentity {
    pub subject: String,
    pub acr: Option<String>,
    pub auth_time: Option<i64>,
    pub name: Option<String>,
    pub id_number: Option<String>,
}

struct Discovered {
    client: ProviderClient,
    authorization_endpoint: Url,
    jwks_url: JsonWebKeySetUrl,
    jwks: std::sync::RwLock<CoreJsonWebKeySet>,
    at: Instant,
}

/// Our registration at the national eID provider.
pub struct Eid {
    issuer: String,
    client_id: String,
    client_secret: String,
    scopes: Vec<String>,
    id_number_claim: String,
    redirect_uri: String,
    http: reqwest::Client,
    discovered: RwLock<Option<Arc<Discovered>>>,
    last_jwks_refetch: Mutex<Option<Instant>>,
    /// While the provider is down, discovery is retried at most this often instead of by every
    /// request queueing on the lock.
    last_discovery_failure: Mutex<Option<Instant>>,
}

fn unavailable(err: impl std::fmt::Display) -> EidError {
    EidError::Unavailable(err.to_string())
}

impl Eid {
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            // Following redirects would let the provider point us at arbitrary hosts (SSRF).
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self {
            issuer: config.eid_issuer.as_str().trim_end_matches('/').to_string(),
            client_id: config.eid_client_id.clone(),
            client_secret: config.eid_client_secret.expose().clone(),
            scopes: config.eid_scopes.clone(),
            id_number_claim: config.eid_id_number_claim.clone(),
            redirect_uri: format!("{}{}", config.issuer(), crate::http::paths::EID_CALLBACK),
            http,
            discovered: RwLock::new(None),
            last_jwks_refetch: Mutex::new(None),
            last_discovery_failure: Mutex::new(None),
        })
    }

    /// The provider's issuer identifier, as configured.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    async fn discovered(&self) -> Result<Arc<Discovered>, EidError> {
        if let Some(d) = self.discovered.read().await.as_ref()
            && d.at.elapsed() < DISCOVERY_TTL
        {
            return Ok(d.clone());
        }
        let mut slot = self.discovered.write().await;
        if let Some(d) = slot.as_ref()
            && d.at.elapsed() < DISCOVERY_TTL
        {
            return Ok(d.clone());
        }
        let recently_failed = self
            .last_discovery_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|at| at.elapsed() < DISCOVERY_RETRY);
        if recently_failed {
            return Err(unavailable("discovery failed moments ago"));
        }
        let issuer = IssuerUrl::new(self.issuer.clone()).map_err(unavailable)?;
        // Checks that the document's issuer is exactly ours, and fetches the JWKS.
        let metadata = match CoreProviderMetadata::discover_async(issuer, &self.http).await {
            Ok(metadata) => metadata,
            Err(e) => {
                *self
                    .last_discovery_failure
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
                return Err(unavailable(format!("discovery: {e}")));
            }
        };
        let authorization_endpoint = metadata.authorization_endpoint().url().clone();
        let jwks_url = metadata.jwks_uri().clone();
        let jwks = metadata.jwks().clone();
        let redirect = RedirectUrl::new(self.redirect_uri.clone()).map_err(unavailable)?;
        let client = ProviderClient::from_provider_metadata(
            metadata,
            ClientId::new(self.client_id.clone()),
            Some(ClientSecret::new(self.client_secret.clone())),
        )
        .set_redirect_uri(redirect);
        let d = Arc::new(Discovered {
            client,
            authorization_endpoint,
            jwks_url,
            jwks: std::sync::RwLock::new(jwks),
            at: Instant::now(),
        });
        *slot = Some(d.clone());
        Ok(d)
    }

    /// The provider URL that starts a sign-in with our state, nonce and PKCE challenge.
    pub async fn authorization_url(
        &self,
        state: &str,
        nonce: &str,
        code_challenge: &str,
        want_level2: Option<&[String]>,
        max_age: Option<u64>,
        force_login: bool,
    ) -> Result<Url, EidError> {
        let d = self.discovered().await?;
        let mut url = d.authorization_endpoint.clone();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", &self.client_id)
                .append_pair("redirect_uri", &self.redirect_uri)
                .append_pair("scope", &self.scopes.join(" "))
                .append_pair("state", state)
                .append_pair("nonce", nonce)
                .append_pair("code_challenge", code_challenge)
                .append_pair("code_challenge_method", "S256");
            if let Some(values) = want_level2 {
                query.append_pair("acr_values", &values.join(" "));
            }
            if let Some(max_age) = max_age {
                query.append_pair("max_age", &max_age.to_string());
            }
            if force_login {
                query.append_pair("prompt", "login");
            }
        }
        Ok(url)
    }

    /// Exchanges the provider's code and returns the verified identity.
    pub async fn finish(
        &self,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<EidIdentity, EidError> {
        let d = self.discovered().await?;
        let response = self.redeem(&d, code, pkce_verifier).await?;
        let id_token = response
            .extra_fields()
            .id_token()
            .ok_or_else(|| EidError::Refused("no id_token in the token response".into()))?;
        let verified = self.verify_id_token(&d, id_token, nonce).await?;
        let subject = verified.subject().clone();
        let mut identity = EidIdentity {
            subject: subject.as_str().to_string(),
            acr: verified
                .auth_context_ref()
                .map(|acr| acr.as_str().to_string()),
            auth_time: verified.auth_time().map(|t| t.timestamp()),
            name: verified
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().to_string()),
            id_number: claim_string(&verified.additional_claims().other, &self.id_number_claim),
        };
        // The userinfo `sub` must be the ID token's (§5.3.2); it may also carry what the ID
        // token left out.
        if let Ok(request) = d
            .client
            .user_info(response.access_token().clone(), Some(subject))
        {
            let info: Result<UserInfoClaims<ExtraClaims, CoreGenderClaim>, _> =
                request.request_async(&self.http).await;
            match info {
                Ok(info) => self.complete_from(&mut identity, &info),
                Err(UserInfoError::ClaimsVerification(e)) => {
                    return Err(EidError::Refused(format!("userinfo: {e}")));
                }
                Err(e) => return Err(unavailable(format!("userinfo: {e}"))),
            }
        }
        Ok(identity)
    }

    /// The provider's token response for our code.
    async fn redeem(
        &self,
        d: &Discovered,
        code: &str,
        pkce_verifier: &str,
    ) -> Result<ProviderTokenResponse, EidError> {
        let request = d
            .client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| unavailable(format!("token endpoint: {e}")))?;
        // A 5xx from the provider (or a proxy in front of it) is an outage, whatever its body:
        // oauth2 would report it as an OAuth error response or as a parse failure.
        let server_error = std::sync::atomic::AtomicBool::new(false);
        let http_client = StatusAware {
            http: &self.http,
            server_error: &server_error,
        };
        match request
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_string()))
            .request_async(&http_client)
            .await
        {
            Ok(response) => Ok(response),
            Err(e) if server_error.load(std::sync::atomic::Ordering::Relaxed) => {
                Err(unavailable(format!("token endpoint: server error: {e}")))
            }
            Err(RequestTokenError::ServerResponse(e)) => Err(EidError::Refused(format!(
                "token endpoint error {}",
                e.error()
            ))),
            // Not 5xx, yet not a token response: an ID token without `sub` or `iat`, say.
            Err(RequestTokenError::Parse(e, _)) => {
                Err(EidError::Refused(format!("token response: {e}")))
            }
            Err(e) => Err(unavailable(format!("token endpoint: {e}"))),
        }
    }

    /// The ID token's claims, once its signature (with the provider's current keys), nonce
    /// and `azp` hold.
    async fn verify_id_token(
        &self,
        d: &Discovered,
        id_token: &IdToken,
        nonce: &str,
    ) -> Result<IdClaims, EidError> {
        let expected_nonce = Nonce::new(nonce.to_string());
        let verified = match id_token.claims(&self.verifier(d), &expected_nonce) {
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey
                | SignatureVerificationError::AmbiguousKeyId(_),
            )) if self.may_refetch_jwks() => {
                // The provider may have rotated its keys since we last looked.
                let fresh = CoreJsonWebKeySet::fetch_async(&d.jwks_url, &self.http)
                    .await
                    .map_err(|e| unavailable(format!("jwks: {e}")))?;
                *d.jwks.write().unwrap_or_else(|e| e.into_inner()) = fresh;
                id_token.claims(&self.verifier(d), &expected_nonce)
            }
            other => other,
        }
        .map_err(|e| EidError::Refused(format!("id_token: {e:?}")))?
        .clone();
        // §3.1.3.7 rule 5: openidconnect does not check `azp`. (Rule 4 needs nothing more: the
        // verifier refuses any audience besides ours, so several audiences never get here.)
        if verified
            .authorized_party()
            .is_some_and(|azp| azp.as_str() != self.client_id)
        {
            return Err(EidError::Refused("id_token: azp is not our client".into()));
        }
        Ok(verified)
    }

    /// What userinfo adds to what the ID token left out.
    fn complete_from(
        &self,
        identity: &mut EidIdentity,
        info: &UserInfoClaims<ExtraClaims, CoreGenderClaim>,
    ) {
        if identity.name.is_none() {
            identity.name = info
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().to_string());
        }
        if identity.id_number.is_none() {
            identity.id_number =
                claim_string(&info.additional_claims().other, &self.id_number_claim);
        }
    }

    fn verifier(&self, d: &Discovered) -> CoreIdTokenVerifier<'static> {
        let jwks = d.jwks.read().unwrap_or_else(|e| e.into_inner()).clone();
        let issuer = IssuerUrl::new(self.issuer.clone())
            .unwrap_or_else(|_| IssuerUrl::from_url(d.authorization_endpoint.clone()));
        CoreIdTokenVerifier::new_confidential_client(
            ClientId::new(self.client_id.clone()),
            ClientSecret::new(self.client_secret.clone()),
            issuer,
            jwks,
        )
        .set_allowed_algs(ALLOWED_ALGS)
        // `exp` with a small leeway: the verifier compares against this clock.
        .set_time_fn(|| Utc::now() - TimeDelta::seconds(CLOCK_SKEW_SECS))
        .set_issue_time_verifier_fn(|iat: DateTime<Utc>| {
            let now = Utc::now();
            if iat > now + TimeDelta::seconds(CLOCK_SKEW_SECS) {
                Err("iat is in the future".to_string())
            } else if iat < now - TimeDelta::seconds(MAX_ID_TOKEN_AGE_SECS) {
                Err("iat is too old".to_string())
            } else {
                Ok(())
            }
        })
    }

    fn may_refetch_jwks(&self) -> bool {
        let mut last = self
            .last_jwks_refetch
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match *last {
            Some(at) if at.elapsed() < JWKS_REFETCH_INTERVAL => false,
            _ => {
                *last = Some(Instant::now());
                true
            }
        }
    }
}

/// The reqwest client, noting whether the response was a server error.
struct StatusAware<'a> {
    http: &'a reqwest::Client,
    server_error: &'a std::sync::atomic::AtomicBool,
}

impl<'c> openidconnect::AsyncHttpClient<'c> for StatusAware<'_> {
    type Error = openidconnect::HttpClientError<reqwest::Error>;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = Result<openidconnect::HttpResponse, Self::Error>> + Send + 'c>,
    >;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let response = self.http.call(request).await?;
            if response.status().is_server_error() {
                self.server_error
                    .store(true, std::sync::atomic::Ordering::Relaxed);
            }
            Ok(response)
        })
    }
}

fn claim_string(claims: &HashMap<String, serde_json::Value>, name: &str) -> Option<String> {
    match claims.get(name)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
