//! What agencies record on a dossier: status changes, apologies, transfers and result details.
//! Each is one idempotent write answering the dossier as it now is.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::*;

#[derive(Default)]
pub struct AgencyEventsApi;

/// What a write on one dossier works with.
struct OnDossier {
    caller: Caller,
    code: String,
    now: OffsetDateTime,
    holidays: Arc<Holidays>,
}

/// `POST /v1/agency/dossiers/{code}/{what}`: runs `op` on the dossier through
/// [`service::agency_write`] and answers the dossier; its applicant's cache goes.
async fn on_dossier<B, F>(
    (state, calendar, key, auth): (&AppState, &HolidayCalendar, Option<&str>, &BearerAuth),
    (code, what): (&str, &str),
    body: &B,
    op: F,
) -> ApiResult<Written<DossierView>>
where
    B: serde::Serialize,
    F: for<'c> FnOnce(
            &'c mut sqlx::PgConnection,
            &'c OnDossier,
        ) -> BoxFuture<'c, Result<store::Dossier, store::StoreError>>
        + Send
        + 'static,
{
    let on = OnDossier {
        caller: service::agency(auth, true)?,
        code: code.to_string(),
        now: OffsetDateTime::now_utc(),
        holidays: calendar
            .for_write(&state.db)
            .await
            .map_err(service::problem)?,
    };
    let path = format!("/v1/agency/dossiers/{code}/{what}");
    let (_, bytes) = service::agency_write(
        state,
        key,
        &auth.0.client_id,
        (&path, &body_of(body)),
        move |conn| {
            Box::pin(async move {
                let dossier = op(conn, &on).await?;
                let citizen = dossier.citizen_id;
                let view = DossierView::of(dossier, None, on.now, &on.holidays);
                Ok(service::written(200, &view, citizen))
            })
        },
    )
    .await?;
    Ok(Written::Ok(JsonBytes::new(bytes)))
}

