//! Agencies' back offices: registration, transitions, apologies, reads.

use super::*;

#[derive(Default)]
pub struct AgencyDossiersApi;

// Query parameters are handler arguments in poem-openapi.
#[allow(clippy::too_many_arguments)]
#[OpenApi(tag = "ApiTag::Dossiers")]
impl AgencyDossiersApi {
    /// Agency: register a dossier received at the counter
    ///
    /// Client credentials with `dossiers:write`, bound to the receiving agency. Assigns the code
    /// `{agency code}-{yyMMdd}-{NNNN}` (gap-free per agency and day), computes the due date in
    /// working days, and returns the signed receipt and the lookup PIN. An applicant who has
    /// signed in before sees the dossier at once; one who has not, when they first do.
    /// `Idempotency-Key` (optional) makes retries safe.
    #[oai(
        path = "/v1/agency/dossiers",
        method = "post",
        operation_id = "registerDossier"
    )]
    async fn register(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: BearerAuth,
        body: Json<CounterRegistrationBody>,
    ) -> ApiResult<Written<RegisteredView>> {
        let caller = service::agency(&auth, true)?;
        // The token says which agencies the back office acts for (checked offline, as any
        // resource server would); the store checks the procedure's agency the same way.
        if let Some(code) = &body.0.agency_code
            && !auth.0.may_act_for_agency(code)
        {
            return Err(service::problem(store::StoreError::AgencyNotAllowed(
                code.clone(),
            )));
        }
        let key = service::idempotency_key(req)?;
        let now = OffsetDateTime::now_utc();
        let holidays = store::load_holidays(&state.db)
            .await
            .map_err(service::problem)?;
        let registration = store::CounterRegistration {
            procedure_code: body.0.procedure_code.clone(),
            agency_code: body.0.agency_code.clone(),
            applicant_id_number: body.0.applicant_id_number.clone(),
            applicant_name: body.0.applicant_name.clone(),
            note: body.0.note.clone(),
        };
        let master = state.master_key();
        let signer = state.clone();
        let by = caller.clone();
        let (status, bytes) = service::write_once(
            &state,
            &auth.0.client_id,
            key,
            ("POST", "/v1/agency/dossiers", &body_of(&body.0)),
            move |conn| {
                Box::pin(async move {
                    let registered =
                        store::register_counter(conn, &master, &holidays, &by, &registration, now)
                            .await?;
                    let receipt = service::receipt(&signer, &registered, now)
                        .map_err(|e| store::StoreError::Other(anyhow::anyhow!("{e:?}")))?;
                    let d = registered.dossier.clone();
                    let view = RegisteredView {
                        code: d.code.clone(),
                        status: d.status.into(),
                        received_at: d.received_at,
                        due_at: d.due_at,
                        receipt,
                        lookup_pin: registered.lookup_pin.clone(),
                        dossier: DossierView::of(d, None, now, &holidays),
                    };
                    Ok(service::stored(201, &view))
                })
            },
        )
        .await?;
        after_write(&state, &bytes).await;
        Ok(match status {
            201 => Written::Created(JsonBytes::new(bytes)),
            _ => Written::Ok(JsonBytes::new(bytes)),
        })
    }

    /// Agency: change a dossier's status
    ///
    /// `{"to": "<status name>", "note": …}`. Refused with 409 listing the transitions allowed
    /// from the current status; another agency's dossier is 404. Every applied transition
    /// notifies the applicant in the same transaction.
    #[oai(
        path = "/v1/agency/dossiers/:code/transitions",
        method = "post",
        operation_id = "transitionDossier"
    )]
    async fn transition(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: BearerAuth,
        #[oai(validator(max_length = 64))] code: Path<String>,
        body: Json<TransitionBody>,
    ) -> ApiResult<Written<DossierView>> {
        let caller = service::agency(&auth, true)?;
        let key = service::idempotency_key(req)?;
        let now = OffsetDateTime::now_utc();
        let holidays = store::load_holidays(&state.db)
            .await
            .map_err(service::problem)?;
        let request = store::TransitionRequest {
            to: body.0.to.into(),
            note: body.0.note.clone(),
            result: body.0.result.clone(),
        };
        let path = format!("/v1/agency/dossiers/{}/transitions", code.0);
        let dossier_code = code.0.clone();
        let (_, bytes) = service::write_once(
            &state,
            &auth.0.client_id,
            key,
            ("POST", &path, &body_of(&body.0)),
            move |conn| {
                Box::pin(async move {
                    let dossier = store::apply_transition(
                        conn,
                        &holidays,
                        &caller,
                        &dossier_code,
                        &request,
                        now,
                    )
                    .await?;
                    let view = DossierView::of(dossier, None, now, &holidays);
                    Ok(service::stored(200, &view))
                })
            },
        )
        .await?;
        after_write(&state, &bytes).await;
        Ok(Written::Ok(JsonBytes::new(bytes)))
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
        req: &Request,
        auth: BearerAuth,
        #[oai(validator(max_length = 64))] code: Path<String>,
        body: Json<ApologyBody>,
    ) -> ApiResult<Written<DossierView>> {
        let caller = service::agency(&auth, true)?;
        let key = service::idempotency_key(req)?;
        let now = OffsetDateTime::now_utc();
        let holidays = store::load_holidays(&state.db)
            .await
            .map_err(service::problem)?;
        let path = format!("/v1/agency/dossiers/{}/apologies", code.0);
        let (dossier_code, apology) = (code.0.clone(), body.0.clone());
        let (_, bytes) = service::write_once(
            &state,
            &auth.0.client_id,
            key,
            ("POST", &path, &body_of(&body.0)),
            move |conn| {
                Box::pin(async move {
                    let dossier = store::apologise(
                        conn,
                        &caller,
                        &dossier_code,
                        apology.revised_due_at,
                        &apology.reason,
                        now,
                    )
                    .await?;
                    let view = DossierView::of(dossier, None, now, &holidays);
                    Ok(service::stored(200, &view))
                })
            },
        )
        .await?;
        after_write(&state, &bytes).await;
        Ok(Written::Ok(JsonBytes::new(bytes)))
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
        auth: BearerAuth,
        #[oai(validator(max_length = 64))] code: Path<String>,
    ) -> ApiResult<Json<DossierView>> {
        let caller = service::agency(&auth, false)?;
        detail(&state, &caller, &code.0).await.map(Json)
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
        let (now, holidays) = (
            OffsetDateTime::now_utc(),
            store::load_holidays(&state.db)
                .await
                .map_err(service::problem)?,
        );
        Ok(Json(DossierPage {
            items: page
                .items
                .into_iter()
                .map(|d| DossierView::of(d, None, now, &holidays))
                .collect(),
            next_cursor: page.next_cursor,
        }))
    }
}
