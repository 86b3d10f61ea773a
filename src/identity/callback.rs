//! Our callback at the eID provider: finishes a sign-in and sends the app its one-time code.

use time::OffsetDateTime;

use super::citizens::{self, SignIn};
use super::eid::{Eid, EidError, EidIdentity};
use super::login::{self, IssuedCode, PendingLogin};
use crate::audit::{Event, Outcome as AuditOutcome, RequestFacts};
use crate::clients::redirect::{error_redirect, redirect_with};
use crate::crypto;
use crate::state::AppState;
use crate::tokens::Level;

/// The whole exchange with the provider (token, JWKS refetch, userinfo) must fit in this.
const FINISH_DEADLINE: std::time::Duration = std::time::Duration::from_secs(8);

#[derive(Debug, Default, Clone)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

#[derive(Debug)]
pub enum Outcome {
    /// Back to the app, with a code or an error.
    ToApp { location: String },
    /// Nothing to go back to (unknown, replayed or foreign state).
    ErrorPage { status: u16, message: String },
}

/// Why a callback did not end with a code for the app.
#[derive(Debug, Clone, PartialEq, Eq)]
enum CallbackFailure {
    NoState,
    UnknownState,
    PendingUnavailable,
    /// Not the browser that started this sign-in: possibly login CSRF.
    BindingMismatch,
    /// RFC 9207: the response must come from the provider we sent the citizen to.
    IssuerMismatch,
    /// The provider answered with an error: a known code, or `other`.
    ProviderError(&'static str),
    NoCode,
    ProviderUnavailable,
    /// The provider's response did not verify (the reason is for the audit log).
    ResponseRefused(String),
    Level2Required,
    NotRecentEnough,
    LinkFailed,
    CodeStoreUnavailable,
}

/// How a failure is answered.
enum Answer {
    /// Nothing to go back to (unknown, replayed or foreign state): a page.
    Page(u16, &'static str),
    /// Back to the app's redirect URI with an RFC 6749 error and its description.
    Back(&'static str, &'static str),
}

const UNVERIFIED: &str = "The identity provider's response could not be verified";
const PROVIDER_UNAVAILABLE: &str =
    "The national identity provider is unavailable; try again shortly";

impl CallbackFailure {
    /// The audit entry (without the client) and whether it is sampled: failures anyone holding
    /// a link can cause are.
    fn audited(&self) -> Option<(Event, bool)> {
        let fail = |reason: &str| Event::new("sign_in", AuditOutcome::Failure).reason(reason);
        Some(match self {
            CallbackFailure::NoState => (fail("callback without state"), true),
            CallbackFailure::UnknownState => (fail("unknown, expired or replayed state"), true),
            CallbackFailure::BindingMismatch => (fail("browser binding cookie mismatch"), true),
            CallbackFailure::IssuerMismatch => (fail("callback iss mismatch"), true),
            CallbackFailure::ProviderError(code) => (
                fail("provider error").details(serde_json::json!({ "error": code })),
                true,
            ),
            CallbackFailure::NoCode => (fail("callback without code"), false),
            CallbackFailure::ProviderUnavailable => (fail("provider unavailable"), false),
            CallbackFailure::ResponseRefused(why) => (fail(why), false),
            CallbackFailure::Level2Required => (fail("identity level 2 required"), false),
            CallbackFailure::NotRecentEnough => (fail("authentication not recent enough"), false),
            CallbackFailure::PendingUnavailable
            | CallbackFailure::LinkFailed
            | CallbackFailure::CodeStoreUnavailable => return None,
        })
    }

