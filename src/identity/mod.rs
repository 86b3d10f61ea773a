//! Citizens' identity: the national eID relying party, sign-in start and finish, citizens.

pub mod api;
pub mod callback;
pub mod citizens;
pub mod eid;
pub mod login;

pub use api::IdentityApi;
