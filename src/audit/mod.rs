//! The audit log: every security event, append-only in PostgreSQL, without personal data,
//! hash-chained and checkpointed so tampering shows (see [`chain`]).

pub mod chain;
pub mod search;

use std::net::IpAddr;

use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

use crate::http::{ClientIp, RequestId};
use crate::redis::Redis;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

/// One audit entry. `actor` and `target` are identifiers (our `sub`, a client id), never names,
/// identification numbers or tokens.
#[derive(Debug, Clone)]
pub struct Event {
    pub action: &'static str,
    pub outcome: Outcome,
    pub actor: Option<String>,
    pub target: Option<String>,
    pub reason: Option<String>,
    pub client_id: Option<String>,
    pub client_ip: Option<IpAddr>,
    pub request_id: Option<String>,
    pub details: serde_json::Value,
}

/// What an operation shared by the operator API and the command line did, and the audit entry
/// recording it; the caller adds who did it.
pub struct Done<T> {
    pub value: T,
    pub event: Event,
}

impl Event {
    /// A successful operation on `target`.
    pub fn success(
        action: &'static str,
        target: impl Into<String>,
        details: serde_json::Value,
    ) -> Self {
        Self::new(action, Outcome::Success)
            .target(target)
            .details(details)
    }

    pub fn new(action: &'static str, outcome: Outcome) -> Self {
        Self {
            action,
            outcome,
            actor: None,
            target: None,
            reason: None,
            client_id: None,
            client_ip: None,
            request_id: None,
            details: serde_json::json!({}),
        }
    }

    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(inert(actor.into()));
        self
    }

    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(inert(target.into()));
        self
    }

    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(inert(reason.into()));
        self
    }

    pub fn client(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(inert(client_id.into()));
        self
    }

    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = inert_json(details);
        self
    }

    /// A client's request refused for `reason` (a failed authentication, a refused grant).
    pub fn client_failure(
        action: &'static str,
        client_id: &str,
        reason: &str,
        facts: &RequestFacts,
    ) -> Self {
        Self::new(action, Outcome::Failure)
            .client(client_id)
            .reason(reason)
            .facts(facts)
    }

    /// Attaches the request's id and client address.
    pub fn facts(mut self, facts: &RequestFacts) -> Self {
        self.request_id = facts.request_id.clone();
        self.client_ip = facts.client_ip;
        self
    }
}

/// Entries may quote what a caller sent (a provider's error, a claimed client id): control
/// characters go (PostgreSQL refuses NUL, and one refused entry must not cost a batch), and so
/// does anything past 256 characters.
fn inert(text: String) -> String {
    if text.len() <= 256 && !text.chars().any(char::is_control) {
        return text;
    }
    text.chars().filter(|c| !c.is_control()).take(256).collect()
}

/// [`inert`] over a JSON value's strings and keys, with its numbers [`as_stored`].
fn inert_json(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(text) => Value::String(inert(text)),
        Value::Number(number) => Value::Number(as_stored(number)),
        Value::Array(items) => Value::Array(items.into_iter().map(inert_json).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (inert(k), inert_json(v)))
                .collect(),
        ),
        other => other,
    }
}

/// A number as PostgreSQL's `jsonb` gives it back, so that an entry hashes the same when
/// written and when `audit verify` reads it: `numeric` has no negative zero, and it writes a
/// whole number without a fraction (`1e16` comes back as `10000000000000000`, which parses as
/// an integer). Other floats come back as the same `f64`: serde_json writes the shortest text
/// that parses to it, `numeric` keeps that text's value exactly, and serde_json parses it exactly
/// (its `float_roundtrip` feature; without it, parsing is only best effort).
fn as_stored(number: serde_json::Number) -> serde_json::Number {
    // 2^64 and -2^63, exact as f64: the ranges `as` converts without saturating.
    const U64_END: f64 = 18_446_744_073_709_551_616.0;
    const I64_START: f64 = -9_223_372_036_854_775_808.0;
    match number.as_f64() {
        Some(f) if number.is_f64() && f.fract() == 0.0 => {
            if (0.0..U64_END).contains(&f) {
                (f as u64).into()
            } else if (I64_START..0.0).contains(&f) {
                (f as i64).into()
            } else {
                number
            }
        }
        _ => number,
    }
}

/// The request facts every entry carries: its id and the client's address.
#[derive(Debug, Default, Clone)]
pub struct RequestFacts {
    pub request_id: Option<String>,
    pub client_ip: Option<IpAddr>,
    /// Where a handler that applies the rate limit itself leaves its decision.
    pub rate_slot: Option<crate::http::RateSlot>,
}

impl RequestFacts {
    pub fn of(req: &poem::Request) -> Self {
        Self {
            request_id: req.extensions().get::<RequestId>().map(|r| r.0.to_string()),
            client_ip: req.extensions().get::<ClientIp>().and_then(|c| c.0),
            rate_slot: req.extensions().get::<crate::http::RateSlot>().cloned(),
        }
    }
}

