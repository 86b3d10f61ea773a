//! motcua: the backend of a province's citizen mobile app.
//!
//! A stateless API gateway: citizens sign in with the national eID (OpenID Connect), the app and
//! service providers get our own JWTs, and mobile services are served from PostgreSQL through a
//! Redis cache.
#![deny(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

/// The audit log of security events.
pub mod audit;
/// Redis cache-aside with namespace invalidation and single-flight loads.
pub mod cache;
/// The command line: `serve`, `migrate`, `openapi`.
pub mod cli;
/// Registered clients: apps and service providers, redirect URI rules.
pub mod clients;
/// Configuration, read once from files and the environment.
pub mod config;
/// Random tokens, hashes, and encryption under keys derived from the master key.
pub mod crypto;
/// PostgreSQL: database creation, migrations, health.
pub mod db;
/// Dossier tracking: statuses and transitions, working-day due dates, timeline, statistics.
pub mod dossiers;
/// Liveness, readiness and Prometheus metrics.
pub mod health;
/// HTTP plumbing: problem details, message catalogue, request pipeline.
pub mod http;
/// Citizens' sign-in with the national eID (OpenID Connect relying party).
pub mod identity;
/// Our OAuth 2.0 authorization server: metadata, JWKS, authorization and token endpoints.
pub mod oauth;
/// Operators: roles and the `/v1/ops` API.
pub mod ops;
/// Rate limits per client and per client IP, shared by every replica through Redis.
pub mod ratelimit;
/// The shared Redis connection and its circuit breaker.
pub mod redis;
/// Login sessions, refresh-token families.
pub mod sessions;
/// The `Application`: wiring of every capability behind one listener.
pub mod startup;
/// Logs and metrics.
pub mod telemetry;
/// Our JWTs: signing keys, access and ID tokens, bearer verification.
pub mod tokens;
