//! The authorization endpoint (RFC 6749 §4.1, RFC 8252 for native apps, RFC 7636 PKCE): checks
//! the app's request, then sends the citizen to the national eID with our own state, nonce and
//! PKCE, remembering the app's request in Redis.

use crate::clients::redirect::error_redirect;
use crate::clients::store as clients;
use crate::crypto;
use crate::identity::eid::{Eid, EidError};
use crate::identity::login::{self, PendingLogin};
use crate::state::AppState;

/// The query of an authorization request; everything optional so we can answer each defect.
#[derive(Debug, Default, Clone)]
pub struct AuthorizeRequest {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub nonce: Option<String>,
    pub acr_values: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
}

#[derive(Debug)]
pub enum Outcome {
    /// Off to the provider, with the browser-binding cookie.
    ToProvider { location: String, cookie: String },
    /// Back to the app (with an error).
    ToApp { location: String },
    /// The request cannot be answered by redirect: unknown client or redirect URI. Never
    /// redirect then, or we would be an open redirector.
    ErrorPage { status: u16, message: String },
}

/// Longest `state` or `nonce` we keep: both are stored with the pending sign-in (and the nonce
/// goes into the ID token), so an anonymous caller must not make us store arbitrary amounts.
pub const MAX_ECHO_LEN: usize = 512;
/// Longest client id looked up.
pub const MAX_CLIENT_ID_LEN: usize = 128;

