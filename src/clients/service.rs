//! The operations on registered clients, shared by the operator API and the command line: each
//! changes the store, carries the change to every replica (a client's tokens die with its
//! registration), and says how the audit log records it; the caller adds who did it.

use sqlx::PgPool;
use uuid::Uuid;

use super::store::{self, SecretChange};
use super::{Client, ClientKind, InvalidClient, NewClient, ValidClient};
use crate::audit::Event;
use crate::tokens::Revocations;

/// Why an operation on a client did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no client has the id `{0}`")]
    NotFound(String),
    #[error(transparent)]
    Invalid(#[from] InvalidClient),
    #[error("this client authenticates without a secret")]
    NoSecret,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

pub use crate::audit::Done;

fn event(action: &'static str, client_id: &str, details: serde_json::Value) -> Event {
    Event::success(action, client_id, details)
}

/// Changes to a registration; `None` leaves a field as it is, `Some(None)` clears an optional
/// one.
#[derive(Debug, Default)]
pub struct ClientChanges {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    pub agencies: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    pub rate_limit_per_min: Option<Option<i32>>,
    pub jwks_uri: Option<Option<String>>,
    pub merchant_id: Option<Option<String>>,
}

impl ClientChanges {
    fn apply(self, new: &mut NewClient) {
        fn set<T>(field: &mut T, change: Option<T>) {
            if let Some(value) = change {
                *field = value;
            }
        }
        set(&mut new.name, self.name);
        set(&mut new.redirect_uris, self.redirect_uris);
        set(&mut new.scopes, self.scopes);
        set(&mut new.agencies, self.agencies);
        set(&mut new.grant_types, self.grant_types);
        set(&mut new.rate_limit_per_min, self.rate_limit_per_min);
        set(&mut new.jwks_uri, self.jwks_uri);
        set(&mut new.merchant_id, self.merchant_id);
    }
}

/// A client by id; deleted clients are not found.
pub async fn find(db: &PgPool, client_id: &str) -> Result<Client, ClientError> {
    store::find(db, client_id)
        .await?
        .ok_or_else(|| ClientError::NotFound(client_id.to_string()))
}

/// Registers a client; a confidential one without a `jwks_uri` gets a secret, shown this once.
pub async fn create(db: &PgPool, new: ValidClient) -> Result<Done<store::Created>, ClientError> {
    let created = store::create(db, new).await?;
    let event = event(
        "client_created",
        &created.client.client_id,
        serde_json::json!({ "scopes": created.client.scopes }),
    );
    Ok(Done {
        value: created,
        event,
    })
}

/// Applies `changes` to a registration, under the row's lock so a concurrent update is not
/// undone. What tokens carry or were obtained with (scopes, grants, bindings, `jwks_uri`)
/// changing kills the tokens issued before, on every replica; a new name, redirect URI or rate
/// limit leaves them be. Moving to `private_key_jwt` drops the secret; leaving it issues a new
/// one, returned this once.
pub async fn update(
    db: &PgPool,
    revocations: &Revocations,
    client_id: &str,
    changes: ClientChanges,
) -> Result<Done<Option<String>>, ClientError> {
    let not_found = || ClientError::NotFound(client_id.to_string());
    let mut tx = db.begin().await?;
    let client = store::find_for_update(&mut tx, client_id)
        .await?
        .ok_or_else(not_found)?;
    let mut new = client.to_new();
    changes.apply(&mut new);
    let new = new.validate()?;
    let narrowed = client.scopes != new.scopes
        || client.grant_types != new.grant_types
        || client.agencies != new.agencies
        || client.merchant_id != new.merchant_id
        || client.jwks_uri != new.jwks_uri;
    let secret = match (client.kind, &client.jwks_uri, &new.jwks_uri) {
        (ClientKind::Confidential, None, Some(_)) => SecretChange::Drop,
        (ClientKind::Confidential, Some(_), None) => SecretChange::New,
        _ => SecretChange::Keep,
    };
    let (at, client_secret) = store::update(&mut tx, client_id, &new, narrowed, secret)
        .await?
        .ok_or_else(not_found)?;
    tx.commit().await?;
    if let (true, Some(at)) = (narrowed, at) {
        revocations.suspend_client(client_id, at).await;
    }
    let event = event(
        "client_updated",
        client_id,
        serde_json::json!({
            "scopes": new.scopes,
            "grant_types": new.grant_types,
            "rate_limit_per_min": new.rate_limit_per_min,
            "agencies": new.agencies,
            "merchant_id": new.merchant_id,
            "secret": match secret {
                SecretChange::Keep => "kept",
                SecretChange::Drop => "removed",
                SecretChange::New => "issued",
            },
        }),
    );
    Ok(Done {
        value: client_secret,
        event,
    })
}

/// Suspends a client: it gets no new tokens, and those it holds die on every replica.
pub async fn suspend(
    db: &PgPool,
    revocations: &Revocations,
    client_id: &str,
) -> Result<Done<()>, ClientError> {
    let at = store::suspend(db, client_id)
        .await?
        .ok_or_else(|| ClientError::NotFound(client_id.to_string()))?;
    revocations.suspend_client(client_id, at).await;
    Ok(Done {
        value: (),
        event: event("client_suspended", client_id, serde_json::json!({})),
    })
}

/// Resumes a client; the tokens its suspension killed stay dead.
pub async fn resume(db: &PgPool, client_id: &str) -> Result<Done<()>, ClientError> {
    if !store::resume(db, client_id).await? {
        return Err(ClientError::NotFound(client_id.to_string()));
    }
    Ok(Done {
        value: (),
        event: event("client_resumed", client_id, serde_json::json!({})),
    })
}

/// Gives a secret-holding client a new secret; the old one and the tokens obtained with it die
/// on every replica. Returns the client (as before) and the secret, shown this once.
pub async fn rotate_secret(
    db: &PgPool,
    revocations: &Revocations,
    client_id: &str,
) -> Result<Done<(Client, String)>, ClientError> {
    let client = find(db, client_id).await?;
    let (secret, cut_off) = store::rotate_secret(db, client_id)
        .await?
        .ok_or(ClientError::NoSecret)?;
    revocations.suspend_client(client_id, cut_off).await;
    Ok(Done {
        value: (client, secret),
        event: event("client_secret_rotated", client_id, serde_json::json!({})),
    })
}

/// Deletes a client: it authenticates no more, and its tokens and sessions die on every
/// replica. Returns the sessions ended.
pub async fn delete(
    db: &PgPool,
    revocations: &Revocations,
    client_id: &str,
) -> Result<Done<Vec<Uuid>>, ClientError> {
    let (cut_off, sessions) = store::delete(db, client_id)
        .await?
        .ok_or_else(|| ClientError::NotFound(client_id.to_string()))?;
    revocations.suspend_client(client_id, cut_off).await;
    for session in &sessions {
        revocations.revoke_session(&session.to_string()).await;
    }
    let event = event(
        "client_deleted",
        client_id,
        serde_json::json!({ "sessions_ended": sessions.len() }),
    );
    Ok(Done {
        value: sessions,
        event,
    })
}