/// The audit log of a running server. Entries that arrive together are appended in one
/// statement (group commit), so the chain's single order does not serialise requests; each
/// caller still waits until its entry is stored.
#[derive(Clone)]
pub struct AuditLog {
    db: PgPool,
    queue: mpsc::Sender<(Event, oneshot::Sender<()>)>,
    sampler: Sampler,
}

/// One entry per key per minute, across replicas through Redis (per replica while Redis is
/// away): failures anyone can cause without credentials are sampled, so nobody can grow the
/// append-only log at their rate limit.
#[derive(Clone)]
struct Sampler {
    redis: Redis,
    seen: moka::sync::Cache<String, ()>,
}

impl Sampler {
    fn new(redis: Redis) -> Self {
        Self {
            redis,
            seen: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(60))
                .build(),
        }
    }

    async fn first_this_minute(&self, key: &str) -> bool {
        if self.seen.get(key).is_some() {
            return false;
        }
        self.seen.insert(key.to_string(), ());
        let key = self.redis.key(&["audit-sampled", key]);
        let first: Result<Option<String>, _> = self
            .redis
            .run(|mut conn| async move {
                redis::cmd("SET")
                    .arg(key)
                    .arg(1)
                    .arg("NX")
                    .arg("EX")
                    .arg(60)
                    .query_async(&mut conn)
                    .await
            })
            .await;
        first.map_or(true, |reply| reply.is_some())
    }
}

/// Entries appended per statement, at most.
const BATCH: usize = 256;

impl AuditLog {
    pub fn start(db: PgPool, redis: Redis) -> Self {
        let (queue, pending) = mpsc::channel::<(Event, oneshot::Sender<()>)>(4 * BATCH);
        tokio::spawn(Writer::new(db.clone()).run(pending));
        Self {
            db,
            queue,
            sampler: Sampler::new(redis),
        }
    }

    /// Whether `key` is seen for the first time this minute (on any replica).
    pub async fn first_this_minute(&self, key: &str) -> bool {
        self.sampler.first_this_minute(key).await
    }

    /// Appends a failure that anyone can cause without credentials (an unknown client, state or
    /// code, a wrong secret): at most one entry per action, reason, client and address a
    /// minute, marked `sampled`.
    pub async fn record_sampled(&self, event: Event) {
        let key = format!(
            "{}|{}|{}|{}",
            event.action,
            event.reason.as_deref().unwrap_or(""),
            event.client_id.as_deref().unwrap_or(""),
            event.client_ip.map(|ip| ip.to_string()).unwrap_or_default()
        );
        let key = crate::crypto::sha256_b64(key.as_bytes());
        if self.first_this_minute(&key).await {
            let mut event = event;
            if let Some(object) = event.details.as_object_mut() {
                object.insert("sampled".into(), "one entry per address a minute".into());
            }
            self.record(event).await;
        } else {
            metrics::counter!("motcua_audit_sampled_out_total", "action" => event.action)
                .increment(1);
        }
    }

    /// Appends an entry. A failure to audit is logged loudly but does not undo what happened.
    pub async fn record(&self, event: Event) {
        let (done, stored) = oneshot::channel();
        match self.queue.send((event, done)).await {
            Ok(()) => {
                let _ = stored.await;
            }
            // The writer is gone (shutting down): write directly.
            Err(mpsc::error::SendError((event, _))) => {
                store(&self.db, std::slice::from_ref(&event)).await
            }
        }
    }
}

/// The writer's connection, as `pg_stat_activity` shows it.
const WRITER_NAME: &str = "motcua-audit-writer";

/// The replica's one writer: appends what arrives together as one batch, during a turn at the
/// chain's head (see [`chain::Turn`]) that lasts while entries keep coming.
struct Writer {
    db: PgPool,
    turn: Option<chain::Turn>,
    /// The turn's connection between turns.
    idle: Option<sqlx::PgConnection>,
}

type Pending = mpsc::Receiver<(Event, oneshot::Sender<()>)>;

impl Writer {
    fn new(db: PgPool) -> Self {
        Self {
            db,
            turn: None,
            idle: None,
        }
    }

    async fn run(mut self, mut pending: Pending) {
        let mut batch = Vec::with_capacity(BATCH);
        while pending.recv_many(&mut batch, BATCH).await > 0 {
            let (events, waiting): (Vec<Event>, Vec<_>) = batch.drain(..).unzip();
            self.store(&events).await;
            for done in waiting {
                let _ = done.send(());
            }
            // The turn lasts while entries keep arriving faster than they are stored, and
            // never past its longest, so other replicas' writers get theirs.
            if pending.is_empty() || self.turn.as_ref().is_some_and(chain::Turn::is_over) {
                self.end_turn().await;
            }
        }
    }

