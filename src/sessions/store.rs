//! SQL of sessions and refresh tokens.

use sqlx::{PgConnection, PgPool};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::crypto;
use crate::tokens::Level;

#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: Uuid,
    pub citizen_id: Uuid,
    pub client_id: String,
    pub user_agent: Option<String>,
    pub level: Level,
    pub scope: String,
    pub auth_time: OffsetDateTime,
}

/// Read by column name: a query selects `SESSION_COLUMNS`.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct Session {
    pub id: Uuid,
    pub citizen_id: Uuid,
    pub client_id: String,
    pub client_name: Option<String>,
    pub user_agent: Option<String>,
    pub level: Level,
    pub scope: String,
    #[serde(with = "time::serde::rfc3339")]
    pub auth_time: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_used_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub idle_expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub absolute_expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

impl Session {
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && now < self.idle_expires_at && now < self.absolute_expires_at
    }
}

const SESSION_COLUMNS: &str = "s.id, s.citizen_id, s.client_id, c.name AS client_name, s.user_agent, s.level, s.scope, s.auth_time,
     s.created_at, s.last_used_at, s.idle_expires_at, s.absolute_expires_at, s.revoked_at";

/// Opens a session; `false` when its id is taken (a replayed code already buried it).
pub async fn create(
    conn: &mut PgConnection,
    new: &NewSession,
    idle: Duration,
    absolute: Duration,
) -> sqlx::Result<bool> {
    let now = OffsetDateTime::now_utc();
    let done = sqlx::query!(
        "INSERT INTO sessions (id, citizen_id, client_id, user_agent, level, scope, auth_time, idle_expires_at, absolute_expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (id) DO NOTHING",
        new.id,
        new.citizen_id,
        new.client_id,
        new.user_agent,
        new.level as _,
        new.scope,
        new.auth_time,
        now + idle,
        now + absolute,
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Issues a new refresh token in a session's family; returns the token (never stored) and its
/// row id.
pub async fn issue_refresh_token(
    conn: &mut PgConnection,
    session_id: Uuid,
    parent_id: Option<i64>,
) -> sqlx::Result<(String, i64)> {
    let token = new_refresh_token();
    let id = sqlx::query_scalar!(
        "INSERT INTO refresh_tokens (session_id, parent_id, token_sha256) VALUES ($1, $2, $3) RETURNING id",
        session_id,
        parent_id,
        &crypto::sha256(token.as_bytes())[..],
    )
    .fetch_one(conn)
    .await?;
    Ok((token, id))
}

/// A fresh refresh token (stored only as its hash).
pub fn new_refresh_token() -> String {
    crypto::random_token(32)
}

/// A refresh token row locked for the duration of a transaction, with its session.
#[derive(sqlx::FromRow)]
pub struct LockedRefresh {
    #[sqlx(rename = "rt_id")]
    pub id: i64,
    pub rotated_at: Option<OffsetDateTime>,
    pub reply_enc: Option<Vec<u8>>,
    pub reply_until: Option<OffsetDateTime>,
    /// Whether the token that replaced this one has itself been used.
    pub successor_rotated: bool,
    #[sqlx(flatten)]
    pub session: Session,
}

/// Finds a refresh token by its hash and locks it and its session (`FOR UPDATE`), so two
/// concurrent refreshes of one token are serialised.
pub async fn lock_refresh_token(
    conn: &mut PgConnection,
    token: &str,
) -> sqlx::Result<Option<LockedRefresh>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT rt.id AS rt_id, rt.rotated_at, rt.reply_enc, rt.reply_until,
                EXISTS (SELECT 1 FROM refresh_tokens n WHERE n.parent_id = rt.id AND n.rotated_at IS NOT NULL) AS successor_rotated,
                {SESSION_COLUMNS}
         FROM refresh_tokens rt
         JOIN sessions s ON s.id = rt.session_id
         JOIN clients c ON c.id = s.client_id
         WHERE rt.token_sha256 = $1
         FOR UPDATE OF rt, s"
    )))
    .bind(crypto::sha256(token.as_bytes()).to_vec())
    .fetch_optional(conn)
    .await
}

