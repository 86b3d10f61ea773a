//! The grants of the token endpoint, one file each: what each checks, what it issues, and the
//! typed failures it audits in one place. Client authentication and the dispatch are the token
//! endpoint's (`oauth::token`).

pub mod authorization_code;
pub mod client_credentials;
pub mod refresh_token;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::audit::{Event, RequestFacts};
use crate::sessions::store::{NewSession, Session};
use crate::state::AppState;

/// What a grant issued, as the token response carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Issued {
    pub access_token: String,
    pub expires_in: u64,
    pub scope: String,
    pub id_token: Option<String>,
    pub refresh_token: Option<String>,
}

/// A failure inside the server, logged where it happened: the client learns only
/// `server_error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerFault;

impl ServerFault {
    fn log(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "token endpoint failure");
        ServerFault
    }
}

fn mint_access(app: &AppState, session: &Session) -> Result<(String, String), ServerFault> {
    let now = OffsetDateTime::now_utc();
    let mut claims = app.tokens.access_claims(
        &session.citizen_id.to_string(),
        &session.client_id,
        &session.scope,
        now,
    );
    claims.sid = Some(session.id.to_string());
    claims.auth_time = Some(session.auth_time.unix_timestamp());
    claims.acr = Some(session.level);
    let token = app.tokens.sign_access(&claims).map_err(ServerFault::log)?;
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

/// How a failed token request is kept in the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audited {
    /// Not at all: the caller learns everything there is to know from the error.
    No,
    /// Each one.
    Always(&'static str),
    /// A failure a public client (which proves nothing) can cause at will: sampled.
    Sampled(&'static str),
}

/// Records a failed token request of `client_id`.
pub async fn audit_failure(
    app: &AppState,
    facts: &RequestFacts,
    client_id: &str,
    audited: Audited,
) {
    let (reason, sampled) = match audited {
        Audited::No => return,
        Audited::Always(reason) => (reason, false),
        Audited::Sampled(reason) => (reason, true),
    };
    let event = Event::client_failure("token_request", client_id, reason, facts);
    if sampled {
        app.audit.record_sampled(event).await;
    } else {
        app.audit.record(event).await;
    }
}
