//! What every handler receives: handles of the foundations and the shared services, built once
//! by `startup`. A capability's own services (the eID client, the client-key cache) live in that
//! capability and reach its handlers as their own `Data`.

pub mod operator;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use sqlx::PgPool;

use crate::audit::AuditLog;
use crate::cache::Cache;
use crate::clients::ClientCache;
use crate::config::Config;
use crate::crypto::MasterKey;
use crate::ratelimit::RateLimiter;
use crate::redis::Redis;
use crate::storage::Storage;
use crate::tokens::{Revocations, Tokens};

/// Shared by all requests.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: PgPool,
    pub redis: Redis,
    pub cache: Cache,
    /// False once shutdown has begun, so load balancers stop sending traffic.
    pub ready: Arc<AtomicBool>,
    pub tokens: Tokens,
    pub revocations: Revocations,
    /// Registered clients held in memory, for client authentication with a secret.
    pub clients: ClientCache,
    pub limiter: RateLimiter,
    pub audit: AuditLog,
    pub storage: Storage,
}

impl AppState {
    pub fn master_key(&self) -> MasterKey {
        MasterKey::new(*self.config.master_key.expose())
    }
}
