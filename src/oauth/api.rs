// Operations take one argument per OAuth parameter, as the OpenAPI document lists them.
#![allow(clippy::too_many_arguments)]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use poem::Request;
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::{Form, Html, Json};
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::authorize::{self, AuthorizeRequest};
use super::client_auth::Credentials;
use super::error::OAuthError;
use super::introspect::Introspection;
use super::metadata::{self, ServerMetadata};
use super::token::Refusal;
use super::token::{self, TokenRequest};
use crate::audit::RequestFacts;
use crate::http::{ApiTag, sign_in_error_page};
use crate::ratelimit::TooManyRequests;
use crate::startup::AppState;

pub struct OAuthApi;

#[derive(ApiResponse)]
enum MetadataResponse {
    /// The metadata document.
    #[oai(status = 200)]
    Ok(
        Json<ServerMetadata>,
        #[oai(header = "Cache-Control")] String,
    ),
}

#[derive(ApiResponse)]
enum JwksResponse {
    /// Our public signing keys (RFC 7517). Keys appear here before they sign anything and stay
    /// until every token they signed has expired.
    #[oai(status = 200)]
    Ok(
        Json<serde_json::Value>,
        #[oai(header = "Cache-Control")] String,
    ),
}

#[derive(ApiResponse)]
#[oai(bad_request_handler = "authorize_bad_request")]
enum AuthorizeResponse {
    /// To the national eID provider (with a short-lived cookie binding the sign-in to this
    /// browser), or back to the app's redirect URI with an RFC 6749 error.
    #[oai(status = 302)]
    Redirect(
        #[oai(header = "Location")] String,
        #[oai(header = "Set-Cookie")] Option<String>,
        #[oai(header = "Cache-Control")] String,
    ),
    /// The client or redirect URI is unknown: shown as a page, never redirected.
    #[oai(status = 400)]
    BadRequest(Html<String>, #[oai(header = "Cache-Control")] String),
    /// A dependency is unavailable.
    #[oai(status = 503)]
    Unavailable(Html<String>, #[oai(header = "Cache-Control")] String),
}

fn authorize_bad_request(err: poem::Error) -> AuthorizeResponse {
    AuthorizeResponse::BadRequest(sign_in_error_page(&err.to_string()), no_store())
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Object)]
#[oai(example)]
pub struct TokenBody {
    /// Our access token: a JWT (RFC 9068) for `Authorization: Bearer`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Lifetime of the access token in seconds.
    pub expires_in: u64,
    /// The scopes granted.
    pub scope: String,
    /// With the `openid` scope: an ID token for the app (`aud` = its client id).
    #[oai(skip_serializing_if_is_none)]
    pub id_token: Option<String>,
    /// With the `offline_access` scope: an opaque refresh token, rotated on every use.
    #[oai(skip_serializing_if_is_none)]
    pub refresh_token: Option<String>,
}

impl Example for TokenBody {
    fn example() -> Self {
        TokenBody {
            access_token: "eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCIsImtpZCI6IjIwMjYtMTEtMjctYWJjZDEyMzQifQ.e30.sig".into(),
            token_type: "Bearer".into(),
            expires_in: 600,
            scope: "openid profile offline_access".into(),
            id_token: None,
            refresh_token: Some("ZmFrZS1yZWZyZXNoLXRva2VuLWZvci10aGUtZXhhbXBsZQ".into()),
        }
    }
}

/// A token request (RFC 6749 §4.1.3), form-encoded.
#[derive(Debug, Object, serde::Deserialize)]
pub struct TokenForm {
    /// `authorization_code`.
    pub grant_type: Option<String>,
    /// The one-time code from the authorization response.
    pub code: Option<String>,
    /// The redirect URI used in the authorization request.
    pub redirect_uri: Option<String>,
    /// The client; public clients (`none` authentication) must send it.
    pub client_id: Option<String>,
    /// For `client_secret_post`.
    pub client_secret: Option<String>,
    /// For `private_key_jwt`: `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`.
    pub client_assertion_type: Option<String>,
    /// For `private_key_jwt`: a JWT signed with a key from the client's `jwks_uri`, `aud` = our
    /// issuer (RFC 7523).
    pub client_assertion: Option<String>,
    /// The PKCE verifier (RFC 7636).
    pub code_verifier: Option<String>,
    /// For `grant_type=refresh_token`.
    pub refresh_token: Option<String>,
    /// For `grant_type=client_credentials`: space-separated scopes (default: all the client's).
    pub scope: Option<String>,
}

#[derive(ApiResponse)]
#[oai(bad_request_handler = "token_bad_request")]
enum TokenResponse {
    /// Tokens issued.
    #[oai(status = 200)]
    Ok(
        Json<TokenBody>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Pragma")] String,
    ),
    /// RFC 6749 §5.2 error.
    #[oai(status = 400)]
    BadRequest(Json<OAuthError>, #[oai(header = "Cache-Control")] String),
    /// Client authentication failed (`invalid_client`).
    #[oai(status = 401)]
    Unauthorized(
        Json<OAuthError>,
        #[oai(header = "WWW-Authenticate")] String,
        #[oai(header = "Cache-Control")] String,
    ),
    /// Unexpected failure (`server_error`).
    #[oai(status = 500)]
    ServerError(Json<OAuthError>, #[oai(header = "Cache-Control")] String),
    /// A dependency is unavailable (`temporarily_unavailable`).
    #[oai(status = 503)]
    Unavailable(Json<OAuthError>, #[oai(header = "Cache-Control")] String),
}

fn token_bad_request(err: poem::Error) -> TokenResponse {
    TokenResponse::BadRequest(
        Json(OAuthError::invalid_request(format!(
            "The request must be application/x-www-form-urlencoded: {err}"
        ))),
        no_store(),
    )
}

/// A revocation request (RFC 7009 §2.1), form-encoded.
#[derive(Debug, Object, serde::Deserialize)]
pub struct RevokeForm {
    /// The access or refresh token to revoke.
    pub token: Option<String>,
    /// `access_token` or `refresh_token` (optional; the token's form tells them apart).
    pub token_type_hint: Option<String>,
    /// Public clients identify with their `client_id`.
    pub client_id: Option<String>,
    /// For `client_secret_post`.
    pub client_secret: Option<String>,
    /// For `private_key_jwt`.
    pub client_assertion_type: Option<String>,
    /// For `private_key_jwt`.
    pub client_assertion: Option<String>,
}

#[derive(ApiResponse)]
#[oai(bad_request_handler = "revoke_bad_request")]
enum RevokeResponse {
    /// Revoked, or nothing to revoke (an unknown or expired token is not an error, §2.2).
    #[oai(status = 200)]
    Ok(#[oai(header = "Cache-Control")] String),
    /// RFC 6749 §5.2 error.
    #[oai(status = 400)]
    BadRequest(Json<OAuthError>, #[oai(header = "Cache-Control")] String),
    /// Client authentication failed (`invalid_client`).
    #[oai(status = 401)]
    Unauthorized(
        Json<OAuthError>,
        #[oai(header = "WWW-Authenticate")] String,
        #[oai(header = "Cache-Control")] String,
    ),
    /// A dependency is unavailable (`temporarily_unavailable`).
    #[oai(status = 503)]
    Unavailable(Json<OAuthError>, #[oai(header = "Cache-Control")] String),
}

fn revoke_bad_request(err: poem::Error) -> RevokeResponse {
    RevokeResponse::BadRequest(
        Json(OAuthError::invalid_request(format!(
            "The request must be application/x-www-form-urlencoded: {err}"
        ))),
        no_store(),
    )
}

/// An introspection request (RFC 7662 §2.1), form-encoded.
#[derive(Debug, Object, serde::Deserialize)]
pub struct IntrospectForm {
    /// The token to look at.
    pub token: Option<String>,
    /// Optional; the token's form tells access and refresh tokens apart.
    pub token_type_hint: Option<String>,
    /// For `client_secret_post`.
    pub client_id: Option<String>,
    /// For `client_secret_post`.
    pub client_secret: Option<String>,
    /// For `private_key_jwt`.
    pub client_assertion_type: Option<String>,
    /// For `private_key_jwt`.
    pub client_assertion: Option<String>,
}

// Built once per request and returned at once: boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(ApiResponse)]
#[oai(bad_request_handler = "introspect_bad_request")]
enum IntrospectResponse {
    /// The token's state; `{"active": false}` for anything the caller may not see.
    #[oai(status = 200)]
    Ok(Json<Introspection>, #[oai(header = "Cache-Control")] String),
    /// RFC 6749 §5.2 error.
    #[oai(status = 400)]
    BadRequest(Json<OAuthError>, #[oai(header = "Cache-Control")] String),
    /// Client authentication failed (`invalid_client`).
    #[oai(status = 401)]
    Unauthorized(
        Json<OAuthError>,
        #[oai(header = "WWW-Authenticate")] String,
        #[oai(header = "Cache-Control")] String,
    ),
    /// A dependency is unavailable (`temporarily_unavailable`).
    #[oai(status = 503)]
    Unavailable(Json<OAuthError>, #[oai(header = "Cache-Control")] String),
}

fn introspect_bad_request(err: poem::Error) -> IntrospectResponse {
    IntrospectResponse::BadRequest(
        Json(OAuthError::invalid_request(format!(
            "The request must be application/x-www-form-urlencoded: {err}"
        ))),
        no_store(),
    )
}

/// Client credentials from `Authorization: Basic` or the form, refusing a mix of methods.
fn client_credentials(
    req: &Request,
    client_id: Option<String>,
    secret: Option<String>,
    assertion_type: Option<String>,
    assertion: Option<String>,
) -> Result<Credentials, OAuthError> {
    let (client_id, secret) = match basic_credentials(req) {
        Some((id, basic_secret)) => {
            if client_id.as_deref().is_some_and(|f| f != id)
                || secret.is_some()
                || assertion.is_some()
            {
                return Err(OAuthError::invalid_request(
                    "Use one client authentication method",
                ));
            }
            (Some(id), Some(basic_secret))
        }
        None => (client_id, secret),
    };
    Ok(Credentials {
        client_id,
        secret,
        assertion_type,
        assertion,
    })
}

fn no_store() -> String {
    "no-store".to_string()
}

/// `client_secret_basic` (RFC 6749 §2.3.1): form-urlencoded id and secret in Basic auth.
fn basic_credentials(req: &Request) -> Option<(String, String)> {
    let value = req.header(http::header::AUTHORIZATION)?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((decode(id)?, decode(secret)?))
}

#[OpenApi(tag = "ApiTag::OAuth")]
impl OAuthApi {
    /// Authorization server metadata (RFC 8414)
    ///
    /// The one URL a client needs: every other endpoint, the grants, PKCE methods and client
    /// authentication methods we support.
    #[oai(
        path = "/.well-known/oauth-authorization-server",
        method = "get",
        operation_id = "oauthMetadata"
    )]
    async fn oauth_metadata(&self, state: Data<&AppState>) -> MetadataResponse {
        MetadataResponse::Ok(
            Json(metadata::document(state.config.issuer(), false)),
            "public, max-age=3600".into(),
        )
    }

    /// OpenID Provider configuration
    ///
    /// The RFC 8414 document plus the OpenID Connect Discovery fields, for AppAuth-style libraries.
    #[oai(
        path = "/.well-known/openid-configuration",
        method = "get",
        operation_id = "openidConfiguration"
    )]
    async fn openid_configuration(&self, state: Data<&AppState>) -> MetadataResponse {
        MetadataResponse::Ok(
            Json(metadata::document(state.config.issuer(), true)),
            "public, max-age=3600".into(),
        )
    }

    /// Our public signing keys (JWKS)
    ///
    /// Verify our access and ID tokens offline with these keys: ES256, selected by `kid`.
    #[oai(path = "/.well-known/jwks.json", method = "get", operation_id = "jwks")]
    async fn jwks(&self, state: Data<&AppState>) -> JwksResponse {
        let set = state.tokens.keyring().jwks();
        JwksResponse::Ok(
            Json(serde_json::to_value(&set).unwrap_or_else(|_| serde_json::json!({"keys": []}))),
            format!("public, max-age={}", state.config.jwks_max_age.as_secs()),
        )
    }

    /// Authorization endpoint: sign in with the national eID
    ///
    /// The OAuth 2.0 authorization code flow for native apps (RFC 8252) with PKCE S256
    /// required. The citizen signs in at the national eID; the app then gets a one-time code
    /// (valid 60 s, bound to its PKCE challenge and redirect URI) and `iss` (RFC 9207) on its
    /// redirect URI. `acr_values=2` requires identity level 2 (else `error=access_denied`).
    #[oai(
        path = "/v1/auth/authorize",
        method = "get",
        operation_id = "authorize"
    )]
    async fn authorize(
        &self,
        state: Data<&AppState>,
        /// Must be `code`.
        response_type: Query<Option<String>>,
        /// The app's client id.
        client_id: Query<Option<String>>,
        /// One of the app's registered redirect URIs (loopback IP URIs match on any port).
        redirect_uri: Query<Option<String>>,
        /// Space-separated scopes; default: all the client's scopes. `openid` adds an ID token.
        scope: Query<Option<String>>,
        /// Opaque value returned to the app unchanged.
        #[oai(name = "state")]
        app_state: Query<Option<String>>,
        /// PKCE challenge: base64url(SHA-256(code_verifier)).
        code_challenge: Query<Option<String>>,
        /// Must be `S256`.
        code_challenge_method: Query<Option<String>>,
        /// Echoed in the ID token.
        nonce: Query<Option<String>>,
        /// `2` to require identity level 2.
        acr_values: Query<Option<String>>,
        /// `none` is answered with `login_required`: signing in needs the citizen.
        prompt: Query<Option<String>>,
    ) -> AuthorizeResponse {
        let request = AuthorizeRequest {
            response_type: response_type.0,
            client_id: client_id.0,
            redirect_uri: redirect_uri.0,
            scope: scope.0,
            state: app_state.0,
            code_challenge: code_challenge.0,
            code_challenge_method: code_challenge_method.0,
            nonce: nonce.0,
            acr_values: acr_values.0,
            prompt: prompt.0,
        };
        match authorize::start(&state, request).await {
            authorize::Outcome::ToProvider { location, cookie } => {
                AuthorizeResponse::Redirect(location, Some(cookie), no_store())
            }
            authorize::Outcome::ToApp { location } => {
                AuthorizeResponse::Redirect(location, None, no_store())
            }
            authorize::Outcome::ErrorPage {
                status: 503,
                message,
            } => AuthorizeResponse::Unavailable(sign_in_error_page(&message), no_store()),
            authorize::Outcome::ErrorPage { message, .. } => {
                AuthorizeResponse::BadRequest(sign_in_error_page(&message), no_store())
            }
        }
    }

    /// Token endpoint
    ///
    /// Exchanges the one-time code for our tokens (`authorization_code` with the PKCE
    /// verifier; public clients authenticate with `none`, confidential ones with
    /// `client_secret_basic` or `client_secret_post`). Errors follow RFC 6749 §5.2.
    #[oai(path = "/v1/auth/token", method = "post", operation_id = "token")]
    async fn token(
        &self,
        state: Data<&AppState>,
        req: &Request,
        form: Form<TokenForm>,
    ) -> Result<TokenResponse, TooManyRequests> {
        let form = form.0;
        let credentials = match client_credentials(
            req,
            form.client_id,
            form.client_secret,
            form.client_assertion_type,
            form.client_assertion,
        ) {
            Ok(credentials) => credentials,
            Err(error) => return Ok(TokenResponse::BadRequest(Json(error), no_store())),
        };
        let request = TokenRequest {
            grant_type: form.grant_type,
            code: form.code,
            redirect_uri: form.redirect_uri,
            code_verifier: form.code_verifier,
            refresh_token: form.refresh_token,
            scope: form.scope,
            credentials,
            user_agent: req.header(http::header::USER_AGENT).map(str::to_string),
        };
        Ok(
            match token::exchange(&state, request, &RequestFacts::of(req)).await {
                Err(Refusal {
                    limited: Some(decision),
                    ..
                }) => return Err(TooManyRequests(decision)),
                Ok(issued) => TokenResponse::Ok(
                    Json(TokenBody {
                        access_token: issued.access_token,
                        token_type: "Bearer".into(),
                        expires_in: issued.expires_in,
                        scope: issued.scope,
                        id_token: issued.id_token,
                        refresh_token: issued.refresh_token,
                    }),
                    no_store(),
                    "no-cache".into(),
                ),
                Err(refusal) => match refusal.status {
                    401 => TokenResponse::Unauthorized(
                        Json(refusal.error),
                        "Basic realm=\"motcua\"".into(),
                        no_store(),
                    ),
                    500 => TokenResponse::ServerError(Json(refusal.error), no_store()),
                    503 => TokenResponse::Unavailable(Json(refusal.error), no_store()),
                    _ => TokenResponse::BadRequest(Json(refusal.error), no_store()),
                },
            },
        )
    }

    /// Token revocation (RFC 7009)
    ///
    /// Revoking a refresh token ends its session: every access token of the session stops
    /// working on every replica within a second. Revoking an access token denies it until it
    /// expires. Public clients identify with `client_id`; confidential ones authenticate.
    #[oai(path = "/v1/auth/revoke", method = "post", operation_id = "revoke")]
    async fn revoke(
        &self,
        state: Data<&AppState>,
        req: &Request,
        form: Form<RevokeForm>,
    ) -> Result<RevokeResponse, TooManyRequests> {
        let form = form.0;
        let credentials = match client_credentials(
            req,
            form.client_id,
            form.client_secret,
            form.client_assertion_type,
            form.client_assertion,
        ) {
            Ok(credentials) => credentials,
            Err(error) => return Ok(RevokeResponse::BadRequest(Json(error), no_store())),
        };
        let request = super::revoke::RevokeRequest {
            token: form.token,
            credentials,
        };
        Ok(
            match super::revoke::revoke(&state, request, &RequestFacts::of(req)).await {
                Err(Refusal {
                    limited: Some(decision),
                    ..
                }) => return Err(TooManyRequests(decision)),
                Ok(()) => RevokeResponse::Ok(no_store()),
                Err(refusal) => match refusal.status {
                    401 => RevokeResponse::Unauthorized(
                        Json(refusal.error),
                        "Basic realm=\"motcua\"".into(),
                        no_store(),
                    ),
                    400 => RevokeResponse::BadRequest(Json(refusal.error), no_store()),
                    _ => RevokeResponse::Unavailable(Json(refusal.error), no_store()),
                },
            },
        )
    }

    /// Token introspection (RFC 7662)
    ///
    /// For resource servers: is this token active, and whose is it? A confidential client sees
    /// the tokens issued to it; a client registered with the `introspect` scope sees any token.
    /// Anything else answers `{"active": false}`.
    #[oai(
        path = "/v1/auth/introspect",
        method = "post",
        operation_id = "introspect"
    )]
    async fn introspect(
        &self,
        state: Data<&AppState>,
        req: &Request,
        form: Form<IntrospectForm>,
    ) -> Result<IntrospectResponse, TooManyRequests> {
        let form = form.0;
        let credentials = match client_credentials(
            req,
            form.client_id,
            form.client_secret,
            form.client_assertion_type,
            form.client_assertion,
        ) {
            Ok(credentials) => credentials,
            Err(error) => return Ok(IntrospectResponse::BadRequest(Json(error), no_store())),
        };
        Ok(
            match super::introspect::introspect(
                &state,
                &credentials,
                form.token.as_deref(),
                &RequestFacts::of(req),
            )
            .await
            {
                Err(Refusal {
                    limited: Some(decision),
                    ..
                }) => return Err(TooManyRequests(decision)),
                Ok(body) => IntrospectResponse::Ok(Json(body), no_store()),
                Err(refusal) => match refusal.status {
                    401 => IntrospectResponse::Unauthorized(
                        Json(refusal.error),
                        "Basic realm=\"motcua\"".into(),
                        no_store(),
                    ),
                    400 => IntrospectResponse::BadRequest(Json(refusal.error), no_store()),
                    _ => IntrospectResponse::Unavailable(Json(refusal.error), no_store()),
                },
            },
        )
    }
}
