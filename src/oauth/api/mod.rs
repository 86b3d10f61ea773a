// Operations take one argument per OAuth parameter, as the OpenAPI document lists them.
#![allow(clippy::too_many_arguments)]

//! The OAuth endpoints' handlers: parse, call the flow, map its answer. Forms and responses are
//! in `forms`, the documented parameter types in `params`.

mod forms;
mod params;

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use poem::Request;
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::{Form, Json};
use poem_openapi::registry::{MetaResponses, Registry};
use poem_openapi::{ApiResponse, OpenApi};

use forms::{
    AuthorizeResponse, ClientAuthFields, IntrospectResponse, JwksResponse, MetadataResponse,
    RevokeResponse, TokenResponse,
};
pub use forms::{IntrospectForm, RevokeForm, TokenBody, TokenForm};
pub use params::{
    ClientAssertionType, CodeChallengeMethod, GrantType, PkceValue, ResponseType, TokenTypeHint,
};

use super::assertion::ClientKeys;
use super::authorize::{self, AuthorizeRequest};
use super::client_auth::Credentials;
use super::error::{OAuthError, Refusal, RefusalKind};
use super::metadata;
use super::token::{self, TokenRequest};
use crate::audit::RequestFacts;
use crate::http::problem::problem_response;
use crate::http::{ApiTag, sign_in_error_page};
use crate::identity::eid::Eid;
use crate::ratelimit::TooManyRequests;
use crate::state::AppState;

#[derive(Default)]
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

/// Client credentials from `Authorization: Basic` or the form, refusing a mix of methods.
fn client_credentials(req: &Request, fields: ClientAuthFields) -> Result<Credentials, OAuthError> {
    let ClientAuthFields {
        client_id,
        client_secret: secret,
        client_assertion_type: assertion_type,
        client_assertion: assertion,
    } = fields;
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

/// How the token, revocation and introspection endpoints answer each kind of refusal.
trait RefusalAnswer: Sized {
    fn bad_request(error: OAuthError) -> Self;
    /// Client authentication failed: a `WWW-Authenticate` challenge goes with it.
    fn unauthorized(error: OAuthError) -> Self;
    fn unavailable(error: OAuthError) -> Self;
    /// Where the endpoint documents no 500, a failure of ours is answered as unavailable.
    fn server_error(error: OAuthError) -> Self {
        Self::unavailable(error)
    }
}

/// A refusal as its endpoint answers it (over the rate limit: the 429 problem instead).
fn refused<R: RefusalAnswer>(refusal: Refusal) -> Result<R, Refused> {
    if let Some(decision) = refusal.limited {
        return Err(TooManyRequests(decision).into());
    }
    Ok(match refusal.kind {
        RefusalKind::Unauthorized => R::unauthorized(refusal.error),
        RefusalKind::ServerError => R::server_error(refusal.error),
        RefusalKind::Unavailable => R::unavailable(refusal.error),
        // Only with `limited` set, taken above; a refusal built otherwise is still refused.
        RefusalKind::BadRequest | RefusalKind::RateLimited => R::bad_request(refusal.error),
    })
}

const BASIC_CHALLENGE: &str = "Basic realm=\"motcua\"";

/// The three response types share their refusal variants; the token endpoint alone documents
/// a 500.
macro_rules! answers_refusals {
    ($response:ident $(, $server_error:ident)?) => {
        impl RefusalAnswer for $response {
            fn bad_request(error: OAuthError) -> Self {
                Self::BadRequest(Json(error), no_store())
            }
            fn unauthorized(error: OAuthError) -> Self {
                Self::Unauthorized(Json(error), BASIC_CHALLENGE.into(), no_store())
            }
            fn unavailable(error: OAuthError) -> Self {
                Self::Unavailable(Json(error), no_store())
            }
            $(fn server_error(error: OAuthError) -> Self {
                Self::$server_error(Json(error), no_store())
            })?
        }
    };
}
answers_refusals!(TokenResponse, ServerError);
answers_refusals!(RevokeResponse);
answers_refusals!(IntrospectResponse);

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
        let mut form = form.0;
        let credentials = match client_credentials(req, form.take_client_auth()) {
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
        // Boxed (as are revocation's and introspection's below): the exchange's future is
        // several kilobytes, and held inline it would make every layer above it (routes,
        // middleware) as large, each copied whole as it is boxed or moved.
        let facts = RequestFacts::of(req);
        let exchanged = Box::pin(token::exchange(&state, &keys, request, &facts)).await;
        match exchanged {
            Ok(issued) => Ok(TokenResponse::Ok(
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
            )),
            Err(refusal) => refused(refusal),
        }
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
        let mut form = form.0;
        let credentials = match client_credentials(req, form.take_client_auth()) {
            Ok(credentials) => credentials,
            Err(error) => return Ok(RevokeResponse::BadRequest(Json(error), no_store())),
        };
        let request = super::revoke::RevokeRequest {
            token: form.token,
            credentials,
        };
        let facts = RequestFacts::of(req);
        let revoked = Box::pin(super::revoke::revoke(&state, &keys, request, &facts)).await;
        match revoked {
            Ok(()) => Ok(RevokeResponse::Ok(no_store())),
            Err(refusal) => refused(refusal),
        }
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
        let mut form = form.0;
        let credentials = match client_credentials(req, form.take_client_auth()) {
            Ok(credentials) => credentials,
            Err(error) => return Ok(IntrospectResponse::BadRequest(Json(error), no_store())),
        };
        let facts = RequestFacts::of(req);
        let token = form.token.as_deref();
        let looked = Box::pin(super::introspect::introspect(
            &state,
            &keys,
            &credentials,
            token,
            &facts,
        ))
        .await;
        match looked {
            Ok(body) => Ok(IntrospectResponse::Ok(Json(body), no_store())),
            Err(refusal) => refused(refusal),
        }
    }
}
