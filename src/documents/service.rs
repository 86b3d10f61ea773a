//! Streaming a document in from a multipart body and out to its reader.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::{Bytes, BytesMut};
use poem::web::Field;
use poem_openapi::payload::Binary;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio::io::{AsyncRead, AsyncReadExt};
use uuid::Uuid;

use super::messages as msg;
use super::model::{self, Document, DocumentType, SNIFF_LEN};
use super::store;
use crate::http::{ApiError, ApiResult, catalogue, upload};
use crate::state::AppState;
use crate::storage::Writer;

/// `POST /v1/me/uploads`: the `file` field goes to object storage, then its row is written. A
/// refusal or a failure half-way leaves neither object nor row.
pub async fn upload(
    state: &AppState,
    citizen: Uuid,
    field: Field,
    now: OffsetDateTime,
) -> ApiResult<Document> {
    let max = state.config.max_upload_bytes;
    let file_name = field.file_name().map(str::to_owned);
    let mut reader = Box::pin(field.into_async_read());
    let head = upload::read_head(&mut reader, SNIFF_LEN).await?;
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
            return Err(upload::too_large(max));
        }
        hasher.update(&chunk);
        writer.write(chunk).await.map_err(ApiError::internal)?;
        let mut buf = BytesMut::with_capacity(upload::READ_CHUNK);
        match reader.read_buf(&mut buf).await {
            Ok(0) => break,
            Ok(_) => chunk = buf.freeze(),
            Err(_) => return Err(upload::truncated()),
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
