//! The audit log's hash chain and its signed checkpoints.
//!
//! Each entry's hash covers its content and its predecessor's hash, so changing or removing an
//! entry breaks every link after it. Someone able to write the table could recompute the whole
//! chain; the checkpoints stop that: at intervals the head (sequence number and hash) is signed
//! with our signing key, which never leaves the process unencrypted, and published. A rewritten
//! chain no longer ends at the signed hashes.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgPool;
use time::OffsetDateTime;

use super::Event;

mod verify;

use crate::crypto::Sha256Writer;
use crate::tokens::Tokens;
pub use verify::{Broken, Report, verify};

/// The predecessor of the first entry.
pub const GENESIS: [u8; 32] = [0; 32];
/// Serialises appends, so the chain has one order.
const CHAIN_LOCK: i64 = 0x6d6f_7463_7561_0002;
/// `typ` of checkpoint statements: never mistaken for a token.
pub const CHECKPOINT_TYP: &str = "audit-checkpoint+jwt";

/// What an entry's hash covers, in a fixed order.
#[derive(Debug, Clone)]
pub struct Content<'a> {
    pub seq: i64,
    /// Microseconds since the Unix epoch (what PostgreSQL keeps).
    pub at_us: i64,
    pub action: &'a str,
    pub outcome: &'a str,
    pub actor: Option<&'a str>,
    pub target: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub client_ip: Option<String>,
    pub request_id: Option<&'a str>,
    pub details: &'a Value,
}

/// SHA-256 over the predecessor's hash and the entry's canonical JSON: an array of the fields in
/// a fixed order, compact, object keys sorted at every level (PostgreSQL's `jsonb` does not keep
/// the order we wrote). The JSON is streamed into the hash: each request's entry is hashed on
/// its way to being answered, and building the text (and a sorted copy of the details) first
/// cost more than hashing it.
pub fn entry_hash(prev: &[u8], content: &Content<'_>) -> [u8; 32] {
    let mut hasher = Sha256Writer::default();
    hasher.update(prev);
    let doc = fields(content, Canonical(content.details));
    // Cannot fail: the hasher takes any bytes, and every key is a string.
    let written = serde_json::to_writer(&mut hasher, &doc);
    debug_assert!(written.is_ok(), "{written:?}");
    hasher.finish()
}

/// The fields an entry's hash covers, in their fixed order, with `details` as given.
fn fields<'a, D: Serialize + 'a>(content: &'a Content<'a>, details: D) -> impl Serialize + 'a {
    (
        content.seq,
        content.at_us,
        content.action,
        content.outcome,
        content.actor,
        content.target,
        content.reason,
        content.client_id,
        content.client_ip.as_deref(),
        content.request_id,
        details,
    )
}

/// A JSON value serialized with its object keys sorted at every level.
struct Canonical<'a>(&'a Value);

impl Serialize for Canonical<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self.0 {
            Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
                let mut out = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    out.serialize_entry(key, &Canonical(value))?;
                }
                out.end()
            }
            Value::Array(items) => serializer.collect_seq(items.iter().map(Canonical)),
            other => other.serialize(serializer),
        }
    }
}

/// Appends entries at the head of the chain, in order, in one transaction of their own: the
/// command line's path, and a writer's when it cannot take a [`Turn`].
pub(super) async fn append(db: &PgPool, events: &[Event]) -> sqlx::Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let mut tx = db.begin().await?;
    append_in(&mut tx, events).await?;
    tx.commit().await
}

/// Appends entries in the caller's transaction, which then holds the chain's lock until it
/// ends: call it last, just before committing.
pub(super) async fn append_in(tx: &mut sqlx::PgConnection, events: &[Event]) -> sqlx::Result<()> {
    sqlx::query!("SELECT pg_advisory_xact_lock($1)", CHAIN_LOCK)
        .execute(&mut *tx)
        .await?;
    let (seq, prev) = head_or_genesis(&mut *tx).await?;
    insert(tx, Linked::new(seq, prev, events)).await?;
    Ok(())
}

/// A writer's turn at the head of the chain: a connection of its own holding the chain's lock
/// (at session level) for a while, and the head as of its last append. Each batch then costs
/// one statement, its own transaction, instead of five round trips (begin, lock, head, insert,
/// commit) with the lock taken and released around each.
///
/// Whoever else appends (another replica's writer, an in-transaction append, the command line)
/// waits for the turn to end: [`AuditLog`](super::AuditLog)'s writer ends it as soon as nothing
/// is waiting to be written, and after [`Turn::LONGEST`] in any case, so replicas take turns
/// under load. The connection is not the pool's, so a turn can never be handed to a
/// request with the lock still held: dropping it closes it, and PostgreSQL releases the lock.
pub(super) struct Turn {
    conn: sqlx::PgConnection,
    seq: i64,
    prev: Vec<u8>,
    began: Instant,
}

