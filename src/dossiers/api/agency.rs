//! Agencies' back offices: registration at the counter, and the reads.

use super::*;

#[derive(Default)]
pub struct AgencyDossiersApi;

/// Registers one counter dossier in the caller's transaction and signs its receipt: the one
/// path of a single registration and of each item of a bulk import.
pub(super) async fn register_in(
    conn: &mut sqlx::PgConnection,
    state: &AppState,
    holidays: &Holidays,
    by: &Caller,
    body: &CounterRegistrationBody,
    now: OffsetDateTime,
) -> Result<(RegisteredView, Option<Uuid>), store::StoreError> {
    // The token says which agencies the back office acts for (checked offline, as any resource
    // server would), before anything about the procedure is looked up.
    if let (Some(code), Caller::Agency { agencies, .. }) = (&body.agency_code, by)
        && !agencies.contains(code)
    {
        return Err(store::StoreError::AgencyNotAllowed(code.clone()));
    }
    let registration = store::CounterRegistration {
        procedure_code: body.procedure_code.clone(),
        agency_code: body.agency_code.clone(),
        applicant_id_number: body.applicant_id_number.clone(),
        applicant_name: body.applicant_name.clone(),
        note: body.note.clone(),
    };
    let registered =
        store::register_counter(conn, &state.master_key(), holidays, by, &registration, now)
            .await?;
    let receipt = service::receipt(state, &registered, now)
        .map_err(|e| store::StoreError::Other(anyhow::anyhow!("{e:?}")))?;
    let d = registered.dossier;
    let citizen = d.citizen_id;
    let view = RegisteredView {
        code: d.code.clone(),
        status: d.status.into(),
        received_at: d.received_at,
        due_at: d.due_at,
        receipt,
        lookup_pin: registered.lookup_pin,
        dossier: DossierView::of(d, None, now, holidays),
    };
    Ok((view, citizen))
}

#[OpenApi(tag = "ApiTag::Dossiers")]
impl AgencyDossiersApi {
    /// Agency: register a dossier received at the counter
    ///
    /// Client credentials with `dossiers:write`, bound to the receiving agency. Assigns the code
    /// `{agency code}-{yyMMdd}-{NNNN}` (gap-free per agency and day), computes the due date in
    /// working days, and returns the signed receipt and the lookup PIN. An applicant who has
    /// signed in before sees the dossier at once; one who has not, when they first do.
    #[oai(
        path = "/v1/agency/dossiers",
        method = "post",
        operation_id = "registerDossier"
    )]
    async fn register(
        &self,
        state: Data<&AppState>,
        calendar: Data<&HolidayCalendar>,
        auth: BearerAuth,
        /// Makes retries safe: a retry with the same key (1 to 255 visible ASCII characters)
        /// gets the first answer and writes nothing; the same key with another body is refused.
        #[oai(name = "Idempotency-Key", validator(min_length = 1, max_length = 255))]
        idempotency_key: Header<Option<String>>,
        body: Json<CounterRegistrationBody>,
    ) -> ApiResult<Written<RegisteredView>> {
        let caller = service::agency(&auth, true)?;
        let now = OffsetDateTime::now_utc();
        let holidays = calendar
            .for_write(&state.db)
            .await
            .map_err(service::problem)?;
        let app = state.clone();
        let item = body.0.clone();
        let (status, bytes) = service::agency_write(
            &state,
            idempotency_key.0.as_deref(),
            &auth.0.client_id,
            ("/v1/agency/dossiers", &body_of(&body.0)),
            move |conn| {
                Box::pin(async move {
                    let (view, citizen) =
                        register_in(conn, &app, &holidays, &caller, &item, now).await?;
                    Ok(service::written(201, &view, citizen))
                })
            },
        )
        .await?;
        Ok(match status {
            201 => Written::Created(JsonBytes::new(bytes)),
            _ => Written::Ok(JsonBytes::new(bytes)),
        })
    }

    /// Agency: a dossier with its timeline
    ///
    /// `dossiers:read` or `dossiers:write`; another agency's dossier is 404.
    #[oai(
        path = "/v1/agency/dossiers/:code",
        method = "get",
        operation_id = "showAgencyDossier"
    )]
    async fn agency_dossier(
        &self,
        state: Data<&AppState>,
        calendar: Data<&HolidayCalendar>,
        auth: BearerAuth,
        code: Path<DossierCodeParam>,
    ) -> ApiResult<Json<DossierView>> {
        let caller = service::agency(&auth, false)?;
        detail(&state, &calendar, &caller, &code.0).await.map(Json)
    }

    /// Agency: a document of a dossier
    ///
    /// `dossiers:read` or `dossiers:write`, bound to the dossier's agency (else 404). Streamed
    /// as the citizen uploaded it, as an attachment with the recorded type and its SHA-256 in
    /// `Repr-Digest`.
    #[oai(
        path = "/v1/agency/dossiers/:code/documents/:id",
        method = "get",
        operation_id = "downloadAgencyDocument"
    )]
    async fn agency_document(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        code: Path<DossierCodeParam>,
        id: Path<Uuid>,
    ) -> ApiResult<DocumentDownload> {
        let caller = service::agency(&auth, false)?;
        document(&state, &caller, &code.0, id.0).await
    }

    /// Agency: online submissions waiting for receipt
    ///
    /// At the agencies the client is bound to, oldest first.
    #[oai(
        path = "/v1/agency/submissions",
        method = "get",
        operation_id = "listSubmissions"
    )]
    async fn submissions(
        &self,
        state: Data<&AppState>,
        calendar: Data<&HolidayCalendar>,
        auth: BearerAuth,
        #[oai(validator(max_length = 128))] cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] limit: Query<Option<u32>>,
    ) -> ApiResult<Json<DossierPage>> {
        let Caller::Agency { agencies, .. } = service::agency(&auth, false)? else {
            return Err(ApiError::new(&catalogue::FORBIDDEN));
        };
        let after = cursor_of(cursor.0.as_deref())?;
        let page = store::list_submissions(&state.db, &agencies, after.as_ref(), limit_of(limit.0))
            .await
            .map_err(service::problem)?;
        let holidays = calendar.get(&state.db).await.map_err(service::problem)?;
        Ok(Json(page_view(page, &holidays)))
    }
}
