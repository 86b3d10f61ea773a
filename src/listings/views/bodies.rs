//! Request bodies. Fields the rules constrain arrive loose and are checked in `model`, so that
//! each fault is a `422` naming its field rather than a parse failure.

use super::*;

/// A listing's fields: `title`, `price_vnd`, `unit` and `category` are required.
#[derive(Debug, Clone, Object)]
pub struct ListingFieldsBody {
    /// Required, at most 200 characters.
    pub title: Option<String>,
    /// At most 5000 characters.
    pub description: Option<String>,
    /// Required: whole đồng, greater than 0.
    pub price_vnd: Option<i64>,
    /// Required, at most 40 characters.
    pub unit: Option<String>,
    /// Required: `food`, `drinks`, `herbal`, `textiles_handicrafts`, `souvenirs_furniture` or
    /// `tourism`.
    pub category: Option<String>,
    /// 3 to 5, with `ocop_year`.
    pub ocop_stars: Option<i64>,
    pub ocop_year: Option<i64>,
    /// Default: the merchant's commune.
    pub commune_code: Option<String>,
    pub stock: Option<i64>,
    /// At most 10: `https://` URLs, or the URLs of images uploaded here as a listing shows
    /// them (to keep, reorder or drop them). Uploading adds one with
    /// `POST /v1/listings/{id}/images`.
    pub images: Option<Vec<String>>,
}

impl From<ListingFieldsBody> for ListingInput {
    fn from(b: ListingFieldsBody) -> Self {
        ListingInput {
            title: b.title,
            description: b.description,
            price_vnd: b.price_vnd,
            unit: b.unit,
            category: b.category,
            ocop_stars: b.ocop_stars,
            ocop_year: b.ocop_year,
            commune_code: b.commune_code,
            stock: b.stock,
            images: b.images.unwrap_or_default(),
        }
    }
}

/// A new listing; it starts as a draft.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct NewListingBody {
    /// For a citizen managing several merchants: which one (a bound client's merchant is
    /// implied).
    pub merchant_id: Option<Uuid>,
    #[oai(flatten)]
    pub fields: ListingFieldsBody,
}

impl Example for NewListingBody {
    fn example() -> Self {
        NewListingBody {
            merchant_id: None,
            fields: ListingFieldsBody {
                title: Some("Cà phê Robusta Buôn Ma Thuột rang mộc".into()),
                description: Some("Hạt Robusta hái chín, rang mộc, gói 500 g.".into()),
                price_vnd: Some(180_000),
                unit: Some("gói 500 g".into()),
                category: Some("drinks".into()),
                ocop_stars: Some(4),
                ocop_year: Some(2024),
                commune_code: None,
                stock: Some(50),
                images: None,
            },
        }
    }
}

/// A JSON merge patch (RFC 7396) of a listing: members given replace, `null` clears an optional
/// one, members left out stay.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct ListingPatchBody {
    pub title: MaybeUndefined<String>,
    pub description: MaybeUndefined<String>,
    pub price_vnd: MaybeUndefined<i64>,
    pub unit: MaybeUndefined<String>,
    pub category: MaybeUndefined<String>,
    pub ocop_stars: MaybeUndefined<i64>,
    pub ocop_year: MaybeUndefined<i64>,
    pub commune_code: MaybeUndefined<String>,
    pub stock: MaybeUndefined<i64>,
    pub images: MaybeUndefined<Vec<String>>,
}

impl Example for ListingPatchBody {
    fn example() -> Self {
        ListingPatchBody {
            title: MaybeUndefined::Undefined,
            description: MaybeUndefined::Undefined,
            price_vnd: MaybeUndefined::Value(170_000),
            unit: MaybeUndefined::Undefined,
            category: MaybeUndefined::Undefined,
            ocop_stars: MaybeUndefined::Undefined,
            ocop_year: MaybeUndefined::Undefined,
            commune_code: MaybeUndefined::Undefined,
            stock: MaybeUndefined::Null,
            images: MaybeUndefined::Undefined,
        }
    }
}

