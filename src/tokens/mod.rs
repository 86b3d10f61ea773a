//! Our tokens: signing keys, JWT access and ID tokens, bearer verification.

pub mod bearer;
pub mod jwt;
pub mod keys;
pub mod revocation;
pub mod store;

pub use bearer::BearerAuth;
pub use jwt::{AccessClaims, IdClaims, TokenError, Tokens};
pub use keys::Keyring;
pub use revocation::Revocations;

use std::time::Duration;

/// Clock skew we accept when verifying `exp`, `iat` and `nbf`.
pub const LEEWAY_SECS: u64 = 30;

/// The longest an access token of lifetime `access_ttl` can still be accepted after it was
/// issued: its life, the verification leeway, and a margin for the time it took to sign. A key
/// stays published, and a revoked session denied, at least this long.
pub fn max_token_life(access_ttl: Duration) -> Duration {
    access_ttl + Duration::from_secs(LEEWAY_SECS + 60)
}
