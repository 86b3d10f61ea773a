//! Every SQL statement of webhooks.

use std::time::Duration;

use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use super::model::{Attempt, Delivery, Endpoint};

/// Whether the client exists (and is not deleted).
pub async fn client_exists(db: &PgPool, client_id: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM clients WHERE id = $1 AND deleted_at IS NULL) AS "exists!""#,
        client_id,
    )
    .fetch_one(db)
    .await
}

pub async fn count_endpoints(db: &PgPool, client_id: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM webhook_endpoints WHERE client_id = $1"#,
        client_id,
    )
    .fetch_one(db)
    .await
}

pub async fn insert_endpoint(
    db: &PgPool,
    id: &str,
    client_id: &str,
    url: &str,
    events: &[String],
    secret_sealed: &[u8],
) -> sqlx::Result<Endpoint> {
    sqlx::query_as!(
        Endpoint,
        "INSERT INTO webhook_endpoints (id, client_id, url, events, secret_sealed)
         VALUES ($1, $2, $3, $4, $5)
         RETURNING id, client_id, url, events, status, failing_since, previous_secret_until,
                   created_at",
        id,
        client_id,
        url,
        events,
        secret_sealed,
    )
    .fetch_one(db)
    .await
}

pub async fn list_endpoints(db: &PgPool, client_id: &str) -> sqlx::Result<Vec<Endpoint>> {
    sqlx::query_as!(
        Endpoint,
        "SELECT id, client_id, url, events, status, failing_since, previous_secret_until,
                created_at
           FROM webhook_endpoints WHERE client_id = $1 ORDER BY id",
        client_id,
    )
    .fetch_all(db)
    .await
}

pub async fn find_endpoint(
    db: &PgPool,
    client_id: &str,
    id: &str,
) -> sqlx::Result<Option<Endpoint>> {
    sqlx::query_as!(
        Endpoint,
        "SELECT id, client_id, url, events, status, failing_since, previous_secret_until,
                created_at
           FROM webhook_endpoints WHERE client_id = $1 AND id = $2",
        client_id,
        id,
    )
    .fetch_optional(db)
    .await
}

/// Deletes an endpoint and its deliveries; false when there was none.
pub async fn delete_endpoint(db: &PgPool, client_id: &str, id: &str) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "DELETE FROM webhook_endpoints WHERE client_id = $1 AND id = $2",
        client_id,
        id,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Installs a new secret; the current one becomes the previous one, valid until `until`.
pub async fn rotate_secret(
    db: &PgPool,
    client_id: &str,
    id: &str,
    secret_sealed: &[u8],
    until: OffsetDateTime,
) -> sqlx::Result<Option<Endpoint>> {
    sqlx::query_as!(
        Endpoint,
        "UPDATE webhook_endpoints
            SET previous_secret_sealed = secret_sealed, previous_secret_until = $4,
                secret_sealed = $3
          WHERE client_id = $1 AND id = $2
         RETURNING id, client_id, url, events, status, failing_since, previous_secret_until,
                   created_at",
        client_id,
        id,
        secret_sealed,
        until,
    )
    .fetch_optional(db)
    .await
}

/// The endpoints subscribed to `event_type` of active clients chosen by the audience's filter
/// (`agency`: bound to that agency; `client`: that client).
pub async fn subscribed(
    conn: &mut PgConnection,
    event_type: &str,
    agency: Option<&str>,
    client: Option<&str>,
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        "SELECT e.id FROM webhook_endpoints e JOIN clients c ON c.id = e.client_id
          WHERE $1 = ANY (e.events) AND c.status = 'active' AND c.deleted_at IS NULL
            AND ($2::text IS NULL OR $2 = ANY (c.agencies))
            AND ($3::text IS NULL OR c.id = $3)
          ORDER BY e.id",
        event_type,
        agency,
        client,
    )
    .fetch_all(&mut *conn)
    .await
}

