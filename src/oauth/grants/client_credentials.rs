//! The `client_credentials` grant (RFC 6749 §4.4): a service provider acting as itself. The
//! token's `sub` is the client id; its scope is what was asked for, down to what the client is
//! registered for.

use time::OffsetDateTime;

use super::{Audited, Issued, ServerFault, audit_failure};
use crate::audit::{Event, Outcome, RequestFacts};
use crate::clients::{Client, ClientKind};
use crate::oauth::error::{OAuthError, Refusal, RefusalKind};
use crate::state::AppState;
use crate::tokens::{Scopes, UnknownScope};

/// Why no token was issued.
#[derive(Debug, Clone, PartialEq, Eq)]
enum CredentialsFailure {
    NotConfidential,
    ScopeNotAllowed(String),
    Server,
}

impl From<ServerFault> for CredentialsFailure {
    fn from(_: ServerFault) -> Self {
        CredentialsFailure::Server
    }
}

impl CredentialsFailure {
    fn audited(&self) -> Audited {
        match self {
            CredentialsFailure::ScopeNotAllowed(_) => Audited::Always("scope not allowed"),
            CredentialsFailure::NotConfidential | CredentialsFailure::Server => Audited::No,
        }
    }

    fn refusal(&self) -> Refusal {
        match self {
            CredentialsFailure::NotConfidential => Refusal::new(
                RefusalKind::BadRequest,
                OAuthError::new(
                    "unauthorized_client",
                    "Only confidential clients may use client_credentials",
                ),
            ),
            CredentialsFailure::ScopeNotAllowed(wanted) => Refusal::new(
                RefusalKind::BadRequest,
                OAuthError::new(
                    "invalid_scope",
                    format!("Scope `{wanted}` is not allowed for this client"),
                ),
            ),
            CredentialsFailure::Server => Refusal::server_error(),
        }
    }
}

pub async fn issue(
    app: &AppState,
    client: &Client,
    scope: Option<&str>,
    facts: &RequestFacts,
) -> Result<Issued, Refusal> {
    match try_issue(app, client, scope) {
        Ok((issued, jti)) => {
            let event = Event::new("token_issued", Outcome::Success)
                .actor(client.client_id.clone())
                .client(client.client_id.clone())
                .details(serde_json::json!({ "grant_type": "client_credentials", "jti": jti, "scope": issued.scope }))
                .facts(facts);
            app.audit.record(event).await;
            Ok(issued)
        }
        Err(failure) => {
            audit_failure(app, facts, &client.client_id, failure.audited()).await;
            Err(failure.refusal())
        }
    }
}

fn try_issue(
    app: &AppState,
    client: &Client,
    scope: Option<&str>,
) -> Result<(Issued, String), CredentialsFailure> {
    if client.kind != ClientKind::Confidential {
        return Err(CredentialsFailure::NotConfidential);
    }
    let scope = granted_scope(client, scope)?;
    let mut claims = app.tokens.access_claims(
        &client.client_id,
        &client.client_id,
        &scope,
        OffsetDateTime::now_utc(),
    );
    // Resource servers enforce the bindings from the token, offline.
    claims.agencies = client.agencies.clone();
    claims.merchant_id = client.merchant_id.clone();
    let access_token = app.tokens.sign_access(&claims).map_err(ServerFault::log)?;
    let issued = Issued {
        access_token,
        expires_in: app.tokens.access_ttl().as_secs(),
        scope,
        id_token: None,
        refresh_token: None,
    };
    Ok((issued, claims.jti))
}

/// The requested scopes (all the client's service scopes when none are asked for), each of
/// them once.
fn granted_scope(client: &Client, requested: Option<&str>) -> Result<String, CredentialsFailure> {
    let allowed = Scopes::from_list(
        client
            .scopes
            .iter()
            .filter(|s| crate::clients::model::SERVICE_SCOPES.contains(&s.as_str())),
    );
    let requested = Scopes::parse(requested.unwrap_or_default());
    match allowed.narrow_to(&requested) {
        Ok(granted) => Ok(granted.to_string()),
        Err(UnknownScope(wanted)) => Err(CredentialsFailure::ScopeNotAllowed(wanted)),
    }
}
