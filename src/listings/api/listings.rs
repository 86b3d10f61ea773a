//! Every operation on `/v1/listings` paths: public browse, search and detail served from Redis,
//! and merchants' and marketplaces' writes (creating, changing, publishing and archiving
//! listings, partners' bulk upserts). One API for them all: the document keys operations by
//! path, and two APIs naming one path would each write the key, of which readers keep one.

use super::*;

#[derive(Default)]
pub struct ListingsApi;

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
impl ListingsApi {
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
        commune: Query<Option<CommuneCode>>,
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
            commune: commune.0.map(Shaped::into_inner),
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

    /// Create a listing
    ///
    /// A draft of the caller's merchant: a citizen with the `merchant` role (naming
    /// `merchant_id` if they run several), or a marketplace client bound to a merchant with
    /// `listings:write`. `title`, `price_vnd`, `unit` and `category` are required; each
    /// invalid field is named in `errors`.
    #[oai(path = "/v1/listings", method = "post", operation_id = "createListing")]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: Json<NewListingBody>,
    ) -> ApiResult<ListingWritten> {
        let owner = service::owner(&state, &auth).await?;
        let merchant_id = body.0.merchant_id;
        let listing = service::create(&state, owner, merchant_id, body.0.fields.into()).await?;
        Ok(ListingWritten::created(&state, listing))
    }

    /// Change a listing
    ///
    /// A JSON merge patch (RFC 7396; `application/json` or `application/merge-patch+json`):
    /// members given replace, `null` clears an optional one. With `If-Match` (the `ETag` of
    /// the last read or write), a listing changed since is refused with `412`. Another
    /// merchant's listing is `404`.
    #[oai(
        path = "/v1/listings/:id",
        method = "patch",
        operation_id = "updateListing"
    )]
    async fn update(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<ListingPatchBody>,
    ) -> ApiResult<ListingWritten> {
        let change = Change::Patch(Box::new(body.0));
        write(&state, req, &auth, id.0, change).await
    }

    /// Publish a listing
    ///
    /// It appears in search and on the merchant's page at once. A hidden listing stays hidden
    /// until a moderator unhides it. `If-Match` as for `PATCH`.
    #[oai(
        path = "/v1/listings/:id/publish",
        method = "post",
        operation_id = "publishListing"
    )]
    async fn publish(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<ListingWritten> {
        write(&state, req, &auth, id.0, Change::Status(Status::Published)).await
    }

    /// Archive a listing
    ///
    /// It leaves search and detail at once; publishing brings it back. `If-Match` as for
    /// `PATCH`.
    #[oai(
        path = "/v1/listings/:id/archive",
        method = "post",
        operation_id = "archiveListing"
    )]
    async fn archive(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<ListingWritten> {
        write(&state, req, &auth, id.0, Change::Status(Status::Archived)).await
    }

    /// Create or update listings in bulk
    ///
    /// A marketplace's upsert of up to 500 listings by its own `external_id`, published unless
    /// an item says otherwise. Idempotent: sending the same items again reports them
    /// `unchanged` and writes nothing. Each item has its result; an invalid one is skipped
    /// with its faults (pointers relative to the item) and does not stop the others.
    #[oai(
        path = "/v1/listings/bulk",
        method = "post",
        operation_id = "upsertListings"
    )]
    async fn bulk(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: Json<BulkBody>,
    ) -> ApiResult<Json<BulkView>> {
        let owner = service::owner(&state, &auth).await?;
        let items = body.0.items.into_iter().map(BulkItemBody::input).collect();
        let results = service::bulk(&state, owner, items).await?;
        Ok(Json(results.into()))
    }
}

fn bad_cursor() -> ApiError {
    ApiError::new(&catalogue::INVALID_REQUEST)
        .arg("reason", "not a cursor this endpoint returned")
        .field("/cursor", "not a cursor this endpoint returned")
}

async fn write(
    state: &AppState,
    req: &Request,
    auth: &BearerAuth,
    id: Uuid,
    change: Change,
) -> ApiResult<ListingWritten> {
    let owner = service::owner(state, auth).await?;
    let listing = service::change(state, owner, id, req.header("if-match"), change).await?;
    Ok(ListingWritten::ok(state, listing))
}
