//! Our tokens: signing keys, JWT access and ID tokens, bearer verification.

pub mod bearer;
pub mod jwt;
pub mod keys;
pub mod revocation;

pub use bearer::BearerAuth;
pub use jwt::{AccessClaims, IdClaims, TokenError, Tokens};
pub use keys::Keyring;
pub use revocation::Revocations;
