//! The holiday table.

use super::*;

/// A row of the holiday table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HolidayRow {
    pub day: Date,
    pub name: String,
    pub kind: DayKind,
    pub note: Option<String>,
}

pub async fn list_holidays(db: &PgPool) -> Result<Vec<HolidayRow>> {
    let rows = sqlx::query!("SELECT day, name, kind, note FROM holidays ORDER BY day")
        .fetch_all(db)
        .await?;
    rows.into_iter()
        .map(|row| {
            let kind = row.kind;
            Ok(HolidayRow {
                day: row.day,
                name: row.name,
                kind: DayKind::parse(&kind)
                    .ok_or_else(|| anyhow::anyhow!("holiday kind {kind:?} in the database"))?,
                note: row.note,
            })
        })
        .collect()
}

/// The calendar the due-date functions need, from the holiday table.
pub async fn load_holidays(db: &PgPool) -> Result<Holidays> {
    Ok(Holidays::new(
        list_holidays(db)
            .await?
            .into_iter()
            .map(|h| (h.day, h.kind)),
    ))
}

/// Adds or replaces a day of the holiday table. Existing due dates are not recomputed: a due
/// date is a promise made at receipt. In the caller's transaction, with its audit entry.
pub async fn upsert_holiday(conn: &mut PgConnection, row: &HolidayRow) -> Result<()> {
    sqlx::query!(
        "INSERT INTO holidays (day, name, kind, note) VALUES ($1, $2, $3, $4)
         ON CONFLICT (day) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind, note = EXCLUDED.note",
        row.day,
        row.name,
        row.kind.as_str(),
        row.note,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Removes a day of the holiday table, in the caller's transaction; whether there was one.
pub async fn delete_holiday(conn: &mut PgConnection, day: Date) -> Result<bool> {
    let done = sqlx::query!("DELETE FROM holidays WHERE day = $1", day)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}
