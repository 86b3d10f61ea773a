//! The authorization endpoint (RFC 6749 §4.1, RFC 8252 for native apps, RFC 7636 PKCE): checks
//! the app's request, then sends the citizen to the national eID with our own state, nonce and
//! PKCE, remembering the app's request in Redis.

use crate::clients::Client;
use crate::clients::redirect::error_redirect;
use crate::clients::store as clients;
use crate::crypto;
use crate::identity::eid::{Eid, EidError};
use crate::identity::login::{self, PendingLogin};
use crate::state::AppState;
use crate::tokens::{Scopes, UnknownScope};

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

/// Why an authorization request was not sent on to the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AuthorizeFailure {
    NoClientId,
    UnknownClient,
    ClientLookupUnavailable,
    NoRedirectUri,
    UnregisteredRedirectUri,
    BadState,
    BadNonce,
    GrantNotRegistered,
    UnsupportedResponseType,
    NoPkce,
    PkceMethodNotS256,
    MalformedChallenge,
    ScopeNotAllowed(String),
    LoginRequired,
    BadMaxAge,
    UnknownAcr(String),
    ProviderUnavailable,
    PendingStoreUnavailable,
}

/// How a failure is answered.
enum Answer {
    /// Until the client and its redirect URI are known, nothing redirects: a page.
    Page(u16, &'static str),
    /// Back to the app with an RFC 6749 error and its description.
    Back(&'static str, String),
}

impl AuthorizeFailure {
    fn answer(&self) -> Answer {
        let invalid = |description: &str| Answer::Back("invalid_request", description.into());
        match self {
            AuthorizeFailure::NoClientId => Answer::Page(400, "The request has no client_id."),
            AuthorizeFailure::UnknownClient => Answer::Page(400, "Unknown or suspended client_id."),
            AuthorizeFailure::ClientLookupUnavailable => Answer::Page(
                503,
                "The service is temporarily unavailable. Try again shortly.",
            ),
            AuthorizeFailure::NoRedirectUri => {
                Answer::Page(400, "The request has no redirect_uri.")
            }
            AuthorizeFailure::UnregisteredRedirectUri => {
                Answer::Page(400, "The redirect_uri is not registered for this client.")
            }
            AuthorizeFailure::BadState => {
                invalid("state must be 1 to 512 printable ASCII characters")
            }
            AuthorizeFailure::BadNonce => {
                invalid("nonce must be 1 to 512 printable ASCII characters")
            }
            AuthorizeFailure::GrantNotRegistered => Answer::Back(
                "unauthorized_client",
                "This client is not registered for the authorization_code grant".into(),
            ),
            AuthorizeFailure::UnsupportedResponseType => Answer::Back(
                "unsupported_response_type",
                "Only response_type=code is supported".into(),
            ),
            AuthorizeFailure::NoPkce => {
                invalid("PKCE is required: send code_challenge with code_challenge_method=S256")
            }
            AuthorizeFailure::PkceMethodNotS256 => invalid("code_challenge_method must be S256"),
            AuthorizeFailure::MalformedChallenge => invalid("code_challenge is malformed"),
            AuthorizeFailure::ScopeNotAllowed(scope) => Answer::Back(
                "invalid_scope",
                format!("Scope `{scope}` is not allowed for this client"),
            ),
            AuthorizeFailure::LoginRequired => Answer::Back(
                "login_required",
                "Signing in needs the citizen at the identity provider".into(),
            ),
            AuthorizeFailure::BadMaxAge => invalid("max_age must be a number of seconds"),
            AuthorizeFailure::UnknownAcr(value) => {
                invalid(&format!("Unknown acr value `{value}`; use 1 or 2"))
            }
            AuthorizeFailure::ProviderUnavailable => Answer::Back(
                "temporarily_unavailable",
                "The national identity provider is unavailable; try again shortly".into(),
            ),
            AuthorizeFailure::PendingStoreUnavailable => Answer::Back(
                "temporarily_unavailable",
                "Sign-in is temporarily unavailable; try again shortly".into(),
            ),
        }
    }
}

/// What a checked request asks of the provider.
struct Checked<'r> {
    code_challenge: &'r str,
    scope: String,
    force_login: bool,
    max_age: Option<u64>,
    require_level2: bool,
}

pub async fn start(app: &AppState, eid: &Eid, req: AuthorizeRequest) -> Outcome {
    let failure = match attempt(app, eid, &req).await {
        Ok(outcome) => return outcome,
        Err(failure) => failure,
    };
    match failure.answer() {
        Answer::Page(status, message) => Outcome::ErrorPage {
            status,
            message: message.to_string(),
        },
        // Only failures once the redirect URI is known go back, and a state we would not keep
        // is not echoed.
        Answer::Back(error, description) => Outcome::ToApp {
            location: error_redirect(
                req.redirect_uri.as_deref().unwrap_or_default(),
                error,
                &description,
                req.state.as_deref().filter(|s| is_echo_value(s)),
                app.config.issuer(),
            ),
        },
    }
}

async fn attempt(
    app: &AppState,
    eid: &Eid,
    req: &AuthorizeRequest,
) -> Result<Outcome, AuthorizeFailure> {
    let (client, redirect_uri) = addressee(app, req).await?;
    let checked = check(req, &client)?;
    to_provider(app, eid, req, &client, redirect_uri, checked).await
}

/// Who is asking, and where answers go: until both are known, nothing redirects.
async fn addressee<'r>(
    app: &AppState,
    req: &'r AuthorizeRequest,
) -> Result<(Client, &'r str), AuthorizeFailure> {
    let client_id = req
        .client_id
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or(AuthorizeFailure::NoClientId)?;
    if client_id.len() > MAX_CLIENT_ID_LEN {
        return Err(AuthorizeFailure::UnknownClient);
    }
    let client = match clients::find(&app.db, client_id).await {
        Ok(Some(client)) if client.is_active() => client,
        Ok(_) => return Err(AuthorizeFailure::UnknownClient),
        Err(err) => {
            tracing::error!(error = %err, "looking up a client");
            return Err(AuthorizeFailure::ClientLookupUnavailable);
        }
    };
    let redirect_uri = req
        .redirect_uri
        .as_deref()
        .ok_or(AuthorizeFailure::NoRedirectUri)?;
    if !client.allows_redirect(redirect_uri) {
        return Err(AuthorizeFailure::UnregisteredRedirectUri);
    }
    Ok((client, redirect_uri))
}