/// A locked refresh token's rotation, written in one statement (one round trip in the
/// refresh's transaction): `successor` issued in its family, the token marked used with the
/// encrypted reply kept until `reply_until`, the predecessor's kept reply dropped (its grace ends
/// now that its successor is spent), and the session's idle expiry pushed back.
pub struct Rotation<'a> {
    pub session_id: Uuid,
    pub token_id: i64,
    pub successor: &'a str,
    pub reply_enc: &'a [u8],
    pub reply_until: OffsetDateTime,
    pub idle: Duration,
}

pub async fn rotate_refresh_token(
    conn: &mut PgConnection,
    rotation: Rotation<'_>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "WITH issued AS (
             INSERT INTO refresh_tokens (session_id, parent_id, token_sha256) VALUES ($1, $2, $3)
         ), used AS (
             UPDATE refresh_tokens SET rotated_at = now(), reply_enc = $4, reply_until = $5
             WHERE id = $2 RETURNING parent_id
         ), predecessor AS (
             UPDATE refresh_tokens SET reply_enc = NULL, reply_until = NULL
             WHERE id = (SELECT parent_id FROM used) AND reply_enc IS NOT NULL
         )
         UPDATE sessions SET last_used_at = now(),
                             idle_expires_at = LEAST(now() + $6, absolute_expires_at)
         WHERE id = $1",
        rotation.session_id,
        rotation.token_id,
        &crypto::sha256(rotation.successor.as_bytes())[..],
        rotation.reply_enc,
        rotation.reply_until,
        rotation.idle as _,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Revokes a session (and with it its refresh-token family); returns whether it was live.
pub async fn revoke(conn: &mut PgConnection, session_id: Uuid, reason: &str) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "UPDATE sessions SET revoked_at = now(), revoked_reason = $2 WHERE id = $1 AND revoked_at IS NULL",
        session_id,
        reason,
    )
    .execute(&mut *conn)
    .await?;
    // Spent tokens' encrypted replies are worthless now; drop them.
    drop_replies_of(conn, &[session_id]).await?;
    Ok(done.rows_affected() > 0)
}

pub async fn find(db: &PgPool, session_id: Uuid) -> sqlx::Result<Option<Session>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SESSION_COLUMNS} FROM sessions s JOIN clients c ON c.id = s.client_id WHERE s.id = $1"
    )))
    .bind(session_id)
    .fetch_optional(db)
    .await
}

/// Where a page of a citizen's sessions starts: after the session created at `at` with id
/// `key` (newest first, the id breaking ties).
pub type SessionCursor = crate::http::Cursor<Uuid>;

/// A page of a citizen's live sessions, newest first, and where the next page starts.
pub async fn list_live(
    db: &PgPool,
    citizen_id: Uuid,
    after: Option<SessionCursor>,
    limit: i64,
) -> sqlx::Result<(Vec<Session>, Option<String>)> {
    let sessions: Vec<Session> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SESSION_COLUMNS} FROM sessions s JOIN clients c ON c.id = s.client_id
         WHERE s.citizen_id = $1 AND s.revoked_at IS NULL
           AND s.idle_expires_at > now() AND s.absolute_expires_at > now()
           AND ($2::timestamptz IS NULL OR (s.created_at, s.id) < ($2, $3))
         ORDER BY s.created_at DESC, s.id DESC
         LIMIT $4"
    )))
    .bind(citizen_id)
    .bind(after.as_ref().map(|c| c.at))
    .bind(after.as_ref().map(|c| c.key))
    .bind(limit + 1)
    .fetch_all(db)
    .await?;
    let page = crate::http::Page::of(sessions, limit as usize, |s: &Session| SessionCursor {
        at: s.created_at,
        key: s.id,
    });
    Ok((page.items, page.next_cursor))
}

