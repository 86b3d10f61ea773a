//! A partner's bulk upsert: listings keyed by the partner's `external_id`, idempotent, each
//! item with its own result.

use super::*;

/// One item of a bulk upsert, checked or not.
#[derive(Debug, Clone)]
pub struct BulkItem {
    pub external_id: String,
    pub fields: std::result::Result<ListingFields, Vec<FieldFault>>,
    /// `published` or `draft` (or `archived`): what the partner wants the public to see.
    pub status: Status,
}

/// What became of one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BulkOutcome {
    Created,
    Updated,
    /// Already exactly so: nothing written (a retried call lands here).
    Unchanged,
    Invalid,
}

#[derive(Debug, Clone)]
pub struct BulkResult {
    pub external_id: String,
    pub outcome: BulkOutcome,
    pub id: Option<Uuid>,
    pub errors: Vec<FieldFault>,
}

/// What the caller must invalidate after the upsert.
#[derive(Debug, Clone, Default)]
pub struct BulkDone {
    pub results: Vec<BulkResult>,
    /// Listings written (their detail entries go).
    pub written: Vec<Uuid>,
    pub public_changed: bool,
}

/// Upserts the items for `merchant` in the caller's transaction. An invalid item is reported
/// and skipped (each item is written under a savepoint); the others are written.
pub async fn bulk_upsert(
    conn: &mut PgConnection,
    merchant: &Merchant,
    items: Vec<BulkItem>,
    now: OffsetDateTime,
) -> Result<BulkDone> {
    use sqlx::Connection;
    let mut done = BulkDone::default();
    for item in items {
        let result = match item.fields {
            Err(errors) => Err(StoreError::Invalid(errors)),
            Ok(fields) => {
                let mut savepoint = conn.begin().await?;
                let result = upsert_one(
                    &mut savepoint,
                    merchant,
                    &item.external_id,
                    fields,
                    item.status,
                    now,
                )
                .await;
                match result {
                    Ok(_) => savepoint.commit().await?,
                    Err(_) => savepoint.rollback().await?,
                }
                result
            }
        };
        let (outcome, id, errors) = match result {
            Ok((outcome, written)) => {
                done.public_changed |= written.public_changed;
                if outcome != BulkOutcome::Unchanged {
                    done.written.push(written.listing.id);
                }
                (outcome, Some(written.listing.id), vec![])
            }
            Err(StoreError::Invalid(errors)) => (BulkOutcome::Invalid, None, errors),
            Err(err) => return Err(err),
        };
        done.results.push(BulkResult {
            external_id: item.external_id,
            outcome,
            id,
            errors,
        });
    }
    Ok(done)
}

async fn upsert_one(
    conn: &mut PgConnection,
    merchant: &Merchant,
    external_id: &str,
    mut fields: ListingFields,
    status: Status,
    now: OffsetDateTime,
) -> Result<(BulkOutcome, Written)> {
    let existing = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {LISTING_COLUMNS} FROM listings l
          WHERE l.merchant_id = $1 AND l.external_id = $2 FOR UPDATE"
    )))
    .bind(merchant.id)
    .bind(external_id)
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(listing_from_row)
    .transpose()?;
    let Some(before) = existing else {
        let created = create_listing(conn, merchant, &fields, Some(external_id)).await?;
        let written = set_status(conn, &created, status, now).await?;
        return Ok((BulkOutcome::Created, written));
    };
    fields
        .commune_code
        .get_or_insert_with(|| merchant.commune_code.clone());
    let same_fields = before.input().check().ok().as_ref() == Some(&fields);
    if same_fields && before.chosen == status {
        return Ok((
            BulkOutcome::Unchanged,
            Written {
                listing: before,
                public_changed: false,
            },
        ));
    }
    let updated = update_fields(conn, &before, &fields).await?;
    let after = set_status(conn, &updated.listing, status, now).await?;
    let public_changed = before.is_public() || after.listing.is_public();
    Ok((
        BulkOutcome::Updated,
        Written {
            public_changed,
            ..after
        },
    ))
}
