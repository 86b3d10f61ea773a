//! Streaming a document in from a multipart body and out to its reader.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::{Bytes, BytesMut};
use poem::web::{Field, Multipart};
use poem_openapi::payload::Binary;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio::io::{AsyncRead, AsyncReadExt};
use uuid::Uuid;

use super::messages as msg;
use super::model::{self, Document, DocumentType, SNIFF_LEN};
use super::store;
use crate::http::{ApiError, ApiResult, catalogue};
use crate::state::AppState;
use crate::storage::Writer;

/// Bytes read from the body at a time.
const READ_CHUNK: usize = 64 * 1024;
/// Room for the multipart headers and boundaries around the file, when judging a declared
/// `Content-Length` against the file limit.
pub const MULTIPART_OVERHEAD: u64 = 64 * 1024;

pub fn too_large(max: u64) -> ApiError {
    ApiError::new(&catalogue::PAYLOAD_TOO_LARGE)
        .arg("limit", max)
        .field_text("/file", msg::TOO_LARGE, vec![("limit", max.to_string())])
}

fn truncated() -> ApiError {
    ApiError::new(&catalogue::INVALID_REQUEST)
        .arg_text("reason", msg::TRUNCATED)
        .field_text("/file", msg::TRUNCATED, Vec::new())
}

fn invalid(text: crate::http::lang::Text) -> ApiError {
    ApiError::new(&catalogue::VALIDATION_FAILED).field_text("/file", text, Vec::new())
}

/// `POST /v1/me/uploads`: the `file` field of the body goes to object storage, then its row is
/// written. A refusal or a failure half-way leaves neither object nor row.
pub async fn upload(
    state: &AppState,
    citizen: Uuid,
    declared_length: Option<u64>,
    mut multipart: Multipart,
    now: OffsetDateTime,
) -> ApiResult<Document> {
    let max = state.config.max_upload_bytes;
    if declared_length.is_some_and(|n| n > max + MULTIPART_OVERHEAD) {
        return Err(too_large(max));
    }
    loop {
        let field = multipart.next_field().await.map_err(|_| truncated())?;
        match field {
            None => return Err(invalid(msg::MISSING_FILE)),
            // Other fields are skipped (dropping one reads past it).
            Some(field) if field.name() == Some("file") => {
                return store_field(state, citizen, field, now).await;
            }
            Some(_) => continue,
        }
    }
}

async fn store_field(
    state: &AppState,
    citizen: Uuid,
    field: Field,
    now: OffsetDateTime,
) -> ApiResult<Document> {
    let max = state.config.max_upload_bytes;
    let file_name = field.file_name().map(str::to_owned);
    let mut reader = Box::pin(field.into_async_read());
    let head = read_head(&mut reader).await?;
    if head.is_empty() {
        return Err(invalid(msg::EMPTY));
    }
    let kind = DocumentType::sniff(&head).ok_or_else(|| {
        ApiError::new(&catalogue::UNSUPPORTED_MEDIA_TYPE)
            .arg_text("reason", msg::NOT_ALLOWED_TYPE)
            .field_text("/file", msg::NOT_ALLOWED_TYPE, Vec::new())
    })?;
    let id = Uuid::now_v7();
    let key = model::object_key(citizen, id);
    let mut writer = state
        .storage
        .writer(&key)
        .await
        .map_err(ApiError::internal)?;
    let (size, sha256) = match copy(&mut writer, head, &mut reader, max).await {
        Ok(done) => done,
        Err(err) => {
            writer.abort().await;
            return Err(err);
        }
    };
    writer.finish().await.map_err(ApiError::internal)?;
    let doc = Document {
        id,
        citizen_id: citizen,
        object_key: key,
        content_type: kind.mime().to_string(),
        size: size as i64,
        sha256,
        file_name,
        uploaded_at: now,
        dossier_code: None,
        document_type: None,
    };
    if let Err(err) = store::insert(&state.db, &doc).await {
        // Without its row the object is unreachable: remove it rather than leave an orphan.
        let _ = state.storage.delete(&doc.object_key).await;
        return Err(ApiError::from(err));
    }
    Ok(doc)
}

/// The first bytes of the file, enough to decide its type (fewer only if the file is shorter).
async fn read_head<R: AsyncRead + Unpin>(reader: &mut R) -> ApiResult<Bytes> {
    let mut head = BytesMut::with_capacity(READ_CHUNK);
    while head.len() < SNIFF_LEN {
        head.reserve(READ_CHUNK);
        match reader.read_buf(&mut head).await {
            Ok(0) => break,
            Ok(_) => {}
            Err(_) => return Err(truncated()),
        }
    }
    Ok(head.freeze())
}

/// Copies the file to `writer`, counting and hashing; refuses it once it passes `max`.
async fn copy<R: AsyncRead + Unpin>(
    writer: &mut Writer,
    head: Bytes,
    reader: &mut R,
    max: u64,
) -> ApiResult<(u64, Vec<u8>)> {
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut chunk = head;
    loop {
        size += chunk.len() as u64;
        if size > max {
            return Err(too_large(max));
        }
        hasher.update(&chunk);
        writer.write(chunk).await.map_err(ApiError::internal)?;
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        match reader.read_buf(&mut buf).await {
            Ok(0) => break,
            Ok(_) => chunk = buf.freeze(),
            Err(_) => return Err(truncated()),
        }
    }
    Ok((size, hasher.finalize().to_vec()))
}

/// What a download answers: the stored bytes as a stream, with the headers that make a
/// browser save them instead of rendering them.
#[derive(poem_openapi::ApiResponse)]
pub enum DocumentDownload {
    /// The document's bytes, exactly as uploaded.
    #[oai(status = 200)]
    Ok(
        Binary<poem::Body>,
        /// The type recorded at upload (decided by its magic bytes).
        #[oai(header = "Content-Type")]
        String,
        /// Always `attachment`.
        #[oai(header = "Content-Disposition")]
        String,
        /// Always `nosniff`.
        #[oai(header = "X-Content-Type-Options")]
        String,
        /// The SHA-256 recorded at upload (RFC 9530).
        #[oai(header = "Repr-Digest")]
        String,
    ),
}

/// A document streamed to its reader: the recorded type, as an attachment, never sniffed.
pub async fn download(state: &AppState, doc: &Document) -> ApiResult<DocumentDownload> {
    let stream = state
        .storage
        .get(&doc.object_key)
        .await
        .map_err(ApiError::internal)?;
    Ok(DocumentDownload::Ok(
        Binary(poem::Body::from_bytes_stream(stream)),
        doc.content_type.clone(),
        format!("attachment; filename=\"{}\"", model::download_name(doc)),
        "nosniff".into(),
        format!("sha-256=:{}:", STANDARD.encode(&doc.sha256)),
    ))
}
