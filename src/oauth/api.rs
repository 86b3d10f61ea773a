// Operations take one argument per OAuth parameter, as the OpenAPI document lists them.
#![allow(clippy::too_many_arguments)]

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use poem::Request;
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::{Form, Html, Json};
use poem_openapi::registry::{MetaResponses, MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{
    Example, ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type,
};
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::authorize::{self, AuthorizeRequest};
use super::client_auth::Credentials;
use super::error::OAuthError;
use super::introspect::Introspection;
use super::metadata::{self, ServerMetadata};
use super::token::Refusal;
use super::token::{self, TokenRequest};
use crate::audit::RequestFacts;
use crate::http::problem::problem_response;
use crate::http::{ApiTag, sign_in_error_page};
use crate::ratelimit::TooManyRequests;
use std::sync::Arc;

use super::assertion::ClientKeys;
use crate::identity::eid::Eid;
use crate::state::AppState;

pub struct OAuthApi;

/// What is answered in front of, or instead of, an OAuth handler as problem details rather than
/// RFC 6749 errors: the rate limit (429), and the request pipeline's body limit (413) and time
/// limit (504), which apply to every operation.
pub struct Refused(TooManyRequests);

impl From<TooManyRequests> for Refused {
    fn from(refused: TooManyRequests) -> Self {
        Self(refused)
    }
}

impl From<Refused> for poem::Error {
    fn from(refused: Refused) -> Self {
        refused.0.into()
    }
}

impl ApiResponse for Refused {
    fn meta() -> MetaResponses {
        let mut meta = TooManyRequests::meta();
        meta.responses.extend([
            problem_response(413, "The request body is too large."),
            problem_response(504, "The request took too long."),
        ]);
        meta
    }

    fn register(registry: &mut Registry) {
        TooManyRequests::register(registry);
    }
}

/// Declares a string parameter whose document states the values (or shape) clients must send,
/// while parsing takes any string: the handlers then answer a value outside that set with the
/// RFC 6749 error the endpoint owes (`unsupported_grant_type`, a redirect with
/// `unsupported_response_type`, ...), not with the generic 400 a strict parser would raise.
macro_rules! documented_string {
    ($(#[$doc:meta])* $name:ident, |$schema:ident| $shape:block) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl Type for $name {
            const IS_REQUIRED: bool = true;
            type RawValueType = String;
            type RawElementValueType = String;

            fn name() -> Cow<'static, str> {
                "string".into()
            }

            fn schema_ref() -> MetaSchemaRef {
                let mut $schema = MetaSchema::new("string");
                $shape
                MetaSchemaRef::Inline(Box::new($schema))
            }

            fn as_raw_value(&self) -> Option<&String> {
                Some(&self.0)
            }

            fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
                Box::new(self.as_raw_value().into_iter())
            }
        }

        impl ParseFromJSON for $name {
            fn parse_from_json(value: Option<serde_json::Value>) -> ParseResult<Self> {
                String::parse_from_json(value)
                    .map(Self)
                    .map_err(ParseError::propagate)
            }
        }

        impl ParseFromParameter for $name {
            fn parse_from_parameter(value: &str) -> ParseResult<Self> {
                Ok(Self(value.to_string()))
            }
        }

        impl ToJSON for $name {
            fn to_json(&self) -> Option<serde_json::Value> {
                Some(serde_json::Value::String(self.0.clone()))
            }
        }
    };
}

fn one_of(schema: &mut MetaSchema, values: &[&str]) {
    schema.enum_items = values.iter().map(|v| serde_json::json!(v)).collect();
    schema.example = values.first().map(|v| serde_json::json!(v));
}

documented_string!(
    /// `grant_type` of a token request: the grants we issue tokens for.
    GrantType,
    |schema| {
        one_of(
            &mut schema,
            &["authorization_code", "refresh_token", "client_credentials"],
        );
    }
);

documented_string!(
    /// `response_type` of an authorization request: only the code flow.
    ResponseType,
    |schema| {
        one_of(&mut schema, &["code"]);
    }
);

