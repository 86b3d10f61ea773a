//! motcua: the backend of a province's citizen mobile app.
//!
//! A stateless API gateway: citizens sign in with the national eID (OpenID Connect), the app and
//! service providers get our own JWTs, and mobile services are served from PostgreSQL through a
//! Redis cache.
//!
//! # Layers
//!
//! Modules form layers, and a module uses only modules of its own layer or lower ones, with no
//! import cycle between two top-level modules (`scripts/layers` checks both, in `scripts/test`):
//!
//! 1. **foundations**: `config`, `crypto`, `db`, `redis`, `http`, `storage`,
//!    `telemetry`;
//! 2. **shared services**: `tokens`, `clients`, `audit`, `cache`, `ratelimit`, `webhooks`;
//! 3. **request state**: `state`, the handles every handler receives;
//! 4. **capabilities**: `health`, `identity`, `sessions`, `oauth`, `ops`, `documents`,
//!    `dossiers`, `listings`, each owning its routes (`api`), its logic, its SQL (`store`) and
//!    its types (`model`) as far as it has them (the README's architecture section says where
//!    each differs);
//! 5. **wiring**: `startup` (the `Application`) and `cli`, which call the same service
//!    functions.
#![deny(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

/// The audit log of security events: hash chain, group commit, sampling.
pub mod audit;
/// Redis cache-aside with namespace invalidation and single-flight loads.
pub mod cache;
/// The command line: `serve`, `migrate`, `openapi`, clients, roles, keys, audit.
pub mod cli;
/// Registered clients: apps and service providers, redirect URI rules, grant types.
pub mod clients;
/// Configuration, read once from files and the environment.
pub mod config;
/// Random tokens, hashes, and encryption under keys derived from the master key.
pub mod crypto;
/// PostgreSQL: database creation, migrations, health.
pub mod db;
/// Documents citizens upload: magic-byte types, streamed to object storage with their SHA-256.
pub mod documents;
/// Dossier tracking: statuses and transitions, working-day due dates, timeline, statistics.
pub mod dossiers;
/// Liveness, readiness and Prometheus metrics.
pub mod health;
/// HTTP plumbing: problem details, message catalogue, request pipeline, the shared path table,
/// multipart file uploads.
pub mod http;
/// Citizens' sign-in with the national eID (OpenID Connect relying party).
pub mod identity;
/// Local-product listings: merchants, OCOP products, accent-insensitive search, cached reads.
pub mod listings;
/// Our OAuth 2.0 authorization server: metadata, JWKS, authorization, token, revocation and
/// introspection endpoints, client authentication.
pub mod oauth;
/// Operators: roles, the `/v1/ops` API and the audit chain's public checkpoints.
pub mod ops;
/// Rate limits per client and per client IP, shared by every replica through Redis.
pub mod ratelimit;
/// The shared Redis connection and its circuit breaker.
pub mod redis;
/// Login sessions, refresh-token families, the citizen's devices.
pub mod sessions;
/// The `Application`: wiring of every capability behind one listener.
pub mod startup;
/// What every handler receives: foundations and shared services, built once.
pub mod state;
/// Object storage for uploaded documents and images: a local directory or S3-compatible
/// storage.
pub mod storage;
/// Logs and metrics.
pub mod telemetry;
/// Our JWTs: signing keys, access and ID tokens, bearer verification, revocation.
pub mod tokens;
/// Signed webhooks to service providers (Standard Webhooks): endpoints, the transactional
/// outbox capabilities write to, and the delivery worker with its SSRF guard.
pub mod webhooks;
