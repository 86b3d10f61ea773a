//! Login sessions and their refresh-token families.

pub mod api;
pub mod store;

pub use api::SessionsApi;
pub use store::{NewSession, Session};

use std::time::Duration;

use uuid::Uuid;

use crate::state::AppState;

/// Drops the encrypted replies of closed refresh grace windows, on every replica (the update is
/// idempotent), as often as the window is long (between 1 s and a minute).
pub fn spawn_reply_sweeper(db: sqlx::PgPool, grace: Duration) {
    let every = grace.clamp(Duration::from_secs(1), Duration::from_secs(60));
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match store::drop_expired_replies(&db).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(dropped = n, "closed refresh grace windows swept"),
                Err(err) => tracing::warn!(error = %err, "sweeping refresh grace windows failed"),
            }
        }
    });
}

/// Revokes a session in PostgreSQL and on every replica.
pub async fn end_session(app: &AppState, session_id: Uuid, reason: &str) -> sqlx::Result<bool> {
    let mut conn = app.db.acquire().await?;
    let was_live = store::revoke(&mut conn, session_id, reason).await?;
    app.revocations
        .revoke_session(&session_id.to_string())
        .await;
    Ok(was_live)
}
