//! The dossier endpoints: the public catalogue, agencies' back offices, the citizen's own
//! dossiers and notifications, the public lookup and the open statistics. Handlers parse, call
//! the store through `service`, and map; the citizen's reads and the catalogue are served from
//! Redis with `ETag` / `If-None-Match`.

use bytes::Bytes;
use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, OpenApi};
use time::OffsetDateTime;
use uuid::Uuid;

use super::HolidayCalendar;
use super::apply;
use super::calendar::Holidays;
use super::messages as msg;
use super::service::{self, CATALOGUE, CITIZEN_DOSSIERS, STATS};
use super::store::{self, Caller, Cursor, DossierQuery, LookupFactor, ProcedureQuery};
use super::views::*;
use crate::documents::service::DocumentDownload;
use crate::http::payload::{Cached, JsonBytes, answer};
use crate::http::{ApiError, ApiResult, ApiTag, catalogue};
use crate::state::AppState;
use crate::tokens::BearerAuth;

mod agency;
mod bulk;
mod citizen;
mod events;
mod holidays;
mod online;
mod procedures;
mod public;

pub use agency::AgencyDossiersApi;
pub use bulk::BulkDossiersApi;
pub use citizen::CitizenDossiersApi;
pub use events::AgencyEventsApi;
pub use holidays::HolidaysApi;
pub use online::OnlineDossiersApi;
pub use procedures::CatalogueApi;
pub use public::PublicDossiersApi;

crate::shape!(
    /// A dossier code as the national format writes it, e.g. `000.00.00.H12-250101-0001`.
    DossierCodeShape,
    max_length = 64,
    pattern = r"^[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.H[0-9]{2}-[0-9]{6}-[0-9]{4,9}$"
);
/// A dossier code in a path: refused with 400 when it is not one.
pub type DossierCodeParam = crate::http::Shaped<DossierCodeShape>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::shaped::Shape;

    #[test]
    fn the_dossier_code_shape_compiles_and_takes_the_codes_we_issue() {
        let issued = crate::dossiers::model::DossierCode::new(
            crate::dossiers::model::AgencyCode::parse("000.00.00.H12").unwrap(),
            time::macros::date!(2025 - 01 - 01),
            1,
        );
        assert!(DossierCodeShape::regex().is_match(&issued.to_string()));
        for refused in ["000.00.00.H12-250101-001", "000.00.00.H12-250101-0001 ", ""] {
            assert!(DossierCodeParam::parse(refused).is_err(), "{refused:?}");
        }
    }
}

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
    Json(JsonBytes<StatsView>),
    #[oai(content_type = "text/csv; charset=utf-8")]
    Csv(PlainText<String>),
}

const PUBLIC_CACHE: &str = "public, max-age=60";
const PRIVATE_CACHE: &str = "private, no-cache";

fn limit_of(limit: Option<u32>) -> u32 {
    limit.unwrap_or(20).clamp(1, 100)
}

fn cursor_of(cursor: Option<&str>) -> ApiResult<Option<Cursor>> {
    Cursor::param(cursor)
}

fn body_of<T: serde::Serialize>(body: &T) -> Vec<u8> {
    serde_json::to_vec(body).unwrap_or_default()
}

/// A dossier the caller may see, with its timeline.
async fn detail(
    state: &AppState,
    calendar: &HolidayCalendar,
    caller: &Caller,
    code: &str,
) -> ApiResult<DossierView> {
    let found = store::get_dossier(&state.db, caller, code)
        .await
        .map_err(service::problem)?
        .ok_or_else(|| ApiError::new(&catalogue::NOT_FOUND))?;
    let holidays = calendar.get(&state.db).await.map_err(service::problem)?;
    Ok(DossierView::of(
        found.dossier,
        Some(found.timeline),
        OffsetDateTime::now_utc(),
        &holidays,
    ))
}

/// A document of a dossier the caller may see, streamed; anything else is 404.
async fn document(
    state: &AppState,
    caller: &Caller,
    code: &str,
    id: Uuid,
) -> ApiResult<DocumentDownload> {
    let not_found = || ApiError::new(&catalogue::NOT_FOUND);
    store::get_dossier(&state.db, caller, code)
        .await
        .map_err(service::problem)?
        .ok_or_else(not_found)?;
    let doc = crate::documents::store::of_dossier(&state.db, code, id)
        .await?
        .ok_or_else(not_found)?;
    crate::documents::service::download(state, &doc).await
}

/// A page of dossiers as the API shows them.
fn page_view(page: store::Page<store::Dossier>, holidays: &Holidays) -> DossierPage {
    let now = OffsetDateTime::now_utc();
    DossierPage {
        items: page
            .items
            .into_iter()
            .map(|d| DossierView::of(d, None, now, holidays))
            .collect(),
        next_cursor: page.next_cursor,
    }
}

/// Dossiers registered before the citizen first signed in become theirs.
async fn link(state: &AppState, citizen: Uuid) -> ApiResult<()> {
    let mut conn = state.db.acquire().await.map_err(ApiError::internal)?;
    let linked = store::link_citizen(&mut conn, citizen)
        .await
        .map_err(service::problem)?;
    drop(conn);
    // Dossiers registered before the citizen's identification number was known appear now:
    // whatever of theirs was cached without them goes.
    if !linked.is_empty() {
        service::invalidate(state, &[citizen]).await;
    }
    Ok(())
}
