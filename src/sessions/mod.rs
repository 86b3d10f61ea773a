//! Login sessions and their refresh-token families.

pub mod api;
pub mod store;

pub use api::SessionsApi;
pub use store::{NewSession, Session};
