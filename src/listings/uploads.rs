//! Images in and out: a merchant's upload read under its cap, re-encoded off the async
//! workers (a few at a time), stored under its content's name and added to the listing like any
//! other write; and the stored bytes served to anyone who has the name.
//!
//! Who sees an image: anyone with its URL. Names are SHA-256 hashes, so a URL is known only to
//! those shown it, and one stored image may belong to several listings; what a listing's status
//! governs is whether its detail (and so the URL) is shown. Images are never deleted when a
//! listing drops them (another listing may hold the same one).

use std::sync::LazyLock;

use bytes::Bytes;
use image::ImageFormat;
use poem::Body;
use poem_openapi::ApiResponse;
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use tokio::sync::Semaphore;
use uuid::Uuid;

use super::images::{self, ImageFault, ImageName, MAX_IMAGE_BYTES, Processed};
use super::model::MAX_IMAGES;
use super::service::{self, if_match, invalidate, listing_bytes, problem};
use super::store::{self, Listing, Owner, StoreError};
use crate::http::lang::Text;
use crate::http::payload::{etag_of, not_modified};
use crate::http::upload::{self, FileKind, FileUpload};
use crate::http::{ApiError, ApiResult, catalogue};
use crate::state::AppState;

/// The body of an image upload.
pub struct ListingImageFile;

impl FileKind for ListingImageFile {
    const DESCRIPTION: &'static str = "A JPEG, PNG or WebP image of at most 5000000 bytes and 40 megapixels (the type decided \
         by the file's content).";
}

const NOT_AN_IMAGE: Text = Text {
    en: "only JPEG, PNG and WebP images are accepted (decided by the file's content)",
    vi: "chỉ nhận ảnh JPEG, PNG và WebP (xác định theo nội dung tệp)",
};
const UNDECODABLE: Text = Text {
    en: "the image is damaged or incomplete",
    vi: "ảnh bị hỏng hoặc không đầy đủ",
};
const TOO_MANY_PIXELS: Text = Text {
    en: "the image is larger than 40 megapixels",
    vi: "ảnh lớn hơn 40 megapixel",
};

/// Decodings and encodings running at once. Each keeps a core busy and may hold a couple of
/// hundred megabytes: half the cores, so that reads go on being served during a burst of
/// uploads.
static IMAGE_WORK: LazyLock<Semaphore> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    Semaphore::new(cores.div_ceil(2))
});

/// What became of an upload.
pub struct Added {
    pub listing: Listing,
    /// The image's reference (`/v1/images/<name>`).
    pub reference: String,
    /// False when the listing had this image already (nothing was written).
    pub added: bool,
}

/// `POST /v1/listings/{id}/images`: the caller's listing gains the uploaded image, if it is
/// still the version `If-Match` names (absent: any).
pub async fn add_image(
    state: &AppState,
    owner: Owner,
    id: Uuid,
    expected: Option<&str>,
    body: FileUpload<ListingImageFile>,
) -> ApiResult<Added> {
    // Refusals that need no file come before reading and decoding it.
    let current = store::get_owned(&state.db, owner, id)
        .await
        .map_err(problem)?
        .ok_or_else(|| problem(StoreError::NotFound))?;
    let base = state.config.issuer();
    // A version already stale is refused before anything is stored. The check is made again
    // under the lock below, for a write that lands while the image is being encoded (that
    // upload's image stays stored, unreferenced).
    if !if_match(expected, &etag_of(&listing_bytes(current.clone(), base))) {
        return Err(problem(StoreError::Stale));
    }
    if current.images.len() >= MAX_IMAGES {
        return Err(too_many_images());
    }
    let (bytes, format) = read_image(body).await?;
    let processed = reencode(bytes, format).await?;
    let reference = processed.name.reference();
    keep(state, processed).await?;

    let mut tx = state.db.begin().await?;
    let before = store::lock_owned(&mut tx, owner, id)
        .await
        .map_err(problem)?;
    if !if_match(expected, &etag_of(&listing_bytes(before.clone(), base))) {
        return Err(problem(StoreError::Stale));
    }
    if before.images.contains(&reference) {
        return Ok(Added {
            listing: before,
            reference,
            added: false,
        });
    }
    let mut input = before.input();
    input.images.push(reference.clone());
    let fields = input.check().map_err(|f| problem(StoreError::Invalid(f)))?;
    let written = store::update_fields(&mut tx, &before, &fields)
        .await
        .map_err(problem)?;
    tx.commit().await?;
    invalidate(state, &written).await;
    Ok(Added {
        listing: written.listing,
        reference,
        added: true,
    })
}

fn too_many_images() -> ApiError {
    problem(StoreError::Invalid(vec![(
        "/images".into(),
        format!("at most {MAX_IMAGES} images; remove one with PATCH first"),
    )]))
}

