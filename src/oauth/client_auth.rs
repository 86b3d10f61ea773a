//! Client authentication at the token and revocation endpoints (RFC 6749 §2.3): public clients
//! identify with `client_id` (`none`), confidential ones prove a secret, compared as SHA-256 in
//! constant time.

use super::error::OAuthError;
use super::token::Refusal;
use crate::audit::{self, Event, Outcome, RequestFacts};
use crate::clients::{Client, ClientKind, store as clients};
use crate::crypto;
use crate::startup::AppState;

pub async fn authenticate(
    app: &AppState,
    client_id: Option<&str>,
    secret: Option<&str>,
    facts: &RequestFacts,
) -> Result<Client, Refusal> {
    let Some(client_id) = client_id.filter(|s| !s.is_empty()) else {
        return Err(Refusal::new(
            401,
            OAuthError::invalid_client("client_id is required"),
        ));
    };
    let client = match clients::find(&app.db, client_id).await {
        Ok(Some(client)) if client.is_active() => client,
        Ok(_) => {
            failure(app, facts, client_id, "unknown or suspended client").await;
            return Err(Refusal::new(
                401,
                OAuthError::invalid_client("Client authentication failed"),
            ));
        }
        Err(err) => {
            tracing::error!(error = %err, "looking up a client");
            return Err(Refusal::new(
                503,
                OAuthError::temporarily_unavailable("Try again shortly"),
            ));
        }
    };
    if client.kind == ClientKind::Confidential {
        let presented = secret.unwrap_or("");
        // Hash first: comparing digests in constant time reveals nothing about the secret.
        let ok = client.secret_sha256.as_deref().is_some_and(|stored| {
            crypto::constant_time_eq(&crypto::sha256(presented.as_bytes()), stored)
        });
        if !ok {
            failure(app, facts, client_id, "client authentication failed").await;
            return Err(Refusal::new(
                401,
                OAuthError::invalid_client("Client authentication failed"),
            ));
        }
    }
    Ok(client)
}

async fn failure(app: &AppState, facts: &RequestFacts, client_id: &str, reason: &str) {
    let event = Event::new("client_authentication", Outcome::Failure)
        .client(client_id)
        .reason(reason)
        .facts(facts);
    audit::record(&app.db, event).await;
}
