//! Lists and details of dossiers.

use super::*;

/// `GET /v1/me/dossiers` filters.
#[derive(Debug, Clone, Default)]
pub struct DossierQuery {
    pub status: Option<Status>,
    /// `true`: only overdue ones; `false`: only those not overdue.
    pub overdue: Option<bool>,
    pub cursor: Option<Cursor>,
    pub limit: u32,
}

/// The SQL twin of [`Dossier::is_overdue`].
pub(super) const OVERDUE_SQL: &str =
    "(d.finished_at IS NULL AND d.closed_at IS NULL AND d.due_at IS NOT NULL
    AND d.due_at < LEAST($now, COALESCE(d.paused_since, $now)))";

/// A citizen's own dossiers, newest first, keyset-paginated.
pub async fn list_for_citizen(
    db: &PgPool,
    citizen: Uuid,
    query: &DossierQuery,
    now: OffsetDateTime,
) -> Result<Page<Dossier>> {
    let limit = clamp_limit(query.limit);
    let overdue = OVERDUE_SQL.replace("$now", "$3");
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {DOSSIER_COLUMNS} FROM dossiers d JOIN procedures p ON p.code = d.procedure_code
          WHERE d.citizen_id = $1
            AND ($2::text IS NULL OR d.status = $2)
            AND ($4::boolean IS NULL OR {overdue} = $4)
            AND ($5::timestamptz IS NULL OR (d.filed_at, d.code) < ($5, $6))
          ORDER BY d.filed_at DESC, d.code DESC
          LIMIT $7"
    )))
    .bind(citizen)
    .bind(query.status.map(Status::as_str))
    .bind(now)
    .bind(query.overdue)
    .bind(query.cursor.as_ref().map(|c| c.at))
    .bind(query.cursor.as_ref().map(|c| c.key.as_str()))
    .bind(limit + 1)
    .fetch_all(db)
    .await?;
    page_of_dossiers(&rows, limit)
}

/// A dossier with its timeline, if the caller may see it (another citizen's or another agency's
/// dossier is `None`, like an unknown code).
pub async fn get_dossier(db: &PgPool, by: &Caller, code: &str) -> Result<Option<DossierDetail>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {DOSSIER_COLUMNS} FROM dossiers d JOIN procedures p ON p.code = d.procedure_code
          WHERE d.code = $1
            AND ($2::text[] IS NULL OR d.agency_code = ANY ($2))
            AND ($3::uuid IS NULL OR d.citizen_id = $3)"
    )))
    .bind(code)
    .bind(by.agencies())
    .bind(by.citizen())
    .fetch_optional(db)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let dossier = dossier_from_row(&row)?;
    let timeline = timeline(db, code).await?;
    Ok(Some(DossierDetail { dossier, timeline }))
}

pub async fn timeline(db: &PgPool, code: &str) -> Result<Vec<Event>> {
    let rows = sqlx::query!(
        "SELECT seq, kind, status, at, note, actor, details FROM dossier_events WHERE dossier_code = $1 ORDER BY seq",
        code,
    )
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(Event {
                seq: row.seq,
                kind: row.kind,
                status: status_from(&row.status)?,
                at: row.at,
                note: row.note,
                actor: row.actor,
                details: row.details,
            })
        })
        .collect()
}

/// `GET /v1/agency/submissions`: online submissions waiting for receipt at the caller's agencies,
/// oldest first.
pub async fn list_submissions(
    db: &PgPool,
    agencies: &[String],
    after: Option<&Cursor>,
    limit: u32,
) -> Result<Page<Dossier>> {
    let limit = clamp_limit(limit);
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {DOSSIER_COLUMNS} FROM dossiers d JOIN procedures p ON p.code = d.procedure_code
          WHERE d.status = 'submitted' AND d.agency_code = ANY ($1)
            AND ($2::timestamptz IS NULL OR (d.filed_at, d.code) > ($2, $3))
          ORDER BY d.filed_at, d.code
          LIMIT $4"
    )))
    .bind(agencies)
    .bind(after.map(|c| c.at))
    .bind(after.map(|c| c.key.as_str()))
    .bind(limit + 1)
    .fetch_all(db)
    .await?;
    page_of_dossiers(&rows, limit)
}

/// A page of dossiers ordered by (filing time, code), from `limit + 1` rows.
fn page_of_dossiers(rows: &[PgRow], limit: i64) -> Result<Page<Dossier>> {
    let items = rows
        .iter()
        .map(dossier_from_row)
        .collect::<Result<Vec<_>>>()?;
    Ok(Page::of(items, limit as usize, |d| Cursor {
        at: d.filed_at,
        key: d.code.clone(),
    }))
}