documented_string!(
    /// `code_challenge_method`: only S256; `plain` is refused.
    CodeChallengeMethod,
    |schema| {
        one_of(&mut schema, &["S256"]);
    }
);

documented_string!(
    /// `token_type_hint` of RFC 7009 and RFC 7662.
    TokenTypeHint,
    |schema| {
        one_of(&mut schema, &["access_token", "refresh_token"]);
    }
);

documented_string!(
    /// `client_assertion_type` of RFC 7523 client authentication.
    ClientAssertionType,
    |schema| {
        one_of(
            &mut schema,
            &[super::assertion::ASSERTION_TYPE],
        );
    }
);

documented_string!(
    /// A PKCE code verifier or challenge (RFC 7636 §4.1, §4.2).
    PkceValue,
    |schema| {
        schema.min_length = Some(43);
        schema.max_length = Some(128);
        schema.pattern = Some("^[A-Za-z0-9._~-]{43,128}$".into());
        schema.example = Some(serde_json::json!(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGlSstw-cM"
        ));
    }
);

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

/// A token request (RFC 6749 §3.2), form-encoded. Which fields a request needs depends on its
/// grant and on how the client authenticates.
#[derive(Debug, Object, serde::Deserialize)]
#[oai(example)]
pub struct TokenForm {
    /// The grant: `authorization_code` (redeem the one-time code, with `code`, `redirect_uri`
    /// and `code_verifier`), `refresh_token` (with `refresh_token`; the refresh token rotates) or
    /// `client_credentials` (a confidential client acting as itself, with optional `scope`).
    #[serde(default)]
    pub grant_type: GrantType,
    /// For `authorization_code`: the one-time code from the authorization response.
    #[oai(skip_serializing_if_is_none)]
    pub code: Option<String>,
    /// For `authorization_code`: the redirect URI used in the authorization request.
    #[oai(skip_serializing_if_is_none)]
    pub redirect_uri: Option<String>,
    /// The client; public clients (`none` authentication) and `client_secret_post` send it.
    #[oai(skip_serializing_if_is_none)]
    pub client_id: Option<String>,
    /// For `client_secret_post`.
    #[oai(skip_serializing_if_is_none)]
    pub client_secret: Option<String>,
    /// For `private_key_jwt`.
    #[oai(skip_serializing_if_is_none)]
    pub client_assertion_type: Option<ClientAssertionType>,
    /// For `private_key_jwt`: a JWT signed with a key from the client's `jwks_uri`, `iss` = `sub`
    /// = the client id, `aud` = our issuer (RFC 7523).
    #[oai(skip_serializing_if_is_none)]
    pub client_assertion: Option<String>,
    /// For `authorization_code`: the PKCE verifier (RFC 7636).
    #[oai(skip_serializing_if_is_none)]
    pub code_verifier: Option<PkceValue>,
    /// For `refresh_token`: the refresh token to exchange.
    #[oai(skip_serializing_if_is_none)]
    pub refresh_token: Option<String>,
    /// For `client_credentials`: space-separated scopes (default: all the client's).
    #[oai(skip_serializing_if_is_none)]
    pub scope: Option<String>,
}

