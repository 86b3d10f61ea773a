//! The `authorization_code` grant (RFC 6749 §4.1.3) with PKCE (RFC 7636): redeems the one-time
//! code of our authorization endpoint, opening the session it stands for.

use time::OffsetDateTime;
use uuid::Uuid;

use super::{Audited, Issued, ServerFault, audit_failure, mint_access, session_view, to_time};
use crate::audit::{Event, Outcome, RequestFacts};
use crate::clients::Client;
use crate::crypto;
use crate::identity::login::{self, IssuedCode};
use crate::oauth::error::{OAuthError, Refusal, RefusalKind};
use crate::sessions::store::{self as sessions, NewSession};
use crate::state::AppState;
use crate::tokens::{IdClaims, Scopes};

/// What the token request carries for this grant.
#[derive(Debug, Clone, Copy)]
pub struct Redemption<'a> {
    pub code: Option<&'a str>,
    pub code_verifier: Option<&'a str>,
    pub redirect_uri: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

/// Why a code was not redeemed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum CodeFailure {
    MissingParameters,
    /// Unknown, expired or spent: a spent one is a replay (see `replayed_code`).
    NotLive(String),
    StoreUnavailable,
    OtherClient,
    RedirectMismatch,
    PkceMismatch,
    /// A replay of this code got there first and buried the session.
    ReplayedDuringRedemption,
    Server,
}

impl From<ServerFault> for CodeFailure {
    fn from(_: ServerFault) -> Self {
        CodeFailure::Server
    }
}

impl CodeFailure {
    fn audited(&self) -> Audited {
        match self {
            CodeFailure::OtherClient => Audited::Always("code issued to another client"),
            CodeFailure::RedirectMismatch => Audited::Always("redirect_uri mismatch"),
            CodeFailure::PkceMismatch => Audited::Always("PKCE verification failed"),
            CodeFailure::ReplayedDuringRedemption => {
                Audited::Always("code replayed during redemption")
            }
            CodeFailure::MissingParameters
            | CodeFailure::NotLive(_)
            | CodeFailure::StoreUnavailable
            | CodeFailure::Server => Audited::No,
        }
    }

    fn refusal(&self) -> Refusal {
        match self {
            CodeFailure::MissingParameters => Refusal::new(
                RefusalKind::BadRequest,
                OAuthError::invalid_request("code, code_verifier and redirect_uri are required"),
            ),
            CodeFailure::NotLive(_) | CodeFailure::ReplayedDuringRedemption => {
                Refusal::invalid_grant("The authorization code is invalid, expired or already used")
            }
            CodeFailure::StoreUnavailable => Refusal::unavailable(),
            CodeFailure::OtherClient => {
                Refusal::invalid_grant("The code was issued to another client")
            }
            CodeFailure::RedirectMismatch => {
                Refusal::invalid_grant("redirect_uri does not match the authorization request")
            }
            CodeFailure::PkceMismatch => {
                Refusal::invalid_grant("code_verifier does not match the code_challenge")
            }
            CodeFailure::Server => Refusal::server_error(),
        }
    }
}

pub async fn redeem(
    app: &AppState,
    client: &Client,
    req: Redemption<'_>,
    facts: &RequestFacts,
) -> Result<Issued, Refusal> {
    match try_redeem(app, client, req).await {
        Ok(Redeemed { code, issued, jti }) => {
            let event = Event::new("token_issued", Outcome::Success)
                .actor(code.citizen_id.to_string())
                .client(client.client_id.clone())
                .details(serde_json::json!({ "grant_type": "authorization_code", "jti": jti, "sid": code.sid }))
                .facts(facts);
            app.audit.record(event).await;
            Ok(issued)
        }
        Err(failure) => {
            if let CodeFailure::NotLive(code) = &failure {
                replayed_code(app, client, code, facts).await;
            }
            audit_failure(app, facts, &client.client_id, failure.audited()).await;
            Err(failure.refusal())
        }
    }
}

/// A redeemed code and what it gave.
struct Redeemed {
    code: IssuedCode,
    issued: Issued,
    /// The access token's id, for the audit log.
    jti: String,
}

/// The redemption itself; the transaction it opens is over (committed or rolled back) when it
/// returns, so auditing a failure never holds a connection while waiting for the audit writer.
async fn try_redeem(
    app: &AppState,
    client: &Client,
    req: Redemption<'_>,
) -> Result<Redeemed, CodeFailure> {
    let (Some(code), Some(verifier), Some(redirect_uri)) =
        (req.code, req.code_verifier, req.redirect_uri)
    else {
        return Err(CodeFailure::MissingParameters);
    };
    let issued = take_code(app, code).await?;
    // The code is gone now whatever follows: a code that fails a check is not retried.
    check_code(&issued, client, redirect_uri, verifier)?;
    let (new, refresh_token) = open_session(app, client, &issued, req.user_agent).await?;
    let (access_token, jti) = mint_access(app, &session_view(&new))?;
    let id_token = if Scopes::parse(&issued.scope).contains("openid") {
        Some(id_token(app, client, &issued)?)
    } else {
        None
    };
    Ok(Redeemed {
        issued: Issued {
            access_token,
            expires_in: app.tokens.access_ttl().as_secs(),
            scope: issued.scope.clone(),
            id_token,
            refresh_token,
        },
        code: issued,
        jti,
    })
}

