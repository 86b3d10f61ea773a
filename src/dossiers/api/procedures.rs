//! The public catalogue: procedures and agencies, cached.

use super::*;

#[derive(Default)]
pub struct CatalogueApi;

// Query parameters are handler arguments in poem-openapi.
#[allow(clippy::too_many_arguments)]
#[OpenApi(tag = "ApiTag::Dossiers")]
impl CatalogueApi {
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
}
