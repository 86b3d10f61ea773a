//! Every SQL statement of the listings.
//!
//! Writes take `&mut PgConnection` so the caller decides the transaction; they find a listing
//! only through its owner ([`Owner`]), so another merchant's listing is "not found" before any
//! field is looked at. Reads of the public take the pool.

use serde::{Deserialize, Serialize};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use super::model::{Category, FieldFault, ListingFields, ListingInput, MerchantKind, Ocop, Status};

/// What a store function can refuse. Each variant maps to one API answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such listing or merchant, or not the caller's (the API answers 404 either way).
    #[error("not found")]
    NotFound,
    /// Fields are unusable; each fault names its field as the API spells it.
    #[error("invalid fields: {0:?}")]
    Invalid(Vec<FieldFault>),
    /// The listing changed since the caller read it (`If-Match`).
    #[error("the listing has changed")]
    Stale,
    /// The change is not allowed in the listing's state.
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Database(sqlx::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<sqlx::Error> for StoreError {
    /// Constraints the checks in `model` cannot see (a commune that does not exist, a
    /// registration number taken) are the caller's mistake, named by field.
    fn from(err: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &err {
            let field = match db.constraint() {
                Some("listings_commune_code_fkey") | Some("merchants_commune_code_fkey") => {
                    Some(("/commune_code", "no commune has this code"))
                }
                Some("merchants_business_registration_number_key") => Some((
                    "/business_registration_number",
                    "a merchant with this number is registered already",
                )),
                _ => None,
            };
            if let Some((field, message)) = field {
                return StoreError::Invalid(vec![(field.into(), message.into())]);
            }
        }
        StoreError::Database(err)
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Who writes: a citizen holding the `merchant` role writes for the merchants they manage; a
/// marketplace's client bound to a merchant writes for that merchant alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Citizen(Uuid),
    Client { merchant_id: Uuid },
}

impl Owner {
    fn citizen(self) -> Option<Uuid> {
        match self {
            Owner::Citizen(id) => Some(id),
            Owner::Client { .. } => None,
        }
    }

    fn bound_merchant(self) -> Option<Uuid> {
        match self {
            Owner::Client { merchant_id } => Some(merchant_id),
            Owner::Citizen(_) => None,
        }
    }
}

/// The SQL condition "merchant `m` is the caller's", with the citizen at `$c` and the bound
/// merchant at `$b`. The role is checked here as well, so taking it away takes the merchants
/// away at once.
fn owned_by(c: usize, b: usize) -> String {
    format!(
        "((${b}::uuid IS NOT NULL AND m.id = ${b})
          OR (${c}::uuid IS NOT NULL AND m.owner_citizen_id = ${c}
              AND EXISTS (SELECT 1 FROM roles r WHERE r.citizen_id = ${c} AND r.role = 'merchant')))"
    )
}

/// A listing as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    pub id: Uuid,
    pub merchant_id: Uuid,
    pub external_id: Option<String>,
    pub title: String,
    pub description: String,
    pub price_vnd: i64,
    pub unit: String,
    pub category: Category,
    pub ocop: Option<Ocop>,
    pub commune_code: String,
    pub stock: Option<i32>,
    /// The merchant's choice: draft, published or archived.
    pub chosen: Status,
    pub hidden_at: Option<OffsetDateTime>,
    pub hidden_reason: Option<String>,
    pub images: Vec<String>,
    pub published_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl Listing {
    /// The status everyone sees.
    pub fn status(&self) -> Status {
        match self.hidden_at {
            Some(_) => Status::Hidden,
            None => self.chosen,
        }
    }

    /// Whether the public sees it (search, detail, merchant page).
    pub fn is_public(&self) -> bool {
        self.status() == Status::Published
    }

    /// The fields in their loose form, for a merge patch to change.
    pub fn input(&self) -> ListingInput {
        ListingInput::from(&ListingFields {
            title: self.title.clone(),
            description: self.description.clone(),
            price_vnd: self.price_vnd,
            unit: self.unit.clone(),
            category: self.category,
            ocop: self.ocop,
            commune_code: Some(self.commune_code.clone()),
            stock: self.stock,
            images: self.images.clone(),
        })
    }
}

pub(super) const LISTING_COLUMNS: &str = "l.id, l.merchant_id, l.external_id, l.title, l.description, l.price_vnd, l.unit, l.category, l.ocop_stars, l.ocop_year, l.commune_code, l.stock, l.status, l.hidden_at, l.hidden_reason, l.images, l.published_at, l.created_at, l.updated_at";

pub(super) fn listing_from_row(row: &PgRow) -> Result<Listing> {
    let category: String = row.try_get("category")?;
    let status: String = row.try_get("status")?;
    let stars: Option<i16> = row.try_get("ocop_stars")?;
    let year: Option<i16> = row.try_get("ocop_year")?;
    Ok(Listing {
        id: row.try_get("id")?,
        merchant_id: row.try_get("merchant_id")?,
        external_id: row.try_get("external_id")?,
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        price_vnd: row.try_get("price_vnd")?,
        unit: row.try_get("unit")?,
        category: Category::parse(&category)
            .ok_or_else(|| anyhow::anyhow!("category `{category}` in the database"))?,
        ocop: stars.zip(year).map(|(stars, year)| Ocop { stars, year }),
        commune_code: row.try_get("commune_code")?,
        stock: row.try_get("stock")?,
        chosen: Status::parse_stored(&status)
            .ok_or_else(|| anyhow::anyhow!("status `{status}` in the database"))?,
        hidden_at: row.try_get("hidden_at")?,
        hidden_reason: row.try_get("hidden_reason")?,
        images: row.try_get("images")?,
        published_at: row.try_get("published_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// A merchant as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Merchant {
    pub id: Uuid,
    pub name: String,
    pub kind: MerchantKind,
    pub business_registration_number: String,
    pub commune_code: String,
    pub contact: Option<String>,
    pub contact_public: bool,
    pub owner_citizen_id: Option<Uuid>,
}

pub(super) const MERCHANT_COLUMNS: &str = "m.id, m.name, m.kind, m.business_registration_number, m.commune_code, m.contact, m.contact_public, m.owner_citizen_id";

pub(super) fn merchant_from_row(row: &PgRow) -> Result<Merchant> {
    let kind: String = row.try_get("kind")?;
    Ok(Merchant {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        kind: MerchantKind::parse(&kind)
            .ok_or_else(|| anyhow::anyhow!("merchant kind `{kind}` in the database"))?,
        business_registration_number: row.try_get("business_registration_number")?,
        commune_code: row.try_get("commune_code")?,
        contact: row.try_get("contact")?,
        contact_public: row.try_get("contact_public")?,
        owner_citizen_id: row.try_get("owner_citizen_id")?,
    })
}

mod bulk;
mod merchants;
mod search;
mod write;

pub use bulk::*;
pub use merchants::*;
pub use search::*;
pub use write::*;
