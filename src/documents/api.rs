//! `POST /v1/me/uploads`: a citizen uploads one document.

use poem::web::Multipart;
use poem::{FromRequest, Request, RequestBody};
use poem_openapi::payload::{Json, ParsePayload, Payload};
use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use time::OffsetDateTime;
use uuid::Uuid;

use super::model::Document;
use super::service;
use crate::http::{ApiError, ApiResult, ApiTag, catalogue};
use crate::state::AppState;
use crate::tokens::BearerAuth;

#[derive(Default)]
pub struct UploadsApi;

/// A `multipart/form-data` body read as a stream: the file never sits whole in memory.
pub struct FileUpload {
    multipart: Multipart,
    declared_length: Option<u64>,
}

impl Payload for FileUpload {
    const CONTENT_TYPE: &'static str = "multipart/form-data";

    fn check_content_type(content_type: &str) -> bool {
        content_type
            .get(..Self::CONTENT_TYPE.len())
            .is_some_and(|t| t.eq_ignore_ascii_case(Self::CONTENT_TYPE))
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            required: vec!["file"],
            properties: vec![(
                "file",
                MetaSchemaRef::Inline(Box::new(MetaSchema {
                    format: Some("binary"),
                    description: Some("A PDF, JPEG or PNG file (decided by its content)."),
                    ..MetaSchema::new("string")
                })),
            )],
            ..MetaSchema::new("object")
        }))
    }
}

impl ParsePayload for FileUpload {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let declared_length = request
            .header(http::header::CONTENT_LENGTH)
            .and_then(|v| v.parse().ok());
        let multipart = Multipart::from_request(request, body).await.map_err(|_| {
            ApiError::new(&catalogue::UNSUPPORTED_MEDIA_TYPE)
                .arg("reason", "multipart/form-data with a boundary is required")
        })?;
        Ok(FileUpload {
            multipart,
            declared_length,
        })
    }
}

poem_openapi::impl_apirequest_for_payload!(FileUpload,);

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
        body: FileUpload,
    ) -> ApiResult<Uploaded> {
        let citizen = auth.citizen()?;
        let doc = service::upload(
            &state,
            citizen,
            body.declared_length,
            body.multipart,
            OffsetDateTime::now_utc(),
        )
        .await?;
        Ok(Uploaded::Created(Json(UploadView::from(&doc))))
    }
}