/// Revokes every live session of a citizen in one statement (and drops their kept replies);
/// returns their ids, for the deny-list. Run it in a transaction: both statements or neither.
pub async fn revoke_all_of_citizen(
    conn: &mut PgConnection,
    citizen_id: Uuid,
    reason: &str,
) -> sqlx::Result<Vec<Uuid>> {
    let ended: Vec<Uuid> = sqlx::query_scalar!(
        "UPDATE sessions SET revoked_at = now(), revoked_reason = $2
         WHERE citizen_id = $1 AND revoked_at IS NULL
           AND idle_expires_at > now() AND absolute_expires_at > now()
         RETURNING id",
        citizen_id,
        reason,
    )
    .fetch_all(&mut *conn)
    .await?;
    drop_replies_of(conn, &ended).await?;
    Ok(ended)
}

/// Drops the encrypted replies kept for refresh grace windows that have closed: a copy of a
/// live token must not outlive the window it exists for. Returns how many were dropped.
pub async fn drop_expired_replies(db: &PgPool) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "UPDATE refresh_tokens SET reply_enc = NULL, reply_until = NULL
         WHERE reply_until < now() AND reply_enc IS NOT NULL",
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// The session a refresh token belongs to and that session's client, whatever their state.
pub async fn refresh_token_owner(db: &PgPool, token: &str) -> sqlx::Result<Option<(Uuid, String)>> {
    let row = sqlx::query!(
        "SELECT s.id, s.client_id FROM refresh_tokens rt JOIN sessions s ON s.id = rt.session_id
         WHERE rt.token_sha256 = $1",
        &crypto::sha256(token.as_bytes())[..],
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|row| (row.id, row.client_id)))
}

/// A refresh token of a session not revoked, with what introspection tells of it.
#[derive(Debug)]
pub struct RefreshState {
    pub sid: Uuid,
    pub client_id: String,
    pub citizen_id: Uuid,
    pub scope: String,
    pub level: Level,
    pub idle_expires_at: OffsetDateTime,
    pub absolute_expires_at: OffsetDateTime,
    pub rotated_at: Option<OffsetDateTime>,
}

pub async fn refresh_token_state(db: &PgPool, token: &str) -> sqlx::Result<Option<RefreshState>> {
    sqlx::query_as!(
        RefreshState,
        r#"SELECT s.id AS sid, s.client_id, s.citizen_id, s.scope, s.level AS "level: Level",
                  s.idle_expires_at, s.absolute_expires_at, rt.rotated_at
           FROM refresh_tokens rt JOIN sessions s ON s.id = rt.session_id
           WHERE rt.token_sha256 = $1 AND s.revoked_at IS NULL"#,
        &crypto::sha256(token.as_bytes())[..],
    )
    .fetch_optional(db)
    .await
}

/// Ends the session a code opened, whether its redemption has committed yet or not: a
/// session not there yet is written as revoked, so the redemption still in flight finds its
/// id taken and issues nothing. Returns whether a live session was ended.
pub async fn bury(conn: &mut PgConnection, new: &NewSession, reason: &str) -> sqlx::Result<bool> {
    let was_live: Option<bool> = sqlx::query_scalar!(
        "WITH old AS (SELECT revoked_at FROM sessions WHERE id = $1)
         INSERT INTO sessions (id, citizen_id, client_id, level, scope, auth_time,
                               idle_expires_at, absolute_expires_at, revoked_at, revoked_reason)
         VALUES ($1, $2, $3, $4, $5, $6, now(), now(), now(), $7)
         ON CONFLICT (id) DO UPDATE
             SET revoked_at = COALESCE(sessions.revoked_at, now()),
                 revoked_reason = COALESCE(sessions.revoked_reason, EXCLUDED.revoked_reason)
         RETURNING (SELECT revoked_at IS NULL FROM old)",
        new.id,
        new.citizen_id,
        new.client_id,
        new.level as _,
        new.scope,
        new.auth_time,
        reason,
    )
    .fetch_one(&mut *conn)
    .await?;
    drop_replies_of(conn, &[new.id]).await?;
    Ok(was_live.unwrap_or(false))
}

/// Drops the encrypted replies kept for these sessions' spent tokens.
async fn drop_replies_of(conn: &mut PgConnection, sessions: &[Uuid]) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE refresh_tokens SET reply_enc = NULL, reply_until = NULL
         WHERE session_id = ANY($1) AND reply_enc IS NOT NULL",
        sessions,
    )
    .execute(conn)
    .await?;
    Ok(())
}
