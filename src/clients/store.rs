//! SQL of the clients table.

use sqlx::{PgConnection, PgExecutor, PgPool, Row};

use super::{Client, ClientKind, ClientStatus, ValidClient};
use crate::crypto;

/// A registered client with its secret, which is shown this once and stored only hashed.
pub struct Created {
    pub client: Client,
    pub secret: Option<String>,
}

/// Registers a client. Confidential clients without a `jwks_uri` get a generated 256-bit secret.
pub async fn create(db: &PgPool, new: ValidClient) -> sqlx::Result<Created> {
    let id = format!("mc_{}", crypto::random_alphanumeric(24));
    let secret = (new.kind == ClientKind::Confidential && new.jwks_uri.is_none())
        .then(|| crypto::random_token(32));
    let secret_hash = secret
        .as_ref()
        .map(|s| crypto::sha256(s.as_bytes()).to_vec());
    sqlx::query!(
        "INSERT INTO clients (id, name, kind, redirect_uris, scopes, rate_limit_per_min, jwks_uri,
                              secret_sha256, agencies, merchant_id, grant_types)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        id,
        new.name,
        new.kind.as_str(),
        &new.redirect_uris,
        &new.scopes,
        new.rate_limit_per_min,
        new.jwks_uri,
        secret_hash,
        &new.agencies,
        new.merchant_id,
        &new.grant_types,
    )
    .execute(db)
    .await?;
    let new = new.into_inner();
    Ok(Created {
        client: Client {
            client_id: id,
            name: new.name,
            kind: new.kind,
            redirect_uris: new.redirect_uris,
            scopes: new.scopes,
            rate_limit_per_min: new.rate_limit_per_min,
            jwks_uri: new.jwks_uri,
            agencies: new.agencies,
            merchant_id: new.merchant_id,
            grant_types: new.grant_types,
            secret_sha256: secret_hash,
            status: ClientStatus::Active,
            cut_off_ms: None,
        },
        secret,
    })
}

/// A client by id; deleted clients are not found.
pub async fn find<'e>(db: impl PgExecutor<'e>, client_id: &str) -> sqlx::Result<Option<Client>> {
    select(db, client_id, "").await
}

/// Like [`find`], locking the row until the transaction ends: a read-modify-write of a
/// registration must not undo a concurrent one.
pub async fn find_for_update(
    conn: &mut PgConnection,
    client_id: &str,
) -> sqlx::Result<Option<Client>> {
    select(conn, client_id, "FOR UPDATE").await
}

async fn select<'e>(
    db: impl PgExecutor<'e>,
    client_id: &str,
    lock: &'static str,
) -> sqlx::Result<Option<Client>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT id, name, kind, redirect_uris, scopes, rate_limit_per_min, jwks_uri, secret_sha256,
                status, agencies, merchant_id, grant_types,
                floor(extract(epoch FROM suspended_at) * 1000)::bigint AS cut_off_ms
         FROM clients WHERE id = $1 AND status <> 'deleted' {lock}"
    )))
    .bind(client_id)
    .fetch_optional(db)
    .await?;
    row.map(|row| {
        let kind: String = row.try_get("kind")?;
        let status: String = row.try_get("status")?;
        let status = ClientStatus::parse(&status).ok_or_else(|| sqlx::Error::ColumnDecode {
            index: "status".into(),
            source: format!("unknown client status `{status}`").into(),
        })?;
        Ok(Client {
            client_id: row.try_get("id")?,
            name: row.try_get("name")?,
            kind: ClientKind::parse(&kind).unwrap_or(ClientKind::Public),
            redirect_uris: row.try_get("redirect_uris")?,
            scopes: row.try_get("scopes")?,
            rate_limit_per_min: row.try_get("rate_limit_per_min")?,
            jwks_uri: row.try_get("jwks_uri")?,
            agencies: row.try_get("agencies")?,
            merchant_id: row.try_get("merchant_id")?,
            grant_types: row.try_get("grant_types")?,
            secret_sha256: row.try_get("secret_sha256")?,
            status,
            cut_off_ms: row.try_get("cut_off_ms")?,
        })
    })
    .transpose()
}

/// Clients in id order, after `after` (keyset pagination).
pub async fn list(db: &PgPool, after: Option<&str>, limit: i64) -> sqlx::Result<Vec<Client>> {
    let ids = sqlx::query_scalar!(
        "SELECT id FROM clients WHERE status <> 'deleted' AND ($1::text IS NULL OR id > $1)
         ORDER BY id LIMIT $2",
        after,
        limit,
    )
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

// Every cut-off (the instant up to which the client's tokens are dead: `suspended_at`) follows
// one rule: the database's clock plus a margin, and never earlier than the one before. The
// margin catches a token being minted while the change commits, or by a replica whose clock
// runs ahead of the database's; the token endpoint holds a client's new tokens back until its
// cut-off has passed, so tokens obtained after the change are never caught by it.
const CUT_OFF: &str = "GREATEST(now() + interval '2 seconds', suspended_at)";

/// Suspends a client; returns the cut-off for its tokens (unix milliseconds), or `None` for an
/// unknown id.
pub async fn suspend(db: &PgPool, client_id: &str) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "UPDATE clients SET status = 'suspended', suspended_at = {CUT_OFF}
         WHERE id = $1 AND status <> 'deleted'
         RETURNING floor(extract(epoch FROM suspended_at) * 1000)::bigint"
    )))
    .bind(client_id)
    .fetch_optional(db)
    .await
}

