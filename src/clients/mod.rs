//! Registered clients: the mobile app (public) and service providers (confidential).

pub mod cache;
pub mod model;
pub mod redirect;
pub mod service;
pub mod store;

pub use cache::ClientCache;
pub use model::{Client, ClientKind, ClientStatus, InvalidClient, NewClient, ValidClient};
