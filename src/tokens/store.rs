//! SQL of revocation: denied access tokens, and the revocation state the deny-list falls back
//! to. Sessions and clients are owned by their modules; these reads look only at the columns
//! that say whether they were revoked, and when.

use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

/// Whether the session has ended (read from the sessions table, which the sessions module owns).
pub async fn is_session_revoked(db: &PgPool, session_id: Uuid) -> sqlx::Result<bool> {
    let revoked = sqlx::query_scalar!(
        r#"SELECT revoked_at IS NOT NULL AS "revoked!" FROM sessions WHERE id = $1"#,
        session_id,
    )
    .fetch_optional(db)
    .await?;
    Ok(revoked.unwrap_or(false))
}

pub async fn revoke_access_token(
    db: &PgPool,
    jti: &str,
    expires_at: OffsetDateTime,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO revoked_access_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING",
        jti,
        expires_at,
    )
    .execute(db)
    .await?;
    Ok(())
}

pub async fn is_access_token_revoked(db: &PgPool, jti: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM revoked_access_tokens WHERE jti = $1) AS "revoked!""#,
        jti,
    )
    .fetch_one(db)
    .await
}

/// Whether a client's tokens issued at `issued_ms` (unix milliseconds) are dead: the client is
/// not active, or was cut off at or after that instant. An unknown client counts as cut off.
pub async fn is_client_cut_off(db: &PgPool, client_id: &str, issued_ms: i64) -> sqlx::Result<bool> {
    let cut_off = sqlx::query_scalar!(
        r#"SELECT status <> 'active'
                  OR coalesce(floor(extract(epoch FROM suspended_at) * 1000)::bigint >= $2, false)
                  AS "cut_off!"
           FROM clients WHERE id = $1"#,
        client_id,
        issued_ms,
    )
    .fetch_optional(db)
    .await?;
    Ok(cut_off.unwrap_or(true))
}

/// One row of the revocation poll: a session (`sid`), an access token (`jti`) or a client
/// suspension, with its horizon; `now` carries the database's clock.
pub struct Revoked {
    pub kind: String,
    pub id: String,
    pub value: i64,
}

// One round trip each. Every branch is an index range scan (see the revocation_events migration)
// bounded by the window (`window` seconds): cheap enough to run every second on every replica.

/// Revocations recorded after `since`: session ends and denied tokens (with the unix second
/// until which they matter: `window` or `leeway` after), client cut-offs (unix milliseconds),
/// and the database's clock (`now`, unix milliseconds).
pub async fn revocations_since(
    db: &PgPool,
    since: OffsetDateTime,
    window: i64,
    leeway: i64,
) -> sqlx::Result<Vec<Revoked>> {
    sqlx::query_as!(
        Revoked,
        r#"SELECT 'sid' AS "kind!", id::text AS "id!", extract(epoch FROM revoked_at)::bigint + $2 AS "value!"
         FROM sessions
         WHERE revoked_at > GREATEST($1, now() - make_interval(secs => $2))
         UNION ALL
         SELECT 'jti', jti, extract(epoch FROM expires_at)::bigint + $3
         FROM revoked_access_tokens
         WHERE revoked_at > GREATEST($1, now() - make_interval(secs => $2))
         UNION ALL
         SELECT 'client', id, floor(extract(epoch FROM suspended_at) * 1000)::bigint
         FROM clients WHERE suspended_at > now() - make_interval(secs => $2)
         UNION ALL
         SELECT 'now', '', floor(extract(epoch FROM now()) * 1000)::bigint"#,
        since,
        window,
        leeway,
    )
    .fetch_all(db)
    .await
}

/// Every revocation still in force, as [`revocations_since`] answers.
pub async fn revocations_in_force(
    db: &PgPool,
    window: i64,
    leeway: i64,
) -> sqlx::Result<Vec<Revoked>> {
    sqlx::query_as!(
        Revoked,
        r#"SELECT 'sid' AS "kind!", id::text AS "id!", extract(epoch FROM revoked_at)::bigint + $1 AS "value!"
         FROM sessions WHERE revoked_at > now() - make_interval(secs => $1)
         UNION ALL
         SELECT 'jti', jti, extract(epoch FROM expires_at)::bigint + $2
         FROM revoked_access_tokens WHERE expires_at > now() - make_interval(secs => $2)
         UNION ALL
         SELECT 'client', id, floor(extract(epoch FROM suspended_at) * 1000)::bigint
         FROM clients WHERE suspended_at > now() - make_interval(secs => $1)
         UNION ALL
         SELECT 'now', '', floor(extract(epoch FROM now()) * 1000)::bigint"#,
        window,
        leeway,
    )
    .fetch_all(db)
    .await
}
