//! Registered clients: the mobile app (public) and service providers (confidential).

pub mod model;
pub mod redirect;
pub mod service;
pub mod store;

pub use model::{Client, ClientKind, ClientStatus, InvalidClient, NewClient, ValidClient};
