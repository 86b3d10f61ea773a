use std::fmt;

use serde::Serialize;

/// Scopes a client can be registered for.
pub const KNOWN_SCOPES: &[&str] = &[
    "openid",
    "profile",
    "offline_access",
    "dossiers:read",
    "dossiers:write",
    "listings:write",
    "stats:read",
    "introspect",
    "ops",
];

/// What a public client gets when registered without `--scope`.
pub const DEFAULT_PUBLIC_SCOPES: &[&str] = &["openid", "profile", "offline_access"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientKind {
    /// Cannot keep a secret (the mobile app): PKCE, no client authentication.
    Public,
    /// A server: authenticates with a secret or a private key.
    Confidential,
}

impl ClientKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::Public => "public",
            ClientKind::Confidential => "confidential",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "public" => Some(ClientKind::Public),
            "confidential" => Some(ClientKind::Confidential),
            _ => None,
        }
    }
}

impl fmt::Display for ClientKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    pub kind: ClientKind,
    pub redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub rate_limit_per_min: Option<i32>,
    pub jwks_uri: Option<String>,
    #[serde(skip)]
    pub secret_sha256: Option<Vec<u8>>,
    pub status: String,
}

impl Client {
    pub fn is_active(&self) -> bool {
        self.status == "active"
    }

    /// Whether `uri` is one of this client's redirect URIs (RFC 8252 §7.3 loopback rule).
    pub fn allows_redirect(&self, uri: &str) -> bool {
        self.redirect_uris
            .iter()
            .any(|registered| super::redirect::matches(registered, uri))
    }
}

/// A client to register, validated.
#[derive(Debug, Clone)]
pub struct NewClient {
    pub name: String,
    pub kind: ClientKind,
    pub redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub rate_limit_per_min: Option<i32>,
    pub jwks_uri: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidClient {
    #[error("name must be 1 to 200 characters")]
    Name,
    #[error("redirect URI `{0}`: {1}")]
    RedirectUri(String, &'static str),
    #[error("a public client needs at least one redirect URI")]
    NoRedirectUri,
    #[error("unknown scope `{0}` (known: {known})", known = KNOWN_SCOPES.join(", "))]
    Scope(String),
    #[error("rate limit must be a positive number of requests per minute")]
    RateLimit,
    #[error("jwks_uri must be an https URL (or http on a loopback address)")]
    JwksUri,
    #[error("only confidential clients can register a jwks_uri")]
    JwksUriOnPublic,
}

impl Default for NewClient {
    /// A confidential client with no scopes: fill in what it needs.
    fn default() -> Self {
        NewClient {
            name: String::new(),
            kind: ClientKind::Confidential,
            redirect_uris: Vec::new(),
            scopes: Vec::new(),
            rate_limit_per_min: None,
            jwks_uri: None,
        }
    }
}

impl NewClient {
    pub fn validate(mut self) -> Result<Self, InvalidClient> {
        self.name = self.name.trim().to_string();
        if self.name.is_empty() || self.name.chars().count() > 200 {
            return Err(InvalidClient::Name);
        }
        for uri in &self.redirect_uris {
            super::redirect::validate(uri, self.kind)
                .map_err(|why| InvalidClient::RedirectUri(uri.clone(), why))?;
        }
        if self.kind == ClientKind::Public && self.redirect_uris.is_empty() {
            return Err(InvalidClient::NoRedirectUri);
        }
        if self.scopes.is_empty() && self.kind == ClientKind::Public {
            self.scopes = DEFAULT_PUBLIC_SCOPES
                .iter()
                .map(|s| s.to_string())
                .collect();
        }
        for scope in &self.scopes {
            if !KNOWN_SCOPES.contains(&scope.as_str()) {
                return Err(InvalidClient::Scope(scope.clone()));
            }
        }
        self.scopes.sort();
        self.scopes.dedup();
        if self.rate_limit_per_min.is_some_and(|n| n <= 0) {
            return Err(InvalidClient::RateLimit);
        }
        if let Some(uri) = &self.jwks_uri {
            if self.kind == ClientKind::Public {
                return Err(InvalidClient::JwksUriOnPublic);
            }
            let ok = url::Url::parse(uri).is_ok_and(|u| {
                u.scheme() == "https" || (u.scheme() == "http" && super::redirect::is_loopback(&u))
            });
            if !ok {
                return Err(InvalidClient::JwksUri);
            }
        }
        Ok(self)
    }
}