/// Writes one pending delivery per endpoint, due at once.
pub async fn insert_deliveries(
    conn: &mut PgConnection,
    event_id: &str,
    event_type: &str,
    body: &str,
    endpoints: &[String],
    now: OffsetDateTime,
) -> sqlx::Result<()> {
    let ids: Vec<Uuid> = endpoints.iter().map(|_| Uuid::now_v7()).collect();
    sqlx::query!(
        "INSERT INTO webhook_deliveries
                (id, event_id, endpoint_id, event_type, body, next_attempt_at, retry_from)
         SELECT d.id, $3, d.endpoint_id, $4, $5, $6, $6
           FROM UNNEST($1::uuid[], $2::text[]) AS d (id, endpoint_id)",
        &ids,
        endpoints,
        event_id,
        event_type,
        body,
        now,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A delivery a worker claimed, with what it needs to send it.
#[derive(Debug)]
pub struct Claimed {
    pub id: Uuid,
    pub event_id: String,
    pub endpoint_id: String,
    pub client_id: String,
    pub url: String,
    pub body: String,
    /// The number of this attempt.
    pub attempt: i32,
    pub retry_from: OffsetDateTime,
    pub secret_sealed: Vec<u8>,
    /// The previous secret, while it still signs.
    pub previous_secret_sealed: Option<Vec<u8>>,
}

/// Claims up to `limit` due deliveries for `lease`: rows another worker is claiming are
/// skipped (`SKIP LOCKED`), and a claimed row is not due again before its lease ends, so no two
/// workers send one delivery at the same time. A worker that dies leaves the row to be claimed
/// again when the lease ends.
pub async fn claim(
    db: &PgPool,
    limit: i64,
    lease: Duration,
    now: OffsetDateTime,
) -> sqlx::Result<Vec<Claimed>> {
    let leased_until = now + lease;
    sqlx::query_as!(
        Claimed,
        r#"WITH due AS (
             SELECT id FROM webhook_deliveries
              WHERE status = 'pending' AND next_attempt_at <= $1
              ORDER BY next_attempt_at
              LIMIT $2
                FOR UPDATE SKIP LOCKED)
         UPDATE webhook_deliveries d
            SET attempts = d.attempts + 1, leased_until = $3, next_attempt_at = $3
           FROM due, webhook_endpoints e
          WHERE d.id = due.id AND e.id = d.endpoint_id
         RETURNING d.id, d.event_id, d.endpoint_id, e.client_id, e.url, d.body,
                   d.attempts AS attempt, d.retry_from, e.secret_sealed,
                   CASE WHEN e.previous_secret_until > $1 THEN e.previous_secret_sealed END
                       AS previous_secret_sealed"#,
        now,
        limit,
        leased_until,
    )
    .fetch_all(db)
    .await
}

/// What became of an attempt.
#[derive(Debug)]
pub struct Outcome {
    pub at: OffsetDateTime,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i32,
    /// Delivered; otherwise retried at `next_attempt_at`, or given up when that is `None`.
    pub delivered: bool,
    pub next_attempt_at: Option<OffsetDateTime>,
}

/// Records an attempt and its outcome. Only the worker holding the claim for this attempt
/// writes (a claim made after its lease lapsed moves `attempts` on); returns false when the
/// claim was lost.
pub async fn finish(db: &PgPool, claimed: &Claimed, outcome: &Outcome) -> sqlx::Result<bool> {
    let mut tx = db.begin().await?;
    let status = match (outcome.delivered, outcome.next_attempt_at) {
        (true, _) => "delivered",
        (false, Some(_)) => "pending",
        (false, None) => "failed",
    };
    let updated = sqlx::query!(
        "UPDATE webhook_deliveries
            SET status = $3, next_attempt_at = $4, leased_until = NULL, last_error = $5,
                delivered_at = CASE WHEN $3 = 'delivered' THEN $6 ELSE delivered_at END
          WHERE id = $1 AND attempts = $2 AND status = 'pending'",
        claimed.id,
        claimed.attempt,
        status,
        outcome.next_attempt_at,
        outcome.error.as_deref(),
        outcome.at,
    )
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query!(
        "INSERT INTO webhook_attempts (delivery_id, attempt, at, status_code, error, duration_ms)
         VALUES ($1, $2, $3, $4, $5, $6)",
        claimed.id,
        claimed.attempt,
        outcome.at,
        outcome.status_code,
        outcome.error.as_deref(),
        outcome.duration_ms,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Marks an endpoint failing; true when it was not already.
pub async fn mark_failing(db: &PgPool, id: &str, now: OffsetDateTime) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "UPDATE webhook_endpoints SET status = 'failing', failing_since = $2
          WHERE id = $1 AND status <> 'failing'",
        id,
        now,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Marks an endpoint active again after a success; true when it was failing.
pub async fn mark_active(db: &PgPool, id: &str) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "UPDATE webhook_endpoints SET status = 'active', failing_since = NULL
          WHERE id = $1 AND status = 'failing'",
        id,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// An endpoint's deliveries, newest first, before `before` (a delivery id), with their
/// attempts.
pub async fn deliveries(
    db: &PgPool,
    endpoint_id: &str,
    before: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<Delivery>> {
    select_deliveries(db, endpoint_id, before, None, limit).await
}

pub async fn find_delivery(
    db: &PgPool,
    endpoint_id: &str,
    id: Uuid,
) -> sqlx::Result<Option<Delivery>> {
    Ok(select_deliveries(db, endpoint_id, None, Some(id), 1)
        .await?
        .pop())
}

async fn select_deliveries(
    db: &PgPool,
    endpoint_id: &str,
    before: Option<Uuid>,
    only: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<Delivery>> {
    let rows = sqlx::query!(
        "SELECT id, event_id, event_type, status, attempts,
                CASE WHEN status = 'pending' THEN next_attempt_at END AS next_attempt_at,
                delivered_at, last_error, created_at
           FROM webhook_deliveries
          WHERE endpoint_id = $1 AND ($2::uuid IS NULL OR id < $2)
            AND ($4::uuid IS NULL OR id = $4)
          ORDER BY id DESC LIMIT $3",
        endpoint_id,
        before,
        limit,
        only,
    )
    .fetch_all(db)
    .await?;
    let mut deliveries: Vec<Delivery> = rows
        .into_iter()
        .map(|row| Delivery {
            id: row.id,
            event_id: row.event_id,
            event_type: row.event_type,
            status: row.status,
            attempts: row.attempts,
            next_attempt_at: row.next_attempt_at,
            delivered_at: row.delivered_at,
            last_error: row.last_error,
            created_at: row.created_at,
            attempt_log: Vec::new(),
        })
        .collect();
    let ids: Vec<Uuid> = deliveries.iter().map(|d| d.id).collect();
    let attempts = sqlx::query!(
        "SELECT delivery_id, attempt, at, status_code, error, duration_ms FROM webhook_attempts
          WHERE delivery_id = ANY ($1) ORDER BY delivery_id, attempt",
        &ids,
    )
    .fetch_all(db)
    .await?;
    for row in attempts {
        if let Some(d) = deliveries.iter_mut().find(|d| d.id == row.delivery_id) {
            d.attempt_log.push(Attempt {
                attempt: row.attempt,
                at: row.at,
                status_code: row.status_code,
                error: row.error,
                duration_ms: row.duration_ms,
            });
        }
    }
    Ok(deliveries)
}

/// Makes a delivery due now with a fresh retry window, keeping its `webhook-id`. `None` when
/// there is no such delivery; `Some(false)` when an attempt is in flight.
pub async fn redeliver(
    db: &PgPool,
    endpoint_id: &str,
    id: Uuid,
    now: OffsetDateTime,
) -> sqlx::Result<Option<bool>> {
    sqlx::query_scalar!(
        r#"WITH target AS (
             SELECT id, status = 'pending' AND leased_until > $3 AS in_flight
               FROM webhook_deliveries WHERE endpoint_id = $1 AND id = $2 FOR UPDATE),
         moved AS (
             UPDATE webhook_deliveries d
                SET status = 'pending', next_attempt_at = $3, retry_from = $3,
                    leased_until = NULL
               FROM target WHERE d.id = target.id AND NOT target.in_flight
             RETURNING d.id)
         SELECT EXISTS (SELECT 1 FROM moved) AS "moved!" FROM target"#,
        endpoint_id,
        id,
        now,
    )
    .fetch_optional(db)
    .await
}
