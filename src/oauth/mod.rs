//! Our OAuth 2.0 authorization server: metadata (RFC 8414), JWKS, the authorization endpoint
//! brokering to the national eID, and the token endpoint.

pub mod api;
pub mod assertion;
pub mod authorize;
pub mod client_auth;
pub mod error;
pub mod grants;
pub mod introspect;
pub mod metadata;
pub mod revoke;
pub mod token;

pub use api::OAuthApi;
