//! RFC 6749 errors: the OAuth endpoints keep this format rather than problem details.

use poem_openapi::Object;
use poem_openapi::types::Example;

/// An OAuth 2.0 error response (RFC 6749 §4.1.2.1 and §5.2).
#[derive(Debug, Clone, Object, PartialEq, Eq)]
#[oai(example)]
pub struct OAuthError {
    /// The error code, one of those RFC 6749 defines for the endpoint.
    pub error: String,
    /// Human-readable explanation, for developers.
    #[oai(skip_serializing_if_is_none)]
    pub error_description: Option<String>,
}

impl Example for OAuthError {
    fn example() -> Self {
        OAuthError::new(
            "invalid_grant",
            "The authorization code is invalid, expired or already used",
        )
    }
}

impl OAuthError {
    pub fn new(error: &str, description: impl Into<String>) -> Self {
        Self {
            error: error.to_string(),
            error_description: Some(description.into()),
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new("invalid_request", description)
    }

    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new("invalid_grant", description)
    }

    pub fn invalid_client(description: impl Into<String>) -> Self {
        Self::new("invalid_client", description)
    }

    pub fn server_error() -> Self {
        Self::new(
            "server_error",
            "The server could not complete the request; retry later",
        )
    }

    pub fn temporarily_unavailable(description: impl Into<String>) -> Self {
        Self::new("temporarily_unavailable", description)
    }
}

/// How a refusal is answered: each endpoint maps these to its own documented responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// 400: the request is malformed or the grant invalid.
    BadRequest,
    /// 401 with a challenge: client authentication failed.
    Unauthorized,
    /// 500: a failure of ours (where the endpoint documents none, answered as unavailable).
    ServerError,
    /// 503: a service we depend on did not answer; retry later.
    Unavailable,
    /// 429: over the rate limit (`limited` holds the decision).
    RateLimited,
}

/// A refusal at the token, revocation or introspection endpoint: how it is answered, and the
/// error.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub kind: RefusalKind,
    pub error: OAuthError,
    /// Set when the caller is over its rate limit: answered with 429, not an OAuth error.
    pub limited: Option<crate::ratelimit::Decision>,
}

impl Refusal {
    pub fn new(kind: RefusalKind, error: OAuthError) -> Self {
        Self {
            kind,
            error,
            limited: None,
        }
    }

    pub fn rate_limited(decision: crate::ratelimit::Decision) -> Self {
        Self {
            kind: RefusalKind::RateLimited,
            error: OAuthError::temporarily_unavailable("Too many requests"),
            limited: Some(decision),
        }
    }

    pub fn invalid_grant(description: &str) -> Self {
        Self::new(
            RefusalKind::BadRequest,
            OAuthError::invalid_grant(description),
        )
    }

    pub fn server_error() -> Self {
        Self::new(RefusalKind::ServerError, OAuthError::server_error())
    }

    pub fn unavailable() -> Self {
        Self::new(
            RefusalKind::Unavailable,
            OAuthError::temporarily_unavailable("Try again shortly"),
        )
    }
}
