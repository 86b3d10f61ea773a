//! A citizen's saved applications before submission, one per procedure.

use super::*;

/// A draft as saved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Draft {
    pub procedure_code: String,
    pub procedure_name: String,
    pub form: Value,
    /// `[{"type", "upload_id"}]` as the citizen left them.
    pub documents: Value,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

const DRAFT_COLUMNS: &str =
    "r.procedure_code, p.name AS procedure_name, r.form, r.documents, r.created_at, r.updated_at";

fn draft_from_row(row: &PgRow) -> Result<Draft> {
    Ok(Draft {
        procedure_code: row.try_get("procedure_code")?,
        procedure_name: row.try_get("procedure_name")?,
        form: row.try_get("form")?,
        documents: row.try_get("documents")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// The citizen's uploads among `ids` that no dossier holds yet.
pub async fn own_unattached_uploads(
    conn: &mut PgConnection,
    citizen: Uuid,
    ids: &[Uuid],
) -> Result<Vec<Uuid>> {
    Ok(sqlx::query_scalar!(
        "SELECT id FROM documents WHERE citizen_id = $1 AND id = ANY ($2) AND dossier_code IS NULL",
        citizen,
        ids,
    )
    .fetch_all(conn)
    .await?)
}

/// `PUT /v1/me/drafts/{procedure_code}`: creates or replaces the citizen's draft for an online
/// procedure; `true` when it was created.
pub async fn save_draft(
    conn: &mut PgConnection,
    citizen: Uuid,
    procedure_code: &str,
    (form, documents): (&Value, &Value),
    now: OffsetDateTime,
) -> Result<(Draft, bool)> {
    let procedure = get_procedure_in(conn, procedure_code)
        .await?
        .ok_or_else(|| StoreError::UnknownProcedure(procedure_code.to_string()))?;
    if !procedure.online {
        return Err(invalid("procedure_code", msg::NOT_ONLINE));
    }
    let created: bool = sqlx::query_scalar!(
        r#"INSERT INTO dossier_drafts (citizen_id, procedure_code, form, documents, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $5)
         ON CONFLICT (citizen_id, procedure_code)
         DO UPDATE SET form = EXCLUDED.form, documents = EXCLUDED.documents, updated_at = EXCLUDED.updated_at
         RETURNING (xmax = 0) AS "created!""#,
        citizen,
        &procedure.code,
        form,
        documents,
        now,
    )
    .fetch_one(&mut *conn)
    .await?;
    let draft = get_draft(&mut *conn, citizen, &procedure.code)
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok((draft, created))
}

pub async fn get_draft<'e, E>(db: E, citizen: Uuid, procedure_code: &str) -> Result<Option<Draft>>
where
    E: sqlx::PgExecutor<'e>,
{
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {DRAFT_COLUMNS} FROM dossier_drafts r JOIN procedures p ON p.code = r.procedure_code
          WHERE r.citizen_id = $1 AND r.procedure_code = $2"
    )))
    .bind(citizen)
    .bind(procedure_code)
    .fetch_optional(db)
    .await?;
    row.as_ref().map(draft_from_row).transpose()
}

/// The citizen's drafts, most recently saved first, keyset-paginated.
pub async fn list_drafts(
    db: &PgPool,
    citizen: Uuid,
    after: Option<&Cursor>,
    limit: u32,
) -> Result<Page<Draft>> {
    let limit = clamp_limit(limit);
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {DRAFT_COLUMNS} FROM dossier_drafts r JOIN procedures p ON p.code = r.procedure_code
          WHERE r.citizen_id = $1
            AND ($2::timestamptz IS NULL OR (r.updated_at, r.procedure_code) < ($2, $3))
          ORDER BY r.updated_at DESC, r.procedure_code DESC
          LIMIT $4"
    )))
    .bind(citizen)
    .bind(after.map(|c| c.at))
    .bind(after.map(|c| c.key.as_str()))
    .bind(limit + 1)
    .fetch_all(db)
    .await?;
    let items = rows
        .iter()
        .map(draft_from_row)
        .collect::<Result<Vec<_>>>()?;
    Ok(Page::of(items, limit as usize, |d| Cursor {
        at: d.updated_at,
        key: d.procedure_code.clone(),
    }))
}

/// Deletes the citizen's draft for a procedure (on request, or when the application is
/// submitted); the uploads it named stay theirs. `false` when there was none.
pub async fn delete_draft(
    conn: &mut PgConnection,
    citizen: Uuid,
    procedure_code: &str,
) -> Result<bool> {
    let deleted = sqlx::query!(
        "DELETE FROM dossier_drafts WHERE citizen_id = $1 AND procedure_code = $2",
        citizen,
        procedure_code,
    )
    .execute(conn)
    .await?;
    Ok(deleted.rows_affected() > 0)
}
