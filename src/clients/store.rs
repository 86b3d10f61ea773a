//! SQL of the clients table.

use sqlx::{PgPool, Row};

use super::{Client, ClientKind, NewClient};
use crate::crypto;

/// A registered client with its secret, which is shown this once and stored only hashed.
pub struct Created {
    pub client: Client,
    pub secret: Option<String>,
}

/// Registers a client. Confidential clients without a `jwks_uri` get a generated 256-bit secret.
pub async fn create(db: &PgPool, new: NewClient) -> sqlx::Result<Created> {
    let id = format!("mc_{}", crypto::random_alphanumeric(24));
    let secret = (new.kind == ClientKind::Confidential && new.jwks_uri.is_none())
        .then(|| crypto::random_token(32));
    let secret_hash = secret
        .as_ref()
        .map(|s| crypto::sha256(s.as_bytes()).to_vec());
    sqlx::query(
        "INSERT INTO clients (id, name, kind, redirect_uris, scopes, rate_limit_per_min, jwks_uri, secret_sha256)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(&new.name)
    .bind(new.kind.as_str())
    .bind(&new.redirect_uris)
    .bind(&new.scopes)
    .bind(new.rate_limit_per_min)
    .bind(&new.jwks_uri)
    .bind(&secret_hash)
    .execute(db)
    .await?;
    Ok(Created {
        client: Client {
            client_id: id,
            name: new.name,
            kind: new.kind,
            redirect_uris: new.redirect_uris,
            scopes: new.scopes,
            rate_limit_per_min: new.rate_limit_per_min,
            jwks_uri: new.jwks_uri,
            secret_sha256: secret_hash,
            status: "active".into(),
        },
        secret,
    })
}

pub async fn find(db: &PgPool, client_id: &str) -> sqlx::Result<Option<Client>> {
    let row = sqlx::query(
        "SELECT id, name, kind, redirect_uris, scopes, rate_limit_per_min, jwks_uri, secret_sha256, status
         FROM clients WHERE id = $1",
    )
    .bind(client_id)
    .fetch_optional(db)
    .await?;
    row.map(|row| {
        let kind: String = row.try_get("kind")?;
        Ok(Client {
            client_id: row.try_get("id")?,
            name: row.try_get("name")?,
            kind: ClientKind::parse(&kind).unwrap_or(ClientKind::Public),
            redirect_uris: row.try_get("redirect_uris")?,
            scopes: row.try_get("scopes")?,
            rate_limit_per_min: row.try_get("rate_limit_per_min")?,
            jwks_uri: row.try_get("jwks_uri")?,
            secret_sha256: row.try_get("secret_sha256")?,
            status: row.try_get("status")?,
        })
    })
    .transpose()
}

/// Clients in id order, after `after` (keyset pagination).
pub async fn list(db: &PgPool, after: Option<&str>, limit: i64) -> sqlx::Result<Vec<Client>> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM clients WHERE ($1::text IS NULL OR id > $1) ORDER BY id LIMIT $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await?;
    let mut clients = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(client) = find(db, &id).await? {
            clients.push(client);
        }
    }
    Ok(clients)
}

/// Suspends a client; returns the suspension time (unix seconds), or `None` for an unknown id.
pub async fn suspend(db: &PgPool, client_id: &str) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar(
        "UPDATE clients SET status = 'suspended', suspended_at = now() WHERE id = $1
         RETURNING floor(extract(epoch FROM suspended_at))::bigint",
    )
    .bind(client_id)
    .fetch_optional(db)
    .await
}

/// Resumes a client; its tokens from before the suspension stay dead.
pub async fn resume(db: &PgPool, client_id: &str) -> sqlx::Result<bool> {
    let done = sqlx::query("UPDATE clients SET status = 'active' WHERE id = $1")
        .bind(client_id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// The client's own rate limit (`None`: the default applies, or no such client).
pub async fn rate_limit(db: &PgPool, client_id: &str) -> sqlx::Result<Option<u64>> {
    let limit: Option<Option<i32>> =
        sqlx::query_scalar("SELECT rate_limit_per_min FROM clients WHERE id = $1")
            .bind(client_id)
            .fetch_optional(db)
            .await?;
    Ok(limit.flatten().and_then(|n| u64::try_from(n).ok()))
}
