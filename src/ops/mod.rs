//! The operators' side: roles, and the operator API under `/v1/ops`: every operation needs an
//! operator signed in at identity level 2 through a client granted `ops`, and is audited. Also
//! the audit chain's public checkpoints, which auditors read and keep.

pub mod access;
pub mod audit;
pub mod checkpoints;
pub mod clients;
pub mod guard;
pub mod keys;
pub mod roles;
pub mod webhooks;

pub use access::OpsAccessApi;
pub use audit::OpsAuditApi;
pub use checkpoints::AuditApi;
pub use clients::OpsClientsApi;
pub use keys::OpsKeysApi;
pub use webhooks::OpsWebhooksApi;
