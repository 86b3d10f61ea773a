//! Agencies, communes and procedures.

use super::*;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agency {
    pub code: String,
    pub name: String,
    pub province: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commune {
    pub code: String,
    pub name: String,
    pub province: String,
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequiredDocument {
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Procedure {
    pub code: String,
    pub name: String,
    pub field: String,
    pub agency_code: String,
    pub processing_days: f64,
    /// Local time (Vietnam) after which a receipt counts from the next working day.
    pub cutoff: Time,
    pub fee_vnd: i64,
    pub fee_note: Option<String>,
    /// `whole_process`, `partial` or `none`.
    pub online_level: String,
    pub online: bool,
    pub required_documents: Vec<RequiredDocument>,
    /// Only filled by [`get_procedure`]: lists leave it out.
    pub form_schema: Option<Value>,
}

impl Procedure {
    pub fn processing_time(&self) -> Result<WorkingTime> {
        WorkingTime::from_days(self.processing_days).map_err(|e| StoreError::Other(e.into()))
    }
}

pub(super) const PROCEDURE_COLUMNS: &str = "code, name, field, agency_code, processing_days::float8 AS processing_days, cutoff, fee_vnd, fee_note, online_level, online, required_documents";

pub(super) fn procedure_from_row(row: &PgRow, with_schema: bool) -> Result<Procedure> {
    let documents: Value = row.try_get("required_documents")?;
    Ok(Procedure {
        code: row.try_get("code")?,
        name: row.try_get("name")?,
        field: row.try_get("field")?,
        agency_code: row.try_get("agency_code")?,
        processing_days: row.try_get("processing_days")?,
        cutoff: row.try_get("cutoff")?,
        fee_vnd: row.try_get("fee_vnd")?,
        fee_note: row.try_get("fee_note")?,
        online_level: row.try_get("online_level")?,
        online: row.try_get("online")?,
        required_documents: serde_json::from_value(documents)
            .map_err(|e| anyhow::anyhow!("required_documents in the database: {e}"))?,
        form_schema: if with_schema {
            row.try_get("form_schema")?
        } else {
            None
        },
    })
}

pub async fn list_agencies(db: &PgPool) -> Result<Vec<Agency>> {
    Ok(sqlx::query_as!(
        Agency,
        "SELECT code, name, province FROM agencies ORDER BY code"
    )
    .fetch_all(db)
    .await?)
}

pub async fn list_communes(db: &PgPool) -> Result<Vec<Commune>> {
    Ok(sqlx::query_as!(
        Commune,
        "SELECT code, name, province, kind FROM communes ORDER BY code"
    )
    .fetch_all(db)
    .await?)
}

/// `GET /v1/procedures`: filters and a cursor.
#[derive(Debug, Clone, Default)]
pub struct ProcedureQuery {
    /// Accent-insensitive words, all of which must appear ("cap giay phep" finds "Cấp giấy
    /// phép"). With `q`, results are ranked by similarity and there is no next page.
    pub q: Option<String>,
    pub agency: Option<String>,
    pub online: Option<bool>,
    /// The last code of the previous page (lists without `q` are ordered by code).
    pub after: Option<String>,
    pub limit: u32,
}

pub async fn list_procedures(db: &PgPool, query: &ProcedureQuery) -> Result<Page<Procedure>> {
    let limit = clamp_limit(query.limit);
    let q = query
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(|q| q.chars().take(200).collect::<String>());
    let rows = match &q {
        Some(q) => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {PROCEDURE_COLUMNS} FROM procedures, fold_vietnamese($1) AS folded
                  WHERE ($2::text IS NULL OR agency_code = $2)
                    AND ($3::boolean IS NULL OR online = $3)
                    AND NOT EXISTS (
                        SELECT 1 FROM regexp_split_to_table(folded, '\\s+') AS word
                         WHERE word <> '' AND strpos(search, word) = 0)
                  ORDER BY similarity(search, folded) DESC, code
                  LIMIT $4"
            )))
            .bind(q)
            .bind(&query.agency)
            .bind(query.online)
            .bind(limit)
            .fetch_all(db)
            .await?
        }
        None => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {PROCEDURE_COLUMNS} FROM procedures
                  WHERE ($1::text IS NULL OR agency_code = $1)
                    AND ($2::boolean IS NULL OR online = $2)
                    AND ($3::text IS NULL OR code > $3)
                  ORDER BY code
                  LIMIT $4"
            )))
            .bind(&query.agency)
            .bind(query.online)
            .bind(&query.after)
            .bind(limit + 1)
            .fetch_all(db)
            .await?
        }
    };
    let mut items = rows
        .iter()
        .map(|row| procedure_from_row(row, false))
        .collect::<Result<Vec<_>>>()?;
    let next_cursor = if q.is_none() && items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|p| p.code.clone())
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

/// `GET /v1/procedures/{code}`, with the form schema.
pub async fn get_procedure(db: &PgPool, code: &str) -> Result<Option<Procedure>> {
    get_procedure_in(&mut *db.acquire().await?, code).await
}

pub(super) async fn get_procedure_in(
    conn: &mut PgConnection,
    code: &str,
) -> Result<Option<Procedure>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {PROCEDURE_COLUMNS}, form_schema FROM procedures WHERE code = $1"
    )))
    .bind(code)
    .fetch_optional(conn)
    .await?;
    row.map(|row| procedure_from_row(&row, true)).transpose()
}
