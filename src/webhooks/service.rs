//! The operations on webhook endpoints, shared by the operator API and the command line: each
//! says how the audit log records it; the caller adds who did it.

use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use super::model::{self, Delivery, Endpoint, InvalidWebhook, MAX_ENDPOINTS_PER_CLIENT};
use super::{signature, store, target};
use crate::audit::{Done, Event};
use crate::config::WebhookSettings;
use crate::crypto::{MasterKey, Purpose, random_alphanumeric};

/// How long a rotated-out secret keeps signing, so receivers can switch without losing events.
pub const PREVIOUS_SECRET_VALIDITY: time::Duration = time::Duration::hours(24);

/// Why an operation on an endpoint did not happen.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("no client has the id `{0}`")]
    ClientNotFound(String),
    #[error("no such webhook endpoint or delivery")]
    NotFound,
    #[error(transparent)]
    Invalid(#[from] InvalidWebhook),
    #[error("an attempt to deliver it is in flight")]
    InFlight,
    #[error("sealing the secret failed")]
    Crypto,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// An endpoint with its secret, shown this once.
pub struct WithSecret {
    pub endpoint: Endpoint,
    pub secret: String,
}

fn seal(master: &MasterKey, id: &str, secret: &str) -> Result<Vec<u8>, WebhookError> {
    master
        .seal(Purpose::WebhookSecrets, id.as_bytes(), secret.as_bytes())
        .map_err(|_| WebhookError::Crypto)
}

async fn existing_client(db: &PgPool, client_id: &str) -> Result<(), WebhookError> {
    match store::client_exists(db, client_id).await? {
        true => Ok(()),
        false => Err(WebhookError::ClientNotFound(client_id.to_string())),
    }
}

/// Registers an endpoint for a client: the URL must pass the target guard now (and will again
/// at every attempt). Returns it with its new secret.
pub async fn create(
    db: &PgPool,
    master: &MasterKey,
    settings: &WebhookSettings,
    client_id: &str,
    url: &str,
    events: &[String],
) -> Result<Done<WithSecret>, WebhookError> {
    existing_client(db, client_id).await?;
    let events = model::events(events)?;
    let url = target::check(url, settings.allow_private)
        .await
        .map_err(InvalidWebhook::from)?;
    if store::count_endpoints(db, client_id).await? >= MAX_ENDPOINTS_PER_CLIENT {
        return Err(InvalidWebhook::TooMany.into());
    }
    let id = format!("wh_{}", random_alphanumeric(24));
    let secret = signature::new_secret();
    let sealed = seal(master, &id, &secret)?;
    let endpoint =
        store::insert_endpoint(db, &id, client_id, url.as_str(), &events, &sealed).await?;
    let event = Event::success(
        "webhook_created",
        client_id,
        serde_json::json!({ "webhook": id, "url": endpoint.url, "events": endpoint.events }),
    );
    Ok(Done {
        value: WithSecret { endpoint, secret },
        event,
    })
}

pub async fn list(db: &PgPool, client_id: &str) -> Result<Vec<Endpoint>, WebhookError> {
    existing_client(db, client_id).await?;
    Ok(store::list_endpoints(db, client_id).await?)
}

pub async fn find(db: &PgPool, client_id: &str, id: &str) -> Result<Endpoint, WebhookError> {
    existing_client(db, client_id).await?;
    store::find_endpoint(db, client_id, id)
        .await?
        .ok_or(WebhookError::NotFound)
}

/// Deletes an endpoint; its pending deliveries are dropped.
pub async fn delete(db: &PgPool, client_id: &str, id: &str) -> Result<Done<()>, WebhookError> {
    existing_client(db, client_id).await?;
    if !store::delete_endpoint(db, client_id, id).await? {
        return Err(WebhookError::NotFound);
    }
    Ok(Done {
        value: (),
        event: Event::success(
            "webhook_deleted",
            client_id,
            serde_json::json!({ "webhook": id }),
        ),
    })
}

/// Gives an endpoint a new secret, shown this once; the old one keeps signing beside it for
/// [`PREVIOUS_SECRET_VALIDITY`].
pub async fn rotate_secret(
    db: &PgPool,
    master: &MasterKey,
    client_id: &str,
    id: &str,
    now: OffsetDateTime,
) -> Result<Done<WithSecret>, WebhookError> {
    existing_client(db, client_id).await?;
    let secret = signature::new_secret();
    let sealed = seal(master, id, &secret)?;
    let endpoint = store::rotate_secret(db, client_id, id, &sealed, now + PREVIOUS_SECRET_VALIDITY)
        .await?
        .ok_or(WebhookError::NotFound)?;
    Ok(Done {
        value: WithSecret { endpoint, secret },
        event: Event::success(
            "webhook_secret_rotated",
            client_id,
            serde_json::json!({ "webhook": id }),
        ),
    })
}

/// An endpoint's deliveries, newest first.
pub async fn deliveries(
    db: &PgPool,
    client_id: &str,
    id: &str,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Delivery>, WebhookError> {
    let endpoint = find(db, client_id, id).await?;
    Ok(store::deliveries(db, &endpoint.id, before, limit).await?)
}

/// Sends a delivery again, now, with the same `webhook-id` and a fresh retry window (after a
/// give-up, or when the receiver lost what it acknowledged).
pub async fn redeliver(
    db: &PgPool,
    client_id: &str,
    id: &str,
    delivery: Uuid,
    now: OffsetDateTime,
) -> Result<Done<Delivery>, WebhookError> {
    let endpoint = find(db, client_id, id).await?;
    match store::redeliver(db, &endpoint.id, delivery, now).await? {
        None => return Err(WebhookError::NotFound),
        Some(false) => return Err(WebhookError::InFlight),
        Some(true) => {}
    }
    let value = store::find_delivery(db, &endpoint.id, delivery)
        .await?
        .ok_or(WebhookError::NotFound)?;
    let event = Event::success(
        "webhook_redelivery_requested",
        client_id,
        serde_json::json!({ "webhook": id, "delivery": delivery, "event_id": value.event_id }),
    );
    Ok(Done { value, event })
}
