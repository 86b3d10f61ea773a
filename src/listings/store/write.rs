//! A merchant's writes to one listing, a moderator's hiding, and the reads of one listing.

use super::*;

/// A write's effect on what the public sees, for the caller to invalidate exactly that.
#[derive(Debug, Clone)]
pub struct Written {
    pub listing: Listing,
    /// Whether the public saw the listing before the write or sees it after: search pages and
    /// the merchant's page change only then.
    pub public_changed: bool,
}

impl Written {
    fn of(before: Option<&Listing>, after: Listing) -> Self {
        let public_changed = before.is_some_and(Listing::is_public) || after.is_public();
        Written {
            listing: after,
            public_changed,
        }
    }
}

/// The merchant a new listing goes to: the bound one, the one named (which the citizen must
/// manage), or the citizen's only one.
pub async fn merchant_for_new(
    conn: &mut PgConnection,
    owner: Owner,
    named: Option<Uuid>,
) -> Result<Merchant> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {MERCHANT_COLUMNS} FROM merchants m
          WHERE {} AND ($3::uuid IS NULL OR m.id = $3)
          ORDER BY m.created_at LIMIT 2",
        owned_by(1, 2)
    )))
    .bind(owner.citizen())
    .bind(owner.bound_merchant())
    .bind(named)
    .fetch_all(&mut *conn)
    .await?;
    match (rows.len(), named) {
        (0, Some(_)) => Err(StoreError::Invalid(vec![(
            "/merchant_id".into(),
            "not a merchant you manage".into(),
        )])),
        // A token may outlive its merchant; a citizen without one cannot sell yet.
        (0, None) => Err(StoreError::Conflict(
            "no merchant to list for: register one with POST /v1/merchants first".into(),
        )),
        (1, _) => merchant_from_row(&rows[0]),
        _ => Err(StoreError::Invalid(vec![(
            "/merchant_id".into(),
            "required: you manage several merchants".into(),
        )])),
    }
}

/// Creates a draft listing (the commune defaults to the merchant's).
pub async fn create_listing(
    conn: &mut PgConnection,
    merchant: &Merchant,
    fields: &ListingFields,
    external_id: Option<&str>,
) -> Result<Listing> {
    let query = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO listings AS l (id, merchant_id, external_id, title, description, price_vnd, unit,
                category, ocop_stars, ocop_year, commune_code, stock, images)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         RETURNING {LISTING_COLUMNS}"
    )))
    .bind(Uuid::now_v7())
    .bind(merchant.id)
    .bind(external_id);
    let row = bind_fields(query, fields, &merchant.commune_code)
        .fetch_one(conn)
        .await?;
    listing_from_row(&row)
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// Binds the ten field columns in the order both [`create_listing`] and [`update_fields`] list
/// them, so a new listing and an edited one cannot disagree on which placeholder is which
/// field. `commune_code` stands in when the fields name none.
fn bind_fields<'q>(query: PgQuery<'q>, fields: &ListingFields, commune_code: &str) -> PgQuery<'q> {
    query
        .bind(&fields.title)
        .bind(&fields.description)
        .bind(fields.price_vnd)
        .bind(&fields.unit)
        .bind(fields.category.as_str())
        .bind(fields.ocop.map(|o| o.stars))
        .bind(fields.ocop.map(|o| o.year))
        .bind(fields.commune_code.as_deref().unwrap_or(commune_code))
        .bind(fields.stock)
        .bind(&fields.images)
}

/// The caller's listing, locked for the rest of the transaction; another merchant's is
/// [`StoreError::NotFound`].
pub async fn lock_owned(conn: &mut PgConnection, owner: Owner, id: Uuid) -> Result<Listing> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {LISTING_COLUMNS} FROM listings l JOIN merchants m ON m.id = l.merchant_id
          WHERE l.id = $3 AND {}
          FOR UPDATE OF l",
        owned_by(1, 2)
    )))
    .bind(owner.citizen())
    .bind(owner.bound_merchant())
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.as_ref()
        .map(listing_from_row)
        .transpose()?
        .ok_or(StoreError::NotFound)
}

/// Replaces a locked listing's fields.
pub async fn update_fields(
    conn: &mut PgConnection,
    before: &Listing,
    fields: &ListingFields,
) -> Result<Written> {
    let query = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE listings l SET title = $2, description = $3, price_vnd = $4, unit = $5,
                category = $6, ocop_stars = $7, ocop_year = $8, commune_code = $9, stock = $10,
                images = $11
          WHERE l.id = $1
          RETURNING {LISTING_COLUMNS}"
    )))
    .bind(before.id);
    let row = bind_fields(query, fields, &before.commune_code)
        .fetch_one(conn)
        .await?;
    Ok(Written::of(Some(before), listing_from_row(&row)?))
}

/// The merchant's choice of status: publishing keeps the first publication's date (the order
/// of `sort=newest`); republishing an archived listing is allowed, a hidden one stays hidden.
pub async fn set_status(
    conn: &mut PgConnection,
    before: &Listing,
    to: Status,
    now: OffsetDateTime,
) -> Result<Written> {
    if to == Status::Hidden {
        return Err(StoreError::Conflict("only a moderator hides".into()));
    }
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE listings l SET status = $2,
                published_at = CASE WHEN $2 = 'published' THEN COALESCE(published_at, $3) ELSE published_at END
          WHERE l.id = $1
          RETURNING {LISTING_COLUMNS}"
    )))
    .bind(before.id)
    .bind(to.as_str())
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(Written::of(Some(before), listing_from_row(&row)?))
}

/// A moderator hides (`Some(reason)`) or unhides (`None`) a listing, whoever's it is.
pub async fn set_hidden(
    conn: &mut PgConnection,
    id: Uuid,
    reason: Option<&str>,
    now: OffsetDateTime,
) -> Result<Written> {
    let before = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {LISTING_COLUMNS} FROM listings l WHERE l.id = $1 FOR UPDATE"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(listing_from_row)
    .transpose()?
    .ok_or(StoreError::NotFound)?;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE listings l SET hidden_at = CASE WHEN $2::text IS NULL THEN NULL ELSE COALESCE(hidden_at, $3) END,
                hidden_reason = $2
          WHERE l.id = $1
          RETURNING {LISTING_COLUMNS}"
    )))
    .bind(id)
    .bind(reason)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(Written::of(Some(&before), listing_from_row(&row)?))
}

/// A listing the public may see.
pub async fn get_public(db: &PgPool, id: Uuid) -> Result<Option<Listing>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {LISTING_COLUMNS} FROM listings l
          WHERE l.id = $1 AND l.status = 'published' AND l.hidden_at IS NULL"
    )))
    .bind(id)
    .fetch_optional(db)
    .await?;
    row.as_ref().map(listing_from_row).transpose()
}

/// The caller's own listing in any status.
pub async fn get_owned(db: &PgPool, owner: Owner, id: Uuid) -> Result<Option<Listing>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {LISTING_COLUMNS} FROM listings l JOIN merchants m ON m.id = l.merchant_id
          WHERE l.id = $3 AND {}",
        owned_by(1, 2)
    )))
    .bind(owner.citizen())
    .bind(owner.bound_merchant())
    .bind(id)
    .fetch_optional(db)
    .await?;
    row.as_ref().map(listing_from_row).transpose()
}
