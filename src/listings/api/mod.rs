//! The listings endpoints: public browse, search, detail and merchant pages served from Redis
//! with `ETag` / `If-None-Match`; merchants' and marketplaces' writes with `If-Match`.
//! Handlers parse, call `service`, and map.

use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi, SecurityScheme};
use uuid::Uuid;

use super::model::Status;
use super::service::{self, Change};
use super::store::{self, Listing};
use super::views::*;
use crate::http::payload::{Cached, JsonBytes, answer, etag_of};
use crate::http::{ApiError, ApiResult, ApiTag, Shaped, catalogue};
use crate::state::AppState;
use crate::tokens::BearerAuth;

mod images;
mod listings;
mod merchants;

pub use images::ListingImagesApi;
pub use listings::ListingsApi;
pub use merchants::MerchantsApi;

crate::shape!(
    /// A commune's five-digit administrative code.
    CommuneShape,
    pattern = "^[0-9]{5}$"
);
/// A commune code in a query.
pub type CommuneCode = Shaped<CommuneShape>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::shaped::Shape;

    #[test]
    fn the_commune_shape_compiles_and_takes_five_digits() {
        assert!(CommuneShape::regex().is_match("26734"));
        assert!(CommuneCode::parse("2673").is_err());
    }
}

/// Anyone; with a merchant's or marketplace's token, their own unpublished listings too.
// The derive takes each scheme by value (a box is no security scheme); one lives per request.
#[allow(clippy::large_enum_variant)]
#[derive(SecurityScheme)]
pub enum Viewer {
    Bearer(BearerAuth),
    #[oai(fallback)]
    Anonymous,
}

/// A listing after a write, with the `ETag` the next `If-Match` names.
#[derive(ApiResponse)]
pub enum ListingWritten {
    /// Created (as a draft).
    #[oai(status = 201)]
    Created(
        JsonBytes<ListingView>,
        #[oai(header = "ETag")] String,
        #[oai(header = "Location")] String,
    ),
    /// Done.
    #[oai(status = 200)]
    Ok(JsonBytes<ListingView>, #[oai(header = "ETag")] String),
}

impl ListingWritten {
    fn created(state: &AppState, listing: Listing) -> Self {
        let location = format!("/v1/listings/{}", listing.id);
        let bytes = service::listing_bytes(listing, state.config.issuer());
        let etag = etag_of(&bytes);
        ListingWritten::Created(JsonBytes::new(bytes), etag, location)
    }

    fn ok(state: &AppState, listing: Listing) -> Self {
        let bytes = service::listing_bytes(listing, state.config.issuer());
        let etag = etag_of(&bytes);
        ListingWritten::Ok(JsonBytes::new(bytes), etag)
    }
}

/// The public may keep a copy but must ask again (a 304 is cheap): a hidden listing must
/// vanish at once.
const PUBLIC_CACHE: &str = "public, no-cache";
const PRIVATE_CACHE: &str = "private, no-cache";
