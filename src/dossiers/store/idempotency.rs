//! Idempotency keys.

use super::*;

/// Hash of what makes two requests "the same": method, path and body bytes.
pub fn request_hash(method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut data = Vec::with_capacity(method.len() + path.len() + body.len() + 2);
    data.extend_from_slice(method.as_bytes());
    data.push(0);
    data.extend_from_slice(path.as_bytes());
    data.push(0);
    data.extend_from_slice(body);
    crate::crypto::sha256(&data).to_vec()
}

/// The answer stored for an idempotency key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredResponse {
    pub status: u16,
    pub body: Value,
}

/// An `Idempotency-Key`: 1 to 255 visible ASCII characters (it is stored). Checked once, where
/// it is parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(value: &str) -> Option<IdempotencyKey> {
        ((1..=255).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic()))
            .then(|| IdempotencyKey(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a fresh write produced: the response kept for retries, and the applicants whose cached
/// dossiers it changed (a replay changed nothing, so it needs no invalidation).
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    pub response: StoredResponse,
    pub citizens: Vec<Uuid>,
}

/// What [`run_once`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Run {
    Fresh(Written),
    Replay(StoredResponse),
}

impl Run {
    pub fn response(&self) -> &StoredResponse {
        match self {
            Run::Fresh(written) => &written.response,
            Run::Replay(stored) => stored,
        }
    }
}

/// How long a key holds: a retry within it gets the first answer, a request after it is new, and
/// [`sweep_idempotency_keys`] deletes older keys. Back offices retry within minutes; a day covers
/// one closed overnight. (The SQL of [`begin_idempotent`] and the sweep says the same.)
pub const IDEMPOTENCY_KEY_LIFETIME: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Deletes keys past their lifetime, at most `batch` of them; returns how many went.
pub async fn sweep_idempotency_keys(db: &PgPool, batch: i64) -> Result<u64> {
    let done = sqlx::query!(
        "DELETE FROM idempotency_keys WHERE (caller, key) IN (
            SELECT caller, key FROM idempotency_keys
             WHERE created_at < now() - interval '24 hours' LIMIT $1)
           AND created_at < now() - interval '24 hours'",
        batch,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// What [`begin_idempotent`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum IdempotencyStart {
    /// First use: do the work in this transaction, then [`finish_idempotent`].
    Fresh,
    /// A retry: answer this, write nothing.
    Replay(StoredResponse),
}

/// Claims `(caller, key)` inside the caller's transaction; a key lasts [`IDEMPOTENCY_KEY_LIFETIME`]. A concurrent request with the same key
/// waits on the claim until this transaction ends, then sees the stored response (or claims the
/// key itself if this one rolled back), so racing retries write once.
pub async fn begin_idempotent(
    conn: &mut PgConnection,
    master: &MasterKey,
    caller: &str,
    key: &IdempotencyKey,
    request_hash: &[u8],
) -> Result<IdempotencyStart> {
    // A key older than a day is claimed afresh, as if it had never been used (a claim in
    // progress is recent, so it is never taken over).
    let claimed = sqlx::query!(
        "INSERT INTO idempotency_keys (caller, key, request_hash) VALUES ($1, $2, $3)
         ON CONFLICT (caller, key) DO UPDATE
            SET request_hash = EXCLUDED.request_hash, created_at = now(),
                response_status = NULL, response_body = NULL, response_sealed = NULL
          WHERE idempotency_keys.created_at < now() - interval '24 hours'",
        caller,
        key.as_str(),
        request_hash,
    )
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if claimed {
        return Ok(IdempotencyStart::Fresh);
    }
    let row = sqlx::query!(
        "SELECT request_hash, response_status, response_body, response_sealed FROM idempotency_keys WHERE caller = $1 AND key = $2",
        caller,
        key.as_str(),
    )
    .fetch_one(&mut *conn)
    .await?;
    if !constant_time_eq(&row.request_hash, request_hash) {
        return Err(StoreError::IdempotencyMismatch);
    }
    let body = match (row.response_sealed, row.response_body) {
        (Some(sealed), _) => Some(open_reply(master, caller, key, &sealed)?),
        (None, plain) => plain,
    };
    match (row.response_status, body) {
        (Some(status), Some(body)) => Ok(IdempotencyStart::Replay(StoredResponse {
            status: u16::try_from(status).unwrap_or(500),
            body,
        })),
        // Claimed and committed without a response: only a caller that forgot to finish.
        _ => Err(StoreError::Other(anyhow::anyhow!(
            "idempotency key {:?} has no stored response",
            key.as_str()
        ))),
    }
}

