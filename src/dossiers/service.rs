//! The dossier capability's glue between HTTP and the store: who the caller is, the cache and
//! its exact invalidation, signed receipts, idempotent writes, and one mapping of the store's
//! refusals to problems.

use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::messages as msg;
use super::model::TransitionRefused;
use super::store::{self, Caller, StoreError};
use crate::cache::{Namespace, Source};
use crate::http::{ApiError, ApiResult, catalogue};
use crate::state::AppState;
use crate::tokens::BearerAuth;

/// A citizen's dossier list pages and details, one scope per citizen: every event on one of
/// their dossiers bumps that citizen's version and nobody else's.
pub const CITIZEN_DOSSIERS: Namespace = Namespace("dossiers");
/// Procedures, their details and the agencies.
pub const CATALOGUE: Namespace = Namespace("catalogue");
/// The open statistics (recomputed at most once a minute).
pub const STATS: Namespace = Namespace("stats");

/// A citizen's entries live this long at most: `overdue` and `working_days_left` depend on the
/// clock, not only on events.
pub const CITIZEN_TTL: Duration = Duration::from_secs(60);
pub const CATALOGUE_TTL: Duration = Duration::from_secs(300);
pub const STATS_TTL: Duration = Duration::from_secs(60);

/// The `typ` of a signed receipt: neither a token nor an audit checkpoint.
pub const RECEIPT_TYP: &str = "dossier-receipt+jwt";

/// An agency's back office: a client-credentials token bound to agencies, with `dossiers:write`
/// (or `dossiers:read` for reads).
pub fn agency(auth: &BearerAuth, write: bool) -> ApiResult<Caller> {
    let claims = &auth.0;
    let scoped =
        claims.has_scope("dossiers:write") || (!write && claims.has_scope("dossiers:read"));
    if claims.sid.is_some() || !scoped {
        return Err(ApiError::new(&catalogue::FORBIDDEN));
    }
    Ok(Caller::Agency {
        client_id: claims.client_id.clone(),
        agencies: claims.agencies.clone(),
    })
}

/// A signed-in citizen using an app (the app's default scopes include `profile`).
pub fn citizen(auth: &BearerAuth) -> ApiResult<Uuid> {
    auth.citizen()
}

/// The one answer to each of the store's refusals, its field messages in the caller's language.
pub fn problem(err: StoreError) -> ApiError {
    let code = |code: String| vec![("code", code)];
    match err {
        StoreError::NotFound => ApiError::new(&catalogue::NOT_FOUND),
        StoreError::UnknownProcedure(c) => ApiError::new(&catalogue::VALIDATION_FAILED).field_text(
            "/procedure_code",
            msg::UNKNOWN_PROCEDURE,
            code(c),
        ),
        StoreError::UnknownAgency(c) => ApiError::new(&catalogue::VALIDATION_FAILED).field_text(
            "/agency_code",
            msg::UNKNOWN_AGENCY,
            code(c),
        ),
        StoreError::AgencyNotAllowed(c) => ApiError::new(&catalogue::FORBIDDEN).field_text(
            "/agency_code",
            msg::AGENCY_NOT_ALLOWED,
            code(c),
        ),
        StoreError::Invalid { field, message } => ApiError::new(&catalogue::VALIDATION_FAILED)
            .field_text(format!("/{field}"), message, Vec::new()),
        StoreError::Transition(refused) => transition_problem(&refused, "/to"),
        StoreError::IdempotencyMismatch => ApiError::new(&catalogue::IDEMPOTENCY_KEY_REUSED),
        StoreError::Database(err) => ApiError::from(err),
        StoreError::Other(err) => ApiError::internal(err),
    }
}

/// 409 for a transition the table refuses, listing the allowed ones; `pointer` names what the
/// request asked for (`/to` of a status change, `/code` of a citizen's action on a dossier).
pub fn transition_problem(refused: &TransitionRefused, pointer: &str) -> ApiError {
    let allowed: Vec<&str> = refused.allowed.iter().map(|s| s.as_str()).collect();
    let from = refused.from.as_str();
    let error = ApiError::new(&catalogue::TRANSITION_NOT_ALLOWED)
        .arg("from", from)
        .arg("to", refused.to.as_str());
    let from_arg = vec![("from", from.to_string())];
    match allowed.is_empty() {
        true => error.arg_text("allowed", msg::NONE_CLOSED).field_text(
            pointer,
            msg::NONE_ALLOWED_FROM,
            from_arg,
        ),
        false => {
            let allowed = allowed.join(", ");
            error.arg("allowed", &allowed).field_text(
                pointer,
                msg::ALLOWED_FROM,
                [from_arg, vec![("allowed", allowed)]].concat(),
            )
        }
    }
}

/// [`problem`] for a citizen's action on one of their dossiers (`/v1/me/dossiers/{code}/…`):
/// a refused move names the dossier, the request having no `to`.
pub fn citizen_problem(err: StoreError) -> ApiError {
    match err {
        StoreError::Transition(refused) => transition_problem(&refused, "/code"),
        other => problem(other),
    }
}

pub use crate::http::payload::to_bytes;

/// What a fresh write keeps for retries (the status and the view as JSON), and the applicants
/// whose cached dossiers it changed.
pub fn written<T: poem_openapi::types::ToJSON>(
    status: u16,
    view: &T,
    citizens: impl IntoIterator<Item = Uuid>,
) -> store::Written {
    store::Written {
        response: store::StoredResponse {
            status,
            body: view.to_json().unwrap_or_default(),
        },
        citizens: citizens.into_iter().collect(),
    }
}

