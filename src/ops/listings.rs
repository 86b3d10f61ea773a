//! `/v1/ops/listings`: moderation. A hidden listing leaves search, detail and its merchant's
//! page at once, on every replica; unhiding gives back whatever its merchant had chosen.

use poem::Request;
use poem::web::Data;
use poem_openapi::OpenApi;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use uuid::Uuid;

use super::guard::OperatorAuth;
use crate::http::{ApiResult, ApiTag};
use crate::listings::service;
use crate::listings::views::{ListingView, ModerationBody};
use crate::state::AppState;

#[derive(Default)]
pub struct OpsListingsApi;

#[OpenApi(prefix_path = "/v1/ops", tag = "ApiTag::Operations")]
impl OpsListingsApi {
    /// Hide a listing
    ///
    /// With a reason, kept in the audit log. The merchant still sees it, as `hidden`.
    #[oai(
        path = "/listings/:id/hide",
        method = "post",
        operation_id = "opsHideListing"
    )]
    async fn hide(
        &self,
        state: Data<&AppState>,
        req: &Request,
        operator: OperatorAuth,
        id: Path<Uuid>,
        body: Json<ModerationBody>,
    ) -> ApiResult<Json<ListingView>> {
        let listing = service::moderate(&state, id.0, Some(&body.0.reason)).await?;
        let details = serde_json::json!({ "reason": body.0.reason });
        operator
            .0
            .audit(&state, req, "listing_hidden", id.0.to_string(), details)
            .await;
        Ok(Json(ListingView::new(listing, state.config.issuer())))
    }

    /// Unhide a listing
    ///
    /// With a reason, kept in the audit log. It shows again if its merchant has it published.
    #[oai(
        path = "/listings/:id/unhide",
        method = "post",
        operation_id = "opsUnhideListing"
    )]
    async fn unhide(
        &self,
        state: Data<&AppState>,
        req: &Request,
        operator: OperatorAuth,
        id: Path<Uuid>,
        body: Json<ModerationBody>,
    ) -> ApiResult<Json<ListingView>> {
        let listing = service::moderate(&state, id.0, None).await?;
        let details = serde_json::json!({ "reason": body.0.reason });
        operator
            .0
            .audit(&state, req, "listing_unhidden", id.0.to_string(), details)
            .await;
        Ok(Json(ListingView::new(listing, state.config.issuer())))
    }
}
