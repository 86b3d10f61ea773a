//! Liveness, readiness and metrics endpoints.

mod api;

pub use api::HealthApi;
