//! The bearer-token security scheme of our API (RFC 6750).

use std::sync::Arc;

use http::HeaderValue;
use poem::Request;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;

use super::{AccessClaims, Level};
use super::{Revocations, Tokens};
use crate::http::{ApiError, catalogue};

/// An access token we issued, sent as `Authorization: Bearer <token>`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_bearer")]
pub struct BearerAuth(pub AccessClaims);

fn invalid_token() -> poem::Error {
    ApiError::new(&catalogue::INVALID_TOKEN)
        .header(
            http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static(
                "Bearer error=\"invalid_token\", error_description=\"The access token is invalid, expired or revoked\"",
            ),
        )
        .into()
}

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<AccessClaims> {
    verify(req, &bearer.token).await
}

/// A bearer token an earlier layer of this request verified (the rate limiter, to know whose
/// budget the request spends), kept so that [`verify`] does not hash and look it up again: that
/// was a sixth of a cached authenticated read's instructions. Only the server puts it in a
/// request's extensions, and only for the token the request carries.
#[derive(Clone)]
pub struct VerifiedBearer {
    token: Box<str>,
    claims: Arc<AccessClaims>,
}

impl VerifiedBearer {
    pub fn new(token: &str, claims: Arc<AccessClaims>) -> Self {
        Self {
            token: token.into(),
            claims,
        }
    }
}

/// Verifies a bearer token we issued: signature, claims, and revocation on every replica
/// (checked again even when [`VerifiedBearer`] spares the signature). Other security schemes
/// (the operators') build on it.
pub async fn verify(req: &Request, token: &str) -> poem::Result<AccessClaims> {
    let (Some(tokens), Some(revocations)) = (req.data::<Tokens>(), req.data::<Revocations>())
    else {
        return Err(ApiError::internal(anyhow::anyhow!("token services missing")).into());
    };
    let claims = match req.extensions().get::<VerifiedBearer>() {
        Some(verified) if *verified.token == *token => verified.claims.clone(),
        _ => tokens.verify_access_cached(token).map_err(|err| {
            tracing::debug!(error = %err, "bearer token refused");
            invalid_token()
        })?,
    };
    if revocations.is_revoked(&claims).await {
        return Err(invalid_token());
    }
    Ok(AccessClaims::clone(&claims))
}

impl BearerAuth {
    /// The citizen a signed-in app acts for (the app's default scopes include `profile`); any
    /// other token is refused.
    pub fn citizen(&self) -> Result<uuid::Uuid, ApiError> {
        let claims = &self.0;
        if claims.sid.is_none() || !claims.has_scope("profile") {
            return Err(ApiError::new(&catalogue::FORBIDDEN));
        }
        uuid::Uuid::parse_str(&claims.sub).map_err(|_| ApiError::new(&catalogue::FORBIDDEN))
    }

    /// Step-up (RFC 9470): refuses a token below identity level 2 with the challenge that tells
    /// the app to sign the citizen in again with `acr_values=2`.
    pub fn require_level2(&self) -> Result<(), ApiError> {
        if self.0.acr == Some(Level::Two) {
            return Ok(());
        }
        Err(ApiError::new(&catalogue::INSUFFICIENT_LEVEL).header(
            http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static(
                "Bearer error=\"insufficient_user_authentication\", error_description=\"Identity level 2 is required\", acr_values=\"2\"",
            ),
        ))
    }

    /// RFC 9470 `max_age`: the citizen must have signed in at the provider within `max_age`,
    /// else the step-up challenge names the age wanted.
    pub fn require_recent(&self, max_age: std::time::Duration, now: i64) -> Result<(), ApiError> {
        let max = max_age.as_secs() as i64;
        if self.0.auth_time.is_some_and(|at| now - at <= max) {
            return Ok(());
        }
        let challenge = format!(
            "Bearer error=\"insufficient_user_authentication\", error_description=\"A more recent sign-in is required\", max_age={max}"
        );
        let mut err = ApiError::new(&catalogue::STALE_AUTHENTICATION).arg("max_age", max);
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            err = err.header(http::header::WWW_AUTHENTICATE, value);
        }
        Err(err)
    }
}
