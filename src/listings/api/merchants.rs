//! Merchants: a merchant's public page, served from Redis, and a citizen registering one.

use super::*;

#[derive(Default)]
pub struct MerchantsApi;

#[derive(ApiResponse)]
pub enum MerchantCreated {
    /// Registered; the caller manages it.
    #[oai(status = 201)]
    Created(Json<OwnMerchantView>, #[oai(header = "Location")] String),
}

#[OpenApi(tag = "ApiTag::Listings")]
impl MerchantsApi {
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
}