#[OpenApi(tag = "ApiTag::Dossiers")]
impl AgencyEventsApi {
    /// Agency: change a dossier's status
    ///
    /// `{"to": "<status name>", "note": …}`, with `result` details on `result_ready` if the
    /// agency has them. Refused with 409 listing the transitions allowed from the current
    /// status; another agency's dossier is 404. Every applied transition notifies the applicant
    /// in the same transaction. Receiving an online submission (`received`) computes its due
    /// date in working days from that instant (after the procedure's cut-off hour, from the
    /// next working day). Refusing at intake (`refused`) and requesting a supplement
    /// (`supplement_requested`) need the reason in `note` (422 otherwise); a supplement request
    /// may name the missing or wrong documents in `documents` (codes of the procedure's
    /// `required_documents`), which the citizen then sees on the dossier and must bring.
    #[oai(
        path = "/v1/agency/dossiers/:code/transitions",
        method = "post",
        operation_id = "transitionDossier"
    )]
    async fn transition(
        &self,
        state: Data<&AppState>,
        calendar: Data<&HolidayCalendar>,
        auth: BearerAuth,
        code: Path<DossierCodeParam>,
        /// Makes retries safe: a retry with the same key (1 to 255 visible ASCII characters)
        /// gets the first answer and writes nothing; the same key with another body is refused.
        #[oai(name = "Idempotency-Key", validator(min_length = 1, max_length = 255))]
        idempotency_key: Header<Option<String>>,
        body: Json<TransitionBody>,
    ) -> ApiResult<Written<DossierView>> {
        let request = store::TransitionRequest {
            to: body.0.to.into(),
            note: body.0.note.clone(),
            result: body.0.result.as_ref().map(ResultDetails::to_value),
        };
        let supplement = request.to == crate::dossiers::model::Status::SupplementRequested;
        if body.0.documents.is_some() && !supplement {
            return Err(ApiError::new(&catalogue::VALIDATION_FAILED).field_text(
                "/documents",
                msg::SUPPLEMENT_DOCUMENTS_ONLY,
                Vec::new(),
            ));
        }
        let documents = body.0.documents.clone().unwrap_or_default();
        let ctx = (*state, *calendar, idempotency_key.0.as_deref(), &auth);
        on_dossier(ctx, (&code.0, "transitions"), &body.0, move |conn, on| {
            Box::pin(async move {
                let (holidays, by, code) = (&on.holidays, &on.caller, &on.code);
                match supplement {
                    true => {
                        store::request_supplement(
                            conn, holidays, by, code, &request, &documents, on.now,
                        )
                        .await
                    }
                    false => {
                        store::apply_transition(conn, holidays, by, code, &request, on.now).await
                    }
                }
            })
        })
        .await
    }

    /// Agency: apologise for a late result with a revised due date
    ///
    /// Form 04: the citizen sees both dates; statistics keep judging by the promised one.
    #[oai(
        path = "/v1/agency/dossiers/:code/apologies",
        method = "post",
        operation_id = "apologiseForDossier"
    )]
    async fn apologise(
        &self,
        state: Data<&AppState>,
        calendar: Data<&HolidayCalendar>,
        auth: BearerAuth,
        code: Path<DossierCodeParam>,
        /// Makes retries safe: a retry with the same key (1 to 255 visible ASCII characters)
        /// gets the first answer and writes nothing; the same key with another body is refused.
        #[oai(name = "Idempotency-Key", validator(min_length = 1, max_length = 255))]
        idempotency_key: Header<Option<String>>,
        body: Json<ApologyBody>,
    ) -> ApiResult<Written<DossierView>> {
        let apology = body.0.clone();
        let ctx = (*state, *calendar, idempotency_key.0.as_deref(), &auth);
        on_dossier(ctx, (&code.0, "apologies"), &body.0, move |conn, on| {
            Box::pin(async move {
                let (revised, reason) = (apology.revised_due_at, &apology.reason);
                store::apologise(conn, &on.caller, &on.code, revised, reason, on.now).await
            })
        })
        .await
    }

    /// Agency: record a transfer between agencies or departments
    ///
    /// A line of the timeline (`kind` `transfer`, `details` with `from` and `to`) that the
    /// citizen sees; the status does not change. A closed dossier cannot be transferred.
    #[oai(
        path = "/v1/agency/dossiers/:code/transfers",
        method = "post",
        operation_id = "transferDossier"
    )]
    async fn transfer(
        &self,
        state: Data<&AppState>,
        calendar: Data<&HolidayCalendar>,
        auth: BearerAuth,
        code: Path<DossierCodeParam>,
        /// Makes retries safe: a retry with the same key (1 to 255 visible ASCII characters)
        /// gets the first answer and writes nothing; the same key with another body is refused.
        #[oai(name = "Idempotency-Key", validator(min_length = 1, max_length = 255))]
        idempotency_key: Header<Option<String>>,
        body: Json<TransferBody>,
    ) -> ApiResult<Written<DossierView>> {
        let transfer = body.0.clone();
        let ctx = (*state, *calendar, idempotency_key.0.as_deref(), &auth);
        on_dossier(ctx, (&code.0, "transfers"), &body.0, move |conn, on| {
            Box::pin(async move {
                let (from, to, note) = (&transfer.from, &transfer.to, transfer.note.as_deref());
                store::record_transfer(conn, &on.caller, &on.code, from, to, note, on.now).await
            })
        })
        .await
    }

    /// Agency: attach or correct the result's details
    ///
    /// For a dossier whose result is ready or returned (otherwise 422 naming `code`): the
    /// outcome, the document's number, its signer, where to collect it. The dossier's `result`
    /// becomes these details, and the timeline gains a `result` line.
    #[oai(
        path = "/v1/agency/dossiers/:code/result",
        method = "post",
        operation_id = "attachDossierResult"
    )]
    async fn result(
        &self,
        state: Data<&AppState>,
        calendar: Data<&HolidayCalendar>,
        auth: BearerAuth,
        code: Path<DossierCodeParam>,
        /// Makes retries safe: a retry with the same key (1 to 255 visible ASCII characters)
        /// gets the first answer and writes nothing; the same key with another body is refused.
        #[oai(name = "Idempotency-Key", validator(min_length = 1, max_length = 255))]
        idempotency_key: Header<Option<String>>,
        body: Json<ResultDetails>,
    ) -> ApiResult<Written<DossierView>> {
        let result = body.0.to_value();
        let ctx = (*state, *calendar, idempotency_key.0.as_deref(), &auth);
        on_dossier(ctx, (&code.0, "result"), &body.0, move |conn, on| {
            Box::pin(async move {
                store::attach_result(conn, &on.caller, &on.code, &result, on.now).await
            })
        })
        .await
    }
}