async fn take_code(app: &AppState, code: &str) -> Result<IssuedCode, CodeFailure> {
    match login::take_code(&app.redis, code).await {
        Ok(Some(issued)) => Ok(issued),
        Ok(None) => Err(CodeFailure::NotLive(code.to_string())),
        Err(err) => {
            tracing::error!(error = %err, "reading an authorization code");
            Err(CodeFailure::StoreUnavailable)
        }
    }
}

fn check_code(
    issued: &IssuedCode,
    client: &Client,
    redirect_uri: &str,
    verifier: &str,
) -> Result<(), CodeFailure> {
    if issued.client_id != client.client_id {
        return Err(CodeFailure::OtherClient);
    }
    if redirect_uri != issued.redirect_uri {
        return Err(CodeFailure::RedirectMismatch);
    }
    let pkce_ok = crate::oauth::authorize::is_pkce_value(verifier)
        && crypto::constant_time_eq(
            crypto::sha256_b64(verifier.as_bytes()).as_bytes(),
            issued.code_challenge.as_bytes(),
        );
    if !pkce_ok {
        return Err(CodeFailure::PkceMismatch);
    }
    Ok(())
}

/// Opens the code's session, with a refresh token when the app asked for offline access and
/// may refresh.
async fn open_session(
    app: &AppState,
    client: &Client,
    issued: &IssuedCode,
    user_agent: Option<&str>,
) -> Result<(NewSession, Option<String>), CodeFailure> {
    let new = NewSession {
        id: Uuid::parse_str(&issued.sid).map_err(ServerFault::log)?,
        citizen_id: issued.citizen_id,
        client_id: client.client_id.clone(),
        user_agent: user_agent.map(|ua| ua.chars().take(200).collect()),
        level: issued.acr,
        scope: issued.scope.clone(),
        auth_time: OffsetDateTime::from_unix_timestamp(issued.auth_time)
            .map_err(ServerFault::log)?,
    };
    let mut tx = app.db.begin().await.map_err(ServerFault::log)?;
    let opened = sessions::create(
        &mut tx,
        &new,
        to_time(app.config.session_idle),
        to_time(app.config.session_absolute),
    )
    .await
    .map_err(ServerFault::log)?;
    if !opened {
        // Issue nothing: the transaction rolls back as this returns.
        return Err(CodeFailure::ReplayedDuringRedemption);
    }
    let refresh_token = if Scopes::parse(&issued.scope).contains("offline_access")
        && client.may_use_grant("refresh_token")
    {
        Some(
            sessions::issue_refresh_token(&mut tx, new.id, None)
                .await
                .map_err(ServerFault::log)?
                .0,
        )
    } else {
        None
    };
    tx.commit().await.map_err(ServerFault::log)?;
    Ok((new, refresh_token))
}

fn id_token(app: &AppState, client: &Client, issued: &IssuedCode) -> Result<String, ServerFault> {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let claims = IdClaims {
        iss: app.tokens.issuer().to_string(),
        sub: issued.citizen_id.to_string(),
        aud: client.client_id.clone(),
        exp: now + app.tokens.access_ttl().as_secs() as i64,
        iat: now,
        auth_time: issued.auth_time,
        nonce: issued.nonce.clone(),
        acr: issued.acr,
        sid: issued.sid.clone(),
        azp: client.client_id.clone(),
    };
    app.tokens.sign_id_token(&claims).map_err(ServerFault::log)
}

/// A code that is not live: unknown or expired, or spent. A spent code presented again means
/// someone else may hold it: what its first redemption issued is revoked (RFC 6749 §4.1.2).
async fn replayed_code(app: &AppState, client: &Client, code: &str, facts: &RequestFacts) {
    let spent = match login::spent_code(&app.redis, code).await {
        Ok(spent) => spent,
        Err(err) => {
            tracing::warn!(error = %err, "checking a code for replay");
            None
        }
    };
    let Some(spent) = spent.filter(|s| s.client_id == client.client_id) else {
        let unknown = Audited::Sampled("unknown, expired or used code");
        audit_failure(app, facts, &client.client_id, unknown).await;
        return;
    };
    let ended = match bury_session(app, &spent).await {
        Ok(ended) => ended,
        Err(err) => {
            tracing::error!(error = %err, "revoking after a code replay");
            false
        }
    };
    let event = Event::new("authorization_code_replay", Outcome::Failure)
        .actor(spent.citizen_id.to_string())
        .client(client.client_id.clone())
        .target(spent.sid.clone())
        .reason("a redeemed authorization code was presented again; its session revoked")
        .details(serde_json::json!({ "session_ended": ended }))
        .facts(facts);
    app.audit.record(event).await;
}

/// Ends the session the spent code opened, in PostgreSQL (even if its redemption has not
/// committed yet) and on every replica.
async fn bury_session(app: &AppState, spent: &IssuedCode) -> anyhow::Result<bool> {
    let session = NewSession {
        id: Uuid::parse_str(&spent.sid)?,
        citizen_id: spent.citizen_id,
        client_id: spent.client_id.clone(),
        user_agent: None,
        level: spent.acr,
        scope: spent.scope.clone(),
        auth_time: OffsetDateTime::from_unix_timestamp(spent.auth_time)?,
    };
    let mut tx = app.db.begin().await?;
    let ended = sessions::bury(&mut tx, &session, "authorization code replay").await?;
    tx.commit().await?;
    app.revocations.revoke_session(&spent.sid).await;
    Ok(ended)
}
