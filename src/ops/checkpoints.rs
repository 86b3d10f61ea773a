//! The published checkpoints of the audit chain: anyone may read and keep them, so a rewrite of
//! our own tables cannot make them disappear.

use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use time::OffsetDateTime;

use crate::http::{ApiError, ApiTag};
use crate::state::AppState;

pub struct AuditApi;

/// A signed head of the audit chain.
#[derive(Debug, Object)]
#[oai(example)]
pub struct CheckpointView {
    /// Position of the entry in the chain.
    pub seq: i64,
    /// Hex SHA-256 of that entry, which covers every entry before it.
    pub hash: String,
    pub signed_at: OffsetDateTime,
    /// Our signing key, in the JWKS.
    pub kid: String,
    /// Compact JWS (ES256, `typ` `audit-checkpoint+jwt`) over `{iss, seq, hash, iat}`: verify
    /// it with our JWKS.
    pub jws: String,
}

impl Example for CheckpointView {
    fn example() -> Self {
        CheckpointView {
            seq: 1042,
            hash: "9f2c4be0d1a3c6e8b5f70a1d2c3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f6".into(),
            signed_at: OffsetDateTime::UNIX_EPOCH,
            kid: "2026-11-27-ab12cd34".into(),
            jws:
                "eyJhbGciOiJFUzI1NiIsInR5cCI6ImF1ZGl0LWNoZWNrcG9pbnQrand0In0.eyJzZXEiOjEwNDJ9.c2ln"
                    .into(),
        }
    }
}

impl From<crate::audit::chain::Checkpoint> for CheckpointView {
    fn from(cp: crate::audit::chain::Checkpoint) -> Self {
        CheckpointView {
            seq: cp.seq,
            hash: cp.hash,
            signed_at: cp.signed_at,
            kid: cp.kid,
            jws: cp.jws,
        }
    }
}

#[derive(ApiResponse)]
enum CheckpointsResponse {
    /// Checkpoints in chain order.
    #[oai(status = 200)]
    Ok(
        Json<Vec<CheckpointView>>,
        #[oai(header = "Cache-Control")] String,
    ),
}

#[OpenApi(prefix_path = "/v1/audit", tag = "ApiTag::Audit")]
impl AuditApi {
    /// Signed checkpoints of the audit log
    ///
    /// The head of the audit log's hash chain, signed with our key at intervals. Auditors keep
    /// copies: a later rewrite of the log no longer ends at these hashes (`motcua audit verify`).
    /// Holds hashes only, no personal data. Pass the last `seq` seen as `after` for the next page.
    #[oai(
        path = "/checkpoints",
        method = "get",
        operation_id = "auditCheckpoints"
    )]
    async fn checkpoints(
        &self,
        state: Data<&AppState>,
        /// The last sequence number of the previous page.
        after: Query<Option<i64>>,
        /// Page size, 1 to 1000.
        #[oai(
            default = "default_page",
            validator(minimum(value = "1"), maximum(value = "1000"))
        )]
        limit: Query<i64>,
    ) -> Result<CheckpointsResponse, ApiError> {
        let page = crate::audit::chain::checkpoints(&state.db, after.0, limit.0)
            .await
            .map_err(ApiError::internal)?;
        Ok(CheckpointsResponse::Ok(
            Json(page.into_iter().map(CheckpointView::from).collect()),
            "public, max-age=60".into(),
        ))
    }
}

fn default_page() -> i64 {
    100
}
