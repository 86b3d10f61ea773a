//! Integration tests: one binary, every test against a real PostgreSQL and Redis.

mod audit;
mod cache;
mod cli;
mod config;
mod dossiers_api;
mod dossiers_store;
mod eid_faults;
mod fake_provider;
mod hardening;
mod health;
mod helpers;
mod identity;
mod keys;
mod listings_api;
mod listings_search;
mod openapi;
mod ops;
mod problems;
mod propagation;
mod providers;
mod ratelimit;
mod sessions;
mod signin;
mod tokens;
