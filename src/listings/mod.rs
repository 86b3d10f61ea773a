//! Local-product listings: merchants (household businesses, cooperatives, enterprises) sell
//! OCOP products, seafood, farm produce, handicrafts and community tourism; the app browses and
//! searches them, merchants publish from the app and partner marketplaces push in bulk.
//!
//! The domain core is free of HTTP: `model` holds the vocabulary and the field rules, `store`
//! every SQL statement (search in `store/search`), `seed` the demo data. On top, `api` (thin
//! handlers), `views` (the JSON shapes) and `service` (who writes, the cache and its exact
//! invalidation, `ETag`s, problems). Moderation is an operator action: its endpoints live with
//! the operator API and call `service::moderate`.

pub mod api;
pub mod model;
pub mod seed;
pub mod service;
pub mod store;
pub mod views;

pub use api::{MerchantListingsApi, PublicListingsApi};

/// The capability's APIs, as one member of the application's list.
pub type ListingApis = (PublicListingsApi, MerchantListingsApi);
