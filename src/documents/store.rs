//! Every SQL statement on documents.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::model::Document;

const COLUMNS: &str =
    "id, citizen_id, object_key, content_type, size, sha256, file_name, uploaded_at,
                       dossier_code, document_type";

pub async fn insert(db: &PgPool, doc: &Document) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO documents (id, citizen_id, object_key, content_type, size, sha256, file_name, uploaded_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(doc.id)
    .bind(doc.citizen_id)
    .bind(&doc.object_key)
    .bind(&doc.content_type)
    .bind(doc.size)
    .bind(&doc.sha256)
    .bind(&doc.file_name)
    .bind(doc.uploaded_at)
    .execute(db)
    .await?;
    Ok(())
}

/// The citizen's own uploads among `ids` not yet attached to a dossier, locked until the
/// caller's transaction ends so that two submissions cannot take the same upload.
pub async fn lock_unattached(
    conn: &mut PgConnection,
    citizen: Uuid,
    ids: &[Uuid],
) -> sqlx::Result<Vec<Document>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM documents
         WHERE citizen_id = $1 AND id = ANY($2) AND dossier_code IS NULL
         ORDER BY id FOR UPDATE"
    )))
    .bind(citizen)
    .bind(ids)
    .fetch_all(conn)
    .await
}

/// Attaches an upload to the dossier it was submitted with, as the named required document.
pub async fn attach(
    conn: &mut PgConnection,
    id: Uuid,
    dossier: &str,
    document_type: &str,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE documents SET dossier_code = $2, document_type = $3 WHERE id = $1")
        .bind(id)
        .bind(dossier)
        .bind(document_type)
        .execute(conn)
        .await?;
    Ok(())
}

/// A document of a dossier.
pub async fn of_dossier(db: &PgPool, dossier: &str, id: Uuid) -> sqlx::Result<Option<Document>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM documents WHERE dossier_code = $1 AND id = $2"
    )))
    .bind(dossier)
    .bind(id)
    .fetch_optional(db)
    .await
}