    fn answer(&self) -> Answer {
        match self {
            CallbackFailure::NoState => Answer::Page(
                400,
                "This sign-in link is incomplete. Start again from the app.",
            ),
            CallbackFailure::UnknownState => Answer::Page(
                400,
                "This sign-in has expired or was already used. Start again from the app.",
            ),
            CallbackFailure::PendingUnavailable => Answer::Page(
                503,
                "Sign-in is temporarily unavailable. Start again from the app shortly.",
            ),
            CallbackFailure::BindingMismatch => Answer::Page(
                400,
                "This sign-in was started in another browser. Start again from the app.",
            ),
            CallbackFailure::IssuerMismatch | CallbackFailure::ResponseRefused(_) => {
                Answer::Back("access_denied", UNVERIFIED)
            }
            CallbackFailure::ProviderError(
                "access_denied" | "login_required" | "consent_required" | "interaction_required",
            ) => Answer::Back(
                "access_denied",
                "The sign-in was cancelled or refused at the identity provider",
            ),
            CallbackFailure::ProviderError("temporarily_unavailable")
            | CallbackFailure::ProviderUnavailable => {
                Answer::Back("temporarily_unavailable", PROVIDER_UNAVAILABLE)
            }
            CallbackFailure::ProviderError(_) => Answer::Back(
                "server_error",
                "The identity provider could not complete the sign-in",
            ),
            CallbackFailure::NoCode => Answer::Back(
                "server_error",
                "The identity provider sent no authorization code",
            ),
            CallbackFailure::Level2Required => Answer::Back(
                "access_denied",
                "This app requires identity level 2 (acr_values=2)",
            ),
            CallbackFailure::NotRecentEnough => Answer::Back(
                "access_denied",
                "The identity provider did not confirm a recent enough sign-in (max_age)",
            ),
            CallbackFailure::LinkFailed => Answer::Back(
                "server_error",
                "The sign-in could not be completed; try again",
            ),
            CallbackFailure::CodeStoreUnavailable => Answer::Back(
                "temporarily_unavailable",
                "Sign-in is temporarily unavailable; try again shortly",
            ),
        }
    }
}

/// Anyone holding a state can send any `error`: only a known code is kept, so the audit
/// reason stays fixed and sampling holds.
fn known_provider_error(error: &str) -> &'static str {
    match error {
        "access_denied" => "access_denied",
        "login_required" => "login_required",
        "consent_required" => "consent_required",
        "interaction_required" => "interaction_required",
        "temporarily_unavailable" => "temporarily_unavailable",
        "server_error" => "server_error",
        "invalid_request" => "invalid_request",
        "invalid_scope" => "invalid_scope",
        "unauthorized_client" => "unauthorized_client",
        "unsupported_response_type" => "unsupported_response_type",
        _ => "other",
    }
}

/// A finished sign-in: the app's one-time code and what the audit log keeps of it.
struct Completed {
    app_code: String,
    citizen_id: uuid::Uuid,
    level: i16,
    sid: String,
}

pub async fn finish(
    app: &AppState,
    eid: &Eid,
    query: CallbackQuery,
    cookie: Option<String>,
    facts: RequestFacts,
) -> Outcome {
    let pending = match take_pending(app, query.state.as_deref()).await {
        Ok(pending) => pending,
        Err(failure) => return refuse(app, &facts, failure, None).await,
    };
    let done = match complete(app, eid, &query, cookie, &pending).await {
        Ok(done) => done,
        Err(failure) => return refuse(app, &facts, failure, Some(&pending)).await,
    };
    let event = Event::new("sign_in", AuditOutcome::Success)
        .actor(done.citizen_id.to_string())
        .client(pending.client_id.as_str())
        .details(serde_json::json!({ "level": done.level, "sid": done.sid }))
        .facts(&facts);
    app.audit.record(event).await;
    Outcome::ToApp {
        location: redirect_with(
            &pending.redirect_uri,
            &[
                ("code", Some(&done.app_code)),
                ("state", pending.app_state.as_deref()),
                ("iss", Some(app.config.issuer())),
            ],
        ),
    }
}

/// The one place a failed callback is audited and answered.
async fn refuse(
    app: &AppState,
    facts: &RequestFacts,
    failure: CallbackFailure,
    pending: Option<&PendingLogin>,
) -> Outcome {
    if let Some((event, sampled)) = failure.audited() {
        let event = event.facts(facts);
        let event = match pending {
            Some(pending) => event.client(pending.client_id.as_str()),
            None => event,
        };
        if sampled {
            app.audit.record_sampled(event).await;
        } else {
            app.audit.record(event).await;
        }
    }
    match (failure.answer(), pending) {
        (Answer::Back(error, description), Some(pending)) => Outcome::ToApp {
            location: error_redirect(
                &pending.redirect_uri,
                error,
                description,
                pending.app_state.as_deref(),
                app.config.issuer(),
            ),
        },
        // Only failures after the pending sign-in is known go back to the app: were another
        // to, there would be nowhere to send it.
        (Answer::Back(_, description), None) => Outcome::ErrorPage {
            status: 400,
            message: description.to_string(),
        },
        (Answer::Page(status, message), _) => Outcome::ErrorPage {
            status,
            message: message.to_string(),
        },
    }
}

async fn take_pending(
    app: &AppState,
    state: Option<&str>,
) -> Result<PendingLogin, CallbackFailure> {
    let state = state
        .filter(|s| !s.is_empty())
        .ok_or(CallbackFailure::NoState)?;
    match login::take_pending(&app.redis, state).await {
        Ok(Some(pending)) => Ok(pending),
        Ok(None) => Err(CallbackFailure::UnknownState),
        Err(err) => {
            tracing::error!(error = %err, "reading a pending sign-in");
            Err(CallbackFailure::PendingUnavailable)
        }
    }
}

/// The rest of the sign-in, once its pending state is known: the browser, the provider's
/// answer and the identity it vouches for, the citizen, the app's code.
async fn complete(
    app: &AppState,
    eid: &Eid,
    query: &CallbackQuery,
    cookie: Option<String>,
    pending: &PendingLogin,
) -> Result<Completed, CallbackFailure> {
    let binding_ok = cookie.is_some_and(|value| {
        crypto::constant_time_eq(
            crypto::sha256_b64(value.as_bytes()).as_bytes(),
            pending.binding_sha256.as_bytes(),
        )
    });
    if !binding_ok {
        // Tell no app anything.
        return Err(CallbackFailure::BindingMismatch);
    }
    let code = provider_code(eid, query)?;
    let identity = exchange(eid, code, pending).await?;
    let level = identity_level(app, pending, &identity)?;
    let sign_in = SignIn {
        provider: eid.issuer().to_string(),
        provider_subject: identity.subject.clone(),
        name: identity.name.clone(),
        id_number: identity.id_number.clone(),
        level: level.as_i16(),
    };
    let master = app.master_key();
    let citizen_id = citizens::link(&app.db, &master, &sign_in)
        .await
        .map_err(|err| {
            tracing::error!(error = format!("{err:#}"), "linking a citizen");
            CallbackFailure::LinkFailed
        })?;
    issue_code(app, pending, &identity, citizen_id, level).await
}

/// The provider's code, once its response is known to be its own and not an error.
fn provider_code<'q>(eid: &Eid, query: &'q CallbackQuery) -> Result<&'q str, CallbackFailure> {
    if let Some(iss) = query.iss.as_deref()
        && iss.trim_end_matches('/') != eid.issuer()
    {
        return Err(CallbackFailure::IssuerMismatch);
    }
    if let Some(error) = query.error.as_deref() {
        return Err(CallbackFailure::ProviderError(known_provider_error(error)));
    }
    query
        .code
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or(CallbackFailure::NoCode)
}

