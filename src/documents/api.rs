//! `POST /v1/me/uploads`: a citizen uploads one document.

use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use time::OffsetDateTime;
use uuid::Uuid;

use super::model::Document;
use super::service;
use crate::http::upload::{FileKind, FileUpload};
use crate::http::{ApiResult, ApiTag};
use crate::state::AppState;
use crate::tokens::BearerAuth;

#[derive(Default)]
pub struct UploadsApi;

/// The document upload's body: a PDF, JPEG or PNG in the field `file`.
pub struct DocumentFile;

impl FileKind for DocumentFile {
    const DESCRIPTION: &'static str = "A PDF, JPEG or PNG file (decided by its content).";
}

/// An uploaded document, ready to be attached to an application.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct UploadView {
    pub id: Uuid,
    /// SHA-256 of the bytes received, lowercase hex.
    pub sha256: String,
    /// `application/pdf`, `image/jpeg` or `image/png`, decided by the file's magic bytes.
    pub content_type: String,
    /// Bytes.
    pub size: i64,
}

impl From<&Document> for UploadView {
    fn from(doc: &Document) -> Self {
        UploadView {
            id: doc.id,
            sha256: hex::encode(&doc.sha256),
            content_type: doc.content_type.clone(),
            size: doc.size,
        }
    }
}

impl Example for UploadView {
    fn example() -> Self {
        UploadView {
            id: Uuid::from_u128(0x0193_6f2a_4c1e_7c4b_9a7d_2b3c_4d5e_6f70),
            sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
            content_type: "application/pdf".into(),
            size: 48213,
        }
    }
}

#[derive(ApiResponse)]
pub enum Uploaded {
    /// Stored; attach it by `id` when applying.
    #[oai(status = 201)]
    Created(Json<UploadView>),
}

#[OpenApi(tag = "ApiTag::Dossiers")]
impl UploadsApi {
    /// Citizen: upload a document
    ///
    /// `multipart/form-data` with the file in the field `file`: a PDF, JPEG or PNG, the type
    /// decided by the file's first bytes (never its name or declared type), at most
    /// `MOTCUA_MAX_UPLOAD_BYTES` (413 naming `file` beyond). Streamed to storage; the answer
    /// carries the SHA-256 of what was received. A refused or interrupted upload stores nothing.
    #[oai(
        path = "/v1/me/uploads",
        method = "post",
        operation_id = "uploadDocument"
    )]
    async fn upload(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        body: FileUpload<DocumentFile>,
    ) -> ApiResult<Uploaded> {
        let citizen = auth.citizen()?;
        let field = body.file(state.config.max_upload_bytes).await?;
        let doc = service::upload(&state, citizen, field, OffsetDateTime::now_utc()).await?;
        Ok(Uploaded::Created(Json(UploadView::from(&doc))))
    }
}
