//! The operators' side: roles, and the operator API under `/v1/ops`.

pub mod api;
pub mod roles;

pub use api::OpsApi;