/// The `file` field, whole (it is at most [`MAX_IMAGE_BYTES`]), and its type from its first
/// bytes.
async fn read_image(body: FileUpload<ListingImageFile>) -> ApiResult<(Bytes, ImageFormat)> {
    let field = body.file(MAX_IMAGE_BYTES).await?;
    let mut reader = Box::pin(field.into_async_read());
    let head = upload::read_head(&mut reader, images::SNIFF_LEN).await?;
    let format = images::sniff(&head).ok_or_else(|| upload::invalid(NOT_AN_IMAGE))?;
    let bytes = upload::read_rest(&mut reader, head, MAX_IMAGE_BYTES).await?;
    Ok((bytes, format))
}

/// [`images::process`] on a blocking thread, once one of the [`IMAGE_WORK`] permits is free.
/// The permit goes with the work, so a request given up half-way still counts until its
/// decoding ends.
async fn reencode(bytes: Bytes, format: ImageFormat) -> ApiResult<Processed> {
    let permit = IMAGE_WORK.acquire().await.map_err(ApiError::internal)?;
    let done = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        images::process(&bytes, format)
    })
    .await
    .map_err(ApiError::internal)?;
    done.map_err(|fault| match fault {
        ImageFault::Undecodable => upload::invalid(UNDECODABLE),
        ImageFault::TooLarge => upload::invalid(TOO_MANY_PIXELS),
        ImageFault::Encoding(err) => ApiError::internal(err),
    })
}

/// Stores both versions, unless this image is stored already. The thumbnail goes first, so
/// that wherever the full image is, its thumbnail is too.
async fn keep(state: &AppState, processed: Processed) -> ApiResult<()> {
    let full = processed.name.key();
    if state.storage.exists(&full).await? {
        return Ok(());
    }
    let thumb = processed.name.thumbnail().key();
    state
        .storage
        .put(&thumb, Bytes::from(processed.thumb))
        .await?;
    state
        .storage
        .put(&full, Bytes::from(processed.full))
        .await?;
    Ok(())
}

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// An image's bytes, documented as `image/*`: the `Content-Type` header says which image type,
/// and a document that named `application/octet-stream` would contradict every answer.
pub struct ImageBody(pub Body);

impl Payload for ImageBody {
    const CONTENT_TYPE: &'static str = "image/*";

    fn check_content_type(content_type: &str) -> bool {
        content_type.starts_with("image/")
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            format: Some("binary"),
            ..MetaSchema::new("string")
        }))
    }
}

impl poem::IntoResponse for ImageBody {
    fn into_response(self) -> poem::Response {
        poem::Response::builder().body(self.0)
    }
}

/// A stored image, or `304` when the client has it.
#[derive(ApiResponse)]
pub enum ImageBytes {
    /// The image's bytes.
    #[oai(status = 200)]
    Ok(
        ImageBody,
        /// `image/jpeg` or `image/png`.
        #[oai(header = "Content-Type")]
        String,
        /// Always `public, max-age=31536000, immutable`: a name is the hash of its content.
        #[oai(header = "Cache-Control")]
        String,
        /// Strong: the content's hash.
        #[oai(header = "ETag")]
        String,
        /// Always `nosniff`.
        #[oai(header = "X-Content-Type-Options")]
        String,
    ),
    /// Unchanged since the `ETag` sent in `If-None-Match` (as it always is).
    #[oai(status = 304)]
    NotModified(
        #[oai(header = "ETag")] String,
        #[oai(header = "Cache-Control")] String,
    ),
}

/// `GET /v1/images/{name}`: anything but a stored image's exact name is `404`.
pub async fn image(
    state: &AppState,
    name: &str,
    if_none_match: Option<&str>,
) -> ApiResult<ImageBytes> {
    let not_found = || ApiError::new(&catalogue::NOT_FOUND);
    let name = ImageName::parse(name).ok_or_else(not_found)?;
    let etag = name.etag();
    if not_modified(if_none_match, &etag) {
        return Ok(ImageBytes::NotModified(etag, IMMUTABLE.into()));
    }
    let (stream, _) = state
        .storage
        .get_if_exists(&name.key())
        .await?
        .ok_or_else(not_found)?;
    Ok(ImageBytes::Ok(
        ImageBody(Body::from_bytes_stream(stream)),
        name.encoding.mime().into(),
        IMMUTABLE.into(),
        etag,
        "nosniff".into(),
    ))
}

/// The listing's body after an upload, for the handler (the same bytes a read gives).
pub fn body_of(state: &AppState, listing: Listing) -> Bytes {
    service::listing_bytes(listing, state.config.issuer())
}
