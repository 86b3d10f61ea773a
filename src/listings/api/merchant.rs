//! Merchants' and marketplaces' writes: registering a merchant, creating, changing,
//! publishing and archiving listings, and partners' bulk upserts.

use super::*;

#[derive(Default)]
pub struct MerchantListingsApi;

#[derive(ApiResponse)]
pub enum MerchantCreated {
    /// Registered; the caller manages it.
    #[oai(status = 201)]
    Created(Json<OwnMerchantView>, #[oai(header = "Location")] String),
}

#[OpenApi(tag = "ApiTag::Listings")]
impl MerchantListingsApi {
    /// Register a merchant
    ///
    /// A citizen holding the `merchant` role (granted by an operator) registers the household
    /// business, cooperative or enterprise they run, and manages its listings from then on.
    #[oai(
        path = "/v1/merchants",
        method = "post",
        operation_id = "registerMerchant"
    )]
    async fn register(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: Json<NewMerchantBody>,
    ) -> ApiResult<MerchantCreated> {
        let store::Owner::Citizen(citizen) = service::owner(&state, &auth).await? else {
            return Err(ApiError::new(&catalogue::FORBIDDEN));
        };
        let merchant = service::register_merchant(&state, citizen, body.0.into()).await?;
        let location = format!("/v1/merchants/{}", merchant.id);
        Ok(MerchantCreated::Created(Json(merchant.into()), location))
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
