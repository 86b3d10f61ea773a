//! Every SQL statement of dossier tracking.
//!
//! Writes take `&mut PgConnection` so the caller decides the transaction: an HTTP handler opens
//! one, records its `Idempotency-Key` ([`begin_idempotent`]), calls the write, stores the
//! response ([`finish_idempotent`]) and commits, so the dossier, its event, its notification and
//! the stored response are all or nothing. A refused write returns an error before writing.
//! Functions whose result depends on the time take `now`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};
use time::{Date, Month as CalendarMonth, OffsetDateTime, PrimitiveDateTime, Time};
use uuid::Uuid;

use super::calendar::{self, DayKind, Holidays, VIETNAM, WorkingTime};
use super::messages as msg;
use super::model::{
    self, Actor, AgencyCode, DossierCode, Status, TransitionRefused, check_transition,
};
use crate::crypto::{MasterKey, Purpose, constant_time_eq};
use crate::http::lang::Text;

/// What a store function can refuse, and why. Each variant maps to one API answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such dossier, or not the caller's (the API answers 404 either way).
    #[error("no such dossier")]
    NotFound,
    #[error("unknown procedure {0}")]
    UnknownProcedure(String),
    #[error("unknown agency {0}")]
    UnknownAgency(String),
    /// The client is not bound to the agency it acts for.
    #[error("the client does not act for agency {0}")]
    AgencyNotAllowed(String),
    /// A field is unusable; `field` names it as the API spells it.
    #[error("{field}: {}", message.en)]
    Invalid { field: &'static str, message: Text },
    #[error(transparent)]
    Transition(#[from] TransitionRefused),
    /// The key was used before with a different request.
    #[error("the Idempotency-Key was used for a different request")]
    IdempotencyMismatch,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

fn invalid(field: &'static str, message: Text) -> StoreError {
    StoreError::Invalid { field, message }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Who acts. Agencies' clients see only the dossiers of the agencies they are bound to; citizens
/// only their own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Agency {
        client_id: String,
        agencies: Vec<String>,
    },
    Citizen(Uuid),
}

impl Caller {
    fn actor(&self) -> Actor {
        match self {
            Caller::Agency { .. } => Actor::Agency,
            Caller::Citizen(_) => Actor::Citizen,
        }
    }

    /// How the timeline names the caller.
    fn label(&self) -> String {
        match self {
            Caller::Agency { client_id, .. } => format!("agency:{client_id}"),
            Caller::Citizen(id) => format!("citizen:{id}"),
        }
    }

    fn agencies(&self) -> Option<&[String]> {
        match self {
            Caller::Agency { agencies, .. } => Some(agencies),
            Caller::Citizen(_) => None,
        }
    }

    fn citizen(&self) -> Option<Uuid> {
        match self {
            Caller::Citizen(id) => Some(*id),
            Caller::Agency { .. } => None,
        }
    }
}

/// Keyset cursors and pages are the API's (one kind for every list).
pub use crate::http::{Cursor, Page};

fn clamp_limit(limit: u32) -> i64 {
    i64::from(limit.clamp(1, 100))
}

mod catalogue;
mod dossier;
mod drafts;
mod events;
mod holidays;
mod idempotency;
mod lookup;
mod notifications;
mod online;
mod reads;
mod register;
mod stats;

pub use catalogue::*;
pub use dossier::*;
pub use drafts::*;
pub use events::*;
pub use holidays::*;
pub use idempotency::*;
pub use lookup::*;
pub use notifications::*;
pub use online::*;
pub use reads::*;
pub use register::*;
pub use stats::*;

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn months_parse_and_bound_in_vietnam_time() {
        let table = [
            ("2025-01", true),
            ("2025-12", true),
            ("2025-13", false),
            ("2025-1", false),
            ("25-01", false),
            ("1999-01", false),
            ("2025/01", false),
        ];
        for (value, ok) in table {
            assert_eq!(Month::parse(value).is_some(), ok, "{value}");
        }
        let december = Month::parse("2025-12").unwrap();
        assert_eq!(december.to_string(), "2025-12");
        assert_eq!(december.next().to_string(), "2026-01");
        assert_eq!(
            december.first_instant().unwrap(),
            datetime!(2025-11-30 17:00 UTC)
        );
        // 18:00 UTC on 31 January is already February in Vietnam.
        assert_eq!(
            Month::of(datetime!(2025-01-31 18:00 UTC)).to_string(),
            "2025-02"
        );
    }

    #[test]
    fn request_hashes_separate_their_parts() {
        assert_ne!(
            request_hash("POST", "/a", b"b"),
            request_hash("POST", "/ab", b"")
        );
        assert_eq!(
            request_hash("POST", "/a", b"{}"),
            request_hash("POST", "/a", b"{}")
        );
    }
}
