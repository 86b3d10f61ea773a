//! Endpoints, deliveries and attempts, as the operator API and the command line show them.

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::target::TargetError;

/// The event types a client can subscribe to.
pub const EVENT_TYPES: &[&str] = &[
    "dossier.submitted",
    "dossier.supplemented",
    "dossier.withdrawn",
    "dossier.status_changed",
];

/// At most this many endpoints per client: each event is sent once per endpoint.
pub const MAX_ENDPOINTS_PER_CLIENT: i64 = 10;

/// A registered endpoint (never its secret).
#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    pub id: String,
    pub client_id: String,
    pub url: String,
    pub events: Vec<String>,
    /// `active`, or `failing` once a delivery gave up; the next success clears it.
    pub status: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub failing_since: Option<OffsetDateTime>,
    /// After a rotation, the old secret signs too until then.
    #[serde(with = "time::serde::rfc3339::option")]
    pub previous_secret_until: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// One event for one endpoint, with its attempts.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub id: Uuid,
    /// The `webhook-id` header, the same on every attempt.
    pub event_id: String,
    pub event_type: String,
    /// `pending`, `delivered` or `failed` (gave up after the retry window).
    pub status: String,
    pub attempts: i32,
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub delivered_at: Option<OffsetDateTime>,
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub attempt_log: Vec<Attempt>,
}

/// One try to deliver.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub attempt: i32,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The receiver's HTTP status, when it answered.
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i32,
}

/// Why an endpoint cannot be registered; each names the field at fault.
#[derive(Debug, thiserror::Error)]
pub enum InvalidWebhook {
    #[error("{0}")]
    Url(#[from] TargetError),
    #[error("unknown event type `{0}`; known: {known}", known = EVENT_TYPES.join(", "))]
    Event(String),
    #[error("subscribe to at least one event type")]
    NoEvents,
    #[error("a client has at most {MAX_ENDPOINTS_PER_CLIENT} webhook endpoints")]
    TooMany,
}

impl InvalidWebhook {
    /// The request field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            InvalidWebhook::Url(_) | InvalidWebhook::TooMany => "url",
            InvalidWebhook::Event(_) | InvalidWebhook::NoEvents => "events",
        }
    }
}

/// The subscribed event types, checked, deduplicated, in a stable order.
pub fn events(requested: &[String]) -> Result<Vec<String>, InvalidWebhook> {
    let mut events = Vec::new();
    for event in requested {
        let event = event.trim();
        if !EVENT_TYPES.contains(&event) {
            return Err(InvalidWebhook::Event(event.chars().take(64).collect()));
        }
        if !events.iter().any(|e| e == event) {
            events.push(event.to_string());
        }
    }
    if events.is_empty() {
        return Err(InvalidWebhook::NoEvents);
    }
    events.sort_by_key(|e| EVENT_TYPES.iter().position(|t| t == e));
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_checked_and_deduplicated() {
        let got = events(&[
            "dossier.withdrawn".into(),
            "dossier.submitted".into(),
            "dossier.withdrawn".into(),
        ])
        .unwrap();
        assert_eq!(got, ["dossier.submitted", "dossier.withdrawn"]);
        assert!(matches!(events(&[]), Err(InvalidWebhook::NoEvents)));
        assert!(matches!(
            events(&["dossier.deleted".into()]),
            Err(InvalidWebhook::Event(_))
        ));
    }
}
