//! Our callback at the eID provider: finishes a sign-in and sends the app its one-time code.

use time::OffsetDateTime;

use super::citizens::{self, SignIn};
use super::eid::{Eid, EidError};
use super::login::{self, IssuedCode};
use crate::audit::{Event, Outcome as AuditOutcome, RequestFacts};
use crate::clients::redirect::{error_redirect, redirect_with};
use crate::crypto;
use crate::state::AppState;

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

fn fail(facts: &RequestFacts, client_id: Option<&str>, reason: &str) -> Event {
    let event = Event::new("sign_in", AuditOutcome::Failure)
        .reason(reason)
        .facts(facts);
    match client_id {
        Some(client_id) => event.client(client_id),
        None => event,
    }
}

pub async fn finish(
    app: &AppState,
    eid: &Eid,
    query: CallbackQuery,
    cookie: Option<String>,
    facts: RequestFacts,
) -> Outcome {
    let issuer = app.config.issuer();
    let page = |message: &str| Outcome::ErrorPage {
        status: 400,
        message: message.to_string(),
    };

    let Some(state) = query.state.as_deref().filter(|s| !s.is_empty()) else {
        app.audit
            .record_sampled(fail(&facts, None, "callback without state"))
            .await;
        return page("This sign-in link is incomplete. Start again from the app.");
    };
    let pending = match login::take_pending(&app.redis, state).await {
        Ok(Some(pending)) => pending,
        Ok(None) => {
            app.audit
                .record_sampled(fail(&facts, None, "unknown, expired or replayed state"))
                .await;
            return page("This sign-in has expired or was already used. Start again from the app.");
        }
        Err(err) => {
            tracing::error!(error = %err, "reading a pending sign-in");
            return Outcome::ErrorPage {
                status: 503,
                message: "Sign-in is temporarily unavailable. Start again from the app shortly."
                    .into(),
            };
        }
    };
    let client_id = pending.client_id.as_str();
    let binding_ok = cookie.is_some_and(|value| {
        crypto::constant_time_eq(
            crypto::sha256_b64(value.as_bytes()).as_bytes(),
            pending.binding_sha256.as_bytes(),
        )
    });
    if !binding_ok {
        // Not the browser that started this sign-in: possibly login CSRF. Tell no app anything.
        app.audit
            .record_sampled(fail(
                &facts,
                Some(client_id),
                "browser binding cookie mismatch",
            ))
            .await;
        return page("This sign-in was started in another browser. Start again from the app.");
    }

    let back = |error: &str, description: &str| Outcome::ToApp {
        location: error_redirect(
            &pending.redirect_uri,
            error,
            description,
            pending.app_state.as_deref(),
            issuer,
        ),
    };
    // RFC 9207: the response must come from the provider we sent the citizen to.
    if let Some(iss) = query.iss.as_deref()
        && iss.trim_end_matches('/') != eid.issuer()
    {
        app.audit
            .record_sampled(fail(&facts, Some(client_id), "callback iss mismatch"))
            .await;
        return back(
            "access_denied",
            "The identity provider's response could not be verified",
        );
    }
    if let Some(error) = query.error.as_deref() {
        // Anyone holding a state can send any `error`: the reason is fixed (so sampling holds),
        // and only a known code is kept.
        let code = match error {
            "access_denied"
            | "login_required"
            | "consent_required"
            | "interaction_required"
            | "temporarily_unavailable"
            | "server_error"
            | "invalid_request"
            | "invalid_scope"
            | "unauthorized_client"
            | "unsupported_response_type" => error,
            _ => "other",
        };
        app.audit
            .record_sampled(
                fail(&facts, Some(client_id), "provider error")
                    .details(serde_json::json!({ "error": code })),
            )
            .await;
        return match error {
            "access_denied" | "login_required" | "consent_required" | "interaction_required" => {
                back(
                    "access_denied",
                    "The sign-in was cancelled or refused at the identity provider",
                )
            }
            "temporarily_unavailable" => back(
                "temporarily_unavailable",
                "The national identity provider is unavailable; try again shortly",
            ),
            _ => back(
                "server_error",
                "The identity provider could not complete the sign-in",
            ),
        };
    }
    let Some(code) = query.code.as_deref().filter(|c| !c.is_empty()) else {
        app.audit
            .record(fail(&facts, Some(client_id), "callback without code"))
            .await;
        return back(
            "server_error",
            "The identity provider sent no authorization code",
        );
    };

    // Each provider request has its own timeout; this bounds them together.
    let finished = tokio::time::timeout(
        FINISH_DEADLINE,
        eid.finish(code, &pending.pkce_verifier, &pending.nonce),
    )
    .await
    .unwrap_or_else(|_| Err(EidError::Unavailable("sign-in deadline passed".into())));
    let identity = match finished {
        Ok(identity) => identity,
        Err(EidError::Unavailable(why)) => {
            tracing::warn!(reason = %why, "eID provider unavailable at sign-in finish");
            app.audit
                .record(fail(&facts, Some(client_id), "provider unavailable"))
                .await;
            return back(
                "temporarily_unavailable",
                "The national identity provider is unavailable; try again shortly",
            );
        }
        Err(EidError::Refused(why)) => {
            tracing::warn!(reason = %why, "eID response refused");
            app.audit.record(fail(&facts, Some(client_id), &why)).await;
            return back(
                "access_denied",
                "The identity provider's response could not be verified",
            );
        }
    };

    let level2 = identity
        .acr
        .as_deref()
        .is_some_and(|acr| app.config.eid_acr_level2.iter().any(|v| v == acr));
    if pending.require_level2 && !level2 {
        app.audit
            .record(fail(&facts, Some(client_id), "identity level 2 required"))
            .await;
        return back(
            "access_denied",
            "This app requires identity level 2 (acr_values=2)",
        );
    }
    // The app asked for a recent sign-in (an operator console, RFC 9470): the provider must
    // say when the citizen authenticated, and it must be recent enough.
    if !pending.fresh_enough(
        identity.auth_time,
        OffsetDateTime::now_utc().unix_timestamp(),
    ) {
        app.audit
            .record(fail(
                &facts,
                Some(client_id),
                "authentication not recent enough",
            ))
            .await;
        return back(
            "access_denied",
            "The identity provider did not confirm a recent enough sign-in (max_age)",
        );
    }
    let level: i16 = if level2 { 2 } else { 1 };
    let sign_in = SignIn {
        provider: eid.issuer().to_string(),
        provider_subject: identity.subject.clone(),
        name: identity.name.clone(),
        id_number: identity.id_number.clone(),
        level,
    };
    let master = app.master_key();
    let citizen_id = match citizens::link(&app.db, &master, &sign_in).await {
        Ok(id) => id,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "linking a citizen");
            return back(
                "server_error",
                "The sign-in could not be completed; try again",
            );
        }
    };

    let now = OffsetDateTime::now_utc().unix_timestamp();
    let app_code = crypto::random_token(32);
    let issued = IssuedCode {
        citizen_id,
        client_id: pending.client_id.clone(),
        redirect_uri: pending.redirect_uri.clone(),
        code_challenge: pending.app_code_challenge.clone(),
        scope: pending.scope.clone(),
        nonce: pending.app_nonce.clone(),
        acr: level.to_string(),
        auth_time: identity.auth_time.unwrap_or(now),
        sid: uuid::Uuid::new_v4().to_string(),
    };
    if let Err(err) = login::store_code(&app.redis, &app_code, &issued).await {
        tracing::error!(error = %err, "storing an authorization code");
        return back(
            "temporarily_unavailable",
            "Sign-in is temporarily unavailable; try again shortly",
        );
    }
    let event = Event::new("sign_in", AuditOutcome::Success)
        .actor(citizen_id.to_string())
        .client(client_id)
        .details(serde_json::json!({ "level": level, "sid": issued.sid }))
        .facts(&facts);
    app.audit.record(event).await;

    Outcome::ToApp {
        location: redirect_with(
            &pending.redirect_uri,
            &[
                ("code", Some(&app_code)),
                ("state", pending.app_state.as_deref()),
                ("iss", Some(issuer)),
            ],
        ),
    }
}
