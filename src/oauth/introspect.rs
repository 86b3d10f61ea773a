//! Token introspection (RFC 7662) for resource servers: a confidential client may introspect
//! the tokens issued to it; a client registered with the `introspect` scope, any token.
//! Everything else is `{"active": false}`, which reveals nothing.

use poem_openapi::Object;
use poem_openapi::types::Example;
use time::OffsetDateTime;

use super::assertion::ClientKeys;
use super::error::{Refusal, RefusalKind};
use crate::audit::RequestFacts;
use crate::clients::ClientKind;
use crate::state::AppState;
use crate::tokens::AccessClaims;

/// An introspection response (RFC 7662 §2.2).
#[derive(Debug, Clone, Default, Object, PartialEq)]
#[oai(example)]
pub struct Introspection {
    /// Whether the token is currently valid (signed by us, not expired, not revoked).
    pub active: bool,
    #[oai(skip_serializing_if_is_none)]
    pub scope: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub client_id: Option<String>,
    /// The citizen's `sub`, or the client id for service tokens.
    #[oai(skip_serializing_if_is_none)]
    pub sub: Option<String>,
    /// `Bearer` for access tokens, `refresh_token` for refresh tokens.
    #[oai(skip_serializing_if_is_none)]
    pub token_type: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub exp: Option<i64>,
    #[oai(skip_serializing_if_is_none)]
    pub iat: Option<i64>,
    #[oai(skip_serializing_if_is_none)]
    pub nbf: Option<i64>,
    #[oai(skip_serializing_if_is_none)]
    pub iss: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub aud: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub jti: Option<String>,
    /// The login session, for citizens' tokens.
    #[oai(skip_serializing_if_is_none)]
    pub sid: Option<String>,
    /// Identity level: "1" or "2".
    #[oai(skip_serializing_if_is_none)]
    pub acr: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub auth_time: Option<i64>,
    /// For a service provider bound to agencies: the agency codes it may act for.
    // `default` keeps it out of `required`: an inactive answer carries nothing but `active`.
    #[oai(default, skip_serializing_if_is_empty)]
    pub agencies: Vec<String>,
    /// For a service provider bound to a merchant: the merchant it may act for.
    #[oai(skip_serializing_if_is_none)]
    pub merchant_id: Option<String>,
}

impl Example for Introspection {
    fn example() -> Self {
        Introspection {
            active: true,
            scope: Some("dossiers:write".into()),
            client_id: Some("mc_3k9x2m4q8w7e5r1t6y0u2i4o".into()),
            sub: Some("mc_3k9x2m4q8w7e5r1t6y0u2i4o".into()),
            token_type: Some("Bearer".into()),
            exp: Some(1_795_822_645),
            iat: Some(1_795_822_045),
            ..Default::default()
        }
    }
}

pub async fn introspect(
    app: &AppState,
    keys: &ClientKeys,
    credentials: &super::client_auth::Credentials,
    token: Option<&str>,
    facts: &RequestFacts,
) -> Result<Introspection, Refusal> {
    let client = super::client_auth::authenticate(app, keys, credentials, facts).await?;
    if client.kind != ClientKind::Confidential {
        return Err(Refusal::new(
            RefusalKind::Unauthorized,
            super::error::OAuthError::invalid_client("Introspection needs an authenticated client"),
        ));
    }
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Err(Refusal::new(
            RefusalKind::BadRequest,
            super::error::OAuthError::invalid_request("token is required"),
        ));
    };
    let may_see_all = client.scopes.iter().any(|s| s == "introspect");
    let viewer = (!may_see_all).then_some(client.client_id.as_str());
    describe(app, token, viewer).await.map_err(|err| {
        tracing::error!(error = %err, "introspecting a token");
        Refusal::new(
            RefusalKind::Unavailable,
            super::error::OAuthError::temporarily_unavailable("Try again shortly"),
        )
    })
}

/// What introspection says about `token` to `viewer` (a client id, which sees only its own
/// tokens), or to someone who may see every token (`None`).
pub async fn describe(
    app: &AppState,
    token: &str,
    viewer: Option<&str>,
) -> sqlx::Result<Introspection> {
    let visible = |client_id: &str| viewer.is_none_or(|v| v == client_id);
    let inactive = Ok(Introspection::default());

    if token.matches('.').count() == 2 {
        // Resource servers introspect the same token again and again: the verified-token cache.
        let Ok(claims) = app
            .tokens
            .verify_access_cached(token)
            .map(|c| AccessClaims::clone(&c))
        else {
            return inactive;
        };
        if !visible(&claims.client_id) {
            return inactive;
        }
        if app.revocations.is_revoked(&claims).await {
            return inactive;
        }
        return Ok(Introspection {
            active: true,
            scope: Some(claims.scope),
            client_id: Some(claims.client_id),
            sub: Some(claims.sub),
            token_type: Some("Bearer".into()),
            exp: Some(claims.exp),
            iat: Some(claims.iat),
            nbf: Some(claims.nbf),
            iss: Some(claims.iss),
            aud: Some(claims.aud),
            jti: Some(claims.jti),
            sid: claims.sid,
            acr: claims.acr.map(|level| level.to_string()),
            auth_time: claims.auth_time,
            agencies: claims.agencies,
            merchant_id: claims.merchant_id,
        });
    }

    // A refresh token: active while it is the newest of a live session.
    let row = crate::sessions::store::refresh_token_state(&app.db, token).await?;
    let now = OffsetDateTime::now_utc();
    match row {
        Some(r)
            if r.rotated_at.is_none()
                && visible(&r.client_id)
                && now < r.idle_expires_at
                && now < r.absolute_expires_at =>
        {
            Ok(Introspection {
                active: true,
                scope: Some(r.scope),
                client_id: Some(r.client_id),
                sub: Some(r.citizen_id.to_string()),
                token_type: Some("refresh_token".into()),
                exp: Some(
                    r.idle_expires_at
                        .min(r.absolute_expires_at)
                        .unix_timestamp(),
                ),
                iss: Some(app.tokens.issuer().to_string()),
                sid: Some(r.sid.to_string()),
                acr: Some(r.level.to_string()),
                ..Default::default()
            })
        }
        _ => inactive,
    }
}
