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
use crate::http::payload::{JsonBytes, etag_of, not_modified};
use crate::http::{ApiError, ApiResult, ApiTag, catalogue};
use crate::state::AppState;
use crate::tokens::BearerAuth;

#[derive(Default)]
pub struct DossiersApi;

/// A cacheable read: the body with its strong `ETag`, or `304` when the client has it.
#[derive(ApiResponse)]
pub enum Cached<T: poem_openapi::types::Type + Send> {
    /// The resource.
    #[oai(status = 200)]
    Ok(
        JsonBytes<T>,
        #[oai(header = "ETag")] String,
        #[oai(header = "Cache-Control")] String,
    ),
    /// Unchanged since the `ETag` sent in `If-None-Match`.
    #[oai(status = 304)]
    NotModified(
        #[oai(header = "ETag")] String,
        #[oai(header = "Cache-Control")] String,
    ),
}

fn answer<T: poem_openapi::types::Type + Send>(
    req: &Request,
    bytes: Bytes,
    cache_control: &str,
) -> Cached<T> {
    let etag = etag_of(&bytes);
    if not_modified(req.header("if-none-match"), &etag) {
        return Cached::NotModified(etag, cache_control.into());
    }
    Cached::Ok(JsonBytes::new(bytes), etag, cache_control.into())
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
    /// JSON (`Accept: text/csv` for CSV with the same column names).
    #[oai(status = 200)]
    Json(Json<StatsView>, #[oai(header = "Cache-Control")] String),
    /// CSV, one row per agency and the province (`agency_code` empty) last.
    #[oai(status = 200, content_type = "text/csv; charset=utf-8")]
    Csv(PlainText<String>, #[oai(header = "Cache-Control")] String),
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

// Query parameters are handler arguments in poem-openapi.
#[allow(clippy::too_many_arguments)]
#[OpenApi(tag = "ApiTag::Dossiers")]
impl DossiersApi {
    /// Procedures of the catalogue
    ///
    /// Public. `q` is accent- and case-insensitive ("cap giay phep" finds "Cấp giấy phép") and
    /// ranks by similarity (one page); otherwise in code order with `cursor`.
    #[oai(
        path = "/v1/procedures",
        method = "get",
        operation_id = "listProcedures"
    )]
    async fn procedures(
        &self,
        state: Data<&AppState>,
        req: &Request,
        #[oai(validator(max_length = 200))] q: Query<Option<String>>,
        #[oai(validator(max_length = 40))] agency: Query<Option<String>>,
        online: Query<Option<bool>>,
        #[oai(validator(max_length = 64))] cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] limit: Query<Option<u32>>,
    ) -> ApiResult<Cached<ProcedurePage>> {
        let query = ProcedureQuery {
            q: q.0,
            agency: agency.0,
            online: online.0,
            after: cursor.0,
            limit: limit_of(limit.0),
        };
        let key = format!(
            "procedures|{:?}|{:?}|{:?}|{:?}|{}",
            query.q, query.agency, query.online, query.after, query.limit
        );
        let db = state.db.clone();
        let (bytes, _) = service::cached(
            &state,
            (CATALOGUE, ""),
            &key,
            service::CATALOGUE_TTL,
            || async move {
                let page = store::list_procedures(&db, &query)
                    .await
                    .map_err(service::problem)?;
                Ok(service::to_bytes(&ProcedurePage {
                    items: page.items.into_iter().map(ProcedureView::from).collect(),
                    next_cursor: page.next_cursor,
                }))
            },
        )
        .await?;
        Ok(answer(req, bytes, PUBLIC_CACHE))
    }

    /// A procedure, with its form schema and required documents
    #[oai(
        path = "/v1/procedures/:code",
        method = "get",
        operation_id = "showProcedure"
    )]
    async fn procedure(
        &self,
        state: Data<&AppState>,
        req: &Request,
        /// National procedure code.
        #[oai(validator(max_length = 32))]
        code: Path<String>,
    ) -> ApiResult<Cached<ProcedureView>> {
        let db = state.db.clone();
        let key = format!("procedure|{}", code.0);
        let (bytes, _) = service::cached(
            &state,
            (CATALOGUE, ""),
            &key,
            service::CATALOGUE_TTL,
            || async move {
                let procedure = store::get_procedure(&db, &code.0)
                    .await
                    .map_err(service::problem)?
                    .ok_or_else(|| ApiError::new(&catalogue::NOT_FOUND))?;
                Ok(service::to_bytes(&ProcedureView::from(procedure)))
            },
        )
        .await?;
        Ok(answer(req, bytes, PUBLIC_CACHE))
    }

    /// Agencies of the province
    #[oai(path = "/v1/agencies", method = "get", operation_id = "listAgencies")]
    async fn agencies(
        &self,
        state: Data<&AppState>,
        req: &Request,
    ) -> ApiResult<Cached<AgencyList>> {
        let db = state.db.clone();
        let (bytes, _) = service::cached(
            &state,
            (CATALOGUE, ""),
            "agencies",
            service::CATALOGUE_TTL,
            || async move {
                let agencies = store::list_agencies(&db).await.map_err(service::problem)?;
                Ok(service::to_bytes(&AgencyList {
                    items: agencies
                        .into_iter()
                        .map(|a| AgencyView {
                            code: a.code,
                            name: a.name,
                        })
                        .collect(),
                    next_cursor: None,
                }))
            },
        )
        .await?;
        Ok(answer(req, bytes, PUBLIC_CACHE))
    }

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
                    Ok(store::StoredResponse {
                        status: 201,
                        body: serde_json::from_slice(&service::to_bytes(&view)).unwrap_or_default(),
                    })
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
                    Ok(store::StoredResponse {
                        status: 200,
                        body: serde_json::from_slice(&service::to_bytes(&view)).unwrap_or_default(),
                    })
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
                    Ok(store::StoredResponse {
                        status: 200,
                        body: serde_json::from_slice(&service::to_bytes(&view)).unwrap_or_default(),
                    })
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

    /// The citizen's dossiers
    ///
    /// Newest first, in keyset pages; `status` and `overdue` filter. Served from cache, exact
    /// after every event.
    #[oai(
        path = "/v1/me/dossiers",
        method = "get",
        operation_id = "listMyDossiers"
    )]
    async fn my_dossiers(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: BearerAuth,
        status: Query<Option<StatusName>>,
        overdue: Query<Option<bool>>,
        #[oai(validator(max_length = 128))] cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] limit: Query<Option<u32>>,
    ) -> ApiResult<Cached<DossierPage>> {
        let citizen = service::citizen(&auth)?;
        let query = DossierQuery {
            status: status.0.map(Into::into),
            overdue: overdue.0,
            cursor: cursor_of(cursor.0.as_deref())?,
            limit: limit_of(limit.0),
        };
        let key = format!(
            "list|{:?}|{:?}|{}|{}",
            status.0,
            query.overdue,
            cursor.0.as_deref().unwrap_or(""),
            query.limit
        );
        let scope = citizen.to_string();
        let db = state.db.clone();
        let (bytes, _) = service::cached(
            &state,
            (CITIZEN_DOSSIERS, &scope),
            &key,
            service::CITIZEN_TTL,
            || async move {
                link(&db, citizen).await?;
                let now = OffsetDateTime::now_utc();
                let holidays = store::load_holidays(&db).await.map_err(service::problem)?;
                let page = store::list_for_citizen(&db, citizen, &query, now)
                    .await
                    .map_err(service::problem)?;
                Ok(service::to_bytes(&DossierPage {
                    items: page
                        .items
                        .into_iter()
                        .map(|d| DossierView::of(d, None, now, &holidays))
                        .collect(),
                    next_cursor: page.next_cursor,
                }))
            },
        )
        .await?;
        Ok(answer(req, bytes, PRIVATE_CACHE))
    }

    /// One of the citizen's dossiers, with its timeline
    ///
    /// Another citizen's dossier is 404, never 403, so codes cannot be probed.
    #[oai(
        path = "/v1/me/dossiers/:code",
        method = "get",
        operation_id = "showMyDossier"
    )]
    async fn my_dossier(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: BearerAuth,
        #[oai(validator(max_length = 64))] code: Path<String>,
    ) -> ApiResult<Cached<DossierView>> {
        let citizen = service::citizen(&auth)?;
        let scope = citizen.to_string();
        let key = format!("detail|{}", code.0);
        let app = state.clone();
        let (bytes, _) = service::cached(
            &state,
            (CITIZEN_DOSSIERS, &scope),
            &key,
            service::CITIZEN_TTL,
            || async move {
                link(&app.db, citizen).await?;
                let view = detail(&app, &Caller::Citizen(citizen), &code.0).await?;
                Ok(service::to_bytes(&view))
            },
        )
        .await?;
        Ok(answer(req, bytes, PRIVATE_CACHE))
    }

    /// The citizen's notifications
    ///
    /// Newest first, with the unread count.
    #[oai(
        path = "/v1/notifications",
        method = "get",
        operation_id = "listNotifications"
    )]
    async fn notifications(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(validator(max_length = 128))] cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] limit: Query<Option<u32>>,
    ) -> ApiResult<Json<NotificationPage>> {
        let citizen = service::citizen(&auth)?;
        link(&state.db, citizen).await?;
        let after = cursor_of(cursor.0.as_deref())?;
        let page = store::list_notifications(&state.db, citizen, after.as_ref(), limit_of(limit.0))
            .await
            .map_err(service::problem)?;
        Ok(Json(page.into()))
    }

    /// Mark a notification read
    #[oai(
        path = "/v1/notifications/:id/read",
        method = "post",
        operation_id = "markNotificationRead"
    )]
    async fn mark_read(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<Marked> {
        let citizen = service::citizen(&auth)?;
        match store::mark_read(&state.db, citizen, id.0, OffsetDateTime::now_utc())
            .await
            .map_err(service::problem)?
        {
            true => Ok(Marked::NoContent),
            false => Err(ApiError::new(&catalogue::NOT_FOUND)),
        }
    }

    /// Public lookup from a receipt
    ///
    /// The dossier code and the PIN printed on the receipt (or the applicant's ID number).
    /// Status, procedure, dates and the timeline's statuses only. An unknown code and a wrong
    /// PIN get the same answer; callers are rate limited per address.
    #[oai(
        path = "/v1/dossiers/lookup",
        method = "post",
        operation_id = "lookupDossier"
    )]
    async fn lookup(
        &self,
        state: Data<&AppState>,
        body: Json<LookupBody>,
    ) -> ApiResult<Json<PublicDossierView>> {
        let factor = match (body.0.pin, body.0.id_number) {
            (Some(pin), None) => LookupFactor::Pin(pin),
            (None, Some(id)) => LookupFactor::IdNumber(id),
            _ => {
                return Err(ApiError::new(&catalogue::VALIDATION_FAILED).field(
                    "/pin",
                    "give the receipt's pin or the applicant's id_number, one of them",
                ));
            }
        };
        let found = store::lookup(
            &state.db,
            &state.master_key(),
            &body.0.code,
            &factor,
            OffsetDateTime::now_utc(),
        )
        .await
        .map_err(service::problem)?;
        // One answer for "no such dossier" and "wrong factor": nothing to tell them apart by.
        found
            .map(|view| Json(view.into()))
            .ok_or_else(|| ApiError::new(&catalogue::NOT_FOUND))
    }

    /// Open statistics of the dossiers
    ///
    /// Per agency and for the province, for a month (`YYYY-MM`, default the current one):
    /// received, finished, on time (by the promised date, supplement time excluded), late, in
    /// progress, overdue now, on-time rate and online share. `Accept: text/csv` for CSV.
    #[oai(
        path = "/v1/stats/dossiers",
        method = "get",
        operation_id = "dossierStatistics"
    )]
    async fn stats(
        &self,
        state: Data<&AppState>,
        req: &Request,
        #[oai(validator(max_length = 40))] agency: Query<Option<String>>,
        #[oai(validator(max_length = 7))] month: Query<Option<String>>,
    ) -> ApiResult<StatsResponse> {
        let month = match month.0.as_deref() {
            None => None,
            Some(text) => Some(store::Month::parse(text).ok_or_else(|| {
                ApiError::new(&catalogue::VALIDATION_FAILED).field("/month", "YYYY-MM")
            })?),
        };
        let key = format!("{:?}|{:?}", agency.0, month.map(|m| m.to_string()));
        let db = state.db.clone();
        let (bytes, _) = service::cached(
            &state,
            (STATS, ""),
            &key,
            service::STATS_TTL,
            || async move {
                let report =
                    store::stats(&db, agency.0.as_deref(), month, OffsetDateTime::now_utc())
                        .await
                        .map_err(service::problem)?;
                Ok(service::to_bytes(&StatsView {
                    month: report.month,
                    items: report.items.into_iter().map(Into::into).collect(),
                    province: report.province.into(),
                }))
            },
        )
        .await?;
        let view: StatsView = serde_json::from_slice(&bytes)
            .ok()
            .and_then(|v| poem_openapi::types::ParseFromJSON::parse_from_json(Some(v)).ok())
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("statistics entry unreadable")))?;
        let wants_csv = req.header("accept").is_some_and(|a| a.contains("text/csv"));
        Ok(match wants_csv {
            true => StatsResponse::Csv(PlainText(stats_csv(&view)), PUBLIC_CACHE.into()),
            false => StatsResponse::Json(Json(view), PUBLIC_CACHE.into()),
        })
    }
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