impl Turn {
    /// How long a writer keeps the chain while others may be waiting for it: a few batches,
    /// so that with many busy replicas an entry still waits only milliseconds for its turn.
    pub const LONGEST: Duration = Duration::from_millis(10);
    /// How long any step of a turn may take before the writer gives up on its connection (and
    /// with it the lock): as long as the pool waits for a connection.
    pub const PATIENCE: Duration = Duration::from_secs(5);

    /// Takes the chain's lock on `conn` (waiting for whoever holds it) and reads the head.
    pub async fn take(mut conn: sqlx::PgConnection) -> sqlx::Result<Self> {
        sqlx::query!("SELECT pg_advisory_lock($1)", CHAIN_LOCK)
            .execute(&mut conn)
            .await?;
        let (seq, prev) = head_or_genesis(&mut conn).await?;
        Ok(Self {
            conn,
            seq,
            prev,
            began: Instant::now(),
        })
    }

    /// Appends entries at the head, in order, in one statement. After an error the turn must be
    /// dropped: the head is in doubt. (Usually nothing was appended; if the statement committed
    /// and only its answer was lost, appending the entries again repeats them in the chain but
    /// breaks no link.)
    pub async fn append(&mut self, events: &[Event]) -> sqlx::Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let linked = Linked::new(self.seq, self.prev.clone(), events);
        let (seq, prev) = (linked.seq, linked.prev.clone());
        insert(&mut self.conn, linked).await?;
        (self.seq, self.prev) = (seq, prev);
        Ok(())
    }

    pub fn is_over(&self) -> bool {
        self.began.elapsed() >= Self::LONGEST
    }

    /// Releases the lock and gives the connection back for the next turn.
    pub async fn end(mut self) -> sqlx::Result<sqlx::PgConnection> {
        let released = sqlx::query_scalar!("SELECT pg_advisory_unlock($1)", CHAIN_LOCK)
            .fetch_one(&mut self.conn)
            .await?;
        match released {
            Some(true) => Ok(self.conn),
            // Not ours to release: something else on this connection took or dropped it.
            _ => Err(sqlx::Error::Protocol(
                "the audit chain's lock was not held".into(),
            )),
        }
    }
}

async fn head_or_genesis(conn: &mut sqlx::PgConnection) -> sqlx::Result<(i64, Vec<u8>)> {
    Ok(head(conn).await?.unwrap_or_else(|| (0, GENESIS.to_vec())))
}

/// Entries linked onto a head: their rows, and the new head.
struct Linked {
    at: OffsetDateTime,
    rows: Rows,
    seq: i64,
    prev: Vec<u8>,
}

impl Linked {
    fn new(mut seq: i64, mut prev: Vec<u8>, events: &[Event]) -> Self {
        let now = OffsetDateTime::now_utc();
        // Stored with microsecond precision: hash what will be read back.
        let at_us = (now.unix_timestamp_nanos() / 1_000) as i64;
        let at =
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_us) * 1_000).unwrap_or(now);
        let mut rows = Rows::default();
        for event in events {
            seq += 1;
            let hash = entry_hash(
                &prev,
                &Content {
                    seq,
                    at_us,
                    action: event.action,
                    outcome: event.outcome.as_str(),
                    actor: event.actor.as_deref(),
                    target: event.target.as_deref(),
                    reason: event.reason.as_deref(),
                    client_id: event.client_id.as_deref(),
                    client_ip: event.client_ip.map(|ip| ip.to_string()),
                    request_id: event.request_id.as_deref(),
                    details: &event.details,
                },
            );
            rows.action.push(event.action.to_string());
            rows.outcome.push(event.outcome.as_str().to_string());
            rows.actor.push(event.actor.clone());
            rows.target.push(event.target.clone());
            rows.reason.push(event.reason.clone());
            rows.client_id.push(event.client_id.clone());
            rows.client_ip.push(event.client_ip.map(ipnet::IpNet::from));
            rows.request_id.push(event.request_id.clone());
            rows.details.push(event.details.clone());
            rows.seq.push(seq);
            rows.prev_hash
                .push(std::mem::replace(&mut prev, hash.to_vec()));
            rows.hash.push(hash.to_vec());
        }
        Self {
            at,
            rows,
            seq,
            prev,
        }
    }
}

