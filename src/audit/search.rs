//! Reading the audit log: filters and keyset pages over the chain order.

use sqlx::PgPool;
use time::OffsetDateTime;

#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    pub client_id: Option<String>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub seq: i64,
    pub at: OffsetDateTime,
    pub action: String,
    pub outcome: String,
    pub actor: Option<String>,
    pub target: Option<String>,
    pub reason: Option<String>,
    pub client_id: Option<String>,
    pub client_ip: Option<String>,
    pub request_id: Option<String>,
    pub details: serde_json::Value,
    pub hash: String,
}

/// Entries matching `filter`, newest first, older than chain position `before`.
pub async fn search(
    db: &PgPool,
    filter: &Filter,
    before: Option<i64>,
    limit: i64,
) -> sqlx::Result<Vec<Entry>> {
    let rows = sqlx::query!(
        r#"SELECT chain_seq AS "seq!", at, action, outcome, actor, target, reason, client_id, client_ip,
                request_id, details, hash
         FROM audit_log
         WHERE chain_seq IS NOT NULL
           AND ($1::bigint IS NULL OR chain_seq < $1)
           AND ($2::text IS NULL OR actor = $2)
           AND ($3::text IS NULL OR action = $3)
           AND ($4::text IS NULL OR target = $4)
           AND ($5::text IS NULL OR client_id = $5)
           AND ($6::timestamptz IS NULL OR at >= $6)
           AND ($7::timestamptz IS NULL OR at < $7)
         ORDER BY chain_seq DESC
         LIMIT $8"#,
        before,
        filter.actor,
        filter.action,
        filter.target,
        filter.client_id,
        filter.since,
        filter.until,
        limit,
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| Entry {
            seq: row.seq,
            at: row.at,
            action: row.action,
            outcome: row.outcome,
            actor: row.actor,
            target: row.target,
            reason: row.reason,
            client_id: row.client_id,
            client_ip: row.client_ip.map(|net| net.addr().to_string()),
            request_id: row.request_id,
            details: row.details,
            hash: super::chain::hex(&row.hash.unwrap_or_default()),
        })
        .collect())
}
