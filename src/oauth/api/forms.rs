//! The OAuth endpoints' request forms and responses, as the OpenAPI document describes them.

use poem_openapi::payload::{Html, Json};
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object};

use super::no_store;
use super::params::{ClientAssertionType, GrantType, PkceValue, TokenTypeHint};
use crate::http::sign_in_error_page;
use crate::oauth::error::OAuthError;
use crate::oauth::introspect::Introspection;
use crate::oauth::metadata::ServerMetadata;

#[derive(ApiResponse)]
pub enum MetadataResponse {
    /// The metadata document.
    #[oai(status = 200)]
    Ok(
        Json<ServerMetadata>,
        #[oai(header = "Cache-Control")] String,
    ),
}

#[derive(ApiResponse)]
pub enum JwksResponse {
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
pub enum AuthorizeResponse {
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

pub fn authorize_bad_request(err: poem::Error) -> AuthorizeResponse {
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
pub enum TokenResponse {
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

/// What the form endpoints answer to a body that is not a form (RFC 6749 `invalid_request`).
fn not_a_form(err: poem::Error) -> OAuthError {
    OAuthError::invalid_request(format!(
        "The request must be application/x-www-form-urlencoded: {err}"
    ))
}

pub fn token_bad_request(err: poem::Error) -> TokenResponse {
    TokenResponse::BadRequest(Json(not_a_form(err)), no_store())
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
pub enum RevokeResponse {
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

pub fn revoke_bad_request(err: poem::Error) -> RevokeResponse {
    RevokeResponse::BadRequest(Json(not_a_form(err)), no_store())
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
pub enum IntrospectResponse {
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

pub fn introspect_bad_request(err: poem::Error) -> IntrospectResponse {
    IntrospectResponse::BadRequest(Json(not_a_form(err)), no_store())
}

/// The client-authentication fields every OAuth form carries: `client_id` and
/// `client_secret` (RFC 6749 §2.3.1), or an assertion (RFC 7523).
pub struct ClientAuthFields {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub client_assertion_type: Option<String>,
    pub client_assertion: Option<String>,
}

macro_rules! client_auth_fields {
    ($($form:ty),*) => {$(
        impl $form {
            /// Takes the client-authentication fields out of the form.
            pub fn take_client_auth(&mut self) -> ClientAuthFields {
                ClientAuthFields {
                    client_id: self.client_id.take(),
                    client_secret: self.client_secret.take(),
                    client_assertion_type: self
                        .client_assertion_type
                        .take()
                        .map(ClientAssertionType::into_inner),
                    client_assertion: self.client_assertion.take(),
                }
            }
        }
    )*};
}

client_auth_fields!(TokenForm, RevokeForm, IntrospectForm);
