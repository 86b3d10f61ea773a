//! Registered clients: the mobile app (public) and service providers (confidential).

pub mod model;
pub mod redirect;
pub mod store;

pub use model::{Client, ClientKind, InvalidClient, NewClient};