    /// Appends during this writer's turn (taking one if needed); when that fails, as any
    /// other writer does, one transaction per batch. Every step of a turn is bounded by
    /// [`chain::Turn::PATIENCE`]: a connection that stops answering is dropped (and PostgreSQL
    /// releases the lock once it notices, within the keepalives set in [`Writer::connect`]).
    async fn store(&mut self, events: &[Event]) {
        let appended = tokio::time::timeout(chain::Turn::PATIENCE, async {
            self.turn().await?.append(events).await
        })
        .await;
        match appended {
            Ok(Ok(())) => return,
            Ok(Err(err)) => tracing::warn!(error = %err, "audit batch failed in the writer's turn"),
            Err(_) => tracing::warn!("audit writer's connection stopped answering"),
        }
        // The head is in doubt: closing the connection ends the turn. (There is no idle
        // connection here: a turn, or the attempt to take one, took it.)
        self.turn = None;
        store(&self.db, events).await;
    }

    async fn turn(&mut self) -> sqlx::Result<&mut chain::Turn> {
        let turn = match self.turn.take() {
            Some(turn) => turn,
            None => {
                let conn = match self.idle.take() {
                    Some(conn) => conn,
                    None => self.connect().await?,
                };
                chain::Turn::take(conn).await?
            }
        };
        Ok(self.turn.insert(turn))
    }

    /// The writer's own connection, outside the pool so that a turn's lock can never be
    /// handed to a request. The server side's keepalives are short: if this replica vanishes
    /// during a turn, PostgreSQL ends the session, and releases the chain, within seconds.
    async fn connect(&self) -> sqlx::Result<sqlx::PgConnection> {
        use sqlx::Connection;
        let options = (*self.db.connect_options())
            .clone()
            .application_name(WRITER_NAME)
            .options([
                ("tcp_keepalives_idle", "5"),
                ("tcp_keepalives_interval", "2"),
                ("tcp_keepalives_count", "3"),
            ]);
        sqlx::PgConnection::connect_with(&options).await
    }

    async fn end_turn(&mut self) {
        let Some(turn) = self.turn.take() else {
            return;
        };
        match tokio::time::timeout(chain::Turn::PATIENCE, turn.end()).await {
            Ok(Ok(conn)) => self.idle = Some(conn),
            Ok(Err(err)) => tracing::warn!(error = %err, "audit writer could not end its turn"),
            Err(_) => tracing::warn!("audit writer's connection stopped answering"),
        }
    }
}

/// Appends an entry in the caller's transaction: what it records and the entry are committed
/// together or not at all. The transaction holds the chain's lock from here to its end, so call
/// it as the transaction's last statement.
pub async fn record_in(tx: &mut sqlx::PgConnection, event: Event) -> sqlx::Result<()> {
    chain::append_in(tx, std::slice::from_ref(&event)).await
}

/// Appends an entry directly (the command line, which has no server running).
pub async fn record(db: &PgPool, event: Event) {
    store(db, std::slice::from_ref(&event)).await;
}

async fn store(db: &PgPool, events: &[Event]) {
    let mut result = chain::append(db, events).await;
    if result.is_err() {
        // One retry: a dropped connection or a serialisation hiccup should not lose entries.
        result = chain::append(db, events).await;
    }
    if let Err(err) = result {
        if events.len() > 1 {
            // Whatever is wrong with one entry must not cost the others theirs.
            for event in events {
                Box::pin(store(db, std::slice::from_ref(event))).await;
            }
            return;
        }
        for event in events {
            tracing::error!(action = event.action, error = %err, "audit entry lost");
        }
        metrics::counter!("motcua_audit_failures_total").increment(events.len() as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_callers_send_is_made_inert_before_it_is_stored() {
        let event = Event::new("sign_in", Outcome::Failure)
            .reason("provider said: access_denied\u{0}\r\nforged: line")
            .client("x".repeat(1000))
            .details(serde_json::json!({ "error": "a\u{0}b", "nested": ["c\u{7}"] }));
        assert_eq!(
            event.reason.as_deref(),
            Some("provider said: access_deniedforged: line")
        );
        assert_eq!(event.client_id.unwrap().len(), 256);
        assert_eq!(
            event.details,
            serde_json::json!({ "error": "ab", "nested": ["c"] })
        );
    }

    #[test]
    fn whole_floats_are_kept_as_the_integers_the_database_gives_back() {
        let floats = [
            -0.0,
            5.0,
            -5.0,
            1e16,
            -1e16,
            1.5,
            1e300,
            18446744073709551616.0,
        ];
        let event = Event::new("test", Outcome::Success)
            .details(serde_json::json!({ "f": floats, "i": [7, -7] }));
        assert_eq!(
            event.details.to_string(),
            r#"{"f":[0,5,-5,10000000000000000,-10000000000000000,1.5,1e+300,1.8446744073709552e+19],"i":[7,-7]}"#
        );
    }
}
