//! Authorization server metadata (RFC 8414) and the OpenID Provider configuration.

use poem_openapi::Object;

use crate::http::paths;

/// RFC 8414 authorization server metadata; the OpenID discovery document adds the fields marked
/// OpenID Connect Discovery 1.0.
#[derive(Debug, Clone, Object)]
pub struct ServerMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    pub revocation_endpoint: String,
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    pub introspection_endpoint: String,
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    pub response_types_supported: Vec<String>,
    pub response_modes_supported: Vec<String>,
    pub grant_types_supported: Vec<String>,
    pub code_challenge_methods_supported: Vec<String>,
    pub token_endpoint_auth_methods_supported: Vec<String>,
    pub token_endpoint_auth_signing_alg_values_supported: Vec<String>,
    pub scopes_supported: Vec<String>,
    /// Identity levels: "1" (basic) and "2" (verified in person or by chip).
    pub acr_values_supported: Vec<String>,
    /// RFC 9207: authorization responses carry `iss`.
    pub authorization_response_iss_parameter_supported: bool,
    pub service_documentation: String,
    pub ui_locales_supported: Vec<String>,
    /// OpenID Connect Discovery 1.0.
    #[oai(skip_serializing_if_is_none)]
    pub subject_types_supported: Option<Vec<String>>,
    /// OpenID Connect Discovery 1.0.
    #[oai(skip_serializing_if_is_none)]
    pub id_token_signing_alg_values_supported: Option<Vec<String>>,
    /// OpenID Connect Discovery 1.0.
    #[oai(skip_serializing_if_is_none)]
    pub claims_supported: Option<Vec<String>>,
    /// OpenID Connect Discovery 1.0.
    #[oai(skip_serializing_if_is_none)]
    pub request_parameter_supported: Option<bool>,
    /// OpenID Connect Discovery 1.0 (its default is true, so we say no explicitly).
    #[oai(skip_serializing_if_is_none)]
    pub request_uri_parameter_supported: Option<bool>,
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The RFC 8414 document for `issuer`; `openid` adds the OpenID discovery fields.
pub fn document(issuer: &str, openid: bool) -> ServerMetadata {
    ServerMetadata {
        issuer: issuer.to_string(),
        authorization_endpoint: format!("{issuer}{}", paths::AUTHORIZE),
        token_endpoint: format!("{issuer}{}", paths::TOKEN),
        jwks_uri: format!("{issuer}{}", paths::JWKS),
        revocation_endpoint: format!("{issuer}{}", paths::REVOKE),
        revocation_endpoint_auth_methods_supported: strings(&[
            "none",
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
        ]),
        introspection_endpoint: format!("{issuer}{}", paths::INTROSPECT),
        introspection_endpoint_auth_methods_supported: strings(&[
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
        ]),
        response_types_supported: strings(&["code"]),
        response_modes_supported: strings(&["query"]),
        grant_types_supported: strings(&[
            "authorization_code",
            "refresh_token",
            "client_credentials",
        ]),
        code_challenge_methods_supported: strings(&["S256"]),
        token_endpoint_auth_methods_supported: strings(&[
            "none",
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
        ]),
        token_endpoint_auth_signing_alg_values_supported: strings(&[
            "ES256", "RS256", "PS256", "EdDSA",
        ]),
        scopes_supported: crate::clients::model::KNOWN_SCOPES
            .iter()
            .map(|s| s.to_string())
            .collect(),
        acr_values_supported: strings(&["1", "2"]),
        authorization_response_iss_parameter_supported: true,
        service_documentation: format!("{issuer}/docs"),
        ui_locales_supported: strings(&["vi", "en"]),
        subject_types_supported: openid.then(|| strings(&["public"])),
        id_token_signing_alg_values_supported: openid.then(|| strings(&["ES256"])),
        claims_supported: openid.then(|| {
            strings(&[
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "acr",
                "sid",
                "azp",
            ])
        }),
        request_parameter_supported: openid.then_some(false),
        request_uri_parameter_supported: openid.then_some(false),
    }
}