async fn insert(conn: &mut sqlx::PgConnection, linked: Linked) -> sqlx::Result<()> {
    let Linked { at, rows, .. } = linked;
    sqlx::query!(
        "INSERT INTO audit_log (at, action, outcome, actor, target, reason, client_id, client_ip,
                                request_id, details, chain_seq, prev_hash, hash)
         SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                                  $7::text[], $8::inet[], $9::text[], $10::jsonb[], $11::bigint[],
                                  $12::bytea[], $13::bytea[])",
        at,
        &rows.action,
        &rows.outcome,
        &rows.actor as _,
        &rows.target as _,
        &rows.reason as _,
        &rows.client_id as _,
        &rows.client_ip as _,
        &rows.request_id as _,
        &rows.details,
        &rows.seq,
        &rows.prev_hash,
        &rows.hash,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The last entry's position and hash.
async fn head<'e>(db: impl sqlx::PgExecutor<'e>) -> sqlx::Result<Option<(i64, Vec<u8>)>> {
    let head = sqlx::query!(
        r#"SELECT chain_seq AS "seq!", hash AS "hash!" FROM audit_log WHERE chain_seq IS NOT NULL
           ORDER BY chain_seq DESC LIMIT 1"#,
    )
    .fetch_optional(db)
    .await?;
    Ok(head.map(|head| (head.seq, head.hash)))
}

/// A batch of entries as columns, for one `INSERT … SELECT FROM UNNEST`.
#[derive(Default)]
struct Rows {
    action: Vec<String>,
    outcome: Vec<String>,
    actor: Vec<Option<String>>,
    target: Vec<Option<String>>,
    reason: Vec<Option<String>>,
    client_id: Vec<Option<String>>,
    client_ip: Vec<Option<ipnet::IpNet>>,
    request_id: Vec<Option<String>>,
    details: Vec<Value>,
    seq: Vec<i64>,
    prev_hash: Vec<Vec<u8>>,
    hash: Vec<Vec<u8>>,
}

/// What a checkpoint signs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointClaims {
    pub iss: String,
    pub seq: i64,
    /// Hex SHA-256 of the entry at `seq`.
    pub hash: String,
    pub iat: i64,
}

/// One published checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
    #[serde(with = "time::serde::rfc3339")]
    pub signed_at: OffsetDateTime,
    pub kid: String,
    pub jws: String,
}

/// Signs the head of the chain if it moved since the last checkpoint. Replicas may race; the
/// sequence number is the key, so one of them wins and the others change nothing.
pub async fn checkpoint(db: &PgPool, tokens: &Tokens) -> anyhow::Result<Option<Checkpoint>> {
    let Some((seq, hash)) = head(db).await? else {
        return Ok(None);
    };
    let last = sqlx::query_scalar!("SELECT max(seq) FROM audit_checkpoints")
        .fetch_one(db)
        .await?;
    if last.is_some_and(|last| last >= seq) {
        return Ok(None);
    }
    let now = OffsetDateTime::now_utc();
    let claims = CheckpointClaims {
        iss: tokens.issuer().to_string(),
        seq,
        hash: hex(&hash),
        iat: now.unix_timestamp(),
    };
    let (kid, jws) = tokens.sign_statement(&claims, CHECKPOINT_TYP)?;
    let inserted = sqlx::query!(
        "INSERT INTO audit_checkpoints (seq, hash, signed_at, kid, jws) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (seq) DO NOTHING",
        seq,
        hash,
        now,
        kid,
        jws,
    )
    .execute(db)
    .await?;
    Ok((inserted.rows_affected() == 1).then_some(Checkpoint {
        seq,
        hash: claims.hash,
        signed_at: now,
        kid,
        jws,
    }))
}

/// Signs the head every `interval` until the process ends.
pub fn spawn_checkpointer(db: PgPool, tokens: Tokens, interval: Duration) {
    tokio::spawn(async move {
        // The first tick one interval from now: a server starting signs nothing new.
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match checkpoint(&db, &tokens).await {
                Ok(Some(cp)) => tracing::debug!(seq = cp.seq, "audit checkpoint signed"),
                Ok(None) => {}
                Err(err) => tracing::warn!(error = %err, "audit checkpoint failed"),
            }
        }
    });
}

