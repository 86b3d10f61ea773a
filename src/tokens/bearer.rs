//! The bearer-token security scheme of our API (RFC 6750).

use http::HeaderValue;
use poem::Request;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;

use super::AccessClaims;
use crate::http::{ApiError, catalogue};
use crate::startup::AppState;

/// An access token we issued, sent as `Authorization: Bearer <token>`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_bearer")]
pub struct BearerAuth(pub AccessClaims);

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<AccessClaims> {
    let state = req
        .data::<AppState>()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("application state missing")))?;
    state.tokens.verify_access(&bearer.token).map_err(|err| {
        tracing::debug!(error = %err, "bearer token refused");
        ApiError::new(&catalogue::INVALID_TOKEN)
            .header(
                http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static(
                    "Bearer error=\"invalid_token\", error_description=\"The access token is invalid or expired\"",
                ),
            )
            .into()
    })
}
