//! `/v1/ops/holidays`: operators keep the holiday table (the government moves days each year).
//! Due dates computed after an edit see it; due dates already promised stay as they were.

use futures::future::BoxFuture;
use time::Date;

use super::*;
use crate::audit::{Event, Outcome, RequestFacts};
use crate::http::day::Day;
use crate::state::operator::OperatorAuth;

#[derive(Default)]
pub struct HolidaysApi;

/// One edit of the holiday table: `write` and the operator's audit entry are committed together
/// (neither is kept without the other), and only when `write` says it changed something. Then
/// due dates computed from now on read the table again, and every citizen's cached dossiers go:
/// their days left and overdue flags count with the table.
async fn edit<F>(
    (state, calendar, req): (&AppState, &HolidayCalendar, &Request),
    operator: OperatorAuth,
    (action, day, details): (&'static str, Date, serde_json::Value),
    write: F,
) -> ApiResult<bool>
where
    F: for<'c> FnOnce(&'c mut sqlx::PgConnection) -> BoxFuture<'c, store::Result<bool>>,
{
    let mut tx = state.db.begin().await.map_err(ApiError::from)?;
    if !write(&mut tx).await.map_err(service::problem)? {
        return Ok(false);
    }
    let event = Event::new(action, Outcome::Success)
        .target(day.to_string())
        .details(details)
        .actor(operator.0.actor())
        .facts(&RequestFacts::of(req));
    crate::audit::record_in(&mut tx, event).await?;
    tx.commit().await?;
    calendar.invalidate();
    state.cache.invalidate_every_scope(CITIZEN_DOSSIERS).await;
    Ok(true)
}

#[derive(ApiResponse)]
enum Deleted {
    /// The day is an ordinary one again.
    #[oai(status = 204)]
    NoContent,
}

#[OpenApi(tag = "ApiTag::Operations")]
impl HolidaysApi {
    /// Operator: the holiday table
    ///
    /// Public holidays, days off and worked weekend days, in date order; `year` narrows to one.
    #[oai(
        path = "/v1/ops/holidays",
        method = "get",
        operation_id = "opsListHolidays"
    )]
    async fn list(
        &self,
        state: Data<&AppState>,
        req: &Request,
        operator: OperatorAuth,
        #[oai(validator(minimum(value = "2000"), maximum(value = "2100")))] year: Query<
            Option<i32>,
        >,
    ) -> ApiResult<Json<HolidayList>> {
        let rows = store::list_holidays(&state.db)
            .await
            .map_err(service::problem)?;
        let details = serde_json::json!({ "year": year.0 });
        operator
            .0
            .audit(&state, req, "holidays_listed", "holidays", details)
            .await;
        Ok(Json(HolidayList {
            items: rows
                .into_iter()
                .filter(|row| year.0.is_none_or(|y| row.day.year() == y))
                .map(Into::into)
                .collect(),
        }))
    }

    /// Operator: set a day of the holiday table
    ///
    /// Adds the day or replaces what the table said about it, with its audit entry in the same
    /// transaction. Due dates computed from now on count with it (at once on this replica,
    /// within 30 seconds on the others), and citizens' cached dossiers are recomputed.
    #[oai(
        path = "/v1/ops/holidays/:day",
        method = "put",
        operation_id = "opsSetHoliday"
    )]
    async fn put(
        &self,
        state: Data<&AppState>,
        calendar: Data<&HolidayCalendar>,
        req: &Request,
        operator: OperatorAuth,
        /// `YYYY-MM-DD`.
        day: Path<Day>,
        body: Json<HolidayBody>,
    ) -> ApiResult<Json<HolidayView>> {
        let row = store::HolidayRow {
            day: day.0.0,
            name: body.0.name.trim().to_string(),
            kind: body.0.kind.into(),
            note: body.0.note.clone(),
        };
        if row.name.is_empty() {
            return Err(ApiError::new(&catalogue::VALIDATION_FAILED).field_text(
                "/name",
                msg::NAME_LENGTH,
                Vec::new(),
            ));
        }
        let details = serde_json::json!({ "name": row.name, "kind": row.kind.as_str() });
        let stored = row.clone();
        edit(
            (&state, &calendar, req),
            operator,
            ("holiday_set", day.0.0, details),
            move |conn| {
                Box::pin(async move {
                    store::upsert_holiday(conn, &stored).await?;
                    Ok(true)
                })
            },
        )
        .await?;
        Ok(Json(row.into()))
    }

    /// Operator: remove a day from the holiday table
    ///
    /// The day counts as its weekday says again. Audited; 404 when the table has no such day.
    #[oai(
        path = "/v1/ops/holidays/:day",
        method = "delete",
        operation_id = "opsDeleteHoliday"
    )]
    async fn delete(
        &self,
        state: Data<&AppState>,
        calendar: Data<&HolidayCalendar>,
        req: &Request,
        operator: OperatorAuth,
        /// `YYYY-MM-DD`.
        day: Path<Day>,
    ) -> ApiResult<Deleted> {
        let day = day.0.0;
        let deleted = edit(
            (&state, &calendar, req),
            operator,
            ("holiday_deleted", day, serde_json::json!({})),
            move |conn| Box::pin(store::delete_holiday(conn, day)),
        )
        .await?;
        if !deleted {
            return Err(ApiError::new(&catalogue::NOT_FOUND));
        }
        Ok(Deleted::NoContent)
    }
}
