//! The citizen's side of the online flow after (and before) submitting: answering a supplement
//! request, withdrawing, and drafts saved to resume later.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{Value, json};

use super::*;
use crate::audit::{Event, RequestFacts};
use crate::dossiers::apply::{self as application, AttachedDocument};

#[derive(Default)]
pub struct OnlineDossiersApi;

#[derive(ApiResponse)]
enum DraftDeleted {
    /// Deleted; the uploads it named stay the citizen's.
    #[oai(status = 204)]
    NoContent,
}

/// The largest draft form kept, as JSON.
pub const MAX_DRAFT_FORM_BYTES: usize = 256 * 1024;

/// `Idempotency-Key`, required on a citizen's writes as on their submission.
fn required_key(header: Option<&str>) -> ApiResult<store::IdempotencyKey> {
    service::idempotency_key(header)?.ok_or_else(|| {
        ApiError::new(&catalogue::INVALID_REQUEST)
            .arg_text("reason", msg::IDEMPOTENCY_KEY_REQUIRED)
            .field_text(
                "/Idempotency-Key",
                msg::IDEMPOTENCY_KEY_REQUIRED,
                Vec::new(),
            )
    })
}

/// What can be said of the documents without the database: types given, no upload twice.
fn check_documents(documents: &[AttachedDocument]) -> ApiResult<()> {
    let mut error = ApiError::new(&catalogue::VALIDATION_FAILED);
    let mut failed = false;
    let mut seen = HashSet::new();
    for (i, doc) in documents.iter().enumerate() {
        let kind = doc.kind.trim();
        if kind.is_empty() || kind.chars().count() > 64 {
            let pointer = format!("/documents/{i}/type");
            error = error.field_text(pointer, msg::DOCUMENT_TYPE, Vec::new());
            failed = true;
        }
        if !seen.insert(doc.upload_id) {
            let pointer = format!("/documents/{i}/upload_id");
            error = error.field_text(pointer, msg::DOCUMENT_UPLOAD, Vec::new());
            failed = true;
        }
    }
    match failed {
        true => Err(error),
        false => Ok(()),
    }
}

fn check_supplement(body: &SupplementBody) -> ApiResult<()> {
    if body.documents.len() > 20 {
        return Err(ApiError::new(&catalogue::VALIDATION_FAILED).field_text(
            "/documents",
            msg::DOCUMENT_TYPE,
            Vec::new(),
        ));
    }
    if body
        .note
        .as_deref()
        .is_some_and(|n| n.chars().count() > 2000)
    {
        return Err(ApiError::new(&catalogue::VALIDATION_FAILED).field_text(
            "/note",
            msg::NOTE_LENGTH,
            Vec::new(),
        ));
    }
    check_documents(&body.documents)
}

/// A draft's form is an object of bounded size, and its documents the citizen's own uploads
/// that no dossier holds.
async fn check_draft(state: &AppState, citizen: Uuid, body: &DraftBody) -> ApiResult<()> {
    let size = serde_json::to_vec(&body.form).map_or(usize::MAX, |b| b.len());
    if !body.form.is_object() || size > MAX_DRAFT_FORM_BYTES {
        let limit = vec![("limit", MAX_DRAFT_FORM_BYTES.to_string())];
        return Err(ApiError::new(&catalogue::VALIDATION_FAILED).field_text(
            "/form",
            msg::DRAFT_FORM,
            limit,
        ));
    }
    check_documents(&body.documents)?;
    let ids: Vec<Uuid> = body.documents.iter().map(|d| d.upload_id).collect();
    let mut conn = state.db.acquire().await.map_err(ApiError::internal)?;
    let own = store::own_unattached_uploads(&mut conn, citizen, &ids)
        .await
        .map_err(service::problem)?;
    let mut error = ApiError::new(&catalogue::VALIDATION_FAILED);
    let mut failed = false;
    for (i, doc) in body.documents.iter().enumerate() {
        if !own.contains(&doc.upload_id) {
            let pointer = format!("/documents/{i}/upload_id");
            error = error.field_text(pointer, msg::DOCUMENT_UPLOAD, Vec::new());
            failed = true;
        }
    }
    match failed {
        true => Err(error),
        false => Ok(()),
    }
}

/// A citizen's write on one of their dossiers, once per `Idempotency-Key`, answering the
/// dossier as it now is.
async fn on_own_dossier<F>(
    state: &AppState,
    (citizen, key): (Uuid, &str),
    (path, raw): (&str, &[u8]),
    holidays: Arc<Holidays>,
    op: F,
) -> ApiResult<Written<DossierView>>
where
    F: for<'c> FnOnce(
            &'c mut sqlx::PgConnection,
        )
            -> futures::future::BoxFuture<'c, Result<store::Dossier, store::StoreError>>
        + Send
        + 'static,
{
    let caller = format!("citizen:{citizen}");
    let (_, bytes) = service::write_once_as(
        state,
        Some(key),
        &caller,
        (path, raw),
        move |conn| {
            Box::pin(async move {
                let dossier = op(conn).await?;
                let view = DossierView::of(dossier, None, OffsetDateTime::now_utc(), &holidays);
                Ok(service::written(200, &view, [citizen]))
            })
        },
        service::citizen_problem,
    )
    .await?;
    Ok(Written::Ok(JsonBytes::new(bytes)))
}

