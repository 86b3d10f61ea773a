//! `/v1/ops/citizens/{sub}/…` and `/v1/ops/tokens/…`: citizens' sessions and roles, and any
//! token.

use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use time::OffsetDateTime;
use uuid::Uuid;

use super::guard::OperatorAuth;
use super::roles::{self, GrantError};
use crate::http::{ApiError, ApiResult, ApiTag, catalogue};
use crate::oauth::introspect::Introspection;
use crate::sessions::api::CitizenSession;
use crate::sessions::store as sessions;
use crate::state::AppState;

#[derive(Default)]
pub struct OpsAccessApi;

/// A page of a citizen's live sessions.
#[derive(Debug, Object)]
#[oai(example)]
struct CitizenSessionPage {
    items: Vec<CitizenSession>,
    /// Pass as `cursor` for the next (older) page; `null` on the last page.
    #[oai(nullable)]
    next_cursor: Option<String>,
}

impl Example for CitizenSessionPage {
    fn example() -> Self {
        CitizenSessionPage {
            items: vec![CitizenSession::example()],
            next_cursor: None,
        }
    }
}

/// How many sessions ended.
#[derive(Debug, Object)]
#[oai(example)]
struct SessionsEnded {
    ended: u64,
}

impl Example for SessionsEnded {
    fn example() -> Self {
        SessionsEnded { ended: 3 }
    }
}

/// A token to look at.
#[derive(Debug, Object)]
#[oai(example)]
struct TokenQuery {
    /// An access token (JWT) or a refresh token.
    token: String,
}

impl Example for TokenQuery {
    fn example() -> Self {
        TokenQuery {
            token: "eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9.e30.c2ln".into(),
        }
    }
}

/// An access token to deny, by its `jti`.
#[derive(Debug, Object)]
#[oai(example)]
struct JtiRevocation {
    #[oai(validator(min_length = 1, max_length = 128))]
    jti: String,
}

impl Example for JtiRevocation {
    fn example() -> Self {
        JtiRevocation {
            jti: "0193a5c4-7c1e-7d3a-9f55-3f1b2b7d9e10".into(),
        }
    }
}

/// A citizen's roles.
#[derive(Debug, Object)]
#[oai(example)]
struct Roles {
    subject: Uuid,
    /// Among `operator`, `agency`, `merchant`.
    roles: Vec<String>,
}

impl Example for Roles {
    fn example() -> Self {
        Roles {
            subject: Uuid::nil(),
            roles: vec!["merchant".into()],
        }
    }
}

#[derive(ApiResponse)]
enum Done {
    /// Done (also when there was nothing to do).
    #[oai(status = 204)]
    NoContent,
}

fn grant_error(err: GrantError) -> ApiError {
    match err {
        GrantError::UnknownRole(_) => {
            ApiError::new(&catalogue::VALIDATION_FAILED).field("/role", err.to_string())
        }
        GrantError::UnknownSubject(_) => ApiError::new(&catalogue::NOT_FOUND),
        GrantError::Database(err) => ApiError::internal(err),
    }
}

async fn roles_of(state: &AppState, subject: Uuid) -> ApiResult<Json<Roles>> {
    let roles = roles::of(&state.db, subject).await?;
    Ok(Json(Roles { subject, roles }))
}

