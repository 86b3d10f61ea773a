//! Local-product listings: merchants (household businesses, cooperatives, enterprises) sell
//! OCOP products, seafood, farm produce, handicrafts and community tourism; the app browses and
//! searches them, merchants publish from the app and partner marketplaces push in bulk.
//!
//! The domain core is free of HTTP: `model` holds the vocabulary and the field rules, `store`
//! every SQL statement (search in `store/search`), `images` the decoding and re-encoding of
//! uploaded pictures, `seed` the demo data. On top, `api` (thin handlers), `views` (the JSON
//! shapes), `service` (who writes, the cache and its exact invalidation, `ETag`s, problems) and
//! `uploads` (image uploads and downloads). Moderation is an operator action: its endpoints live with
//! the operator API and call `service::moderate`.

pub mod api;
pub mod images;
pub mod model;
pub mod seed;
pub mod service;
pub mod store;
pub mod uploads;
pub mod views;

pub use api::{ListingImagesApi, ListingsApi, MerchantsApi};

/// The capability's APIs, as one member of the application's list.
pub type ListingApis = (ListingsApi, MerchantsApi, ListingImagesApi);