async fn exchange(
    eid: &Eid,
    code: &str,
    pending: &PendingLogin,
) -> Result<EidIdentity, CallbackFailure> {
    // Each provider request has its own timeout; this bounds them together.
    let finished = tokio::time::timeout(
        FINISH_DEADLINE,
        eid.finish(code, &pending.pkce_verifier, &pending.nonce),
    )
    .await
    .unwrap_or_else(|_| Err(EidError::Unavailable("sign-in deadline passed".into())));
    finished.map_err(|err| match err {
        EidError::Unavailable(why) => {
            tracing::warn!(reason = %why, "eID provider unavailable at sign-in finish");
            CallbackFailure::ProviderUnavailable
        }
        EidError::Refused(why) => {
            tracing::warn!(reason = %why, "eID response refused");
            CallbackFailure::ResponseRefused(why)
        }
    })
}

/// The identity level the provider vouched for, if it is what the app asked for.
fn identity_level(
    app: &AppState,
    pending: &PendingLogin,
    identity: &EidIdentity,
) -> Result<Level, CallbackFailure> {
    let level2 = identity
        .acr
        .as_deref()
        .is_some_and(|acr| app.config.eid_acr_level2.iter().any(|v| v == acr));
    if pending.require_level2 && !level2 {
        return Err(CallbackFailure::Level2Required);
    }
    // The app asked for a recent sign-in (an operator console, RFC 9470): the provider must
    // say when the citizen authenticated, and it must be recent enough.
    if !pending.fresh_enough(
        identity.auth_time,
        OffsetDateTime::now_utc().unix_timestamp(),
    ) {
        return Err(CallbackFailure::NotRecentEnough);
    }
    Ok(if level2 { Level::Two } else { Level::One })
}

/// The app's one-time code, kept in Redis with what redeeming it opens.
async fn issue_code(
    app: &AppState,
    pending: &PendingLogin,
    identity: &EidIdentity,
    citizen_id: uuid::Uuid,
    level: Level,
) -> Result<Completed, CallbackFailure> {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let app_code = crypto::random_token(32);
    let issued = IssuedCode {
        citizen_id,
        client_id: pending.client_id.clone(),
        redirect_uri: pending.redirect_uri.clone(),
        code_challenge: pending.app_code_challenge.clone(),
        scope: pending.scope.clone(),
        nonce: pending.app_nonce.clone(),
        acr: level,
        auth_time: identity.auth_time.unwrap_or(now),
        sid: uuid::Uuid::new_v4().to_string(),
    };
    if let Err(err) = login::store_code(&app.redis, &app_code, &issued).await {
        tracing::error!(error = %err, "storing an authorization code");
        return Err(CallbackFailure::CodeStoreUnavailable);
    }
    Ok(Completed {
        app_code,
        citizen_id,
        level: level.as_i16(),
        sid: issued.sid,
    })
}
