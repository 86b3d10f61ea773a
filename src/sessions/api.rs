use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use time::OffsetDateTime;
use uuid::Uuid;

use super::store;
use crate::audit::{Event, Outcome, RequestFacts};
use crate::http::{ApiError, ApiResult, ApiTag, catalogue};
use crate::state::AppState;
use crate::tokens::BearerAuth;

#[derive(Default)]
pub struct SessionsApi;

/// One of a citizen's live sessions.
#[derive(Debug, Object)]
#[oai(example)]
pub struct CitizenSession {
    /// The session id (the `sid` of its tokens).
    id: Uuid,
    /// The app it belongs to.
    client_id: String,
    #[oai(skip_serializing_if_is_none)]
    client_name: Option<String>,
    /// The device's user agent when it signed in.
    #[oai(skip_serializing_if_is_none)]
    user_agent: Option<String>,
    /// Identity level of the sign-in.
    level: i16,
    created_at: OffsetDateTime,
    last_used_at: OffsetDateTime,
}

impl Example for CitizenSession {
    fn example() -> Self {
        CitizenSession {
            id: Uuid::nil(),
            client_id: "mc_3k9x2m4q8w7e5r1t6y0u2i4o".into(),
            client_name: Some("Cà Mau một cửa".into()),
            user_agent: Some("CaMau/2.3 (Android 14)".into()),
            level: 2,
            created_at: OffsetDateTime::UNIX_EPOCH,
            last_used_at: OffsetDateTime::UNIX_EPOCH,
        }
    }
}

impl From<store::Session> for CitizenSession {
    fn from(s: store::Session) -> Self {
        CitizenSession {
            id: s.id,
            client_id: s.client_id,
            client_name: s.client_name,
            user_agent: s.user_agent,
            level: s.level.as_i16(),
            created_at: s.created_at,
            last_used_at: s.last_used_at,
        }
    }
}

/// One signed-in device of the citizen.
#[derive(Debug, Object)]
#[oai(example)]
struct SessionView {
    #[oai(flatten)]
    session: CitizenSession,
    /// Whether this is the session of the token making the request.
    current: bool,
}

impl Example for SessionView {
    fn example() -> Self {
        SessionView {
            session: CitizenSession::example(),
            current: true,
        }
    }
}

/// A page of the citizen's devices.
#[derive(Debug, Object)]
#[oai(example)]
struct SessionPage {
    items: Vec<SessionView>,
    /// Pass as `cursor` for the next (older) page; `null` on the last page.
    #[oai(nullable)]
    next_cursor: Option<String>,
}

impl Example for SessionPage {
    fn example() -> Self {
        SessionPage {
            items: vec![SessionView::example()],
            next_cursor: None,
        }
    }
}

fn default_page() -> i64 {
    50
}

/// The `cursor` query parameter of a page of sessions.
pub fn parse_cursor(cursor: Option<&str>) -> ApiResult<Option<store::SessionCursor>> {
    store::SessionCursor::param(cursor)
}

#[derive(ApiResponse)]
enum Ended {
    /// The session is over; its tokens stop working on every replica within a second (within 5 s if Redis fails).
    #[oai(status = 204)]
    NoContent,
}

/// The citizen's account pages (devices) are for the province's own app, granted the
/// first-party scope `account` (never a default): a third-party app must not see or end the
/// citizen's other sessions.
fn account_holder(auth: &BearerAuth) -> Result<(Uuid, Uuid), ApiError> {
    if !auth.0.has_scope("account") {
        return Err(ApiError::new(&catalogue::FORBIDDEN));
    }
    citizen_of(auth)
}

fn citizen_of(auth: &BearerAuth) -> Result<(Uuid, Uuid), ApiError> {
    let forbidden = || ApiError::new(&catalogue::FORBIDDEN);
    let sub = Uuid::parse_str(&auth.0.sub).map_err(|_| forbidden())?;
    let sid = auth
        .0
        .sid
        .as_deref()
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(forbidden)?;
    Ok((sub, sid))
}

async fn end(
    state: &AppState,
    req: &Request,
    citizen: Uuid,
    session: Uuid,
    action: &'static str,
) -> ApiResult<()> {
    crate::sessions::end_session(state, session, action).await?;
    let event = Event::new(action, Outcome::Success)
        .actor(citizen.to_string())
        .target(session.to_string())
        .facts(&RequestFacts::of(req));
    state.audit.record(event).await;
    Ok(())
}

#[OpenApi(tag = "ApiTag::Sessions")]
impl SessionsApi {
    /// Sign out
    ///
    /// Ends the session of the access token: its refresh tokens and access tokens stop working.
    #[oai(path = "/v1/auth/logout", method = "post", operation_id = "logout")]
    async fn logout(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: BearerAuth,
    ) -> ApiResult<Ended> {
        let (citizen, sid) = citizen_of(&auth)?;
        end(&state, req, citizen, sid, "logout").await?;
        Ok(Ended::NoContent)
    }

    /// The citizen's signed-in devices
    ///
    /// Live sessions, newest first, with the one making the request marked `current`. Needs
    /// the scope `account`. Keyset pages: pass `next_cursor` as `cursor`.
    #[oai(
        path = "/v1/me/sessions",
        method = "get",
        operation_id = "listMySessions"
    )]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        /// The previous page's `next_cursor`.
        cursor: Query<Option<String>>,
        /// Page size, 1 to 200.
        #[oai(
            default = "default_page",
            validator(minimum(value = "1"), maximum(value = "200"))
        )]
        limit: Query<i64>,
    ) -> ApiResult<Json<SessionPage>> {
        let (citizen, sid) = account_holder(&auth)?;
        let after = parse_cursor(cursor.0.as_deref())?;
        let (sessions, next) = store::list_live(&state.db, citizen, after, limit.0).await?;
        Ok(Json(SessionPage {
            items: sessions
                .into_iter()
                .map(|s| SessionView {
                    current: s.id == sid,
                    session: s.into(),
                })
                .collect(),
            next_cursor: next,
        }))
    }

    /// Sign a device out
    ///
    /// Ends one of the citizen's sessions (a lost or stolen phone). Other citizens' sessions
    /// are not found.
    #[oai(
        path = "/v1/me/sessions/:id",
        method = "delete",
        operation_id = "revokeMySession"
    )]
    async fn revoke(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: BearerAuth,
        /// The session id.
        id: Path<Uuid>,
    ) -> ApiResult<Ended> {
        let (citizen, _) = account_holder(&auth)?;
        let session = store::find(&state.db, id.0).await?;
        match session {
            Some(session) if session.citizen_id == citizen => {
                end(&state, req, citizen, session.id, "session_revoked").await?;
                Ok(Ended::NoContent)
            }
            _ => Err(ApiError::new(&catalogue::NOT_FOUND)),
        }
    }
}
