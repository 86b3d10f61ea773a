//! Listing images: a merchant's upload, and the public download of the stored bytes.

use super::*;
use crate::http::upload::FileUpload;
use crate::listings::uploads::{self, ImageBytes, ListingImageFile};

#[derive(Default)]
pub struct ListingImagesApi;

/// A listing after an image upload, with the `ETag` the next `If-Match` names.
#[derive(ApiResponse)]
pub enum ImageAdded {
    /// Added at the end of `images` (and `thumbnails`); `Location` is the image's URL.
    #[oai(status = 201)]
    Created(
        JsonBytes<ListingView>,
        #[oai(header = "ETag")] String,
        #[oai(header = "Location")] String,
    ),
    /// The listing has this image already (the same picture, byte for byte after
    /// re-encoding): nothing changed.
    #[oai(status = 200)]
    Unchanged(JsonBytes<ListingView>, #[oai(header = "ETag")] String),
}

#[OpenApi(tag = "ApiTag::Listings")]
impl ListingImagesApi {
    /// Upload a listing image
    ///
    /// `multipart/form-data` with the picture in the field `file`: JPEG, PNG or WebP, decided
    /// by the file's first bytes (never its name or declared type), at most 5000000 bytes
    /// (`413` naming `/file` beyond) and 40 megapixels. Anything else is `422` naming `/file`;
    /// a listing with 10 images already is `422` naming `/images`. Who may: as for `PATCH`
    /// (another merchant's listing is `404`), in any status; `If-Match` as for `PATCH`.
    ///
    /// The picture is decoded, turned upright, scaled down to at most 2048 px (and a thumbnail
    /// to 320 px) and encoded afresh without any metadata, so no EXIF (GPS position, camera)
    /// leaves the server: JPEG stays JPEG, PNG and WebP become PNG. Stored under the hash of
    /// the result, the same picture twice is stored once. The answer is the listing, its
    /// `images` ending with the new URL.
    #[oai(
        path = "/v1/listings/:id/images",
        method = "post",
        operation_id = "uploadListingImage"
    )]
    async fn upload(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: FileUpload<ListingImageFile>,
    ) -> ApiResult<ImageAdded> {
        let owner = service::owner(&state, &auth).await?;
        let expected = req.header("if-match");
        let done = uploads::add_image(&state, owner, id.0, expected, body).await?;
        let bytes = uploads::body_of(&state, done.listing);
        let etag = etag_of(&bytes);
        Ok(match done.added {
            true => {
                let location = format!("{}{}", state.config.issuer(), done.reference);
                ImageAdded::Created(JsonBytes::new(bytes), etag, location)
            }
            false => ImageAdded::Unchanged(JsonBytes::new(bytes), etag),
        })
    }

    /// An image
    ///
    /// Public: the bytes of an uploaded image or its thumbnail, by the name a listing's
    /// `images` or `thumbnails` URL ends with (`<sha256>.jpg`, `<sha256>-thumb.png`, …).
    /// Names are content hashes, so the answer never changes: cached for a year as
    /// `immutable`, with a strong `ETag`. Any other name is `404`.
    #[oai(path = "/v1/images/:name", method = "get", operation_id = "showImage")]
    async fn image(
        &self,
        state: Data<&AppState>,
        req: &Request,
        /// `<64 lowercase hex>[-thumb].jpg` or `.png`.
        name: Path<String>,
    ) -> ApiResult<ImageBytes> {
        uploads::image(&state, &name.0, req.header("if-none-match")).await
    }
}