async fn audit_draft(
    state: &AppState,
    req: &Request,
    action: &'static str,
    citizen: Uuid,
    procedure_code: &str,
) {
    let event = Event::success(action, procedure_code, json!({}))
        .actor(citizen.to_string())
        .facts(&RequestFacts::of(req));
    state.audit.record(event).await;
}

#[allow(clippy::too_many_arguments)]
#[OpenApi(tag = "ApiTag::Dossiers")]
impl OnlineDossiersApi {
    /// Citizen: answer a supplement request (identity level 2)
    ///
    /// For a dossier in `supplement_requested` (409 with the allowed transitions otherwise;
    /// another citizen's dossier is 404): `documents` brings each document the agency named
    /// (`supplement_request.documents` of the dossier), as the citizen's own uploads not yet
    /// attached, within the per-dossier size cap; `note` is optional. The dossier returns to
    /// the status it was in before the request (`submitted` or `processing`), the paused clock
    /// runs again with the due date moved by the pause, and the agency is told
    /// (`dossier.supplemented` webhook) in the same transaction. `Idempotency-Key` is required;
    /// a level-1 token gets the step-up challenge whatever the body.
    #[oai(
        path = "/v1/me/dossiers/:code/supplements",
        method = "post",
        operation_id = "supplementMyDossier"
    )]
    async fn supplement(
        &self,
        state: Data<&AppState>,
        calendar: Data<&HolidayCalendar>,
        auth: BearerAuth,
        code: Path<DossierCodeParam>,
        /// Required; 1 to 255 visible ASCII characters.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: Header<Option<String>>,
        body: JsonBytes<SupplementBody>,
    ) -> ApiResult<Written<DossierView>> {
        auth.require_level2()?;
        let citizen = service::citizen(&auth)?;
        let key = required_key(idempotency_key.0.as_deref())?;
        let parsed: SupplementBody = application::parse_body(&body.0)?;
        check_supplement(&parsed)?;
        let supplement = store::Supplement {
            documents: parsed
                .documents
                .iter()
                .map(|d| (d.kind.trim().to_string(), d.upload_id))
                .collect(),
            note: parsed.note,
        };
        let holidays = calendar
            .for_write(&state.db)
            .await
            .map_err(service::problem)?;
        let (max, now, on) = (
            state.config.max_dossier_bytes,
            OffsetDateTime::now_utc(),
            holidays.clone(),
        );
        let path = format!("/v1/me/dossiers/{}/supplements", code.0);
        let code = code.0.into_inner();
        let request = (path.as_str(), body.0.as_ref());
        on_own_dossier(
            &state,
            (citizen, key.as_str()),
            request,
            holidays,
            move |conn| {
                Box::pin(async move {
                    store::supply(conn, &on, citizen, &code, &supplement, max, now)
                        .await
                        .map(|supplied| supplied.dossier)
                })
            },
        )
        .await
    }

    /// Citizen: withdraw a dossier (identity level 2)
    ///
    /// `{"reason"}` (1 to 2000 characters). Allowed before a result, from `submitted`,
    /// `received`, `processing`, `supplement_requested` or `awaiting_fee`; otherwise 409 with
    /// the allowed transitions (none). Another citizen's dossier is 404. The dossier becomes
    /// `withdrawn` and the agency is told (`dossier.withdrawn` webhook) in the same
    /// transaction. `Idempotency-Key` is required, as on every citizen's write; a level-1 token
    /// gets the step-up challenge whatever the body.
    #[oai(
        path = "/v1/me/dossiers/:code/withdrawal",
        method = "post",
        operation_id = "withdrawMyDossier"
    )]
    async fn withdrawal(
        &self,
        state: Data<&AppState>,
        calendar: Data<&HolidayCalendar>,
        auth: BearerAuth,
        code: Path<DossierCodeParam>,
        /// Required; 1 to 255 visible ASCII characters.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: Header<Option<String>>,
        body: JsonBytes<WithdrawalBody>,
    ) -> ApiResult<Written<DossierView>> {
        auth.require_level2()?;
        let citizen = service::citizen(&auth)?;
        let key = required_key(idempotency_key.0.as_deref())?;
        let parsed: WithdrawalBody = application::parse_body(&body.0)?;
        let holidays = calendar
            .for_write(&state.db)
            .await
            .map_err(service::problem)?;
        let (now, on) = (OffsetDateTime::now_utc(), holidays.clone());
        let path = format!("/v1/me/dossiers/{}/withdrawal", code.0);
        let code = code.0.into_inner();
        let request = (path.as_str(), body.0.as_ref());
        on_own_dossier(
            &state,
            (citizen, key.as_str()),
            request,
            holidays,
            move |conn| {
                Box::pin(async move {
                    store::withdraw(conn, &on, citizen, &code, &parsed.reason, now).await
                })
            },
        )
        .await
    }

    /// Citizen: save a draft application
    ///
    /// Creates (201) or replaces (200) the citizen's draft for an online procedure: the form
    /// as far as filled in (any JSON object up to 256 KiB; the schema is checked only on
    /// submission) and the uploads meant for it (the citizen's own, not yet attached). Resume
    /// it on any device; submitting the procedure (`POST /v1/me/dossiers`) deletes it in the
    /// same transaction. The uploads stay the citizen's whatever becomes of the draft.
    #[oai(
        path = "/v1/me/drafts/:procedure_code",
        method = "put",
        operation_id = "saveDraft"
    )]
    async fn save_draft(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: BearerAuth,
        #[oai(validator(max_length = 32))] procedure_code: Path<String>,
        body: Json<DraftBody>,
    ) -> ApiResult<Written<DraftView>> {
        let citizen = service::citizen(&auth)?;
        check_draft(&state, citizen, &body.0).await?;
        let documents: Vec<Value> = body
            .0
            .documents
            .iter()
            .map(|d| json!({"type": d.kind.trim(), "upload_id": d.upload_id}))
            .collect();
        let mut tx = state.db.begin().await.map_err(ApiError::internal)?;
        let (draft, created) = store::save_draft(
            &mut tx,
            citizen,
            &procedure_code.0,
            (&body.0.form, &Value::Array(documents)),
            OffsetDateTime::now_utc(),
        )
        .await
        .map_err(service::problem)?;
        tx.commit().await.map_err(ApiError::internal)?;
        audit_draft(&state, req, "draft_saved", citizen, &procedure_code.0).await;
        let bytes = service::to_bytes(&DraftView::from(draft));
        Ok(match created {
            true => Written::Created(JsonBytes::new(bytes)),
            false => Written::Ok(JsonBytes::new(bytes)),
        })
    }

    /// Citizen: their drafts
    ///
    /// Most recently saved first, in keyset pages.
    #[oai(path = "/v1/me/drafts", method = "get", operation_id = "listDrafts")]
    async fn drafts(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(validator(max_length = 128))] cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] limit: Query<Option<u32>>,
    ) -> ApiResult<Json<DraftPage>> {
        let citizen = service::citizen(&auth)?;
        let after = cursor_of(cursor.0.as_deref())?;
        let page = store::list_drafts(&state.db, citizen, after.as_ref(), limit_of(limit.0))
            .await
            .map_err(service::problem)?;
        Ok(Json(DraftPage {
            items: page.items.into_iter().map(DraftView::from).collect(),
            next_cursor: page.next_cursor,
        }))
    }

    /// Citizen: one of their drafts
    ///
    /// 404 when the citizen has no draft for the procedure.
    #[oai(
        path = "/v1/me/drafts/:procedure_code",
        method = "get",
        operation_id = "showDraft"
    )]
    async fn draft(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(validator(max_length = 32))] procedure_code: Path<String>,
    ) -> ApiResult<Json<DraftView>> {
        let citizen = service::citizen(&auth)?;
        store::get_draft(&state.db, citizen, &procedure_code.0)
            .await
            .map_err(service::problem)?
            .map(|d| Json(DraftView::from(d)))
            .ok_or_else(|| ApiError::new(&catalogue::NOT_FOUND))
    }

    /// Citizen: delete a draft
    ///
    /// The uploads it named stay the citizen's. 404 when there is none.
    #[oai(
        path = "/v1/me/drafts/:procedure_code",
        method = "delete",
        operation_id = "deleteDraft"
    )]
    async fn delete_draft(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: BearerAuth,
        #[oai(validator(max_length = 32))] procedure_code: Path<String>,
    ) -> ApiResult<DraftDeleted> {
        let citizen = service::citizen(&auth)?;
        let mut conn = state.db.acquire().await.map_err(ApiError::internal)?;
        let deleted = store::delete_draft(&mut conn, citizen, &procedure_code.0)
            .await
            .map_err(service::problem)?;
        drop(conn);
        match deleted {
            true => {
                audit_draft(&state, req, "draft_deleted", citizen, &procedure_code.0).await;
                Ok(DraftDeleted::NoContent)
            }
            false => Err(ApiError::new(&catalogue::NOT_FOUND)),
        }
    }
}
