//! Who may use the operator API, and how each operator action is recorded.
//!
//! It sits in the request state rather than in `ops` because more than one capability serves
//! operator endpoints (`ops` itself, and `dossiers` for the holiday table), and capabilities do
//! not import each other.

use poem::Request;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;
use sqlx::PgPool;
use uuid::Uuid;

use super::AppState;
use crate::audit::{Event, Outcome, RequestFacts};
use crate::http::{ApiError, ApiResult, catalogue};
use crate::tokens::BearerAuth;

/// An operator, checked: signed in through a client granted `ops`, holding the role, at
/// identity level 2, recently (`MOTCUA_OPS_MAX_AGE_SECS`).
#[derive(Debug, Clone, Copy)]
pub struct Operator(pub Uuid);

// Every `/v1/ops` handler takes this scheme, so an operator endpoint cannot be written without
// the check.
/// An access token of the operators' console (scope `ops`) for a citizen with the `operator`
/// role, at identity level 2, signed in within `MOTCUA_OPS_MAX_AGE_SECS`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_operator")]
pub struct OperatorAuth(pub Operator);

async fn check_operator(req: &Request, bearer: Bearer) -> poem::Result<Operator> {
    let claims = crate::tokens::bearer::verify(req, &bearer.token).await?;
    let state = req
        .data::<AppState>()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("application state missing")))?;
    Ok(Operator::check(state, &BearerAuth(claims)).await?)
}

/// Whether `citizen` holds `role` (granted through `ops::roles`).
pub async fn has_role(db: &PgPool, citizen: Uuid, role: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM roles WHERE citizen_id = $1 AND role = $2) AS "held!""#,
        citizen,
        role,
    )
    .fetch_one(db)
    .await
}

impl Operator {
    /// A citizen without the role gets 403; an operator signed in at level 1 the step-up
    /// challenge (RFC 9470).
    pub async fn check(state: &AppState, auth: &BearerAuth) -> ApiResult<Self> {
        let forbidden = || ApiError::new(&catalogue::FORBIDDEN);
        let citizen = Uuid::parse_str(&auth.0.sub).map_err(|_| forbidden())?;
        // Only a token of the operators' console (granted `ops`) counts: an operator's sign-in
        // to any other app must not carry operator powers.
        if auth.0.sid.is_none() || !auth.0.has_scope("ops") {
            return Err(forbidden());
        }
        if !has_role(&state.db, citizen, "operator").await? {
            return Err(forbidden());
        }
        auth.require_level2()?;
        // A console session refreshed for weeks must not keep operator powers.
        auth.require_recent(
            state.config.ops_max_age,
            time::OffsetDateTime::now_utc().unix_timestamp(),
        )?;
        Ok(Operator(citizen))
    }

    /// Records an operator action in the audit log.
    pub async fn audit(
        self,
        state: &AppState,
        req: &Request,
        action: &'static str,
        target: impl Into<String>,
        details: serde_json::Value,
    ) {
        let event = Event::new(action, Outcome::Success)
            .target(target)
            .details(details);
        self.record(state, req, event).await;
    }

    /// Records what a shared operation did (the same entry the command line writes), as this
    /// operator's action.
    pub async fn record(self, state: &AppState, req: &Request, event: Event) {
        let event = event.actor(self.actor()).facts(&RequestFacts::of(req));
        state.audit.record(event).await;
    }

    /// How the audit log and the roles table name this operator.
    pub fn actor(self) -> String {
        format!("operator:{}", self.0)
    }
}
