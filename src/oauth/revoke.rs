//! Token revocation (RFC 7009): refresh tokens end their session (and with it every access
//! token of the session); access tokens are denied until they expire.

use super::assertion::ClientKeys;
use super::error::OAuthError;
use super::error::{Refusal, RefusalKind};
use crate::audit::{Event, Outcome, RequestFacts};
use crate::state::AppState;

pub struct RevokeRequest {
    pub token: Option<String>,
    pub credentials: super::client_auth::Credentials,
}

pub async fn revoke(
    app: &AppState,
    keys: &ClientKeys,
    req: RevokeRequest,
    facts: &RequestFacts,
) -> Result<(), Refusal> {
    let client = super::client_auth::authenticate(app, keys, &req.credentials, facts).await?;
    let Some(token) = req.token.as_deref().filter(|t| !t.is_empty()) else {
        return Err(Refusal::new(
            RefusalKind::BadRequest,
            OAuthError::invalid_request("token is required"),
        ));
    };
    let server_error = |err: sqlx::Error| {
        tracing::error!(error = %err, "revocation failed");
        Refusal::new(
            RefusalKind::Unavailable,
            OAuthError::temporarily_unavailable("Try again shortly"),
        )
    };
    if token.matches('.').count() == 2 {
        // An expired or foreign token needs no revocation: §2.2 answers 200 all the same.
        if let Ok(claims) = app.tokens.verify_access(token) {
            if claims.client_id != client.client_id {
                return Err(Refusal::new(
                    RefusalKind::BadRequest,
                    OAuthError::new(
                        "unauthorized_client",
                        "The token was not issued to this client",
                    ),
                ));
            }
            app.revocations
                .revoke_token(&claims.jti, claims.exp)
                .await
                .map_err(server_error)?;
            record(app, facts, &client.client_id, "access_token", &claims.jti).await;
        }
        return Ok(());
    }
    let found = crate::sessions::store::refresh_token_owner(&app.db, token)
        .await
        .map_err(server_error)?;
    if let Some((session_id, owner)) = found {
        if owner != client.client_id {
            return Err(Refusal::new(
                RefusalKind::BadRequest,
                OAuthError::new(
                    "unauthorized_client",
                    "The token was not issued to this client",
                ),
            ));
        }
        crate::sessions::end_session(app, session_id, "revoked by the client")
            .await
            .map_err(server_error)?;
        record(
            app,
            facts,
            &client.client_id,
            "refresh_token",
            &session_id.to_string(),
        )
        .await;
    }
    Ok(())
}

async fn record(app: &AppState, facts: &RequestFacts, client_id: &str, kind: &str, target: &str) {
    let event = Event::new("token_revoked", Outcome::Success)
        .actor(client_id)
        .client(client_id)
        .target(target)
        .details(serde_json::json!({ "token_type": kind }))
        .facts(facts);
    app.audit.record(event).await;
}
