//! The public lookup from a receipt and the open statistics.

use super::*;

#[derive(Default)]
pub struct PublicDossiersApi;

// Query parameters are handler arguments in poem-openapi.
#[allow(clippy::too_many_arguments)]
#[OpenApi(tag = "ApiTag::Dossiers")]
impl PublicDossiersApi {
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
                return Err(ApiError::new(&catalogue::VALIDATION_FAILED).field_text(
                    "/pin",
                    msg::LOOKUP_FACTOR,
                    Vec::new(),
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
                ApiError::new(&catalogue::VALIDATION_FAILED).field_text(
                    "/month",
                    msg::MONTH,
                    Vec::new(),
                )
            })?),
        };
        let wants_csv = req.header("accept").is_some_and(|a| a.contains("text/csv"));
        let key = format!(
            "{:?}|{:?}|{}",
            agency.0,
            month.map(|m| m.to_string()),
            if wants_csv { "csv" } else { "json" }
        );
        let db = state.db.clone();
        // Each format is cached as the bytes it is served as: a hit decodes nothing.
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
                let view = StatsView {
                    month: report.month,
                    items: report.items.into_iter().map(Into::into).collect(),
                    province: report.province.into(),
                };
                Ok(match wants_csv {
                    true => bytes::Bytes::from(stats_csv(&view)),
                    false => service::to_bytes(&view),
                })
            },
        )
        .await?;
        let body = match wants_csv {
            true => StatsBody::Csv(PlainText(String::from_utf8_lossy(&bytes).into_owned())),
            false => StatsBody::Json(JsonBytes::new(bytes)),
        };
        Ok(StatsResponse::Ok(body, PUBLIC_CACHE.into()))
    }
}
