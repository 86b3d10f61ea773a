//! Roles citizens hold: `operator`, `agency`, `merchant`.

use sqlx::PgPool;
use uuid::Uuid;

use crate::audit::{Event, Outcome};

pub const ROLES: &[&str] = &["operator", "agency", "merchant"];

#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    #[error("unknown role `{0}` (known: operator, agency, merchant)")]
    UnknownRole(String),
    #[error("no citizen has the sub `{0}` (they must have signed in once)")]
    UnknownSubject(Uuid),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Grants `role` to `citizen` on behalf of `granted_by` (an operator, or `cli`): the one
/// implementation behind the operator API and the command line. Returns the audit entry that
/// records it, for the caller to complete with its actor.
pub async fn grant(
    db: &PgPool,
    citizen: Uuid,
    role: &str,
    granted_by: &str,
) -> Result<Event, GrantError> {
    if !ROLES.contains(&role) {
        return Err(GrantError::UnknownRole(role.to_string()));
    }
    let exists = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM citizens WHERE id = $1) AS "exists!""#,
        citizen,
    )
    .fetch_one(db)
    .await?;
    if !exists {
        return Err(GrantError::UnknownSubject(citizen));
    }
    sqlx::query!(
        "INSERT INTO roles (citizen_id, role, granted_by) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        citizen,
        role,
        granted_by,
    )
    .execute(db)
    .await?;
    Ok(role_event("role_granted", citizen, role))
}

fn role_event(action: &'static str, citizen: Uuid, role: &str) -> Event {
    Event::new(action, Outcome::Success)
        .target(citizen.to_string())
        .details(serde_json::json!({ "role": role }))
}

/// The roles a citizen holds, sorted.
pub async fn of(db: &PgPool, citizen: Uuid) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        "SELECT role FROM roles WHERE citizen_id = $1 ORDER BY role",
        citizen,
    )
    .fetch_all(db)
    .await
}

/// Takes a role away; revoking a role not held is no error. Returns the audit entry, as
/// [`grant`] does.
pub async fn revoke(db: &PgPool, citizen: Uuid, role: &str) -> Result<Event, GrantError> {
    if !ROLES.contains(&role) {
        return Err(GrantError::UnknownRole(role.to_string()));
    }
    sqlx::query!(
        "DELETE FROM roles WHERE citizen_id = $1 AND role = $2",
        citizen,
        role,
    )
    .execute(db)
    .await?;
    Ok(role_event("role_revoked", citizen, role))
}
