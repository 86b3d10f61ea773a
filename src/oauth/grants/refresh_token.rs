//! The `refresh_token` grant (RFC 6749 §6): rotation on every use, a grace window for a reply
//! the phone lost, and reuse detection that ends the session.

use time::OffsetDateTime;

use super::{Audited, Issued, ServerFault, audit_failure, mint_access, to_time};
use crate::audit::{Event, Outcome, RequestFacts};
use crate::clients::Client;
use crate::crypto::Purpose;
use crate::oauth::error::{OAuthError, Refusal, RefusalKind};
use crate::sessions::store::{self as sessions, LockedRefresh, Session};
use crate::state::AppState;
use crate::tokens::Scopes;

type Tx = sqlx::Transaction<'static, sqlx::Postgres>;

/// Why a refresh token was not exchanged.
#[derive(Debug, Clone)]
enum RefreshFailure {
    Missing,
    Unknown,
    OtherClient,
    SessionEnded,
    OfflineAccessWithdrawn,
    /// A rotated token used again, outside its grace: its session has been ended.
    Reused(Box<Session>),
    Server,
}

impl From<ServerFault> for RefreshFailure {
    fn from(_: ServerFault) -> Self {
        RefreshFailure::Server
    }
}

impl RefreshFailure {
    async fn audit(&self, app: &AppState, client: &Client, facts: &RequestFacts) {
        let audited = match self {
            RefreshFailure::Unknown => Audited::Sampled("unknown refresh token"),
            RefreshFailure::OtherClient => Audited::Always("refresh token of another client"),
            RefreshFailure::OfflineAccessWithdrawn => Audited::Always("offline_access withdrawn"),
            RefreshFailure::Reused(session) => {
                let event = session_event("refresh_token_reuse", Outcome::Failure, session, client)
                    .target(session.id.to_string())
                    .reason("a rotated refresh token was used again; session revoked")
                    .facts(facts);
                app.audit.record(event).await;
                return;
            }
            RefreshFailure::Missing | RefreshFailure::SessionEnded | RefreshFailure::Server => {
                Audited::No
            }
        };
        audit_failure(app, facts, &client.client_id, audited).await;
    }

    fn refusal(&self) -> Refusal {
        match self {
            RefreshFailure::Missing => Refusal::new(
                RefusalKind::BadRequest,
                OAuthError::invalid_request("refresh_token is required"),
            ),
            RefreshFailure::Unknown | RefreshFailure::OtherClient => {
                Refusal::invalid_grant("The refresh token is invalid")
            }
            RefreshFailure::SessionEnded => {
                Refusal::invalid_grant("The session has ended; sign in again")
            }
            RefreshFailure::OfflineAccessWithdrawn => Refusal::invalid_grant(
                "The client is no longer allowed offline access (offline_access); sign in again",
            ),
            RefreshFailure::Reused(_) => Refusal::invalid_grant(
                "The refresh token was already used; the session has been ended",
            ),
            RefreshFailure::Server => Refusal::server_error(),
        }
    }
}

/// An event a refresh records: by the session's citizen, through the client.
fn session_event(
    action: &'static str,
    outcome: Outcome,
    session: &Session,
    client: &Client,
) -> Event {
    Event::new(action, outcome)
        .actor(session.citizen_id.to_string())
        .client(client.client_id.clone())
}

/// What a refresh gave, for the audit log.
enum Refreshed {
    /// The token rotated: new tokens.
    Rotated { issued: Issued, jti: String },
    /// The predecessor of the live token, within its grace: the same reply again.
    Replayed(Issued),
}

pub async fn refresh(
    app: &AppState,
    client: &Client,
    token: Option<&str>,
    facts: &RequestFacts,
) -> Result<Issued, Refusal> {
    match try_refresh(app, client, token).await {
        Ok((session, Refreshed::Rotated { issued, jti })) => {
            let event = session_event("token_refreshed", Outcome::Success, &session, client)
                .details(serde_json::json!({ "sid": session.id, "jti": jti }))
                .facts(facts);
            app.audit.record(event).await;
            Ok(issued)
        }
        Ok((session, Refreshed::Replayed(issued))) => {
            // A replay hands out a live token again: who, which session and from where is kept.
            let event = session_event("refresh_grace_replay", Outcome::Success, &session, client)
                .target(session.id.to_string())
                .reason("predecessor refresh token replayed within the grace window")
                .facts(facts);
            app.audit.record(event).await;
            Ok(issued)
        }
        Err(failure) => {
            failure.audit(app, client, facts).await;
            Err(failure.refusal())
        }
    }
}

