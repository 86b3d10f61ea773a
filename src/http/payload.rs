//! A JSON body already serialised (a cached response), documented as the type it encodes.

use std::marker::PhantomData;

use bytes::Bytes;
use poem::{IntoResponse, Request, RequestBody, Response};
use poem_openapi::ApiResponse;
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::Type;

/// The bytes of a `T` as JSON: served as they are (no re-encoding on a cache hit), described in
/// the OpenAPI document as `T`.
pub struct JsonBytes<T>(pub Bytes, PhantomData<fn() -> T>);

impl<T> JsonBytes<T> {
    pub fn new(bytes: Bytes) -> Self {
        Self(bytes, PhantomData)
    }
}

impl<T: Type> Payload for JsonBytes<T> {
    const CONTENT_TYPE: &'static str = "application/json; charset=utf-8";

    fn check_content_type(content_type: &str) -> bool {
        content_type
            .get(.."application/json".len())
            .is_some_and(|t| t.eq_ignore_ascii_case("application/json"))
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

/// As a request body: the bytes unparsed, for a handler that must answer some checks (the
/// caller's identity level) whatever the body, and that hashes the bytes for idempotency.
impl<T: Type> ParsePayload for JsonBytes<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(_req: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        Ok(Self::new(body.take()?.into_bytes().await?))
    }
}

poem_openapi::impl_apirequest_for_payload!(JsonBytes<T>, T: Type);

impl<T: Send> IntoResponse for JsonBytes<T> {
    fn into_response(self) -> Response {
        Response::builder()
            .content_type(Self::content_type_str())
            .body(self.0)
    }
}

impl<T> JsonBytes<T> {
    fn content_type_str() -> &'static str {
        "application/json; charset=utf-8"
    }
}

/// A cacheable read: the body with its strong `ETag`, or `304` when the client has it.
#[derive(ApiResponse)]
pub enum Cached<T: Type + Send> {
    /// The resource.
    #[oai(status = 200)]
    Ok(
        JsonBytes<T>,
        #[oai(header = "ETag")] String,
        #[oai(header = "Cache-Control")] String,
    ),
    /// Unchanged since the `ETag` sent in `If-None-Match`.
    #[oai(status = 304)]
    NotModified(
        #[oai(header = "ETag")] String,
        #[oai(header = "Cache-Control")] String,
    ),
}

/// The answer to a read of `bytes`: `304` when `If-None-Match` names them, else the bytes as
/// they are (a cache hit is never decoded or re-encoded).
pub fn answer<T: Type + Send>(req: &Request, bytes: Bytes, cache_control: &str) -> Cached<T> {
    let etag = etag_of(&bytes);
    if not_modified(req.header("if-none-match"), &etag) {
        return Cached::NotModified(etag, cache_control.into());
    }
    Cached::Ok(JsonBytes::new(bytes), etag, cache_control.into())
}

/// The JSON bytes of a view, as they are cached and served (our own types always serialise).
pub fn to_bytes<T: poem_openapi::types::ToJSON>(view: &T) -> Bytes {
    Bytes::from(
        view.to_json()
            .and_then(|v| serde_json::to_vec(&v).ok())
            .unwrap_or_default(),
    )
}

/// A strong `ETag` of a body: its 128-bit XXH3, quoted. Every cached read computes it, and
/// SHA-256 made a tenth of a cached read's instructions; a validator needs a hash that changes
/// with the bytes, not one that resists forgery (a client gains nothing by matching its own
/// `If-Match`).
pub fn etag_of(body: &[u8]) -> String {
    format!("\"{:032x}\"", xxhash_rust::xxh3::xxh3_128(body))
}

/// Whether `If-None-Match` names `etag` (or `*`), so the answer is `304 Not Modified`.
pub fn not_modified(if_none_match: Option<&str>, etag: &str) -> bool {
    if_none_match.is_some_and(|header| {
        header
            .split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == "*" || t == etag)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_matches_the_tag_in_a_list_or_a_star() {
        let tag = etag_of(b"{}");
        assert!(not_modified(Some(&tag), &tag));
        assert!(not_modified(Some(&format!("\"x\", {tag}")), &tag));
        assert!(not_modified(Some("*"), &tag));
        assert!(!not_modified(Some("\"other\""), &tag));
        assert!(!not_modified(None, &tag));
    }
}
