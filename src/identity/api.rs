// Operations take one argument per OAuth parameter, as the OpenAPI document lists them.
#![allow(clippy::too_many_arguments)]

use poem::Request;
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::{Html, Json};
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::callback::{self, CallbackQuery};
use super::{citizens, login};
use crate::audit::RequestFacts;
use crate::http::{ApiError, ApiResult, ApiTag, catalogue, sign_in_error_page};
use std::sync::Arc;

use super::eid::Eid;
use crate::state::AppState;
use crate::tokens::BearerAuth;

pub struct IdentityApi;

#[derive(ApiResponse)]
enum CallbackResponse {
    /// Back to the app's redirect URI with our one-time `code`, its `state` and `iss`, or an
    /// RFC 6749 error.
    #[oai(status = 302)]
    Redirect(
        #[oai(header = "Location")] String,
        #[oai(header = "Set-Cookie")] String,
        #[oai(header = "Cache-Control")] String,
    ),
    /// The sign-in cannot continue (expired, replayed or foreign).
    #[oai(status = 400)]
    BadRequest(Html<String>, #[oai(header = "Cache-Control")] String),
    /// A dependency is unavailable.
    #[oai(status = 503)]
    Unavailable(Html<String>, #[oai(header = "Cache-Control")] String),
}

/// The signed-in citizen.
#[derive(Debug, Object)]
#[oai(example)]
struct Me {
    /// Our identifier of the citizen (not the eID's, not the identification number).
    sub: Uuid,
    /// Full name, as the national eID gave it.
    #[oai(skip_serializing_if_is_none)]
    name: Option<String>,
    /// The personal identification number with all but its last four digits hidden.
    #[oai(skip_serializing_if_is_none)]
    id_number_masked: Option<String>,
    /// Identity level of this sign-in: 1 or 2.
    level: i16,
    /// Issuer of the identity provider the citizen signed in with.
    provider: String,
}

impl Example for Me {
    fn example() -> Self {
        Me {
            sub: Uuid::nil(),
            name: Some("Nguyễn Thị Lan".into()),
            id_number_masked: Some("********1234".into()),
            level: 2,
            provider: "https://vneid.gov.vn".into(),
        }
    }
}

#[OpenApi(tag = "ApiTag::Identity")]
impl IdentityApi {
    /// eID callback
    ///
    /// Where the national eID provider returns the citizen. Validates the state and the
    /// browser-binding cookie, exchanges the code, validates the ID token (OpenID Connect Core
    /// §3.1.3.7), links or creates the citizen and sends the app its one-time code.
    #[oai(
        path = "/v1/auth/eid/callback",
        method = "get",
        operation_id = "eidCallback"
    )]
    async fn eid_callback(
        &self,
        state: Data<&AppState>,
        eid: Data<&Arc<Eid>>,
        req: &Request,
        /// The provider's authorization code.
        code: Query<Option<String>>,
        /// Our state.
        #[oai(name = "state")]
        our_state: Query<Option<String>>,
        /// The provider's issuer (RFC 9207).
        iss: Query<Option<String>>,
        /// The provider's error code, when the sign-in failed there.
        error: Query<Option<String>>,
        /// The provider's error description.
        error_description: Query<Option<String>>,
    ) -> CallbackResponse {
        let query = CallbackQuery {
            code: code.0,
            state: our_state.0,
            iss: iss.0,
            error: error.0,
            error_description: error_description.0,
        };
        let cookie_name = login::binding_cookie_name(query.state.as_deref().unwrap_or(""));
        let cookie = login::cookie_value(req.header(http::header::COOKIE), &cookie_name);
        match callback::finish(&state, &eid, query, cookie, RequestFacts::of(req)).await {
            callback::Outcome::ToApp { location } => CallbackResponse::Redirect(
                location,
                login::binding_cookie(&cookie_name, "", &state.config.public_url, 0),
                "no-store".into(),
            ),
            callback::Outcome::ErrorPage {
                status: 503,
                message,
            } => CallbackResponse::Unavailable(sign_in_error_page(&message), "no-store".into()),
            callback::Outcome::ErrorPage { message, .. } => {
                CallbackResponse::BadRequest(sign_in_error_page(&message), "no-store".into())
            }
        }
    }

    /// The signed-in citizen
    ///
    /// Who the access token belongs to: our `sub`, name, masked identification number,
    /// identity level and provider. Needs the `profile` scope.
    #[oai(path = "/v1/me", method = "get", operation_id = "me")]
    async fn me(&self, state: Data<&AppState>, auth: BearerAuth) -> ApiResult<Json<Me>> {
        let claims = auth.0;
        let not_citizen = || ApiError::new(&catalogue::FORBIDDEN);
        // The citizen's profile goes only to apps granted `profile`.
        if claims.sid.is_none() || !claims.has_scope("profile") {
            return Err(not_citizen());
        }
        let id = Uuid::parse_str(&claims.sub).map_err(|_| not_citizen())?;
        let citizen = citizens::find(&state.db, id)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(not_citizen)?;
        Ok(Json(Me {
            sub: citizen.id,
            name: citizen.name,
            id_number_masked: citizen.id_number_masked,
            level: claims
                .acr
                .as_deref()
                .and_then(|a| a.parse().ok())
                .unwrap_or(citizen.level),
            provider: citizen.provider,
        }))
    }
}
