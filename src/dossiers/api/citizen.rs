//! The citizen's own dossiers (cached per citizen) and notifications.

use super::*;

#[derive(Default)]
pub struct CitizenDossiersApi;

/// A read of the citizen's own dossiers, cached in their scope (every event on one of their
/// dossiers drops it). A miss first links the dossiers registered before their first sign-in.
async fn own_cached<T, F, Fut>(
    state: &AppState,
    req: &Request,
    citizen: Uuid,
    key: &str,
    load: F,
) -> ApiResult<Cached<T>>
where
    T: poem_openapi::types::Type + Send,
    F: FnOnce() -> Fut,
    Fut: Future<Output = ApiResult<Bytes>>,
{
    let linking = state.clone();
    let scope = citizen.to_string();
    let (bytes, _) = service::cached(
        state,
        (CITIZEN_DOSSIERS, &scope),
        key,
        service::CITIZEN_TTL,
        || async move {
            link(&linking, citizen).await?;
            load().await
        },
    )
    .await?;
    Ok(answer(req, bytes, PRIVATE_CACHE))
}

// Query parameters are handler arguments in poem-openapi.
#[allow(clippy::too_many_arguments)]
#[OpenApi(tag = "ApiTag::Dossiers")]
impl CitizenDossiersApi {
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
        calendar: Data<&HolidayCalendar>,
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
        let (db, calendar) = (state.db.clone(), calendar.clone());
        own_cached(&state, req, citizen, &key, || async move {
            let page = store::list_for_citizen(&db, citizen, &query, OffsetDateTime::now_utc())
                .await
                .map_err(service::problem)?;
            let holidays = calendar.get(&db).await.map_err(service::problem)?;
            Ok(service::to_bytes(&page_view(page, &holidays)))
        })
        .await
    }

    /// Citizen: apply online (identity level 2)
    ///
    /// The form is checked against the procedure's `form_schema` (errors name fields by JSON
    /// pointer) and every required document must be one of the citizen's uploads, not yet
    /// attached. Creates the dossier in status `submitted` with its code, signed receipt and
    /// lookup PIN, and tells the agency (`dossier.submitted` webhook). A level-1 token gets the
    /// step-up challenge whatever the body. `Idempotency-Key` is required: a retry gets the
    /// first answer; the same key with another body is refused (422).
    #[oai(
        path = "/v1/me/dossiers",
        method = "post",
        operation_id = "applyOnline"
    )]
    async fn apply(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        /// Required; 1 to 255 visible ASCII characters.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: Header<Option<String>>,
        body: JsonBytes<crate::dossiers::apply::ApplicationBody>,
    ) -> ApiResult<Written<RegisteredView>> {
        auth.require_level2()?;
        let citizen = service::citizen(&auth)?;
        let key = service::idempotency_key(idempotency_key.0.as_deref())?.ok_or_else(|| {
            ApiError::new(&catalogue::INVALID_REQUEST)
                .arg_text("reason", msg::IDEMPOTENCY_KEY_REQUIRED)
                .field_text(
                    "/Idempotency-Key",
                    msg::IDEMPOTENCY_KEY_REQUIRED,
                    Vec::new(),
                )
        })?;
        let parsed = apply::parse(&body.0)?;
        apply::check(&state, &parsed).await?;
        let now = OffsetDateTime::now_utc();
        let (status, bytes) =
            apply::submit(&state, citizen, key.as_str(), (&body.0, parsed), now).await?;
        Ok(match status {
            201 => Written::Created(JsonBytes::new(bytes)),
            _ => Written::Ok(JsonBytes::new(bytes)),
        })
    }

    /// Citizen: a document of one of their dossiers
    ///
    /// Streamed as uploaded, as an attachment with the recorded type. Another citizen's
    /// dossier, or a document of another dossier, is 404.
    #[oai(
        path = "/v1/me/dossiers/:code/documents/:id",
        method = "get",
        operation_id = "downloadMyDocument"
    )]
    async fn my_document(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        code: Path<DossierCodeParam>,
        id: Path<Uuid>,
    ) -> ApiResult<DocumentDownload> {
        let citizen = service::citizen(&auth)?;
        document(&state, &Caller::Citizen(citizen), &code.0, id.0).await
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
        calendar: Data<&HolidayCalendar>,
        req: &Request,
        auth: BearerAuth,
        code: Path<DossierCodeParam>,
    ) -> ApiResult<Cached<DossierView>> {
        let citizen = service::citizen(&auth)?;
        let key = format!("detail|{}", code.0);
        let (app, calendar) = (state.clone(), calendar.clone());
        own_cached(&state, req, citizen, &key, || async move {
            let view = detail(&app, &calendar, &Caller::Citizen(citizen), &code.0).await?;
            Ok(service::to_bytes(&view))
        })
        .await
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
        link(&state, citizen).await?;
        // Notifications are keyed by id: a cursor of another list is refused, not misread.
        let after = Cursor::<Uuid>::param(cursor.0.as_deref())?;
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
}
