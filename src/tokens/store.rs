//! SQL of revocation: denied access tokens, and the revocation state the deny-list falls back
//! to. Sessions and clients are owned by their modules; these reads look only at the columns
//! that say whether they were revoked, and when.

use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

/// Whether the session has ended (read from the sessions table, which the sessions module owns).
pub async fn is_session_revoked(db: &PgPool, session_id: Uuid) -> sqlx::Result<bool> {
    let revoked: Option<bool> =
        sqlx::query_scalar("SELECT revoked_at IS NOT NULL FROM sessions WHERE id = $1")
            .bind(session_id)
            .fetch_optional(db)
            .await?;
    Ok(revoked.unwrap_or(false))
}

pub async fn revoke_access_token(
    db: &PgPool,
    jti: &str,
    expires_at: OffsetDateTime,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO revoked_access_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING",
    )
    .bind(jti)
    .bind(expires_at)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn is_access_token_revoked(db: &PgPool, jti: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM revoked_access_tokens WHERE jti = $1)")
        .bind(jti)
        .fetch_one(db)
        .await
}