/// The exchange itself. Its transaction is over (committed or rolled back) when it returns:
/// the audit writer needs a connection of its own, and a burst of bad tokens must not hold the
/// pool while it waits.
async fn try_refresh(
    app: &AppState,
    client: &Client,
    token: Option<&str>,
) -> Result<(Session, Refreshed), RefreshFailure> {
    let token = token
        .filter(|t| !t.is_empty())
        .ok_or(RefreshFailure::Missing)?;
    let now = OffsetDateTime::now_utc();
    let mut tx = app.db.begin().await.map_err(ServerFault::log)?;
    // Locks the token and its session: concurrent refreshes of one token are serialised, so
    // they can never both rotate it.
    let locked = sessions::lock_refresh_token(&mut tx, token)
        .await
        .map_err(ServerFault::log)?
        .ok_or(RefreshFailure::Unknown)?;
    let session = usable_session(&locked, client, now)?;
    if locked.rotated_at.is_none() {
        let refreshed = rotate(app, tx, &locked, &session, now).await?;
        return Ok((session, refreshed));
    }
    // Already rotated. The immediate predecessor within the grace window gets the same answer
    // again: the phone probably lost the response on a flaky network.
    let in_grace = !locked.successor_rotated && locked.reply_until.is_some_and(|until| until > now);
    if in_grace && let Some(sealed) = &locked.reply_enc {
        let reply = app
            .master_key()
            .open(Purpose::TokenReplies, &locked.id.to_be_bytes(), sealed)
            .map_err(ServerFault::log)?;
        let issued: Issued = serde_json::from_slice(&reply).map_err(ServerFault::log)?;
        tx.commit().await.map_err(ServerFault::log)?;
        return Ok((session, Refreshed::Replayed(issued)));
    }
    // Reuse of a spent token: someone else may hold this family. End the session.
    sessions::revoke(&mut tx, session.id, "refresh token reuse")
        .await
        .map_err(ServerFault::log)?;
    tx.commit().await.map_err(ServerFault::log)?;
    app.revocations
        .revoke_session(&session.id.to_string())
        .await;
    Err(RefreshFailure::Reused(Box::new(session)))
}

/// The token's session, if this client may still refresh it, with the scopes an operator has
/// since taken from the app left out (they are not minted again).
fn usable_session(
    locked: &LockedRefresh,
    client: &Client,
    now: OffsetDateTime,
) -> Result<Session, RefreshFailure> {
    let mut session = locked.session.clone();
    session.scope = Scopes::parse(&session.scope)
        .within(&client.registered_scopes())
        .to_string();
    if session.client_id != client.client_id {
        return Err(RefreshFailure::OtherClient);
    }
    if !session.is_live(now) {
        return Err(RefreshFailure::SessionEnded);
    }
    // A refresh token is offline access: once an operator takes `offline_access` from the
    // app, its refresh tokens stop working (the session's access tokens live on until expiry).
    if !Scopes::parse(&session.scope).contains("offline_access") {
        return Err(RefreshFailure::OfflineAccessWithdrawn);
    }
    Ok(session)
}

/// Rotates a live token: its successor and a new access token, the reply kept (encrypted, as
/// tokens are stored hashed) for the grace window.
async fn rotate(
    app: &AppState,
    mut tx: Tx,
    locked: &LockedRefresh,
    session: &Session,
    now: OffsetDateTime,
) -> Result<Refreshed, RefreshFailure> {
    let refresh_token = sessions::new_refresh_token();
    let (access_token, jti) = mint_access(app, session)?;
    let issued = Issued {
        access_token,
        expires_in: app.tokens.access_ttl().as_secs(),
        scope: session.scope.clone(),
        id_token: None,
        refresh_token: Some(refresh_token.clone()),
    };
    let reply = serde_json::to_vec(&issued).map_err(ServerFault::log)?;
    let sealed = app
        .master_key()
        .seal(Purpose::TokenReplies, &locked.id.to_be_bytes(), &reply)
        .map_err(ServerFault::log)?;
    let rotation = sessions::Rotation {
        session_id: session.id,
        token_id: locked.id,
        successor: &refresh_token,
        reply_enc: &sealed,
        reply_until: now + to_time(app.config.refresh_grace),
        idle: to_time(app.config.session_idle),
    };
    sessions::rotate_refresh_token(&mut tx, rotation)
        .await
        .map_err(ServerFault::log)?;
    tx.commit().await.map_err(ServerFault::log)?;
    Ok(Refreshed::Rotated { issued, jti })
}