/// Published checkpoints in sequence order, after `after`.
pub async fn checkpoints(
    db: &PgPool,
    after: Option<i64>,
    limit: i64,
) -> sqlx::Result<Vec<Checkpoint>> {
    let rows = sqlx::query!(
        "SELECT seq, hash, signed_at, kid, jws FROM audit_checkpoints
         WHERE ($1::bigint IS NULL OR seq > $1) ORDER BY seq LIMIT $2",
        after,
        limit,
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| Checkpoint {
            seq: row.seq,
            hash: hex(&row.hash),
            signed_at: row.signed_at,
            kid: row.kid,
            jws: row.jws,
        })
        .collect())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(details: &Value) -> Content<'_> {
        Content {
            seq: 7,
            at_us: 1_764_000_000_123_456,
            action: "client_suspended",
            outcome: "success",
            actor: Some("operator:0193"),
            target: Some("mc_abc"),
            reason: None,
            client_id: None,
            client_ip: Some("203.0.113.9".into()),
            request_id: Some("req-1"),
            details,
        }
    }

    #[test]
    fn the_hash_ignores_key_order_but_nothing_else() {
        let a = serde_json::json!({"role": "operator", "by": {"z": 1, "a": 2}});
        let b: Value =
            serde_json::from_str(r#"{"by": {"a": 2, "z": 1}, "role": "operator"}"#).unwrap();
        assert_eq!(
            entry_hash(&GENESIS, &content(&a)),
            entry_hash(&GENESIS, &content(&b))
        );
        let mut changed = content(&a);
        changed.target = Some("mc_abd");
        assert_ne!(
            entry_hash(&GENESIS, &content(&a)),
            entry_hash(&GENESIS, &changed)
        );
        assert_ne!(
            entry_hash(&GENESIS, &content(&a)),
            entry_hash(&[1; 32], &content(&a)),
            "the predecessor is part of the hash"
        );
    }

    /// The hash as first defined (the whole text built, then hashed): entries already stored
    /// were hashed this way, so the streamed hash must match it byte for byte.
    fn reference_hash(prev: &[u8], content: &Content<'_>) -> [u8; 32] {
        fn canonical(value: &Value) -> Value {
            match value {
                Value::Object(map) => {
                    let sorted: std::collections::BTreeMap<&String, Value> =
                        map.iter().map(|(k, v)| (k, canonical(v))).collect();
                    Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
                }
                Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
                other => other.clone(),
            }
        }
        // `json!([..])` as first written converted each field with `to_value`, as this does.
        let doc = serde_json::to_value(fields(content, canonical(content.details))).unwrap();
        let mut bytes = prev.to_vec();
        bytes.extend_from_slice(doc.to_string().as_bytes());
        crate::crypto::sha256(&bytes)
    }

    #[test]
    fn the_streamed_hash_is_the_hash_entries_were_stored_with() {
        let details = [
            serde_json::json!({}),
            serde_json::json!(null),
            serde_json::json!({"sid": "0193-ab", "jti": "x", "n": -3, "f": 1.5e-7, "ok": true}),
            serde_json::json!({"z": [{"b": 1, "a": [3, {"y": null, "x": "\u{1f}\"\\"}]}], "a": {}}),
            serde_json::json!({"tên": "Nguyễn Văn A", "Z": "upper sorts first", "": 0}),
            serde_json::json!([{"b": 2, "a": 1}, "text", 18446744073709551615u64, -0.0]),
        ];
        for (i, details) in details.iter().enumerate() {
            let mut all = content(details);
            all.reason = Some("line\nbreak and \"quotes\"");
            all.client_id = Some("mc_abc");
            let mut none = content(details);
            (none.actor, none.target, none.client_ip, none.request_id) = (None, None, None, None);
            for c in [content(details), all, none] {
                for prev in [&GENESIS[..], &[0xab; 32][..]] {
                    assert_eq!(entry_hash(prev, &c), reference_hash(prev, &c), "case {i}");
                }
            }
        }
    }

    fn pinned_content(details: &Value) -> Content<'_> {
        Content {
            seq: 41,
            at_us: 1_764_000_000_123_456,
            action: "token_refreshed",
            outcome: "success",
            actor: Some("0193a1b2-citizen"),
            target: None,
            reason: Some("tab\tand \"quotes\" and \\ and \u{1}"),
            client_id: Some("mc_app"),
            client_ip: Some("2001:db8::7".into()),
            request_id: Some("req-41"),
            details,
        }
    }

    fn pinned_details() -> Value {
        serde_json::json!({
            "z": [[], {}, {"b": -9_223_372_036_854_775_808i64, "a": 1e21}],
            "tên": "Nguyễn Văn A",
            "Z": [0.1, 2.5e-8, 18446744073709551615u64, null, true],
            "a": {"y": {}, "x": ""}
        })
    }

    #[test]
    fn the_hash_of_a_known_entry_is_pinned() {
        // Computed with the first implementation: a change of serde_json's output (its number
        // or string formatting) would break every stored chain, and must fail here first.
        let details = pinned_details();
        let content = pinned_content(&details);
        let pinned = "7dd105193b57dc3ba92397ae0e258512d6c772bd8c3f47abe7ff23cf7d29e909";
        assert_eq!(hex(&entry_hash(&[0x5a; 32], &content)), pinned);
        assert_eq!(hex(&reference_hash(&[0x5a; 32], &content)), pinned);
    }

    #[test]
    fn hex_round_trips() {
        let bytes = [0u8, 1, 0xab, 0xff];
        assert_eq!(hex(&bytes), "0001abff");
        assert_eq!(unhex("0001abff").unwrap(), bytes);
        assert!(unhex("0g").is_none());
    }
}
