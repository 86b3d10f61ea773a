//! Webhooks for service providers, per the Standard Webhooks specification: the endpoints a
//! client registers, a transactional outbox that capabilities write in their own transactions
//! ([`enqueue`]), and the delivery worker every replica runs.
//!
//! Delivery is at least once: the `webhook-id` of an event is the same on every attempt, so a
//! receiver deduplicates on it. An attempt holds a lease on its row, so two replicas never send
//! one delivery at the same time.

pub mod model;
pub mod outbox;
pub mod service;
pub mod signature;
pub mod store;
pub mod target;
pub mod worker;

pub use model::{Attempt, Delivery, EVENT_TYPES, Endpoint, InvalidWebhook};
pub use outbox::{Audience, enqueue};
pub use worker::spawn_worker;
