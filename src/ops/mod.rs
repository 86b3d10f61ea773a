//! The operators' side: roles, and the operator API under `/v1/ops`: every operation needs an
//! operator signed in at identity level 2 through a client granted `ops`, and is audited. Also
//! the audit chain's public checkpoints, which auditors read and keep. Moderation of listings
//! is an operator action here, on top of the listings' own service.

pub mod access;
pub mod audit;
pub mod checkpoints;
pub mod clients;
pub mod guard;
pub mod keys;
pub mod listings;
pub mod roles;
pub mod webhooks;

pub use access::OpsAccessApi;
pub use audit::OpsAuditApi;
pub use checkpoints::AuditApi;
pub use clients::OpsClientsApi;
pub use keys::OpsKeysApi;
pub use listings::OpsListingsApi;
pub use webhooks::OpsWebhooksApi;
