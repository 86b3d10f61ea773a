//! The transactional outbox: a capability enqueues an event in the transaction that makes the
//! change it reports, so the event is sent if and only if the change commits.

use serde_json::Value;
use sqlx::PgConnection;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::store;

/// Which clients an event is for; among them, those subscribed to the event type get it.
/// Only active clients get events.
#[derive(Debug, Clone, Copy)]
pub enum Audience<'a> {
    /// Clients bound to this agency (the binding that lets them act on its dossiers).
    Agency(&'a str),
    /// One client.
    Client(&'a str),
}

/// Queues `event_type` with `data` for every endpoint subscribed to it among the audience's
/// clients, in the caller's transaction. Every endpoint gets the same `webhook-id`; returns it,
/// or `None` when nobody subscribed.
pub async fn enqueue(
    conn: &mut PgConnection,
    audience: Audience<'_>,
    event_type: &str,
    data: Value,
    now: OffsetDateTime,
) -> sqlx::Result<Option<String>> {
    let (agency, client) = match audience {
        Audience::Agency(code) => (Some(code), None),
        Audience::Client(id) => (None, Some(id)),
    };
    let endpoints = store::subscribed(conn, event_type, agency, client).await?;
    if endpoints.is_empty() {
        return Ok(None);
    }
    let event_id = format!("msg_{}", Uuid::now_v7().simple());
    // The envelope the specification recommends: type, timestamp, data.
    let body = serde_json::json!({
        "type": event_type,
        "timestamp": now.format(&Rfc3339).unwrap_or_default(),
        "data": data,
    })
    .to_string();
    store::insert_deliveries(conn, &event_id, event_type, &body, &endpoints, now).await?;
    Ok(Some(event_id))
}
