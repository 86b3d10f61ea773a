//! The token endpoint (RFC 6749 §3.2): `authorization_code` with PKCE for apps, and
//! `refresh_token` with rotation, a grace window for lost responses, and reuse detection.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::assertion::ClientKeys;
use super::error::OAuthError;
use crate::audit::{Event, Outcome, RequestFacts};
use crate::clients::Client;
use crate::crypto::{self, Purpose};
use crate::identity::login;
use crate::sessions::store::{self as sessions, NewSession, Session};
use crate::state::AppState;
use crate::tokens::IdClaims;

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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Issued {
    pub access_token: String,
    pub expires_in: u64,
    pub scope: String,
    pub id_token: Option<String>,
    pub refresh_token: Option<String>,
}

/// A refusal: the status (400, 401 for client authentication, 5xx) and the error.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub status: u16,
    pub error: OAuthError,
    /// Set when the caller is over its rate limit: answered with 429, not an OAuth error.
    pub limited: Option<crate::ratelimit::Decision>,
}

impl Refusal {
    pub fn new(status: u16, error: OAuthError) -> Self {
        Self {
            status,
            error,
            limited: None,
        }
    }

    pub fn rate_limited(decision: crate::ratelimit::Decision) -> Self {
        Self {
            status: 429,
            error: OAuthError::temporarily_unavailable("Too many requests"),
            limited: Some(decision),
        }
    }
}

fn invalid_grant(description: &str) -> Refusal {
    Refusal::new(400, OAuthError::invalid_grant(description))
}

fn server_error(err: impl std::fmt::Display) -> Refusal {
    tracing::error!(error = %err, "token endpoint failure");
    Refusal::new(500, OAuthError::server_error())
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
                400,
                OAuthError::new(
                    "unsupported_grant_type",
                    "Supported: authorization_code, refresh_token, client_credentials",
                ),
            ));
        }
        None => {
            return Err(Refusal::new(
                400,
                OAuthError::invalid_request("grant_type is required"),
            ));
        }
    };
    let client = super::client_auth::authenticate(app, keys, &req.credentials, facts).await?;
    if !client.may_use_grant(grant) {
        // A public client proves nothing: anyone can cause this one.
        sampled_failure(app, facts, &client.client_id, "grant type not registered").await;
        return Err(Refusal::new(
            400,
            OAuthError::new(
                "unauthorized_client",
                format!("This client is not registered for the {grant} grant"),
            ),
        ));
    }
    wait_out_cut_off(&client).await;
    match grant {
        "authorization_code" => redeem_code(app, &client, &req, facts).await,
        "client_credentials" => client_credentials(app, &client, &req, facts).await,
        _ => refresh(app, &client, &req, facts).await,
    }
}

