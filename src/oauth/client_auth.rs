//! Client authentication at the token, revocation and introspection endpoints (RFC 6749 §2.3):
//! public clients identify with `client_id` (`none`); confidential ones prove a secret (compared
//! as SHA-256 in constant time) or sign an assertion (`private_key_jwt`, RFC 7523).

use super::assertion::ClientKeys;
use super::error::OAuthError;
use super::error::Refusal;
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

/// Why a client was not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuthFailure {
    WrongAssertionType,
    TwoMethods,
    NoClientId,
    /// Longer than anything we issue: not worth a lookup.
    Oversized,
    UnknownClient,
    LookupUnavailable,
    AssertionRefused(&'static str),
    AssertionUnavailable,
    SecretFromKeyClient,
    WrongSecret,
}

impl AuthFailure {
    /// Every failure here is sampled: client ids are not secret, so anyone can cause them.
    async fn audit(&self, app: &AppState, facts: &RequestFacts, client_id: &str) {
        let reason = match self {
            AuthFailure::UnknownClient => {
                // Anyone can name a client that does not exist: sampled, not one entry each.
                let event = Event::new("client_authentication", Outcome::Failure)
                    .reason("unknown or suspended client")
                    .facts(facts);
                app.audit.record_sampled(event).await;
                return;
            }
            AuthFailure::AssertionRefused(reason) => reason,
            AuthFailure::SecretFromKeyClient => "secret presented by a private_key_jwt client",
            AuthFailure::WrongSecret => "client authentication failed",
            AuthFailure::WrongAssertionType
            | AuthFailure::TwoMethods
            | AuthFailure::NoClientId
            | AuthFailure::Oversized
            | AuthFailure::LookupUnavailable
            | AuthFailure::AssertionUnavailable => return,
        };
        failure(app, facts, client_id, reason).await;
    }

    fn refusal(&self) -> Refusal {
        let failed = || {
            Refusal::new(
                401,
                OAuthError::invalid_client("Client authentication failed"),
            )
        };
        match self {
            AuthFailure::WrongAssertionType => Refusal::new(
                400,
                OAuthError::invalid_request(
                    "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
            ),
            AuthFailure::TwoMethods => Refusal::new(
                400,
                OAuthError::invalid_request("Use one client authentication method"),
            ),
            AuthFailure::NoClientId => {
                Refusal::new(401, OAuthError::invalid_client("client_id is required"))
            }
            AuthFailure::Oversized
            | AuthFailure::UnknownClient
            | AuthFailure::AssertionRefused(_)
            | AuthFailure::WrongSecret => failed(),
            AuthFailure::LookupUnavailable | AuthFailure::AssertionUnavailable => {
                Refusal::unavailable()
            }
            AuthFailure::SecretFromKeyClient => Refusal::new(
                401,
                OAuthError::invalid_client("This client authenticates with private_key_jwt"),
            ),
        }
    }
}

async fn verify(
    app: &AppState,
    keys: &ClientKeys,
    credentials: &Credentials,
    facts: &RequestFacts,
) -> Result<Client, Refusal> {
    let claimed = credentials.claimed_client();
    let client_id = claimed.as_deref().unwrap_or_default();
    match try_verify(app, keys, credentials, claimed.as_deref()).await {
        Ok(client) => Ok(client),
        Err(failure) => {
            failure.audit(app, facts, client_id).await;
            Err(failure.refusal())
        }
    }
}

async fn try_verify(
    app: &AppState,
    keys: &ClientKeys,
    credentials: &Credentials,
    claimed: Option<&str>,
) -> Result<Client, AuthFailure> {
    if credentials.assertion.is_some()
        && credentials.assertion_type.as_deref() != Some(super::assertion::ASSERTION_TYPE)
    {
        return Err(AuthFailure::WrongAssertionType);
    }
    if credentials.assertion.is_some() && credentials.secret.is_some() {
        return Err(AuthFailure::TwoMethods);
    }
    let client_id = claimed.ok_or(AuthFailure::NoClientId)?;
    if client_id.len() > super::authorize::MAX_CLIENT_ID_LEN
        || credentials.secret.as_deref().is_some_and(|s| s.len() > 512)
        || credentials
            .assertion
            .as_deref()
            .is_some_and(|a| a.len() > 8192)
    {
        return Err(AuthFailure::Oversized);
    }
    let client = match clients::find(&app.db, client_id).await {
        Ok(Some(client)) if client.is_active() => client,
        Ok(_) => return Err(AuthFailure::UnknownClient),
        Err(err) => {
            tracing::error!(error = %err, "looking up a client");
            return Err(AuthFailure::LookupUnavailable);
        }
    };
    if let Some(assertion) = credentials.assertion.as_deref() {
        return match super::assertion::verify(app, keys, &client, assertion).await {
            Ok(()) => Ok(client),
            Err(super::assertion::Failure::Refused(reason)) => {
                Err(AuthFailure::AssertionRefused(reason))
            }
            Err(super::assertion::Failure::Unavailable(reason)) => {
                tracing::warn!(client_id, reason, "client assertion could not be checked");
                Err(AuthFailure::AssertionUnavailable)
            }
        };
    }
    if client.kind == ClientKind::Confidential {
        check_secret(&client, credentials.secret.as_deref())?;
    }
    Ok(client)
}

/// A confidential client's secret. A client registered for `private_key_jwt` proves a key,
/// never a secret.
fn check_secret(client: &Client, presented: Option<&str>) -> Result<(), AuthFailure> {
    if client.jwks_uri.is_some() {
        return Err(AuthFailure::SecretFromKeyClient);
    }
    let presented = presented.unwrap_or("");
    // Hash first: comparing digests in constant time reveals nothing about the secret.
    let ok = client.secret_sha256.as_deref().is_some_and(|stored| {
        crypto::constant_time_eq(&crypto::sha256(presented.as_bytes()), stored)
    });
    if !ok {
        return Err(AuthFailure::WrongSecret);
    }
    Ok(())
}

/// A failed authentication of a real client. Client ids are not secret, so anyone can cause
/// these at their address's rate: one entry per client, reason and address a minute (the
/// `motcua_audit_sampled_out_total` metric counts the rest), which still shows a guessing
/// attempt for what it is.
async fn failure(app: &AppState, facts: &RequestFacts, client_id: &str, reason: &str) {
    let event = Event::client_failure("client_authentication", client_id, reason, facts);
    app.audit.record_sampled(event).await;
}
