//! `/v1/ops/audit`: reading the audit log.

use poem::Request;
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{Object, OpenApi};
use time::OffsetDateTime;

use super::guard::{OperatorAuth, default_page};
use crate::audit::search::{self, Filter};
use crate::http::{ApiResult, ApiTag};
use crate::state::AppState;

#[derive(Default)]
pub struct OpsAuditApi;

/// One audit entry.
#[derive(Debug, Object)]
#[oai(example)]
struct AuditEntry {
    /// Position in the hash chain; pages are cut by it.
    seq: i64,
    at: OffsetDateTime,
    action: String,
    /// `success` or `failure`.
    outcome: String,
    /// A citizen's `sub`, `operator:<sub>`, a client id or `cli`.
    #[oai(skip_serializing_if_is_none)]
    actor: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    target: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    reason: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    client_id: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    client_ip: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    request_id: Option<String>,
    details: serde_json::Value,
    /// Hex SHA-256 chaining this entry to the one before.
    hash: String,
}

impl Example for AuditEntry {
    fn example() -> Self {
        AuditEntry {
            seq: 1042,
            at: OffsetDateTime::UNIX_EPOCH,
            action: "client_suspended".into(),
            outcome: "success".into(),
            actor: Some("operator:0193a5c4-7c1e-7d3a-9f55-3f1b2b7d9e10".into()),
            target: Some("mc_3k9x2m4q8w7e5r1t6y0u2i4o".into()),
            reason: None,
            client_id: None,
            client_ip: Some("203.0.113.9".into()),
            request_id: Some("0193a5c4-7c1e-7d3a-9f55-3f1b2b7d9e11".into()),
            details: serde_json::json!({}),
            hash: "9f2c4be0d1a3c6e8b5f70a1d2c3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f6".into(),
        }
    }
}

/// A page of entries, newest first.
#[derive(Debug, Object)]
#[oai(example)]
struct AuditPage {
    entries: Vec<AuditEntry>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    next_before: Option<i64>,
}

impl Example for AuditPage {
    fn example() -> Self {
        AuditPage {
            entries: vec![AuditEntry::example()],
            next_before: Some(1042),
        }
    }
}

#[OpenApi(prefix_path = "/v1/ops", tag = "ApiTag::Operations")]
impl OpsAuditApi {
    /// Read the audit log
    ///
    /// Newest first, filtered by actor, action, target, client and time; keyset pages: pass
    /// `next_before` as `before`.
    #[oai(path = "/audit", method = "get", operation_id = "opsAuditLog")]
    #[allow(clippy::too_many_arguments)]
    async fn audit_log(
        &self,
        state: Data<&AppState>,
        req: &Request,
        operator: OperatorAuth,
        /// Exact actor, e.g. `operator:<sub>` or a client id.
        actor: Query<Option<String>>,
        /// Exact action, e.g. `client_suspended`, `sign_in`, `rate_limited`.
        action: Query<Option<String>>,
        /// Exact target (a client id, a session id, a key id, a `sub`).
        target: Query<Option<String>>,
        /// Entries about this client.
        client_id: Query<Option<String>>,
        /// From this instant (RFC 3339), inclusive.
        since: Query<Option<OffsetDateTime>>,
        /// Until this instant (RFC 3339), exclusive.
        until: Query<Option<OffsetDateTime>>,
        /// Entries older than this chain position (the previous page's `next_before`).
        before: Query<Option<i64>>,
        /// Page size, 1 to 500.
        #[oai(
            default = "default_page",
            validator(minimum(value = "1"), maximum(value = "500"))
        )]
        limit: Query<i64>,
    ) -> ApiResult<Json<AuditPage>> {
        operator
            .0
            .audit(
                &state,
                req,
                "audit_log_searched",
                "audit_log",
                serde_json::json!({
                    "actor": actor.0, "action": action.0, "target": target.0,
                    "client_id": client_id.0, "since": since.0, "until": until.0,
                }),
            )
            .await;
        let filter = Filter {
            actor: actor.0,
            action: action.0,
            target: target.0,
            client_id: client_id.0,
            since: since.0,
            until: until.0,
        };
        let entries = search::search(&state.db, &filter, before.0, limit.0).await?;
        let next_before = (entries.len() as i64 == limit.0)
            .then(|| entries.last().map(|e| e.seq))
            .flatten();
        Ok(Json(AuditPage {
            entries: entries
                .into_iter()
                .map(|e| AuditEntry {
                    seq: e.seq,
                    at: e.at,
                    action: e.action,
                    outcome: e.outcome,
                    actor: e.actor,
                    target: e.target,
                    reason: e.reason,
                    client_id: e.client_id,
                    client_ip: e.client_ip,
                    request_id: e.request_id,
                    details: e.details,
                    hash: e.hash,
                })
                .collect(),
            next_before,
        }))
    }
}
