//! Client authentication at the token, revocation and introspection endpoints (RFC 6749 §2.3):
//! public clients identify with `client_id` (`none`); confidential ones prove a secret (compared
//! as SHA-256 in constant time) or sign an assertion (`private_key_jwt`, RFC 7523).

use super::assertion::ClientKeys;
use super::error::OAuthError;
use super::token::Refusal;
use crate::audit::{Event, Outcome, RequestFacts};
use crate::clients::{Client, ClientKind, store as clients};
use crate::crypto;
use crate::ratelimit::Caller;
use crate::state::AppState;

/// What a request presented to authenticate its client.
#[derive(Debug, Default, Clone)]
pub struct Credentials {
    pub client_id: Option<String>,
    /// `client_secret_basic` or `client_secret_post`.
    pub secret: Option<String>,
    pub assertion_type: Option<String>,
    /// `private_key_jwt`.
    pub assertion: Option<String>,
}

impl Credentials {
    /// The client the credentials name: `client_id`, or an assertion's `iss` (checked later).
    fn claimed_client(&self) -> Option<String> {
        if let Some(id) = self.client_id.as_deref().filter(|s| !s.is_empty()) {
            return Some(id.to_string());
        }
        let assertion = self.assertion.as_deref()?;
        let payload = assertion.split('.').nth(1)?;
        let bytes =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
                .ok()?;
        let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        claims["iss"].as_str().map(str::to_string)
    }
}

/// Authenticates the client, then charges its rate limit: an authenticated confidential client
/// spends its own budget, anyone else (public clients, failed attempts) their address's.
pub async fn authenticate(
    app: &AppState,
    keys: &ClientKeys,
    credentials: &Credentials,
    facts: &RequestFacts,
) -> Result<Client, Refusal> {
    // A client proving a secret or a key, from an address already over its budget (failed
    // attempts count against it), gets no further: no lookup, no verification. Public clients
    // are charged to the address below anyway.
    if credentials.secret.is_some() || credentials.assertion.is_some() {
        let from = app.limiter.peek(&Caller::Ip(facts.client_ip)).await;
        if !from.allowed {
            if let Some(slot) = &facts.rate_slot {
                slot.put(from.headers());
            }
            return Err(Refusal::rate_limited(from));
        }
    }
    let result = verify(app, keys, credentials, facts).await;
    let caller = match &result {
        Ok(client) if client.kind == ClientKind::Confidential => {
            Caller::Client(client.client_id.clone())
        }
        _ => Caller::Ip(facts.client_ip),
    };
    let decision = app.limiter.check(&caller, facts).await;
    if let Some(slot) = &facts.rate_slot {
        slot.put(decision.headers());
    }
    if !decision.allowed {
        return Err(Refusal::rate_limited(decision));
    }
    result
}

async fn verify(
    app: &AppState,
    keys: &ClientKeys,
    credentials: &Credentials,
    facts: &RequestFacts,
) -> Result<Client, Refusal> {
    if credentials.assertion.is_some()
        && credentials.assertion_type.as_deref() != Some(super::assertion::ASSERTION_TYPE)
    {
        return Err(Refusal::new(
            400,
            OAuthError::invalid_request(
                "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
        ));
    }
    if credentials.assertion.is_some() && credentials.secret.is_some() {
        return Err(Refusal::new(
            400,
            OAuthError::invalid_request("Use one client authentication method"),
        ));
    }
    let claimed = credentials.claimed_client();
    let Some(client_id) = claimed.as_deref() else {
        return Err(Refusal::new(
            401,
            OAuthError::invalid_client("client_id is required"),
        ));
    };
    // Nothing we issue is longer; an oversized value is not worth a lookup.
    if client_id.len() > super::authorize::MAX_CLIENT_ID_LEN
        || credentials.secret.as_deref().is_some_and(|s| s.len() > 512)
        || credentials
            .assertion
            .as_deref()
            .is_some_and(|a| a.len() > 8192)
    {
        return Err(Refusal::new(
            401,
            OAuthError::invalid_client("Client authentication failed"),
        ));
    }
    let client = match clients::find(&app.db, client_id).await {
        Ok(Some(client)) if client.is_active() => client,
        Ok(_) => {
            // Anyone can name a client that does not exist: sampled, not one entry each.
            let event = Event::new("client_authentication", Outcome::Failure)
                .reason("unknown or suspended client")
                .facts(facts);
            app.audit.record_sampled(event).await;
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
    if let Some(assertion) = credentials.assertion.as_deref() {
        return match super::assertion::verify(app, keys, &client, assertion).await {
            Ok(()) => Ok(client),
            Err(super::assertion::Failure::Refused(reason)) => {
                failure(app, facts, client_id, reason).await;
                Err(Refusal::new(
                    401,
                    OAuthError::invalid_client("Client authentication failed"),
                ))
            }
            Err(super::assertion::Failure::Unavailable(reason)) => {
                tracing::warn!(client_id, reason, "client assertion could not be checked");
                Err(Refusal::new(
                    503,
                    OAuthError::temporarily_unavailable("Try again shortly"),
                ))
            }
        };
    }
    if client.kind == ClientKind::Confidential {
        // A client registered for `private_key_jwt` proves a key, never a secret.
        if client.jwks_uri.is_some() {
            failure(
                app,
                facts,
                client_id,
                "secret presented by a private_key_jwt client",
            )
            .await;
            return Err(Refusal::new(
                401,
                OAuthError::invalid_client("This client authenticates with private_key_jwt"),
            ));
        }
        let presented = credentials.secret.as_deref().unwrap_or("");
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

/// A failed authentication of a real client. Client ids are not secret, so anyone can cause
/// these at their address's rate: one entry per client, reason and address a minute (the
/// `motcua_audit_sampled_out_total` metric counts the rest), which still shows a guessing
/// attempt for what it is.
async fn failure(app: &AppState, facts: &RequestFacts, client_id: &str, reason: &str) {
    let event = Event::new("client_authentication", Outcome::Failure)
        .client(client_id)
        .reason(reason)
        .facts(facts);
    app.audit.record_sampled(event).await;
}