async fn redeem_code(
    app: &AppState,
    client: &Client,
    req: &TokenRequest,
    facts: &RequestFacts,
) -> Result<Issued, Refusal> {
    let (Some(code), Some(verifier), Some(_)) = (
        req.code.as_deref(),
        req.code_verifier.as_deref(),
        req.redirect_uri.as_deref(),
    ) else {
        return Err(Refusal::new(
            400,
            OAuthError::invalid_request("code, code_verifier and redirect_uri are required"),
        ));
    };
    let issued = match login::take_code(&app.redis, code).await {
        Ok(Some(issued)) => issued,
        Ok(None) => {
            replayed_code(app, client, code, facts).await;
            return Err(invalid_grant(
                "The authorization code is invalid, expired or already used",
            ));
        }
        Err(err) => {
            tracing::error!(error = %err, "reading an authorization code");
            return Err(Refusal::new(
                503,
                OAuthError::temporarily_unavailable("Try again shortly"),
            ));
        }
    };
    // The code is gone now whatever follows: a code that fails a check is not retried.
    if issued.client_id != client.client_id {
        failure(
            app,
            facts,
            &client.client_id,
            "code issued to another client",
        )
        .await;
        return Err(invalid_grant("The code was issued to another client"));
    }
    if req.redirect_uri.as_deref() != Some(issued.redirect_uri.as_str()) {
        failure(app, facts, &client.client_id, "redirect_uri mismatch").await;
        return Err(invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    let pkce_ok = super::authorize::is_pkce_value(verifier)
        && crypto::constant_time_eq(
            crypto::sha256_b64(verifier.as_bytes()).as_bytes(),
            issued.code_challenge.as_bytes(),
        );
    if !pkce_ok {
        failure(app, facts, &client.client_id, "PKCE verification failed").await;
        return Err(invalid_grant(
            "code_verifier does not match the code_challenge",
        ));
    }

    let sid = Uuid::parse_str(&issued.sid).map_err(server_error)?;
    let new = NewSession {
        id: sid,
        citizen_id: issued.citizen_id,
        client_id: client.client_id.clone(),
        user_agent: req
            .user_agent
            .as_ref()
            .map(|ua| ua.chars().take(200).collect()),
        level: issued.acr.parse().unwrap_or(1),
        scope: issued.scope.clone(),
        auth_time: OffsetDateTime::from_unix_timestamp(issued.auth_time).map_err(server_error)?,
    };
    let mut tx = app.db.begin().await.map_err(server_error)?;
    let opened = sessions::create(
        &mut tx,
        &new,
        to_time(app.config.session_idle),
        to_time(app.config.session_absolute),
    )
    .await
    .map_err(server_error)?;
    if !opened {
        // A replay of this code got there first and buried the session: issue nothing.
        drop(tx);
        failure(
            app,
            facts,
            &client.client_id,
            "code replayed during redemption",
        )
        .await;
        return Err(invalid_grant(
            "The authorization code is invalid, expired or already used",
        ));
    }
    let refresh_token = if issued.scope.split(' ').any(|s| s == "offline_access")
        && client.may_use_grant("refresh_token")
    {
        Some(
            sessions::issue_refresh_token(&mut tx, sid, None)
                .await
                .map_err(server_error)?
                .0,
        )
    } else {
        None
    };
    tx.commit().await.map_err(server_error)?;

    let session = session_view(&new);
    let (access_token, jti) = mint_access(app, &session)?;
    let id_token = if issued.scope.split(' ').any(|s| s == "openid") {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let claims = IdClaims {
            iss: app.tokens.issuer().to_string(),
            sub: issued.citizen_id.to_string(),
            aud: client.client_id.clone(),
            exp: now + app.tokens.access_ttl().as_secs() as i64,
            iat: now,
            auth_time: issued.auth_time,
            nonce: issued.nonce.clone(),
            acr: issued.acr.clone(),
            sid: issued.sid.clone(),
            azp: client.client_id.clone(),
        };
        Some(app.tokens.sign_id_token(&claims).map_err(server_error)?)
    } else {
        None
    };
    let event = Event::new("token_issued", Outcome::Success)
        .actor(issued.citizen_id.to_string())
        .client(client.client_id.clone())
        .details(serde_json::json!({ "grant_type": "authorization_code", "jti": jti, "sid": issued.sid }))
        .facts(facts);
    app.audit.record(event).await;
    Ok(Issued {
        access_token,
        expires_in: app.tokens.access_ttl().as_secs(),
        scope: issued.scope,
        id_token,
        refresh_token,
    })
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
        sampled_failure(
            app,
            facts,
            &client.client_id,
            "unknown, expired or used code",
        )
        .await;
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
async fn bury_session(app: &AppState, spent: &login::IssuedCode) -> anyhow::Result<bool> {
    let session = NewSession {
        id: Uuid::parse_str(&spent.sid)?,
        citizen_id: spent.citizen_id,
        client_id: spent.client_id.clone(),
        user_agent: None,
        level: spent.acr.parse().unwrap_or(1),
        scope: spent.scope.clone(),
        auth_time: OffsetDateTime::from_unix_timestamp(spent.auth_time)?,
    };
    let mut tx = app.db.begin().await?;
    let ended = sessions::bury(&mut tx, &session, "authorization code replay").await?;
    tx.commit().await?;
    app.revocations.revoke_session(&spent.sid).await;
    Ok(ended)
}

async fn refresh(
    app: &AppState,
    client: &Client,
    req: &TokenRequest,
    facts: &RequestFacts,
) -> Result<Issued, Refusal> {
    let Some(token) = req.refresh_token.as_deref().filter(|t| !t.is_empty()) else {
        return Err(Refusal::new(
            400,
            OAuthError::invalid_request("refresh_token is required"),
        ));
    };
    let now = OffsetDateTime::now_utc();
    let mut tx = app.db.begin().await.map_err(server_error)?;
    // Locks the token and its session: concurrent refreshes of one token are serialised, so
    // they can never both rotate it.
    let Some(locked) = sessions::lock_refresh_token(&mut tx, token)
        .await
        .map_err(server_error)?
    else {
        // Roll back before auditing: the audit writer needs a connection of its own, and a
        // burst of bad tokens must not hold the pool while it waits.
        drop(tx);
        sampled_failure(app, facts, &client.client_id, "unknown refresh token").await;
        return Err(invalid_grant("The refresh token is invalid"));
    };
    // Scopes an operator has since taken from the app are not minted again.
    let mut session = locked.session.clone();
    session.scope = session
        .scope
        .split(' ')
        .filter(|s| client.scopes.iter().any(|allowed| allowed == s))
        .collect::<Vec<_>>()
        .join(" ");
    let session = &session;
    if session.client_id != client.client_id {
        drop(tx);
        failure(
            app,
            facts,
            &client.client_id,
            "refresh token of another client",
        )
        .await;
        return Err(invalid_grant("The refresh token is invalid"));
    }
    if !session.is_live(now) {
        return Err(invalid_grant("The session has ended; sign in again"));
    }
    // A refresh token is offline access: once an operator takes `offline_access` from the
    // app, its refresh tokens stop working (the session's access tokens live on until expiry).
    if !session.scope.split(' ').any(|s| s == "offline_access") {
        drop(tx);
        failure(app, facts, &client.client_id, "offline_access withdrawn").await;
        return Err(invalid_grant(
            "The client is no longer allowed offline access (offline_access); sign in again",
        ));
    }
    let context = locked.id.to_be_bytes();

    if locked.rotated_at.is_none() {
        let (refresh_token, _) =
            sessions::issue_refresh_token(&mut tx, session.id, Some(locked.id))
                .await
                .map_err(server_error)?;
        let (access_token, jti) = mint_access(app, session)?;
        let issued = Issued {
            access_token,
            expires_in: app.tokens.access_ttl().as_secs(),
            scope: session.scope.clone(),
            id_token: None,
            refresh_token: Some(refresh_token),
        };
        // Tokens are stored hashed, so the reply is kept encrypted for the grace window.
        let reply = serde_json::to_vec(&issued).map_err(server_error)?;
        let sealed = app
            .master_key()
            .seal(Purpose::TokenReplies, &context, &reply)
            .map_err(server_error)?;
        sessions::mark_rotated(
            &mut tx,
            locked.id,
            &sealed,
            now + to_time(app.config.refresh_grace),
        )
        .await
        .map_err(server_error)?;
        sessions::touch(&mut tx, session.id, to_time(app.config.session_idle))
            .await
            .map_err(server_error)?;
        tx.commit().await.map_err(server_error)?;
        let event = Event::new("token_refreshed", Outcome::Success)
            .actor(session.citizen_id.to_string())
            .client(client.client_id.clone())
            .details(serde_json::json!({ "sid": session.id, "jti": jti }))
            .facts(facts);
        app.audit.record(event).await;
        return Ok(issued);
    }

    // Already rotated. The immediate predecessor within the grace window gets the same answer
    // again: the phone probably lost the response on a flaky network.
    let in_grace = !locked.successor_rotated && locked.reply_until.is_some_and(|until| until > now);
    if in_grace && let Some(sealed) = &locked.reply_enc {
        let reply = app
            .master_key()
            .open(Purpose::TokenReplies, &context, sealed)
            .map_err(server_error)?;
        let issued: Issued = serde_json::from_slice(&reply).map_err(server_error)?;
        tx.commit().await.map_err(server_error)?;
        // A replay hands out a live token again: who, which session and from where is kept.
        let event = Event::new("refresh_grace_replay", Outcome::Success)
            .actor(session.citizen_id.to_string())
            .client(client.client_id.clone())
            .target(session.id.to_string())
            .reason("predecessor refresh token replayed within the grace window")
            .facts(facts);
        app.audit.record(event).await;
        return Ok(issued);
    }

    // Reuse of a spent token: someone else may hold this family. End the session.
    sessions::revoke(&mut tx, session.id, "refresh token reuse")
        .await
        .map_err(server_error)?;
    tx.commit().await.map_err(server_error)?;
    app.revocations
        .revoke_session(&session.id.to_string())
        .await;
    let event = Event::new("refresh_token_reuse", Outcome::Failure)
        .actor(session.citizen_id.to_string())
        .client(client.client_id.clone())
        .target(session.id.to_string())
        .reason("a rotated refresh token was used again; session revoked")
        .facts(facts);
    app.audit.record(event).await;
    Err(invalid_grant(
        "The refresh token was already used; the session has been ended",
    ))
}

/// The `client_credentials` grant (RFC 6749 §4.4): a service provider acting as itself. The
/// token's `sub` is the client id; its scope is what was asked for, down to what the client is
/// registered for.
async fn client_credentials(
    app: &AppState,
    client: &Client,
    req: &TokenRequest,
    facts: &RequestFacts,
) -> Result<Issued, Refusal> {
    if client.kind != crate::clients::ClientKind::Confidential {
        return Err(Refusal::new(
            400,
            OAuthError::new(
                "unauthorized_client",
                "Only confidential clients may use client_credentials",
            ),
        ));
    }
    let allowed: Vec<&str> = client
        .scopes
        .iter()
        .map(String::as_str)
        .filter(|s| crate::clients::model::SERVICE_SCOPES.contains(s))
        .collect();
    let scope = match req
        .scope
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => allowed.join(" "),
        Some(requested) => {
            let mut granted: Vec<&str> = Vec::new();
            for wanted in requested.split(' ').filter(|s| !s.is_empty()) {
                if !allowed.contains(&wanted) {
                    failure(app, facts, &client.client_id, "scope not allowed").await;
                    return Err(Refusal::new(
                        400,
                        OAuthError::new(
                            "invalid_scope",
                            format!("Scope `{wanted}` is not allowed for this client"),
                        ),
                    ));
                }
                if !granted.contains(&wanted) {
                    granted.push(wanted);
                }
            }
            granted.join(" ")
        }
    };
    let mut claims = app.tokens.access_claims(
        &client.client_id,
        &client.client_id,
        &scope,
        OffsetDateTime::now_utc(),
    );
    // Resource servers enforce the bindings from the token, offline.
    claims.agencies = client.agencies.clone();
    claims.merchant_id = client.merchant_id.clone();
    let access_token = app.tokens.sign_access(&claims).map_err(server_error)?;
    let event = Event::new("token_issued", Outcome::Success)
        .actor(client.client_id.clone())
        .client(client.client_id.clone())
        .details(serde_json::json!({ "grant_type": "client_credentials", "jti": claims.jti, "scope": scope }))
        .facts(facts);
    app.audit.record(event).await;
    Ok(Issued {
        access_token,
        expires_in: app.tokens.access_ttl().as_secs(),
        scope,
        id_token: None,
        refresh_token: None,
    })
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

fn mint_access(app: &AppState, session: &Session) -> Result<(String, String), Refusal> {
    let now = OffsetDateTime::now_utc();
    let mut claims = app.tokens.access_claims(
        &session.citizen_id.to_string(),
        &session.client_id,
        &session.scope,
        now,
    );
    claims.sid = Some(session.id.to_string());
    claims.auth_time = Some(session.auth_time.unix_timestamp());
    claims.acr = Some(session.level.to_string());
    let token = app.tokens.sign_access(&claims).map_err(server_error)?;
    Ok((token, claims.jti))
}

/// The parts of a new session that tokens need.
fn session_view(new: &NewSession) -> Session {
    let now = OffsetDateTime::now_utc();
    Session {
        id: new.id,
        citizen_id: new.citizen_id,
        client_id: new.client_id.clone(),
        client_name: None,
        user_agent: new.user_agent.clone(),
        level: new.level,
        scope: new.scope.clone(),
        auth_time: new.auth_time,
        created_at: now,
        last_used_at: now,
        idle_expires_at: now,
        absolute_expires_at: now,
        revoked_at: None,
    }
}

fn to_time(d: std::time::Duration) -> time::Duration {
    time::Duration::seconds(d.as_secs() as i64)
}

async fn failure(app: &AppState, facts: &RequestFacts, client_id: &str, reason: &str) {
    let event = Event::new("token_request", Outcome::Failure)
        .client(client_id)
        .reason(reason)
        .facts(facts);
    app.audit.record(event).await;
}

/// A failure a public client (which proves nothing) can cause at will: sampled.
async fn sampled_failure(app: &AppState, facts: &RequestFacts, client_id: &str, reason: &str) {
    let event = Event::new("token_request", Outcome::Failure)
        .client(client_id)
        .reason(reason)
        .facts(facts);
    app.audit.record_sampled(event).await;
}