/// Stores the response of a fresh request, in the same transaction as its writes.
pub async fn finish_idempotent(
    conn: &mut PgConnection,
    master: &MasterKey,
    caller: &str,
    key: &IdempotencyKey,
    response: &StoredResponse,
) -> Result<()> {
    let sealed = master
        .seal(
            Purpose::IdempotentReplies,
            &reply_context(caller, key),
            &serde_json::to_vec(&response.body).map_err(anyhow::Error::from)?,
        )
        .map_err(|_| anyhow::anyhow!("sealing an idempotent reply failed"))?;
    sqlx::query!(
        "UPDATE idempotency_keys SET response_status = $3, response_sealed = $4 WHERE caller = $1 AND key = $2",
        caller,
        key.as_str(),
        i16::try_from(response.status).unwrap_or(500),
        sealed,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Runs `op` at most once per `(caller, key)`: in one transaction, claims the key, runs the
/// write, stores its response and commits; a retry (also a racing one) gets the stored response.
/// An error from `op` rolls everything back, the key included, so the request may be retried.
pub async fn run_once<F>(
    db: &PgPool,
    master: &MasterKey,
    caller: &str,
    key: &IdempotencyKey,
    request_hash: &[u8],
    op: F,
) -> Result<Run>
where
    F: for<'c> FnOnce(&'c mut PgConnection) -> futures::future::BoxFuture<'c, Result<Written>>,
{
    let mut tx = db.begin().await?;
    match begin_idempotent(&mut tx, master, caller, key, request_hash).await? {
        IdempotencyStart::Replay(stored) => Ok(Run::Replay(stored)),
        IdempotencyStart::Fresh => {
            let written = op(&mut tx).await?;
            finish_idempotent(&mut tx, master, caller, key, &written.response).await?;
            tx.commit().await?;
            Ok(Run::Fresh(written))
        }
    }
}

/// [`run_once`] for a write that only has a response: returns it and whether it is a replay.
pub async fn run_idempotent<F>(
    db: &PgPool,
    master: &MasterKey,
    caller: &str,
    key: &str,
    request_hash: &[u8],
    op: F,
) -> Result<(StoredResponse, bool)>
where
    F: for<'c> FnOnce(
            &'c mut PgConnection,
        ) -> futures::future::BoxFuture<'c, Result<StoredResponse>>
        + Send
        + 'static,
{
    let key = IdempotencyKey::parse(key)
        .ok_or_else(|| invalid("Idempotency-Key", msg::IDEMPOTENCY_KEY))?;
    let run = run_once(db, master, caller, &key, request_hash, |conn| {
        Box::pin(async move {
            let response = op(conn).await?;
            Ok(Written {
                response,
                citizens: Vec::new(),
            })
        })
    })
    .await?;
    Ok(match run {
        Run::Fresh(written) => (written.response, false),
        Run::Replay(stored) => (stored, true),
    })
}

/// Binds a sealed reply to its row: it cannot be replayed under another caller or key.
fn reply_context(caller: &str, key: &IdempotencyKey) -> Vec<u8> {
    [caller.as_bytes(), b"\0", key.as_str().as_bytes()].concat()
}

fn open_reply(
    master: &MasterKey,
    caller: &str,
    key: &IdempotencyKey,
    sealed: &[u8],
) -> Result<Value> {
    let plain = master
        .open(
            Purpose::IdempotentReplies,
            &reply_context(caller, key),
            sealed,
        )
        .map_err(|_| anyhow::anyhow!("an idempotent reply does not open under this master key"))?;
    Ok(serde_json::from_slice(&plain).map_err(anyhow::Error::from)?)
}
