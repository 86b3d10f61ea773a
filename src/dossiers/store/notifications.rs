//! In-app notifications.

use super::*;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notification {
    pub id: Uuid,
    pub dossier_code: String,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub created_at: OffsetDateTime,
    pub read_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NotificationPage {
    pub items: Vec<Notification>,
    pub next_cursor: Option<String>,
    pub unread: i64,
}

/// `GET /v1/notifications`: newest first, keyset-paginated, with the unread count.
pub async fn list_notifications(
    db: &PgPool,
    citizen: Uuid,
    cursor: Option<&Cursor<Uuid>>,
    limit: u32,
) -> Result<NotificationPage> {
    let limit = clamp_limit(limit);
    let items = sqlx::query_as!(
        Notification,
        "SELECT id, dossier_code, kind, title, body, created_at, read_at FROM notifications
          WHERE citizen_id = $1
            AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
          ORDER BY created_at DESC, id DESC
          LIMIT $4",
        citizen,
        cursor.map(|c| c.at),
        cursor.map(|c| c.key),
        limit + 1,
    )
    .fetch_all(db)
    .await?;
    let page = Page::of(items, limit as usize, |n: &Notification| Cursor {
        at: n.created_at,
        key: n.id,
    });
    let unread = sqlx::query_scalar!(
        r#"SELECT count(*) AS "unread!" FROM notifications WHERE citizen_id = $1 AND read_at IS NULL"#,
        citizen,
    )
    .fetch_one(db)
    .await?;
    Ok(NotificationPage {
        items: page.items,
        next_cursor: page.next_cursor,
        unread,
    })
}

/// `POST /v1/notifications/{id}/read`. `false` when the notification is not the citizen's.
/// Marking twice keeps the first time.
pub async fn mark_read(db: &PgPool, citizen: Uuid, id: Uuid, now: OffsetDateTime) -> Result<bool> {
    let done = sqlx::query!(
        "UPDATE notifications SET read_at = COALESCE(read_at, $3) WHERE id = $1 AND citizen_id = $2",
        id,
        citizen,
        now,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}