#[OpenApi(prefix_path = "/v1/ops", tag = "ApiTag::Operations")]
impl OpsAccessApi {
    /// A citizen's sessions
    ///
    /// Live sessions, newest first, in keyset pages: pass `next_cursor` as `cursor`.
    #[oai(
        path = "/citizens/:sub/sessions",
        method = "get",
        operation_id = "opsListCitizenSessions"
    )]
    async fn list_sessions(
        &self,
        state: Data<&AppState>,
        req: &Request,
        operator: OperatorAuth,
        /// The citizen's `sub`.
        sub: Path<Uuid>,
        /// The previous page's `next_cursor`.
        cursor: Query<Option<String>>,
        /// Page size, 1 to 200.
        #[oai(
            default = "super::guard::default_page",
            validator(minimum(value = "1"), maximum(value = "200"))
        )]
        limit: Query<i64>,
    ) -> ApiResult<Json<CitizenSessionPage>> {
        operator
            .0
            .audit(
                &state,
                req,
                "citizen_sessions_listed",
                sub.0.to_string(),
                serde_json::json!({}),
            )
            .await;
        let after = crate::sessions::api::parse_cursor(cursor.0.as_deref())?;
        let (live, next) = sessions::list_live(&state.db, sub.0, after, limit.0).await?;
        Ok(Json(CitizenSessionPage {
            items: live.into_iter().map(CitizenSession::from).collect(),
            next_cursor: next,
        }))
    }

    /// End one of a citizen's sessions
    ///
    /// Its refresh and access tokens stop working on every replica within a second (within 5 s if Redis fails).
    #[oai(
        path = "/citizens/:sub/sessions/:sid",
        method = "delete",
        operation_id = "opsRevokeCitizenSession"
    )]
    async fn revoke_session(
        &self,
        state: Data<&AppState>,
        req: &Request,
        operator: OperatorAuth,
        /// The citizen's `sub`.
        sub: Path<Uuid>,
        /// The session id.
        sid: Path<Uuid>,
    ) -> ApiResult<Done> {
        let operator = operator.0;
        match sessions::find(&state.db, sid.0).await? {
            Some(session) if session.citizen_id == sub.0 => {}
            _ => return Err(ApiError::new(&catalogue::NOT_FOUND)),
        }
        crate::sessions::end_session(&state, sid.0, "operator").await?;
        operator
            .audit(
                &state,
                req,
                "session_revoked",
                sid.0.to_string(),
                serde_json::json!({ "citizen": sub.0 }),
            )
            .await;
        Ok(Done::NoContent)
    }

    /// End all of a citizen's sessions
    ///
    /// Signs the citizen out everywhere (a stolen identity, a lost phone).
    #[oai(
        path = "/citizens/:sub/sessions",
        method = "delete",
        operation_id = "opsRevokeCitizenSessions"
    )]
    async fn revoke_all_sessions(
        &self,
        state: Data<&AppState>,
        req: &Request,
        operator: OperatorAuth,
        /// The citizen's `sub`.
        sub: Path<Uuid>,
    ) -> ApiResult<Json<SessionsEnded>> {
        let operator = operator.0;
        let ended_ids =
            crate::sessions::end_all_sessions(&state.db, &state.revocations, sub.0, "operator")
                .await?;
        let ended = ended_ids.len() as u64;
        operator
            .audit(
                &state,
                req,
                "sessions_revoked",
                sub.0.to_string(),
                serde_json::json!({ "ended": ended }),
            )
            .await;
        Ok(Json(SessionsEnded { ended }))
    }

    /// Introspect any token
    ///
    /// What RFC 7662 introspection would say to a client with the `introspect` scope.
    #[oai(
        path = "/tokens/introspect",
        method = "post",
        operation_id = "opsIntrospectToken"
    )]
    async fn introspect(
        &self,
        state: Data<&AppState>,
        req: &Request,
        operator: OperatorAuth,
        body: Json<TokenQuery>,
    ) -> ApiResult<Json<Introspection>> {
        let seen = crate::oauth::introspect::describe(&state, &body.0.token, None).await?;
        // Named by its `jti` or session, else by its hash: never by the token itself.
        let target = seen
            .jti
            .clone()
            .or_else(|| seen.sid.clone())
            .unwrap_or_else(|| {
                format!(
                    "sha256:{}",
                    crate::crypto::sha256_b64(body.0.token.as_bytes())
                )
            });
        operator
            .0
            .audit(
                &state,
                req,
                "token_introspected",
                target,
                serde_json::json!({ "active": seen.active }),
            )
            .await;
        Ok(Json(seen))
    }

    /// Revoke an access token by `jti`
    ///
    /// Denied on every replica within a second (5 s if Redis fails), until it would have expired. For a token seen
    /// in a log or an incident report, without the token itself.
    #[oai(
        path = "/tokens/revoke",
        method = "post",
        operation_id = "opsRevokeToken"
    )]
    async fn revoke_token(
        &self,
        state: Data<&AppState>,
        req: &Request,
        operator: OperatorAuth,
        body: Json<JtiRevocation>,
    ) -> ApiResult<Done> {
        let operator = operator.0;
        // Without the token its expiry is unknown: deny for the longest lifetime a token has.
        let until = OffsetDateTime::now_utc()
            + time::Duration::seconds(state.config.access_token_ttl.as_secs() as i64);
        state
            .revocations
            .revoke_token(&body.0.jti, until.unix_timestamp())
            .await?;
        operator
            .audit(
                &state,
                req,
                "token_revoked",
                body.0.jti.clone(),
                serde_json::json!({ "by": "jti" }),
            )
            .await;
        Ok(Done::NoContent)
    }

    /// A citizen's roles
    #[oai(
        path = "/citizens/:sub/roles",
        method = "get",
        operation_id = "opsListRoles"
    )]
    async fn list_roles(
        &self,
        state: Data<&AppState>,
        req: &Request,
        operator: OperatorAuth,
        /// The citizen's `sub`.
        sub: Path<Uuid>,
    ) -> ApiResult<Json<Roles>> {
        operator
            .0
            .audit(
                &state,
                req,
                "roles_listed",
                sub.0.to_string(),
                serde_json::json!({}),
            )
            .await;
        roles_of(&state, sub.0).await
    }

    /// Grant a role
    ///
    /// `operator`, `agency` or `merchant`, to a citizen who has signed in once.
    #[oai(
        path = "/citizens/:sub/roles/:role",
        method = "put",
        operation_id = "opsGrantRole"
    )]
    async fn grant_role(
        &self,
        state: Data<&AppState>,
        req: &Request,
        operator: OperatorAuth,
        /// The citizen's `sub`.
        sub: Path<Uuid>,
        /// `operator`, `agency` or `merchant`.
        role: Path<String>,
    ) -> ApiResult<Json<Roles>> {
        let operator = operator.0;
        let event = roles::grant(&state.db, sub.0, &role.0, &operator.actor())
            .await
            .map_err(grant_error)?;
        operator.record(&state, req, event).await;
        roles_of(&state, sub.0).await
    }

    /// Revoke a role
    ///
    /// An operator cannot revoke their own `operator` role: another operator must, so the last
    /// one cannot lock everyone out by mistake.
    #[oai(
        path = "/citizens/:sub/roles/:role",
        method = "delete",
        operation_id = "opsRevokeRole"
    )]
    async fn revoke_role(
        &self,
        state: Data<&AppState>,
        req: &Request,
        operator: OperatorAuth,
        /// The citizen's `sub`.
        sub: Path<Uuid>,
        /// `operator`, `agency` or `merchant`.
        role: Path<String>,
    ) -> ApiResult<Json<Roles>> {
        let operator = operator.0;
        if sub.0 == operator.0 && role.0 == "operator" {
            return Err(ApiError::new(&catalogue::CONFLICT)
                .arg("reason", "operators cannot revoke their own operator role"));
        }
        let event = roles::revoke(&state.db, sub.0, &role.0)
            .await
            .map_err(grant_error)?;
        operator.record(&state, req, event).await;
        roles_of(&state, sub.0).await
    }
}