impl Example for TokenForm {
    fn example() -> Self {
        TokenForm {
            grant_type: GrantType("authorization_code".into()),
            code: Some("SplxlOBeZQQYbYS6WxSbIA".into()),
            redirect_uri: Some("vn.gov.camau.app:/oauth2redirect".into()),
            client_id: Some("mc_3k9x2m4q8w7e5r1t6y0u2i4o".into()),
            client_secret: None,
            client_assertion_type: None,
            client_assertion: None,
            code_verifier: Some(PkceValue(
                "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into(),
            )),
            refresh_token: None,
            scope: None,
        }
    }
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
    /// Optional; the token's form tells access and refresh tokens apart.
    pub token_type_hint: Option<TokenTypeHint>,
    /// Public clients identify with their `client_id`.
    pub client_id: Option<String>,
    /// For `client_secret_post`.
    pub client_secret: Option<String>,
    /// For `private_key_jwt`.
    pub client_assertion_type: Option<ClientAssertionType>,
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
    pub token_type_hint: Option<TokenTypeHint>,
    /// For `client_secret_post`.
    pub client_id: Option<String>,
    /// For `client_secret_post`.
    pub client_secret: Option<String>,
    /// For `private_key_jwt`.
    pub client_assertion_type: Option<ClientAssertionType>,
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
    // Handlers that never refuse anything themselves still return `Refused`: the middleware
    // answers in front of them, and the document must say so.
    async fn oauth_metadata(&self, state: Data<&AppState>) -> Result<MetadataResponse, Refused> {
        Ok(MetadataResponse::Ok(
            Json(metadata::document(state.config.issuer(), false)),
            "public, max-age=3600".into(),
        ))
    }