/// A cached read: the bytes of the scope's entry, or the loader's.
pub async fn cached<F, Fut>(
    state: &AppState,
    (ns, scope): (Namespace, &str),
    key: &str,
    ttl: Duration,
    load: F,
) -> ApiResult<(Bytes, Source)>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ApiResult<Bytes>>,
{
    state
        .cache
        .get_or_load_scoped(ns, scope, key, ttl, load)
        .await
}

/// After a committed write: these citizens' entries go on every replica.
pub async fn invalidate(state: &AppState, citizens: &[Uuid]) {
    let mut seen = std::collections::HashSet::new();
    for citizen in citizens.iter().filter(|c| seen.insert(**c)) {
        state
            .cache
            .invalidate_scope(CITIZEN_DOSSIERS, &citizen.to_string())
            .await;
    }
}

#[derive(Serialize)]
struct ReceiptClaims<'a> {
    iss: &'a str,
    iat: i64,
    /// The dossier code.
    sub: &'a str,
    code: &'a str,
    procedure_code: &'a str,
    agency_code: &'a str,
    /// Masked, never the name.
    applicant: &'a str,
    received_at: Option<i64>,
    due_at: Option<i64>,
    /// Keyed hash of the lookup PIN (base64url): the receipt proves the PIN without holding it.
    pin_hash: &'a str,
}

/// The signed receipt: a compact JWS with our signing key, small enough for a QR code.
pub fn receipt(
    state: &AppState,
    registered: &store::Registered,
    now: OffsetDateTime,
) -> ApiResult<String> {
    let d = &registered.dossier;
    let claims = ReceiptClaims {
        iss: state.tokens.issuer(),
        iat: now.unix_timestamp(),
        sub: &d.code,
        code: &d.code,
        procedure_code: &d.procedure_code,
        agency_code: &d.agency_code,
        applicant: &d.applicant_name_masked,
        received_at: d.received_at.map(OffsetDateTime::unix_timestamp),
        due_at: d.due_at.map(OffsetDateTime::unix_timestamp),
        pin_hash: &registered.lookup_pin_hash,
    };
    state
        .tokens
        .sign_statement(&claims, RECEIPT_TYP)
        .map(|(_, jws)| jws)
        .map_err(ApiError::internal)
}

/// The `Idempotency-Key` header, parsed (and so bounded) once.
pub fn idempotency_key(header: Option<&str>) -> ApiResult<Option<store::IdempotencyKey>> {
    header
        .map(|value| {
            store::IdempotencyKey::parse(value).ok_or_else(|| {
                ApiError::new(&catalogue::INVALID_REQUEST)
                    .arg_text("reason", msg::IDEMPOTENCY_KEY)
                    .field_text("/Idempotency-Key", msg::IDEMPOTENCY_KEY, Vec::new())
            })
        })
        .transpose()
}

/// One write of an agency's back office (`POST {path}` with `body`), idempotent when the
/// request carries `Idempotency-Key`: a retry (also one racing the first) gets the first
/// response and writes nothing; the same key with another body is refused. `op` runs in one
/// transaction; once it commits, the cached dossiers of the citizens it names go.
pub async fn agency_write<F>(
    state: &AppState,
    idempotency: Option<&str>,
    client_id: &str,
    request: (&str, &[u8]),
    op: F,
) -> ApiResult<(u16, Bytes)>
where
    F: for<'c> FnOnce(
        &'c mut sqlx::PgConnection,
    ) -> futures::future::BoxFuture<'c, Result<store::Written, StoreError>>,
{
    let caller = format!("client:{client_id}");
    write_once(state, idempotency, &caller, request, op).await
}

/// [`agency_write`] for any caller (`client:…`, `citizen:…`): idempotency keys are per caller.
pub async fn write_once<F>(
    state: &AppState,
    idempotency: Option<&str>,
    caller: &str,
    (path, body): (&str, &[u8]),
    op: F,
) -> ApiResult<(u16, Bytes)>
where
    F: for<'c> FnOnce(
        &'c mut sqlx::PgConnection,
    ) -> futures::future::BoxFuture<'c, Result<store::Written, StoreError>>,
{
    write_once_as(state, idempotency, caller, (path, body), op, problem).await
}

/// [`write_once`] answering the store's refusals with `to_problem`.
pub async fn write_once_as<F>(
    state: &AppState,
    idempotency: Option<&str>,
    caller: &str,
    (path, body): (&str, &[u8]),
    op: F,
    to_problem: fn(StoreError) -> ApiError,
) -> ApiResult<(u16, Bytes)>
where
    F: for<'c> FnOnce(
        &'c mut sqlx::PgConnection,
    ) -> futures::future::BoxFuture<'c, Result<store::Written, StoreError>>,
{
    let written = match idempotency_key(idempotency)? {
        None => {
            let mut tx = state.db.begin().await.map_err(ApiError::internal)?;
            let written = op(&mut tx).await.map_err(to_problem)?;
            tx.commit().await.map_err(ApiError::internal)?;
            written
        }
        Some(key) => {
            let hash = store::request_hash("POST", path, body);
            match store::run_once(&state.db, &state.master_key(), caller, &key, &hash, op)
                .await
                .map_err(to_problem)?
            {
                store::Run::Fresh(written) => written,
                store::Run::Replay(stored) => {
                    return Ok((stored.status, json_bytes(&stored.body)));
                }
            }
        }
    };
    invalidate(state, &written.citizens).await;
    Ok((written.response.status, json_bytes(&written.response.body)))
}

fn json_bytes(value: &serde_json::Value) -> Bytes {
    Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}
