//! Public browse, search, detail and merchant pages, served from Redis.

use super::*;

#[derive(Default)]
pub struct PublicListingsApi;

/// The orders of `GET /v1/listings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, poem_openapi::Enum)]
#[oai(rename_all = "snake_case")]
pub enum SortName {
    Relevance,
    Newest,
    PriceAsc,
    PriceDesc,
}

impl From<SortName> for super::super::model::Sort {
    fn from(s: SortName) -> Self {
        use super::super::model::Sort;
        match s {
            SortName::Relevance => Sort::Relevance,
            SortName::Newest => Sort::Newest,
            SortName::PriceAsc => Sort::PriceAsc,
            SortName::PriceDesc => Sort::PriceDesc,
        }
    }
}

// Query parameters are handler arguments in poem-openapi.
#[allow(clippy::too_many_arguments)]
#[OpenApi(tag = "ApiTag::Listings")]
impl PublicListingsApi {
    /// Browse and search local products
    ///
    /// Public; published listings only. `q` is accent- and case-insensitive ("ca phe" finds
    /// "Cà phê", "dac san" finds "đặc sản") and forgives a wrong letter in a longer query.
    /// `sort=relevance` (the default) ranks by match with `q`, and is newest first without
    /// one. Keyset pages: pass `next_cursor` back as `cursor` with the same parameters; pages
    /// stay free of duplicates and gaps while listings are added. The first page carries
    /// `facets`, the count per category of everything the other filters match.
    #[oai(path = "/v1/listings", method = "get", operation_id = "searchListings")]
    async fn search(
        &self,
        state: Data<&AppState>,
        req: &Request,
        #[oai(validator(max_length = 200))] q: Query<Option<String>>,
        category: Query<Option<CategoryName>>,
        /// Five-digit commune code.
        #[oai(validator(pattern = "^[0-9]{5}$"))]
        commune: Query<Option<String>>,
        #[oai(validator(minimum(value = "0")))] min_price: Query<Option<i64>>,
        #[oai(validator(minimum(value = "0")))] max_price: Query<Option<i64>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "5")))] min_stars: Query<Option<i16>>,
        merchant: Query<Option<Uuid>>,
        /// Only listings with stock left (or not counted).
        in_stock: Query<Option<bool>>,
        sort: Query<Option<SortName>>,
        #[oai(validator(max_length = 200))] cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] limit: Query<Option<u32>>,
    ) -> ApiResult<Cached<ListingPage>> {
        let cursor = cursor
            .0
            .as_deref()
            .map(|c| store::SearchCursor::decode(c).ok_or_else(bad_cursor))
            .transpose()?;
        let query = store::SearchQuery {
            q: q.0,
            category: category.0.map(Into::into),
            commune: commune.0,
            min_price: min_price.0,
            max_price: max_price.0,
            min_stars: min_stars.0,
            merchant: merchant.0,
            in_stock: in_stock.0,
            sort: sort.0.map(Into::into).unwrap_or_default(),
            cursor,
            limit: limit.0.unwrap_or(20),
        };
        let key = format!("{query:?}");
        let db = state.db.clone();
        let base = state.config.issuer().to_string();
        let (bytes, _) = state
            .cache
            .get_or_load_scoped(
                service::SEARCH,
                "",
                &key,
                service::SEARCH_TTL,
                || async move {
                    let page = store::search(&db, &query).await.map_err(service::problem)?;
                    Ok::<_, ApiError>(service::to_bytes(&ListingPage::new(page, &base)))
                },
            )
            .await?;
        Ok(answer(req, bytes, PUBLIC_CACHE))
    }

    /// A listing
    ///
    /// Public when published. With the token of its merchant (or of the marketplace bound to
    /// it), also a draft, archived or hidden one. The strong `ETag` is the `If-Match`
    /// validator of the writes.
    #[oai(
        path = "/v1/listings/:id",
        method = "get",
        operation_id = "showListing"
    )]
    async fn detail(
        &self,
        state: Data<&AppState>,
        req: &Request,
        viewer: Viewer,
        id: Path<Uuid>,
    ) -> ApiResult<Cached<ListingView>> {
        let err = match service::public_detail(&state, id.0).await {
            Ok((bytes, _)) => return Ok(answer(req, bytes, PUBLIC_CACHE)),
            Err(err) if err.kind().slug == catalogue::NOT_FOUND.slug => err,
            Err(err) => return Err(err),
        };
        let Viewer::Bearer(auth) = viewer else {
            return Err(err);
        };
        let Ok(owner) = service::owner(&state, &auth).await else {
            return Err(err);
        };
        match store::get_owned(&state.db, owner, id.0)
            .await
            .map_err(service::problem)?
        {
            Some(listing) => {
                let bytes = service::listing_bytes(listing, state.config.issuer());
                Ok(answer(req, bytes, PRIVATE_CACHE))
            }
            None => Err(err),
        }
    }

    /// A merchant's page
    ///
    /// Name, kind, commune, the contact if the merchant chose to show it, and how many
    /// listings they show.
    #[oai(
        path = "/v1/merchants/:id",
        method = "get",
        operation_id = "showMerchant"
    )]
    async fn merchant(
        &self,
        state: Data<&AppState>,
        req: &Request,
        id: Path<Uuid>,
    ) -> ApiResult<Cached<MerchantView>> {
        let db = state.db.clone();
        let (bytes, _) = state
            .cache
            .get_or_load_scoped(
                service::MERCHANT,
                &id.0.to_string(),
                "page",
                service::DETAIL_TTL,
                || async move {
                    let page = store::merchant_page(&db, id.0)
                        .await
                        .map_err(service::problem)?
                        .ok_or_else(|| ApiError::new(&catalogue::NOT_FOUND))?;
                    Ok::<_, ApiError>(service::to_bytes(&MerchantView::from(page)))
                },
            )
            .await?;
        Ok(answer(req, bytes, PUBLIC_CACHE))
    }
}

fn bad_cursor() -> ApiError {
    ApiError::new(&catalogue::INVALID_REQUEST)
        .arg("reason", "not a cursor this endpoint returned")
        .field("/cursor", "not a cursor this endpoint returned")
}
