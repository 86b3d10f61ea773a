//! The dossier endpoints: the public catalogue, agencies' back offices, the citizen's own
//! dossiers and notifications, the public lookup and the open statistics. Handlers parse, call
//! the store through `service`, and map; the citizen's reads and the catalogue are served from
//! Redis with `ETag` / `If-None-Match`.

use bytes::Bytes;
use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, OpenApi};
use time::OffsetDateTime;
use uuid::Uuid;

use super::service::{self, CATALOGUE, CITIZEN_DOSSIERS, STATS};
use super::store::{self, Caller, Cursor, DossierQuery, LookupFactor, ProcedureQuery};
use super::views::*;
use crate::http::payload::{Cached, JsonBytes, answer};
use crate::http::{ApiError, ApiResult, ApiTag, catalogue};
use crate::state::AppState;
use crate::tokens::BearerAuth;

mod agency;
mod citizen;
mod procedures;
mod public;

pub use agency::AgencyDossiersApi;
pub use citizen::CitizenDossiersApi;
pub use procedures::CatalogueApi;
pub use public::PublicDossiersApi;

/// A write of an agency: `201`/`200` with the body (a retry with the same `Idempotency-Key`
/// gets the first answer again).
#[derive(ApiResponse)]
pub enum Written<T: poem_openapi::types::Type + Send> {
    /// Registered.
    #[oai(status = 201)]
    Created(JsonBytes<T>),
    /// Done.
    #[oai(status = 200)]
    Ok(JsonBytes<T>),
}

#[derive(ApiResponse)]
enum Marked {
    /// Marked read.
    #[oai(status = 204)]
    NoContent,
}

#[derive(ApiResponse)]
enum StatsResponse {
    /// JSON, or CSV with `Accept: text/csv` (the same column names; one row per agency, the
    /// province last with `agency_code` empty).
    #[oai(status = 200)]
    Ok(StatsBody, #[oai(header = "Cache-Control")] String),
}

/// The statistics in the format the client accepts.
#[derive(poem_openapi::ResponseContent)]
enum StatsBody {
    Json(Json<StatsView>),
    #[oai(content_type = "text/csv; charset=utf-8")]
    Csv(PlainText<String>),
}

const PUBLIC_CACHE: &str = "public, max-age=60";
const PRIVATE_CACHE: &str = "private, no-cache";

fn limit_of(limit: Option<u32>) -> u32 {
    limit.unwrap_or(20).clamp(1, 100)
}

fn cursor_of(cursor: Option<&str>) -> ApiResult<Option<Cursor>> {
    cursor
        .map(|c| {
            Cursor::decode(c).ok_or_else(|| {
                ApiError::new(&catalogue::INVALID_REQUEST)
                    .arg("reason", "not a cursor this endpoint returned")
                    .field("/cursor", "not a cursor this endpoint returned")
            })
        })
        .transpose()
}

fn body_of<T: serde::Serialize>(body: &T) -> Vec<u8> {
    serde_json::to_vec(body).unwrap_or_default()
}

/// A dossier the caller may see, with its timeline.
async fn detail(state: &AppState, caller: &Caller, code: &str) -> ApiResult<DossierView> {
    let found = store::get_dossier(&state.db, caller, code)
        .await
        .map_err(service::problem)?
        .ok_or_else(|| ApiError::new(&catalogue::NOT_FOUND))?;
    let holidays = store::load_holidays(&state.db)
        .await
        .map_err(service::problem)?;
    Ok(DossierView::of(
        found.dossier,
        Some(found.timeline),
        OffsetDateTime::now_utc(),
        &holidays,
    ))
}

/// Dossiers registered before the citizen first signed in become theirs.
async fn link(db: &sqlx::PgPool, citizen: Uuid) -> ApiResult<()> {
    let mut conn = db.acquire().await.map_err(ApiError::internal)?;
    store::link_citizen(&mut conn, citizen)
        .await
        .map_err(service::problem)?;
    Ok(())
}

/// After an agency's write: the applicant's cached dossiers go, on every replica.
async fn after_write(state: &AppState, body: &Bytes) {
    let code = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["code"].as_str().map(str::to_string));
    if let Some(code) = code
        && let Ok(citizen) = store::citizen_of(&state.db, &code).await
    {
        service::invalidate(state, citizen).await;
    }
}