/// Resumes a client; its tokens from before the suspension stay dead.
pub async fn resume(db: &PgPool, client_id: &str) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "UPDATE clients SET status = 'active' WHERE id = $1 AND status <> 'deleted'",
        client_id,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// The client's own rate limit (`None`: the default applies, or no such client).
pub async fn rate_limit(db: &PgPool, client_id: &str) -> sqlx::Result<Option<u64>> {
    let limit = sqlx::query_scalar!(
        "SELECT rate_limit_per_min FROM clients WHERE id = $1",
        client_id,
    )
    .fetch_optional(db)
    .await?;
    Ok(limit.flatten().and_then(|n| u64::try_from(n).ok()))
}

/// Replaces a client's registration with `new` (validated, same kind). With `cut_off`, every
/// token issued until then stops working, so narrowed scopes or bindings apply at once. A
/// client that moves to `private_key_jwt` loses its secret; one that leaves it gets a new
/// secret, returned this once. Returns the client's cut-off (unix milliseconds, `None` when it
/// never had one) and the new secret, or `None` for an unknown client.
pub async fn update(
    conn: &mut PgConnection,
    client_id: &str,
    new: &ValidClient,
    cut_off: bool,
    secret: SecretChange,
) -> sqlx::Result<Option<(Option<i64>, Option<String>)>> {
    let fresh = (secret == SecretChange::New).then(|| crypto::random_token(32));
    let at: Option<Option<i64>> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "UPDATE clients SET name = $2, redirect_uris = $3, scopes = $4, rate_limit_per_min = $5,
                jwks_uri = $6, agencies = $7, merchant_id = $8, grant_types = $9,
                secret_sha256 = CASE WHEN $11 THEN secret_sha256 ELSE $10 END,
                suspended_at = CASE WHEN $12 THEN {CUT_OFF} ELSE suspended_at END
         WHERE id = $1 AND status <> 'deleted'
         RETURNING floor(extract(epoch FROM suspended_at) * 1000)::bigint"
    )))
    .bind(client_id)
    .bind(&new.name)
    .bind(&new.redirect_uris)
    .bind(&new.scopes)
    .bind(new.rate_limit_per_min)
    .bind(&new.jwks_uri)
    .bind(&new.agencies)
    .bind(&new.merchant_id)
    .bind(&new.grant_types)
    .bind(
        fresh
            .as_ref()
            .map(|s| crypto::sha256(s.as_bytes()).to_vec()),
    )
    .bind(secret == SecretChange::Keep)
    .bind(cut_off)
    .fetch_optional(conn)
    .await?;
    Ok(at.map(|at| (at, fresh)))
}

/// What an update does to a client's secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretChange {
    Keep,
    /// It moves to `private_key_jwt`: a secret must not authenticate it any more.
    Drop,
    /// It leaves `private_key_jwt`: without a secret it could not authenticate at all.
    New,
}

/// Gives a secret-holding client a new secret; the old one stops working at once, and so do the
/// tokens it obtained until the cut-off (a rotation usually follows a leak). Returns the
/// secret, shown this once, and the cut-off (unix milliseconds).
pub async fn rotate_secret(db: &PgPool, client_id: &str) -> sqlx::Result<Option<(String, i64)>> {
    let secret = crypto::random_token(32);
    let at: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "UPDATE clients SET secret_sha256 = $2, suspended_at = {CUT_OFF}
         WHERE id = $1 AND status <> 'deleted' AND secret_sha256 IS NOT NULL
         RETURNING floor(extract(epoch FROM suspended_at) * 1000)::bigint"
    )))
    .bind(client_id)
    .bind(crypto::sha256(secret.as_bytes()).to_vec())
    .fetch_optional(db)
    .await?;
    Ok(at.map(|at| (secret, at)))
}

/// Deletes a client: it can authenticate no more and its sessions end. The row stays (ids are
/// never reused; the audit log refers to them). Returns the cut-off for its tokens (unix
/// milliseconds) and the sessions ended.
pub async fn delete(db: &PgPool, client_id: &str) -> sqlx::Result<Option<(i64, Vec<uuid::Uuid>)>> {
    let mut tx = db.begin().await?;
    let at: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "UPDATE clients SET status = 'deleted', deleted_at = now(),
                suspended_at = {CUT_OFF}, secret_sha256 = NULL
         WHERE id = $1 AND status <> 'deleted'
         RETURNING floor(extract(epoch FROM suspended_at) * 1000)::bigint"
    )))
    .bind(client_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(at) = at else {
        return Ok(None);
    };
    let sessions = sqlx::query_scalar!(
        "UPDATE sessions SET revoked_at = now(), revoked_reason = 'client_deleted'
         WHERE client_id = $1 AND revoked_at IS NULL RETURNING id",
        client_id,
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some((at, sessions)))
}
