//! The token endpoint (RFC 6749 §3.2): the `authorization_code` grant for apps, with PKCE.

use time::OffsetDateTime;

use super::error::OAuthError;
use crate::audit::{self, Event, Outcome, RequestFacts};
use crate::clients::{ClientKind, store as clients};
use crate::crypto;
use crate::identity::login;
use crate::startup::AppState;
use crate::tokens::IdClaims;

/// The form of a token request; every field optional so each defect gets its RFC 6749 error.
#[derive(Debug, Default, Clone)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub client_id: Option<String>,
    pub code_verifier: Option<String>,
    /// From `Authorization: Basic` or `client_secret_post`; public clients send none.
    pub client_secret: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Issued {
    pub access_token: String,
    pub expires_in: u64,
    pub scope: String,
    pub id_token: Option<String>,
}

/// A refusal: the status (400, 401 for client authentication, 503) and the error.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub status: u16,
    pub error: OAuthError,
}

fn refuse(status: u16, error: OAuthError) -> Refusal {
    Refusal { status, error }
}

pub async fn exchange(
    app: &AppState,
    req: TokenRequest,
    facts: &RequestFacts,
) -> Result<Issued, Refusal> {
    match req.grant_type.as_deref() {
        Some("authorization_code") => {}
        Some(_) => {
            return Err(refuse(
                400,
                OAuthError::new("unsupported_grant_type", "Supported: authorization_code"),
            ));
        }
        None => {
            return Err(refuse(
                400,
                OAuthError::invalid_request("grant_type is required"),
            ));
        }
    }
    let Some(client_id) = req.client_id.as_deref().filter(|s| !s.is_empty()) else {
        return Err(refuse(
            401,
            OAuthError::invalid_client("client_id is required"),
        ));
    };
    let client = match clients::find(&app.db, client_id).await {
        Ok(Some(client)) if client.is_active() => client,
        Ok(_) => {
            audit_failure(app, facts, client_id, "unknown or suspended client").await;
            return Err(refuse(
                401,
                OAuthError::invalid_client("Unknown or suspended client"),
            ));
        }
        Err(err) => {
            tracing::error!(error = %err, "looking up a client");
            return Err(refuse(
                503,
                OAuthError::temporarily_unavailable("Try again shortly"),
            ));
        }
    };
    if client.kind == ClientKind::Confidential {
        let presented = req.client_secret.as_deref().unwrap_or("");
        let ok = client.secret_sha256.as_deref().is_some_and(|stored| {
            crypto::constant_time_eq(&crypto::sha256(presented.as_bytes()), stored)
        });
        if !ok {
            audit_failure(app, facts, client_id, "client authentication failed").await;
            return Err(refuse(
                401,
                OAuthError::invalid_client("Client authentication failed"),
            ));
        }
    }
    let (Some(code), Some(verifier)) = (req.code.as_deref(), req.code_verifier.as_deref()) else {
        return Err(refuse(
            400,
            OAuthError::invalid_request("code and code_verifier are required"),
        ));
    };
    let issued = match login::take_code(&app.redis, code).await {
        Ok(Some(issued)) => issued,
        Ok(None) => {
            audit_failure(app, facts, client_id, "unknown, expired or used code").await;
            return Err(refuse(
                400,
                OAuthError::invalid_grant(
                    "The authorization code is invalid, expired or already used",
                ),
            ));
        }
        Err(err) => {
            tracing::error!(error = %err, "reading an authorization code");
            return Err(refuse(
                503,
                OAuthError::temporarily_unavailable("Try again shortly"),
            ));
        }
    };
    // The code is gone now whatever follows: a code that fails a check is not retried.
    if issued.client_id != client.client_id {
        audit_failure(app, facts, client_id, "code issued to another client").await;
        return Err(refuse(
            400,
            OAuthError::invalid_grant("The code was issued to another client"),
        ));
    }
    if req.redirect_uri.as_deref() != Some(issued.redirect_uri.as_str()) {
        audit_failure(app, facts, client_id, "redirect_uri mismatch").await;
        return Err(refuse(
            400,
            OAuthError::invalid_grant("redirect_uri does not match the authorization request"),
        ));
    }
    let pkce_ok = super::authorize::is_pkce_value(verifier)
        && crypto::constant_time_eq(
            crypto::sha256_b64(verifier.as_bytes()).as_bytes(),
            issued.code_challenge.as_bytes(),
        );
    if !pkce_ok {
        audit_failure(app, facts, client_id, "PKCE verification failed").await;
        return Err(refuse(
            400,
            OAuthError::invalid_grant("code_verifier does not match the code_challenge"),
        ));
    }

    let now = OffsetDateTime::now_utc();
    let sub = issued.citizen_id.to_string();
    let mut claims = app
        .tokens
        .access_claims(&sub, &client.client_id, &issued.scope, now);
    claims.sid = Some(issued.sid.clone());
    claims.auth_time = Some(issued.auth_time);
    claims.acr = Some(issued.acr.clone());
    let access_token = app.tokens.sign_access(&claims).map_err(|err| {
        tracing::error!(error = %err, "signing an access token");
        refuse(500, OAuthError::server_error())
    })?;
    let id_token = if issued.scope.split(' ').any(|s| s == "openid") {
        let id = IdClaims {
            iss: app.tokens.issuer().to_string(),
            sub: sub.clone(),
            aud: client.client_id.clone(),
            exp: claims.exp,
            iat: claims.iat,
            auth_time: issued.auth_time,
            nonce: issued.nonce.clone(),
            acr: issued.acr.clone(),
            sid: issued.sid.clone(),
            azp: client.client_id.clone(),
        };
        Some(app.tokens.sign_id_token(&id).map_err(|err| {
            tracing::error!(error = %err, "signing an ID token");
            refuse(500, OAuthError::server_error())
        })?)
    } else {
        None
    };
    let event = Event::new("token_issued", Outcome::Success)
        .actor(sub)
        .client(client.client_id.clone())
        .details(serde_json::json!({ "grant_type": "authorization_code", "jti": claims.jti, "sid": issued.sid }))
        .facts(facts);
    audit::record(&app.db, event).await;
    Ok(Issued {
        access_token,
        expires_in: app.tokens.access_ttl().as_secs(),
        scope: issued.scope,
        id_token,
    })
}

async fn audit_failure(app: &AppState, facts: &RequestFacts, client_id: &str, reason: &str) {
    let event = Event::new("token_request", Outcome::Failure)
        .client(client_id)
        .reason(reason)
        .facts(facts);
    audit::record(&app.db, event).await;
}
