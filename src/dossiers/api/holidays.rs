//! `/v1/ops/holidays`: operators keep the holiday table (the government moves days each year).
//! Due dates computed after an edit see it; due dates already promised stay as they were.

use time::Date;

use super::*;
use crate::state::operator::OperatorAuth;

#[derive(Default)]
pub struct HolidaysApi;

/// After an edit: due dates computed from now on read the table again, and the operator's
/// action is in the audit log.
async fn edited(
    (state, calendar, req): (&AppState, &HolidayCalendar, &Request),
    operator: OperatorAuth,
    action: &'static str,
    day: Date,
    details: serde_json::Value,
) {
    calendar.invalidate();
    operator
        .0
        .audit(state, req, action, day.to_string(), details)
        .await;
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
    /// Adds the day or replaces what the table said about it. Audited; due dates computed from
    /// now on count with it (at once on this replica, within 30 seconds on the others).
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
        day: Path<Date>,
        body: Json<HolidayBody>,
    ) -> ApiResult<Json<HolidayView>> {
        let row = store::HolidayRow {
            day: day.0,
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
        store::upsert_holiday(&state.db, &row)
            .await
            .map_err(service::problem)?;
        let details = serde_json::json!({ "name": row.name, "kind": row.kind.as_str() });
        edited(
            (&state, &calendar, req),
            operator,
            "holiday_set",
            day.0,
            details,
        )
        .await;
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
        day: Path<Date>,
    ) -> ApiResult<Deleted> {
        let deleted = store::delete_holiday(&state.db, day.0)
            .await
            .map_err(service::problem)?;
        if !deleted {
            return Err(ApiError::new(&catalogue::NOT_FOUND));
        }
        let details = serde_json::json!({});
        edited(
            (&state, &calendar, req),
            operator,
            "holiday_deleted",
            day.0,
            details,
        )
        .await;
        Ok(Deleted::NoContent)
    }
}
