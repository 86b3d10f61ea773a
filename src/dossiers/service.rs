//! The dossier capability's glue between HTTP and the store: who the caller is, the cache and
//! its exact invalidation, signed receipts, idempotent writes, and one mapping of the store's
//! refusals to problems.

use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

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
    let claims = &auth.0;
    if claims.sid.is_none() || !claims.has_scope("profile") {
        return Err(ApiError::new(&catalogue::FORBIDDEN));
    }
    Uuid::parse_str(&claims.sub).map_err(|_| ApiError::new(&catalogue::FORBIDDEN))
}

/// The one answer to each of the store's refusals.
pub fn problem(err: StoreError) -> ApiError {
    match err {
        StoreError::NotFound => ApiError::new(&catalogue::NOT_FOUND),
        StoreError::UnknownProcedure(code) => ApiError::new(&catalogue::VALIDATION_FAILED)
            .field("/procedure_code", format!("unknown procedure `{code}`")),
        StoreError::UnknownAgency(code) => ApiError::new(&catalogue::VALIDATION_FAILED)
            .field("/agency_code", format!("unknown agency `{code}`")),
        StoreError::AgencyNotAllowed(code) => ApiError::new(&catalogue::FORBIDDEN).field(
            "/agency_code",
            format!("this client does not act for `{code}`"),
        ),
        StoreError::Invalid { field, message } => {
            ApiError::new(&catalogue::VALIDATION_FAILED).field(format!("/{field}"), message)
        }
        StoreError::Transition(refused) => {
            let allowed: Vec<&str> = refused.allowed.iter().map(|s| s.as_str()).collect();
            let allowed = match allowed.is_empty() {
                true => "none (the dossier is closed)".to_string(),
                false => allowed.join(", "),
            };
            ApiError::new(&catalogue::TRANSITION_NOT_ALLOWED)
                .arg("from", refused.from.as_str())
                .arg("to", refused.to.as_str())
                .arg("allowed", &allowed)
                .field(
                    "/to",
                    format!("allowed from `{}`: {allowed}", refused.from.as_str()),
                )
        }
        StoreError::IdempotencyMismatch => ApiError::new(&catalogue::IDEMPOTENCY_KEY_REUSED),
        StoreError::Database(err) => ApiError::from(err),
        StoreError::Other(err) => ApiError::internal(err),
    }
}

pub use crate::http::payload::to_bytes;

/// The response an idempotent write keeps: its status and the view as JSON.
pub fn stored<T: poem_openapi::types::ToJSON>(status: u16, view: &T) -> store::StoredResponse {
    store::StoredResponse {
        status,
        body: view.to_json().unwrap_or_default(),
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

/// After a committed write: the citizen's entries go on every replica.
pub async fn invalidate(state: &AppState, citizen: Option<Uuid>) {
    if let Some(citizen) = citizen {
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

/// The `Idempotency-Key` header, bounded (it is stored).
pub fn idempotency_key(req: &poem::Request) -> ApiResult<Option<String>> {
    match req.header("idempotency-key") {
        None => Ok(None),
        Some(key)
            if (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Ok(Some(key.to_string()))
        }
        Some(_) => Err(ApiError::new(&catalogue::INVALID_REQUEST)
            .arg(
                "reason",
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            )
            .field("/Idempotency-Key", "1 to 255 visible ASCII characters")),
    }
}

/// An agency write, idempotent when the request carries `Idempotency-Key`: a retry (also one
/// racing the first) gets the first response and writes nothing; the same key with another body
/// is refused. `op` runs in the transaction and returns the status and the body.
pub async fn write_once<F>(
    state: &AppState,
    client_id: &str,
    key: Option<String>,
    request: (&str, &str, &[u8]),
    op: F,
) -> ApiResult<(u16, Bytes)>
where
    F: for<'c> FnOnce(
        &'c mut sqlx::PgConnection,
    )
        -> futures::future::BoxFuture<'c, Result<store::StoredResponse, StoreError>>,
{
    let Some(key) = key else {
        let mut tx = state.db.begin().await.map_err(ApiError::internal)?;
        let response = op(&mut tx).await.map_err(problem)?;
        tx.commit().await.map_err(ApiError::internal)?;
        return Ok((response.status, json_bytes(&response.body)));
    };
    let (method, path, body) = request;
    let hash = store::request_hash(method, path, body);
    let caller = format!("client:{client_id}");
    let (response, _replayed) = store::run_idempotent(&state.db, &caller, &key, &hash, op)
        .await
        .map_err(problem)?;
    Ok((response.status, json_bytes(&response.body)))
}

fn json_bytes(value: &serde_json::Value) -> Bytes {
    Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}