/// The app's request itself, in the order its defects are reported.
fn check<'r>(req: &'r AuthorizeRequest, client: &Client) -> Result<Checked<'r>, AuthorizeFailure> {
    if req.state.as_deref().is_some_and(|s| !is_echo_value(s)) {
        return Err(AuthorizeFailure::BadState);
    }
    if req.nonce.as_deref().is_some_and(|n| !is_echo_value(n)) {
        return Err(AuthorizeFailure::BadNonce);
    }
    if !client.may_use_grant("authorization_code") {
        return Err(AuthorizeFailure::GrantNotRegistered);
    }
    if req.response_type.as_deref() != Some("code") {
        return Err(AuthorizeFailure::UnsupportedResponseType);
    }
    let code_challenge = req
        .code_challenge
        .as_deref()
        .ok_or(AuthorizeFailure::NoPkce)?;
    if req.code_challenge_method.as_deref() != Some("S256") {
        return Err(AuthorizeFailure::PkceMethodNotS256);
    }
    if !is_pkce_value(code_challenge) {
        return Err(AuthorizeFailure::MalformedChallenge);
    }
    let scope = granted_scope(client, req.scope.as_deref())?;
    let prompts = words(req.prompt.as_deref());
    if prompts.contains(&"none") {
        return Err(AuthorizeFailure::LoginRequired);
    }
    // OIDC Core §3.1.2.1: seconds since the citizen last authenticated at the provider.
    let max_age = match req.max_age.as_deref() {
        None => None,
        Some(value) => match value.parse::<u64>() {
            Ok(seconds) if seconds <= 10 * 365 * 24 * 3600 => Some(seconds),
            _ => return Err(AuthorizeFailure::BadMaxAge),
        },
    };
    let acr_values = words(req.acr_values.as_deref());
    if let Some(unknown) = acr_values.iter().find(|v| !matches!(**v, "1" | "2")) {
        return Err(AuthorizeFailure::UnknownAcr(unknown.to_string()));
    }
    Ok(Checked {
        code_challenge,
        scope,
        force_login: prompts.contains(&"login"),
        max_age,
        // The weakest level the app accepts decides: "1 2" is satisfied by level 1.
        require_level2: !acr_values.is_empty() && acr_values.iter().all(|v| *v == "2"),
    })
}

fn words(value: Option<&str>) -> Vec<&str> {
    value
        .map(|v| v.split(' ').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default()
}

/// The requested scopes (all the client's when none are asked for), each of them once.
fn granted_scope(client: &Client, requested: Option<&str>) -> Result<String, AuthorizeFailure> {
    let requested = Scopes::parse(requested.unwrap_or_default());
    match client.registered_scopes().narrow_to(&requested) {
        Ok(granted) => Ok(granted.to_string()),
        Err(UnknownScope(scope)) => Err(AuthorizeFailure::ScopeNotAllowed(scope)),
    }
}

/// Our own secrets towards the provider, the app's request remembered under our state, and
/// the way to the provider.
async fn to_provider(
    app: &AppState,
    eid: &Eid,
    req: &AuthorizeRequest,
    client: &Client,
    redirect_uri: &str,
    checked: Checked<'_>,
) -> Result<Outcome, AuthorizeFailure> {
    let our_state = crypto::random_token(32);
    let nonce = crypto::random_token(32);
    let pkce_verifier = crypto::random_token(32);
    let binding = crypto::random_token(32);
    let pending = PendingLogin {
        client_id: client.client_id.clone(),
        redirect_uri: redirect_uri.to_string(),
        app_state: req.state.clone(),
        app_code_challenge: checked.code_challenge.to_string(),
        scope: checked.scope,
        app_nonce: req.nonce.clone(),
        require_level2: checked.require_level2,
        nonce: nonce.clone(),
        pkce_verifier: pkce_verifier.clone(),
        binding_sha256: crypto::sha256_b64(binding.as_bytes()),
        max_age: checked.max_age,
        force_login: checked.force_login,
        started_at: time::OffsetDateTime::now_utc().unix_timestamp(),
    };
    let level2_values = checked
        .require_level2
        .then_some(app.config.eid_acr_level2.as_slice());
    let location = eid
        .authorization_url(
            &our_state,
            &nonce,
            &crypto::sha256_b64(pkce_verifier.as_bytes()),
            level2_values,
            checked.max_age,
            checked.force_login,
        )
        .await
        .map_err(|(EidError::Unavailable(why) | EidError::Refused(why))| {
            tracing::warn!(reason = %why, "eID provider unavailable at sign-in start");
            AuthorizeFailure::ProviderUnavailable
        })?;
    if let Err(err) = login::store_pending(&app.redis, &our_state, &pending).await {
        tracing::error!(error = %err, "storing a pending sign-in");
        return Err(AuthorizeFailure::PendingStoreUnavailable);
    }
    Ok(Outcome::ToProvider {
        location: location.to_string(),
        cookie: login::binding_cookie(
            &login::binding_cookie_name(&our_state),
            &binding,
            &app.config.public_url,
            login::PENDING_TTL_SECS,
        ),
    })
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
