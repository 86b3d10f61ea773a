//! Token revocation (RFC 7009): refresh tokens end their session (and with it every access
//! token of the session); access tokens are denied until they expire.

use uuid::Uuid;

use super::error::OAuthError;
use super::token::Refusal;
use crate::audit::{Event, Outcome, RequestFacts};
use crate::crypto;
use crate::sessions::store as sessions;
use crate::startup::AppState;

pub struct RevokeRequest {
    pub token: Option<String>,
    pub credentials: super::client_auth::Credentials,
}

pub async fn revoke(
    app: &AppState,
    req: RevokeRequest,
    facts: &RequestFacts,
) -> Result<(), Refusal> {
    let client = super::client_auth::authenticate(app, &req.credentials, facts).await?;
    let Some(token) = req.token.as_deref().filter(|t| !t.is_empty()) else {
        return Err(Refusal::new(
            400,
            OAuthError::invalid_request("token is required"),
        ));
    };
    let server_error = |err: sqlx::Error| {
        tracing::error!(error = %err, "revocation failed");
        Refusal::new(
            503,
            OAuthError::temporarily_unavailable("Try again shortly"),
        )
    };
    if token.matches('.').count() == 2 {
        // An expired or foreign token needs no revocation: §2.2 answers 200 all the same.
        if let Ok(claims) = app.tokens.verify_access(token) {
            if claims.client_id != client.client_id {
                return Err(Refusal::new(
                    400,
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
    let found: Option<(Uuid, String)> = sqlx::query_as(
        "SELECT s.id, s.client_id FROM refresh_tokens rt JOIN sessions s ON s.id = rt.session_id
         WHERE rt.token_sha256 = $1",
    )
    .bind(crypto::sha256(token.as_bytes()).to_vec())
    .fetch_optional(&app.db)
    .await
    .map_err(server_error)?;
    if let Some((session_id, owner)) = found {
        if owner != client.client_id {
            return Err(Refusal::new(
                400,
                OAuthError::new(
                    "unauthorized_client",
                    "The token was not issued to this client",
                ),
            ));
        }
        end_session(app, session_id, "revoked by the client")
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

/// Revokes a session in PostgreSQL and on every replica.
pub async fn end_session(app: &AppState, session_id: Uuid, reason: &str) -> sqlx::Result<bool> {
    let mut conn = app.db.acquire().await?;
    let was_live = sessions::revoke(&mut conn, session_id, reason).await?;
    app.revocations
        .revoke_session(&session_id.to_string())
        .await;
    Ok(was_live)
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
