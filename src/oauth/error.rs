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
