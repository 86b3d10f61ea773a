//! Client authentication at the token, revocation and introspection endpoints (RFC 6749 §2.3):
//! public clients identify with `client_id` (`none`); confidential ones prove a secret (compared
//! as SHA-256 in constant time) or sign an assertion (`private_key_jwt`, RFC 7523).

use super::assertion::ClientKeys;
use super::error::OAuthError;
use super::error::{Refusal, RefusalKind};
use crate::audit::{Event, Outcome, RequestFacts};
use crate::clients::{Client, ClientKind};
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
/// spends its own budget, anyone else (public clients, failed attempts) their address's. An
/// address already over its budget gets no client authenticated, not even with the right secret,
/// and its refused attempts are not recorded as failures. (With an address budget of 2,000 a
/// minute or more, "already over" is as a look at most 100 ms old saw it: see `ratelimit`.)
pub async fn authenticate(
    app: &AppState,
    keys: &ClientKeys,
    credentials: &Credentials,
    facts: &RequestFacts,
) -> Result<Client, Refusal> {
    let address = Caller::Ip(facts.client_ip);
    // A secret checked against a client held in memory costs less than a look at the address's
    // budget, so that look comes after, in the same round trip as the charge. Anything costlier
    // (a PostgreSQL lookup, an assertion's key set) is not done for an address over its budget.
    let look_later = credentials.assertion.is_none()
        && credentials.secret.is_some()
        && credentials
            .client_id
            .as_deref()
            .is_some_and(|id| app.clients.holds(id));
    if (credentials.secret.is_some() || credentials.assertion.is_some()) && !look_later {
        let from = app.limiter.peek(&address).await;
        if !from.allowed {
            settle(facts, from)?;
        }
    }
    let claimed = credentials.claimed_client();
    let result = try_verify(app, keys, credentials, claimed.as_deref()).await;
    let caller = match &result {
        Ok(client) if client.kind == ClientKind::Confidential => {
            Caller::Client(client.client_id.clone())
        }
        _ => address.clone(),
    };
    // On the cached path a right and a wrong secret from an address over its budget are refused
    // alike, by the look at the address, so their answers tell nothing apart. (With an address
    // budget of 2,000 a minute or more, for up to 100 ms after a look that found the address
    // far from its limit, a right secret may pass where a wrong one is refused. Secrets are 256
    // random bits: no guessing fits in that window, and address budgets are 1,200 by default.)
    let decision = match look_later {
        true => app.limiter.check_guarded(&address, &caller, facts).await,
        false => app.limiter.check(&caller, facts).await,
    };
    settle(facts, decision)?;
    match result {
        Ok(client) => Ok(client),
        Err(failure) => {
            failure
                .audit(app, facts, claimed.as_deref().unwrap_or_default())
                .await;
            Err(failure.refusal())
        }
    }
}

/// Puts the budget's headers on the response; a refused request is a 429.
fn settle(facts: &RequestFacts, decision: crate::ratelimit::Decision) -> Result<(), Refusal> {
    if let Some(slot) = &facts.rate_slot {
        slot.put(decision.headers());
    }
    match decision.allowed {
        true => Ok(()),
        false => Err(Refusal::rate_limited(decision)),
    }
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
                RefusalKind::Unauthorized,
                OAuthError::invalid_client("Client authentication failed"),
            )
        };
        match self {
            AuthFailure::WrongAssertionType => Refusal::new(
                RefusalKind::BadRequest,
                OAuthError::invalid_request(
                    "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
            ),
            AuthFailure::TwoMethods => Refusal::new(
                RefusalKind::BadRequest,
                OAuthError::invalid_request("Use one client authentication method"),
            ),
            AuthFailure::NoClientId => Refusal::new(
                RefusalKind::Unauthorized,
                OAuthError::invalid_client("client_id is required"),
            ),
            AuthFailure::Oversized
            | AuthFailure::UnknownClient
            | AuthFailure::AssertionRefused(_)
            | AuthFailure::WrongSecret => failed(),
            AuthFailure::LookupUnavailable | AuthFailure::AssertionUnavailable => {
                Refusal::unavailable()
            }
            AuthFailure::SecretFromKeyClient => Refusal::new(
                RefusalKind::Unauthorized,
                OAuthError::invalid_client("This client authenticates with private_key_jwt"),
            ),
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
    // A client proving a secret (service providers minting and introspecting tokens, the hot
    // path) is read through the in-process cache; anyone else, whose request does PostgreSQL
    // work of its own anyway (a code, a refresh), straight from the table.
    let found = match credentials.secret.is_some() {
        true => app.clients.find(client_id).await,
        false => crate::clients::store::find(&app.db, client_id).await,
    };
    let client = match found {
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
