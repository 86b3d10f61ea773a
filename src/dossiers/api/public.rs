//! The public lookup from a receipt and the open statistics.

use super::*;
use crate::audit::RequestFacts;
use crate::ratelimit::{Caller as RateCaller, Quota};

#[derive(Default)]
pub struct PublicDossiersApi;

/// Lookups a minute per address, besides the address's general budget: a citizen checks a
/// receipt now and then, and a counter clerk checking a queue of receipts still fits.
const LOOKUPS_PER_ADDRESS: Quota = Quota { per_min: 10 };

/// Lookups a minute of one dossier code, from every address together, so a PIN (10^8 values)
/// cannot be guessed from many addresses at once: at this rate, guessing one takes years. A flood
/// can hold one code's lookups back for as long as it lasts; its applicant still follows the
/// dossier in the app.
const LOOKUPS_PER_CODE: Quota = Quota { per_min: 5 };

/// Spends a lookup from the caller's address and then from the code; a refusal is the 429
/// problem, with the tighter budget's `RateLimit-*` headers.
async fn limit_lookup(state: &AppState, req: &Request, code: &str) -> ApiResult<()> {
    let facts = RequestFacts::of(req);
    let address = RateCaller::Ip(facts.client_ip).bucket();
    let budgets = [
        (format!("lookup:{address}"), LOOKUPS_PER_ADDRESS),
        (format!("lookup:code:{}", code.trim()), LOOKUPS_PER_CODE),
    ];
    for (bucket, quota) in budgets {
        let decision = state.limiter.check_budget(&bucket, quota, &facts).await;
        if !decision.allowed {
            if let Some(slot) = &facts.rate_slot {
                slot.put(decision.headers());
            }
            return Err(decision.into_error());
        }
    }
    Ok(())
}

// Query parameters are handler arguments in poem-openapi.
#[allow(clippy::too_many_arguments)]
#[OpenApi(tag = "ApiTag::Dossiers")]
impl PublicDossiersApi {
    /// Public lookup from a receipt
    ///
    /// The dossier code and the PIN printed on the receipt (or the applicant's ID number).
    /// Status, procedure, dates and the timeline's statuses only. An unknown code and a wrong
    /// PIN get the same answer. Lookups have budgets of their own: 10 a minute per address, and
    /// 5 a minute per dossier code from all addresses together (429 with `Retry-After`).
    #[oai(
        path = "/v1/dossiers/lookup",
        method = "post",
        operation_id = "lookupDossier"
    )]
    async fn lookup(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<LookupBody>,
    ) -> ApiResult<Json<PublicDossierView>> {
        limit_lookup(&state, req, &body.0.code).await?;
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
