//! Files uploaded in a `multipart/form-data` body, read as a stream: the payload type, the
//! `file` field, its first bytes, reading it whole under a cap, and the problems every upload
//! answers with, each naming `/file`. What a file may be (its type, what is done with it) is the
//! uploading capability's business.

use std::marker::PhantomData;

use bytes::{Bytes, BytesMut};
use poem::web::{Field, Multipart};
use poem::{FromRequest, Request, RequestBody};
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::lang::Text;
use super::{ApiError, ApiResult, catalogue};

/// Bytes read from the body at a time.
pub const READ_CHUNK: usize = 64 * 1024;
/// Room for the multipart headers and boundaries around the file, when judging a declared
/// `Content-Length` against the file limit.
pub const MULTIPART_OVERHEAD: u64 = 64 * 1024;

pub const MISSING_FILE: Text = Text {
    en: "a multipart field named file is required",
    vi: "cần một trường multipart tên là file",
};
pub const TOO_LARGE: Text = Text {
    en: "larger than the limit of {limit} bytes",
    vi: "vượt quá giới hạn {limit} byte",
};
pub const EMPTY: Text = Text {
    en: "the file is empty",
    vi: "tệp rỗng",
};
pub const TRUNCATED: Text = Text {
    en: "the upload ended before the file was complete",
    vi: "quá trình tải lên kết thúc trước khi nhận đủ tệp",
};

/// What an upload endpoint takes, for its OpenAPI document.
pub trait FileKind: Send + Sync + 'static {
    /// The description of the `file` field.
    const DESCRIPTION: &'static str;
}

/// A `multipart/form-data` body with a `file` field, read as a stream: the file never sits
/// whole in memory unless its handler reads it so.
pub struct FileUpload<K> {
    pub multipart: Multipart,
    /// The request's `Content-Length`, to refuse an oversized file before reading it.
    pub declared_length: Option<u64>,
    kind: PhantomData<fn() -> K>,
}

impl<K: FileKind> Payload for FileUpload<K> {
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
                    description: Some(K::DESCRIPTION),
                    ..MetaSchema::new("string")
                })),
            )],
            ..MetaSchema::new("object")
        }))
    }
}

impl<K: FileKind> ParsePayload for FileUpload<K> {
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
            kind: PhantomData,
        })
    }
}

poem_openapi::impl_apirequest_for_payload!(FileUpload<K>, K: FileKind);

impl<K> FileUpload<K> {
    /// The `file` field, other fields skipped; a body whose declared length shows a file over
    /// `max` is refused before anything is read.
    pub async fn file(mut self, max: u64) -> ApiResult<Field> {
        if self
            .declared_length
            .is_some_and(|n| n > max + MULTIPART_OVERHEAD)
        {
            return Err(too_large(max));
        }
        loop {
            match self.multipart.next_field().await.map_err(|_| truncated())? {
                None => return Err(invalid(MISSING_FILE)),
                Some(field) if field.name() == Some("file") => return Ok(field),
                // Dropping a field reads past it.
                Some(_) => continue,
            }
        }
    }
}

/// `413`, naming the file.
pub fn too_large(max: u64) -> ApiError {
    ApiError::new(&catalogue::PAYLOAD_TOO_LARGE)
        .arg("limit", max)
        .field_text("/file", TOO_LARGE, vec![("limit", max.to_string())])
}

/// The body ended (or broke) before the file did.
pub fn truncated() -> ApiError {
    ApiError::new(&catalogue::INVALID_REQUEST)
        .arg_text("reason", TRUNCATED)
        .field_text("/file", TRUNCATED, Vec::new())
}

/// `422`, naming the file.
pub fn invalid(text: Text) -> ApiError {
    ApiError::new(&catalogue::VALIDATION_FAILED).field_text("/file", text, Vec::new())
}

/// The first bytes of the file, at least `min` (fewer only if the file is shorter), enough to
/// decide its type; an empty file is refused.
pub async fn read_head<R: AsyncRead + Unpin>(reader: &mut R, min: usize) -> ApiResult<Bytes> {
    let mut head = BytesMut::with_capacity(READ_CHUNK);
    while head.len() < min {
        head.reserve(READ_CHUNK);
        match reader.read_buf(&mut head).await {
            Ok(0) => break,
            Ok(_) => {}
            Err(_) => return Err(truncated()),
        }
    }
    if head.is_empty() {
        return Err(invalid(EMPTY));
    }
    Ok(head.freeze())
}

/// The whole file after its `head`, in memory: for files small enough to be worked on whole;
/// refused as soon as it passes `max`.
pub async fn read_rest<R: AsyncRead + Unpin>(
    reader: &mut R,
    head: Bytes,
    max: u64,
) -> ApiResult<Bytes> {
    let max_len = usize::try_from(max).unwrap_or(usize::MAX);
    if head.len() > max_len {
        return Err(too_large(max));
    }
    let mut all = BytesMut::from(head);
    loop {
        all.reserve(READ_CHUNK);
        match reader.read_buf(&mut all).await {
            Ok(0) => return Ok(all.freeze()),
            Ok(_) if all.len() > max_len => return Err(too_large(max)),
            Ok(_) => {}
            Err(_) => return Err(truncated()),
        }
    }
}
