//! A day's counter dossiers in one request: each item its own unit.

use sqlx::Connection;

use super::agency::register_in;
use super::*;
use crate::http::problem::{OwnedProblemContext, ProblemContext};

#[derive(Default)]
pub struct BulkDossiersApi;

#[derive(ApiResponse)]
enum BulkResponse {
    /// Each item's result, in the request's order (also when some were refused).
    #[oai(status = 200)]
    Ok(JsonBytes<BulkResultView>),
}

#[OpenApi(tag = "ApiTag::Dossiers")]
impl BulkDossiersApi {
    /// Agency: register a day's counter dossiers in bulk
    ///
    /// Up to 200 dossiers, each as `POST /v1/agency/dossiers` takes it. Each item is its own
    /// unit: one the rules refuse writes nothing and gets a problem whose field pointers start
    /// with `/items/{index}`, and the others are registered all the same, with gap-free codes
    /// in the request's order. A body that does not match the schema is refused whole.
    #[oai(
        path = "/v1/agency/dossiers/bulk",
        method = "post",
        operation_id = "registerDossiersInBulk"
    )]
    async fn bulk(
        &self,
        state: Data<&AppState>,
        calendar: Data<&HolidayCalendar>,
        req: &Request,
        auth: BearerAuth,
        /// Covers the whole import: a retry with the same key (1 to 255 visible ASCII
        /// characters) gets the first answer and writes nothing.
        #[oai(name = "Idempotency-Key", validator(min_length = 1, max_length = 255))]
        idempotency_key: Header<Option<String>>,
        body: Json<BulkRegistrationBody>,
    ) -> ApiResult<BulkResponse> {
        let caller = service::agency(&auth, true)?;
        let now = OffsetDateTime::now_utc();
        let holidays = calendar
            .for_write(&state.db)
            .await
            .map_err(service::problem)?;
        let (app, items) = (state.clone(), body.0.items.clone());
        let ctx = OwnedProblemContext::of(req, state.config.issuer());
        let (_, bytes) = service::agency_write(
            &state,
            idempotency_key.0.as_deref(),
            &auth.0.client_id,
            ("/v1/agency/dossiers/bulk", &body_of(&body.0)),
            move |conn| {
                Box::pin(async move {
                    // A code PostgreSQL cannot hold (a NUL) names no agency; its item is
                    // refused on its own below.
                    let storable = |code: &String| !code.contains('\0');
                    let agencies: Vec<String> = items
                        .iter()
                        .filter_map(|i| i.agency_code.clone())
                        .filter(storable)
                        .collect();
                    let procedures: Vec<String> = items
                        .iter()
                        .filter(|i| i.agency_code.is_none())
                        .map(|i| i.procedure_code.clone())
                        .filter(storable)
                        .collect();
                    store::lock_agency_counters(conn, &agencies, &procedures).await?;
                    let mut results = Vec::with_capacity(items.len());
                    let mut citizens = Vec::new();
                    for (index, item) in items.iter().enumerate() {
                        // A savepoint per item: a refused item leaves no trace, its sequence
                        // number included, so the codes stay gap-free.
                        let mut unit = (*conn).begin().await?;
                        let outcome = register_in(&mut unit, &app, &holidays, &caller, item, now);
                        let index = index as u32;
                        results.push(match outcome.await {
                            Ok((view, citizen)) => {
                                unit.commit().await?;
                                citizens.extend(citizen);
                                registered(index, view)
                            }
                            Err(err) if is_refusal(&err) => {
                                unit.rollback().await?;
                                refused(index, service::problem(err), &ctx.borrow())
                            }
                            Err(err) => return Err(err),
                        });
                    }
                    let view = summary(results);
                    Ok(service::written(200, &view, citizens))
                })
            },
        )
        .await?;
        Ok(BulkResponse::Ok(JsonBytes::new(bytes)))
    }
}

/// A refusal of the item itself (text PostgreSQL cannot store included); anything else (the
/// database failing) fails the import.
fn is_refusal(err: &store::StoreError) -> bool {
    match err {
        store::StoreError::Database(err) => crate::http::problem::is_unstorable_text(err),
        store::StoreError::Other(_) => false,
        _ => true,
    }
}

fn registered(index: u32, view: RegisteredView) -> BulkItemView {
    BulkItemView {
        index,
        status: 201,
        registered: Some(view),
        problem: None,
    }
}

fn refused(index: u32, error: ApiError, ctx: &ProblemContext<'_>) -> BulkItemView {
    let problem = error.within(&format!("/items/{index}")).to_problem(ctx);
    BulkItemView {
        index,
        status: problem.status,
        registered: None,
        problem: Some(problem),
    }
}

fn summary(items: Vec<BulkItemView>) -> BulkResultView {
    let created = items.iter().filter(|i| i.registered.is_some()).count() as u32;
    BulkResultView {
        created,
        failed: items.len() as u32 - created,
        items,
    }
}