fn merge<T>(current: Option<T>, patch: MaybeUndefined<T>) -> Option<T> {
    match patch {
        MaybeUndefined::Undefined => current,
        MaybeUndefined::Null => None,
        MaybeUndefined::Value(value) => Some(value),
    }
}

impl ListingPatchBody {
    /// The listing's fields with the patch applied, to be checked as a whole.
    pub fn apply(self, current: ListingInput) -> ListingInput {
        ListingInput {
            title: merge(current.title, self.title),
            description: merge(current.description, self.description),
            price_vnd: merge(current.price_vnd, self.price_vnd),
            unit: merge(current.unit, self.unit),
            category: merge(current.category, self.category),
            ocop_stars: merge(current.ocop_stars, self.ocop_stars),
            ocop_year: merge(current.ocop_year, self.ocop_year),
            // Clearing the commune puts the listing back in the merchant's.
            commune_code: merge(current.commune_code, self.commune_code),
            stock: merge(current.stock, self.stock),
            images: merge(Some(current.images), self.images).unwrap_or_default(),
        }
    }
}

/// One listing of a partner's bulk upsert, keyed by the partner's own id.
#[derive(Debug, Clone, Object)]
pub struct BulkItemBody {
    /// The partner's id of the listing: 1 to 100 characters, unique per merchant.
    pub external_id: String,
    /// `published` (default), `draft` or `archived`.
    pub status: Option<String>,
    #[oai(flatten)]
    pub fields: ListingFieldsBody,
}

/// Up to 500 listings to create or update by `external_id`; sending the same items again
/// changes nothing.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct BulkBody {
    pub items: Vec<BulkItemBody>,
}

impl Example for BulkBody {
    fn example() -> Self {
        BulkBody {
            items: vec![BulkItemBody {
                external_id: "sku-0001".into(),
                status: None,
                fields: ListingFieldsBody {
                    title: Some("Sò huyết Ô Loan".into()),
                    description: Some("Sò huyết đầm Ô Loan, giao trong ngày.".into()),
                    price_vnd: Some(250_000),
                    unit: Some("kg".into()),
                    category: Some("food".into()),
                    ocop_stars: None,
                    ocop_year: None,
                    commune_code: None,
                    stock: Some(30),
                    images: Some(vec!["https://cdn.example.vn/so-huyet.webp".into()]),
                },
            }],
        }
    }
}

impl BulkItemBody {
    pub fn input(self) -> (String, Option<String>, ListingInput) {
        (self.external_id, self.status, self.fields.into())
    }
}

/// A merchant to register: the citizen registering it manages it.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct NewMerchantBody {
    pub name: String,
    /// `household`, `cooperative` or `enterprise`.
    pub kind: String,
    /// As printed on the business registration.
    pub business_registration_number: String,
    pub commune_code: String,
    /// A phone number or address.
    pub contact: Option<String>,
    /// Whether the merchant's page shows `contact` (default: no).
    #[oai(default)]
    pub contact_public: bool,
}

impl Example for NewMerchantBody {
    fn example() -> Self {
        NewMerchantBody {
            name: "Hộ kinh doanh Rượu Quán Đế Cô Ba".into(),
            kind: "household".into(),
            business_registration_number: "22A8001234".into(),
            commune_code: "22210".into(),
            contact: Some("0905 123 456".into()),
            contact_public: true,
        }
    }
}

impl From<NewMerchantBody> for MerchantInput {
    fn from(b: NewMerchantBody) -> Self {
        MerchantInput {
            name: b.name,
            kind: b.kind,
            business_registration_number: b.business_registration_number,
            commune_code: b.commune_code,
            contact: b.contact,
            contact_public: b.contact_public,
        }
    }
}

/// Why a moderator hides or unhides a listing (kept in the audit log).
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct ModerationBody {
    #[oai(validator(min_length = 1, max_length = 500))]
    pub reason: String,
}

impl Example for ModerationBody {
    fn example() -> Self {
        ModerationBody {
            reason: "Quảng cáo công dụng chữa bệnh không được phép".into(),
        }
    }
}
