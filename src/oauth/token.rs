//! The token endpoint (RFC 6749 §3.2): authenticates the client, checks it may use the grant it
//! asks for, and hands the request to that grant (`oauth::grants`): `authorization_code` with
//! PKCE for apps, `refresh_token` with rotation, `client_credentials` for service providers.

use time::OffsetDateTime;

use super::assertion::ClientKeys;
use super::error::{OAuthError, Refusal, RefusalKind};
use super::grants::{self, Audited, audit_failure};
use crate::audit::RequestFacts;
use crate::clients::Client;
use crate::state::AppState;

pub use super::grants::Issued;

/// The form of a token request; every field optional so each defect gets its RFC 6749 error.
#[derive(Debug, Default, Clone)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    /// Requested scopes (`client_credentials`): space-separated, a subset of the client's.
    pub scope: Option<String>,
    pub credentials: super::client_auth::Credentials,
    pub user_agent: Option<String>,
}

pub async fn exchange(
    app: &AppState,
    keys: &ClientKeys,
    req: TokenRequest,
    facts: &RequestFacts,
) -> Result<Issued, Refusal> {
    let grant = match req.grant_type.as_deref() {
        Some(grant @ ("authorization_code" | "refresh_token" | "client_credentials")) => grant,
        Some(_) => {
            return Err(Refusal::new(
                RefusalKind::BadRequest,
                OAuthError::new(
                    "unsupported_grant_type",
                    "Supported: authorization_code, refresh_token, client_credentials",
                ),
            ));
        }
        None => {
            return Err(Refusal::new(
                RefusalKind::BadRequest,
                OAuthError::invalid_request("grant_type is required"),
            ));
        }
    };
    let client = super::client_auth::authenticate(app, keys, &req.credentials, facts).await?;
    if !client.may_use_grant(grant) {
        // A public client proves nothing: anyone can cause this one.
        let unregistered = Audited::Sampled("grant type not registered");
        audit_failure(app, facts, &client.client_id, unregistered).await;
        return Err(Refusal::new(
            RefusalKind::BadRequest,
            OAuthError::new(
                "unauthorized_client",
                format!("This client is not registered for the {grant} grant"),
            ),
        ));
    }
    wait_out_cut_off(&client).await;
    match grant {
        "authorization_code" => {
            let redemption = grants::authorization_code::Redemption {
                code: req.code.as_deref(),
                code_verifier: req.code_verifier.as_deref(),
                redirect_uri: req.redirect_uri.as_deref(),
                user_agent: req.user_agent.as_deref(),
            };
            grants::authorization_code::redeem(app, &client, redemption, facts).await
        }
        "client_credentials" => {
            grants::client_credentials::issue(app, &client, req.scope.as_deref(), facts).await
        }
        _ => {
            let token = req.refresh_token.as_deref();
            grants::refresh_token::refresh(app, &client, token, facts).await
        }
    }
}

/// A client whose registration just changed has a cut-off a moment ahead (see
/// `clients::store`): tokens stamped before it are dead. Its new tokens wait until it has
/// passed, so that a token obtained after the change is never caught by it.
async fn wait_out_cut_off(client: &Client) {
    let Some(cut_off) = client.cut_off_ms else {
        return;
    };
    let now_ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    // Bounded: a cut-off is never set further ahead than the margin.
    let wait = (cut_off + 1 - now_ms).clamp(0, 5_000);
    if wait > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(wait as u64)).await;
    }
}