    /// OpenID Provider configuration
    ///
    /// The RFC 8414 document plus the OpenID Connect Discovery fields, for AppAuth-style libraries.
    #[oai(
        path = "/.well-known/openid-configuration",
        method = "get",
        operation_id = "openidConfiguration"
    )]
    async fn openid_configuration(
        &self,
        state: Data<&AppState>,
    ) -> Result<MetadataResponse, Refused> {
        Ok(MetadataResponse::Ok(
            Json(metadata::document(state.config.issuer(), true)),
            "public, max-age=3600".into(),
        ))
    }

    /// Our public signing keys (JWKS)
    ///
    /// Verify our access and ID tokens offline with these keys: ES256, selected by `kid`.
    #[oai(path = "/.well-known/jwks.json", method = "get", operation_id = "jwks")]
    async fn jwks(&self, state: Data<&AppState>) -> Result<JwksResponse, Refused> {
        let set = state.tokens.keyring().jwks();
        Ok(JwksResponse::Ok(
            Json(serde_json::to_value(&set).unwrap_or_else(|_| serde_json::json!({"keys": []}))),
            format!("public, max-age={}", state.config.jwks_max_age.as_secs()),
        ))
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
        eid: Data<&Arc<Eid>>,
        /// Must be `code`.
        response_type: Query<Option<ResponseType>>,
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
        code_challenge: Query<Option<PkceValue>>,
        /// Must be `S256`.
        code_challenge_method: Query<Option<CodeChallengeMethod>>,
        /// Echoed in the ID token.
        nonce: Query<Option<String>>,
        /// `2` to require identity level 2.
        acr_values: Query<Option<String>>,
        /// `none` is answered with `login_required`: signing in needs the citizen; `login` makes
        /// the citizen authenticate at the national eID again.
        prompt: Query<Option<String>>,
        /// Seconds since the citizen last authenticated at the national eID beyond which they
        /// must sign in again (OIDC Core); the ID token and access token then carry a recent
        /// `auth_time`. The operators' console answers a `max_age` challenge with it.
        max_age: Query<Option<String>>,
    ) -> Result<AuthorizeResponse, Refused> {
        let request = AuthorizeRequest {
            response_type: response_type.0.map(ResponseType::into_inner),
            client_id: client_id.0,
            redirect_uri: redirect_uri.0,
            scope: scope.0,
            state: app_state.0,
            code_challenge: code_challenge.0.map(PkceValue::into_inner),
            code_challenge_method: code_challenge_method.0.map(CodeChallengeMethod::into_inner),
            nonce: nonce.0,
            acr_values: acr_values.0,
            prompt: prompt.0,
            max_age: max_age.0,
        };
        Ok(match authorize::start(&state, &eid, request).await {
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
        })
    }

    /// Token endpoint
    ///
    /// Issues our tokens for three grants:
    ///
    /// - `authorization_code`: redeems the one-time code of the authorization endpoint with its
    ///   PKCE `code_verifier` and `redirect_uri`; with `offline_access` a refresh token comes too.
    /// - `refresh_token`: exchanges a refresh token for new tokens of the same session; the
    ///   refresh token rotates, and presenting a rotated one ends the session.
    /// - `client_credentials`: a confidential client acting as itself (no citizen), for the
    ///   `scope` it asks within its registered scopes (default: all of them).
    ///
    /// Clients authenticate with one method: public clients send only `client_id` (`none`);
    /// confidential ones use `client_secret_basic` (HTTP Basic), `client_secret_post`
    /// (`client_id` and `client_secret` in the form) or `private_key_jwt` (`client_assertion_type`
    /// and a `client_assertion` JWT signed with a key of the client's `jwks_uri`, RFC 7523).
    ///
    /// Example (`client_credentials` with `client_secret_basic`):
    /// `Authorization: Basic base64(client_id:client_secret)` and the body
    /// `grant_type=client_credentials&scope=introspect`.
    ///
    /// Errors follow RFC 6749 §5.2 (`invalid_request`, `invalid_client`, `invalid_grant`,
    /// `unauthorized_client`, `unsupported_grant_type`, `invalid_scope`), including for values
    /// outside the documented ones.
    #[oai(path = "/v1/auth/token", method = "post", operation_id = "token")]
    async fn token(
        &self,
        state: Data<&AppState>,
        keys: Data<&ClientKeys>,
        req: &Request,
        form: Form<TokenForm>,
    ) -> Result<TokenResponse, Refused> {
        let form = form.0;
        let credentials = match client_credentials(
            req,
            form.client_id,
            form.client_secret,
            form.client_assertion_type
                .map(ClientAssertionType::into_inner),
            form.client_assertion,
        ) {
            Ok(credentials) => credentials,
            Err(error) => return Ok(TokenResponse::BadRequest(Json(error), no_store())),
        };
        let request = TokenRequest {
            // An empty `grant_type` is as good as none: both are `invalid_request`.
            grant_type: Some(form.grant_type.into_inner()).filter(|g| !g.is_empty()),
            code: form.code,
            redirect_uri: form.redirect_uri,
            code_verifier: form.code_verifier.map(PkceValue::into_inner),
            refresh_token: form.refresh_token,
            scope: form.scope,
            credentials,
            user_agent: req.header(http::header::USER_AGENT).map(str::to_string),
        };
        Ok(
            match token::exchange(&state, &keys, request, &RequestFacts::of(req)).await {
                Err(Refusal {
                    limited: Some(decision),
                    ..
                }) => return Err(TooManyRequests(decision).into()),
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
        keys: Data<&ClientKeys>,
        req: &Request,
        form: Form<RevokeForm>,
    ) -> Result<RevokeResponse, Refused> {
        let form = form.0;
        let credentials = match client_credentials(
            req,
            form.client_id,
            form.client_secret,
            form.client_assertion_type
                .map(ClientAssertionType::into_inner),
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
            match super::revoke::revoke(&state, &keys, request, &RequestFacts::of(req)).await {
                Err(Refusal {
                    limited: Some(decision),
                    ..
                }) => return Err(TooManyRequests(decision).into()),
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
        keys: Data<&ClientKeys>,
        req: &Request,
        form: Form<IntrospectForm>,
    ) -> Result<IntrospectResponse, Refused> {
        let form = form.0;
        let credentials = match client_credentials(
            req,
            form.client_id,
            form.client_secret,
            form.client_assertion_type
                .map(ClientAssertionType::into_inner),
            form.client_assertion,
        ) {
            Ok(credentials) => credentials,
            Err(error) => return Ok(IntrospectResponse::BadRequest(Json(error), no_store())),
        };
        Ok(
            match super::introspect::introspect(
                &state,
                &keys,
                &credentials,
                form.token.as_deref(),
                &RequestFacts::of(req),
            )
            .await
            {
                Err(Refusal {
                    limited: Some(decision),
                    ..
                }) => return Err(TooManyRequests(decision).into()),
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
