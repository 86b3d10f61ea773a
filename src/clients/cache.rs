//! Registered clients as client authentication reads them when a secret is presented (service
//! providers at the token, introspection and revocation endpoints): kept in process for at most
//! [`FRESH_FOR`], so minting or introspecting a token does not cost a PostgreSQL read.
//!
//! Every change that narrows what a client may do (a suspension, a deletion, a rotated secret,
//! narrowed scopes, grants or bindings) records a cut-off that reaches every replica through the
//! revocation fan-out (with PostgreSQL polled behind it). An entry remembers the cut-off in force
//! when it was read and is dropped as soon as that changes, so such changes hold here as fast as
//! revocations do. Changes that narrow nothing (a name, a redirect URI, a resume) reach every
//! replica within [`FRESH_FOR`] (a rate limit within the limiter's own 5 s). While the fan-out
//! is down the cut-offs may lag, so every lookup reads PostgreSQL.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;

use super::{Client, store};
use crate::tokens::Revocations;

/// How long an entry serves before it is read again.
pub const FRESH_FOR: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct ClientCache {
    db: PgPool,
    revocations: Revocations,
    entries: moka::sync::Cache<String, Entry>,
}

#[derive(Clone)]
struct Entry {
    client: Arc<Client>,
    /// The client's cut-off as this replica knew it before the row was read.
    cut_off: Option<i64>,
}

impl ClientCache {
    pub fn new(db: PgPool, revocations: Revocations) -> Self {
        Self {
            db,
            revocations,
            entries: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(FRESH_FOR)
                .build(),
        }
    }

    /// Whether [`find`](Self::find) would answer `client_id` from memory now.
    pub fn holds(&self, client_id: &str) -> bool {
        self.fresh(client_id).is_some()
    }

    /// The entry for `client_id`, if it may serve: the fan-out is up and has brought no cut-off
    /// since the row was read.
    fn fresh(&self, client_id: &str) -> Option<Entry> {
        let entry = self.entries.get(client_id)?;
        let current = self.revocations.client_cut_off(client_id);
        (self.revocations.is_live() && entry.cut_off == current).then_some(entry)
    }

    /// A client by id, deleted ones not found (as [`store::find`]).
    pub async fn find(&self, client_id: &str) -> sqlx::Result<Option<Client>> {
        if let Some(entry) = self.fresh(client_id) {
            return Ok(Some(Client::clone(&entry.client)));
        }
        let live = self.revocations.is_live();
        // Read before the row: a cut-off that lands while the row is read makes the entry stale.
        let cut_off = self.revocations.client_cut_off(client_id);
        let found = store::find(&self.db, client_id).await?;
        match &found {
            Some(client) if live => self.entries.insert(
                client_id.to_string(),
                Entry {
                    client: Arc::new(client.clone()),
                    cut_off,
                },
            ),
            _ => self.entries.invalidate(client_id),
        }
        Ok(found)
    }
}