/// A `state` or `nonce` we accept: 1 to 512 characters of RFC 6749's VSCHAR (printable ASCII,
/// %x20-7E).
pub fn is_echo_value(value: &str) -> bool {
    (1..=MAX_ECHO_LEN).contains(&value.len()) && value.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

/// RFC 7636 §4.2: 43 to 128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~".
pub fn is_pkce_value(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

pub async fn start(app: &AppState, eid: &Eid, req: AuthorizeRequest) -> Outcome {
    let issuer = app.config.issuer();
    let error_page = |message: &str| Outcome::ErrorPage {
        status: 400,
        message: message.to_string(),
    };

    // 1. Who is asking, and where do answers go? Until both are known, nothing redirects.
    let Some(client_id) = req.client_id.as_deref().filter(|s| !s.is_empty()) else {
        return error_page("The request has no client_id.");
    };
    if client_id.len() > MAX_CLIENT_ID_LEN {
        return error_page("Unknown or suspended client_id.");
    }
    let client = match clients::find(&app.db, client_id).await {
        Ok(Some(client)) if client.is_active() => client,
        Ok(_) => return error_page("Unknown or suspended client_id."),
        Err(err) => {
            tracing::error!(error = %err, "looking up a client");
            return Outcome::ErrorPage {
                status: 503,
                message: "The service is temporarily unavailable. Try again shortly.".into(),
            };
        }
    };
    let Some(redirect_uri) = req.redirect_uri.as_deref() else {
        return error_page("The request has no redirect_uri.");
    };
    if !client.allows_redirect(redirect_uri) {
        return error_page("The redirect_uri is not registered for this client.");
    }

    // 2. From here on, errors go back to the app; a state we would not keep is not echoed.
    let state = req.state.as_deref().filter(|s| is_echo_value(s));
    let back = |error: &str, description: &str| Outcome::ToApp {
        location: error_redirect(redirect_uri, error, description, state, issuer),
    };
    if req.state.as_deref().is_some_and(|s| !is_echo_value(s)) {
        return back(
            "invalid_request",
            "state must be 1 to 512 printable ASCII characters",
        );
    }
    if req.nonce.as_deref().is_some_and(|n| !is_echo_value(n)) {
        return back(
            "invalid_request",
            "nonce must be 1 to 512 printable ASCII characters",
        );
    }
    if !client.may_use_grant("authorization_code") {
        return back(
            "unauthorized_client",
            "This client is not registered for the authorization_code grant",
        );
    }
    if req.response_type.as_deref() != Some("code") {
        return back(
            "unsupported_response_type",
            "Only response_type=code is supported",
        );
    }
    let Some(code_challenge) = req.code_challenge.as_deref() else {
        return back(
            "invalid_request",
            "PKCE is required: send code_challenge with code_challenge_method=S256",
        );
    };
    if req.code_challenge_method.as_deref() != Some("S256") {
        return back("invalid_request", "code_challenge_method must be S256");
    }
    if !is_pkce_value(code_challenge) {
        return back("invalid_request", "code_challenge is malformed");
    }
    let scope = match req
        .scope
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => client.scopes.join(" "),
        Some(requested) => {
            let mut granted = Vec::new();
            for scope in requested.split(' ').filter(|s| !s.is_empty()) {
                if !client.scopes.iter().any(|s| s == scope) {
                    return back(
                        "invalid_scope",
                        &format!("Scope `{scope}` is not allowed for this client"),
                    );
                }
                if !granted.contains(&scope) {
                    granted.push(scope);
                }
            }
            granted.join(" ")
        }
    };
    let prompts: Vec<&str> = req
        .prompt
        .as_deref()
        .map(|p| p.split(' ').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    if prompts.contains(&"none") {
        return back(
            "login_required",
            "Signing in needs the citizen at the identity provider",
        );
    }
    let force_login = prompts.contains(&"login");
    // OIDC Core §3.1.2.1: seconds since the citizen last authenticated at the provider.
    let max_age = match req.max_age.as_deref() {
        None => None,
        Some(value) => match value.parse::<u64>() {
            Ok(seconds) if seconds <= 10 * 365 * 24 * 3600 => Some(seconds),
            _ => {
                return back("invalid_request", "max_age must be a number of seconds");
            }
        },
    };
    let acr_values: Vec<&str> = req
        .acr_values
        .as_deref()
        .map(|v| v.split(' ').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    if let Some(unknown) = acr_values.iter().find(|v| !matches!(**v, "1" | "2")) {
        return back(
            "invalid_request",
            &format!("Unknown acr value `{unknown}`; use 1 or 2"),
        );
    }
    // The weakest level the app accepts decides: "1 2" is satisfied by level 1.
    let require_level2 = !acr_values.is_empty() && acr_values.iter().all(|v| *v == "2");

    // 3. Our own secrets towards the provider.
    let our_state = crypto::random_token(32);
    let nonce = crypto::random_token(32);
    let pkce_verifier = crypto::random_token(32);
    let binding = crypto::random_token(32);
    let pending = PendingLogin {
        client_id: client.client_id.clone(),
        redirect_uri: redirect_uri.to_string(),
        app_state: req.state.clone(),
        app_code_challenge: code_challenge.to_string(),
        scope,
        app_nonce: req.nonce.clone(),
        require_level2,
        nonce: nonce.clone(),
        pkce_verifier: pkce_verifier.clone(),
        binding_sha256: crypto::sha256_b64(binding.as_bytes()),
        max_age,
        force_login,
        started_at: time::OffsetDateTime::now_utc().unix_timestamp(),
    };
    let level2_values = require_level2.then_some(app.config.eid_acr_level2.as_slice());
    let location = match eid
        .authorization_url(
            &our_state,
            &nonce,
            &crypto::sha256_b64(pkce_verifier.as_bytes()),
            level2_values,
            max_age,
            force_login,
        )
        .await
    {
        Ok(url) => url,
        Err(EidError::Unavailable(why) | EidError::Refused(why)) => {
            tracing::warn!(reason = %why, "eID provider unavailable at sign-in start");
            return back(
                "temporarily_unavailable",
                "The national identity provider is unavailable; try again shortly",
            );
        }
    };
    if let Err(err) = login::store_pending(&app.redis, &our_state, &pending).await {
        tracing::error!(error = %err, "storing a pending sign-in");
        return back(
            "temporarily_unavailable",
            "Sign-in is temporarily unavailable; try again shortly",
        );
    }
    Outcome::ToProvider {
        location: location.to_string(),
        cookie: login::binding_cookie(
            &login::binding_cookie_name(&our_state),
            &binding,
            &app.config.public_url,
            login::PENDING_TTL_SECS,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_and_nonce_are_bounded_printable_ascii() {
        assert!(is_echo_value("af0ifjsldkj"));
        assert!(is_echo_value("a b~"));
        assert!(is_echo_value(&"s".repeat(512)));
        assert!(!is_echo_value(&"s".repeat(513)));
        assert!(!is_echo_value(""));
        assert!(!is_echo_value("tr\u{1ea1}ng"));
        assert!(!is_echo_value("a\nb"));
    }

    #[test]
    fn pkce_values_follow_rfc_7636() {
        assert!(is_pkce_value("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
        assert!(!is_pkce_value("short"));
        assert!(!is_pkce_value(&"a".repeat(129)));
        assert!(!is_pkce_value(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"
        ));
    }
}
