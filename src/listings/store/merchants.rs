//! Merchants: registration by a citizen with the `merchant` role, and the public page.

use super::super::model::MerchantFields;
use super::*;

/// Registers a merchant managed by `citizen`, who must hold the `merchant` role.
pub async fn create_merchant(
    conn: &mut PgConnection,
    citizen: Uuid,
    fields: &MerchantFields,
) -> Result<Merchant> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO merchants AS m (id, name, kind, business_registration_number, commune_code,
                contact, contact_public, owner_citizen_id)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8
          WHERE EXISTS (SELECT 1 FROM roles r WHERE r.citizen_id = $8 AND r.role = 'merchant')
         RETURNING {MERCHANT_COLUMNS}"
    )))
    .bind(Uuid::now_v7())
    .bind(&fields.name)
    .bind(fields.kind.as_str())
    .bind(&fields.business_registration_number)
    .bind(&fields.commune_code)
    .bind(&fields.contact)
    .bind(fields.contact_public)
    .bind(citizen)
    .fetch_optional(conn)
    .await?;
    row.as_ref()
        .map(merchant_from_row)
        .transpose()?
        .ok_or_else(|| StoreError::Conflict("the `merchant` role is required".into()))
}

/// A merchant's public page: who they are and how many listings they show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerchantPage {
    pub merchant: Merchant,
    pub published_listings: i64,
}

pub async fn merchant_page(db: &PgPool, id: Uuid) -> Result<Option<MerchantPage>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {MERCHANT_COLUMNS},
                (SELECT count(*) FROM listings l
                  WHERE l.merchant_id = m.id AND l.status = 'published' AND l.hidden_at IS NULL)
                  AS published_listings
           FROM merchants m WHERE m.id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await?;
    row.map(|row| {
        Ok(MerchantPage {
            merchant: merchant_from_row(&row)?,
            published_listings: row.try_get("published_listings")?,
        })
    })
    .transpose()
}

/// Whether the citizen holds the `merchant` role.
pub async fn is_merchant(db: &PgPool, citizen: Uuid) -> Result<bool> {
    Ok(sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM roles WHERE citizen_id = $1 AND role = 'merchant')
                  AS "merchant!""#,
        citizen,
    )
    .fetch_one(db)
    .await?)
}
