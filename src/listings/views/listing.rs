//! Listings, their pages and facets.

use super::*;

/// A local product on sale.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct ListingView {
    pub id: Uuid,
    pub merchant_id: Uuid,
    pub title: String,
    pub description: String,
    /// Whole đồng.
    pub price_vnd: i64,
    /// What the price is for: `kg`, `hộp`, `chai`, `đêm`, …
    pub unit: String,
    pub category: CategoryName,
    /// OCOP stars (3 to 5), when certified.
    #[oai(nullable)]
    pub ocop_stars: Option<i16>,
    /// Year of the OCOP certificate.
    #[oai(nullable)]
    pub ocop_year: Option<i16>,
    /// Five-digit code of the commune (xã, phường) it comes from.
    pub commune_code: String,
    /// Units in stock; `null` when the merchant does not count them.
    #[oai(nullable)]
    pub stock: Option<i32>,
    pub status: StatusName,
    /// Image URLs: those uploaded with `POST /v1/listings/{id}/images` (served by us under
    /// `/v1/images/`, with long cache lifetimes) and partners' HTTPS URLs, in order.
    pub images: Vec<String>,
    /// A small version of each image, in the same order, for list views: ours for uploaded
    /// images (at most 320 px on the long side), the image itself for a partner's URL.
    pub thumbnails: Vec<String>,
    #[oai(nullable)]
    pub published_at: Option<OffsetDateTime>,
    pub updated_at: OffsetDateTime,
}

impl Example for ListingView {
    fn example() -> Self {
        ListingView {
            id: Uuid::nil(),
            merchant_id: Uuid::nil(),
            title: "Bánh tráng nướng Hòa Đa".into(),
            description: "Bánh tráng mè đen phơi sương, nướng than, đặc sản Hòa Đa.".into(),
            price_vnd: 45_000,
            unit: "xấp 10 cái".into(),
            category: CategoryName::Food,
            ocop_stars: Some(4),
            ocop_year: Some(2024),
            commune_code: "22210".into(),
            stock: Some(120),
            status: StatusName::Published,
            images: vec![
                "https://motcua.example.vn/v1/images/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08.jpg".into(),
            ],
            thumbnails: vec![
                "https://motcua.example.vn/v1/images/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08-thumb.jpg".into(),
            ],
            published_at: Some(OffsetDateTime::UNIX_EPOCH),
            updated_at: OffsetDateTime::UNIX_EPOCH,
        }
    }
}

impl ListingView {
    /// The listing as the API shows it; `base` is the public URL our own images are served
    /// under.
    pub fn new(l: store::Listing, base: &str) -> Self {
        let status = l.status().into();
        let thumbnails = l
            .images
            .iter()
            .map(|i| images::thumbnail_url(base, i))
            .collect();
        let images = l
            .images
            .iter()
            .map(|i| images::public_url(base, i))
            .collect();
        ListingView {
            id: l.id,
            merchant_id: l.merchant_id,
            title: l.title,
            description: l.description,
            price_vnd: l.price_vnd,
            unit: l.unit,
            category: l.category.into(),
            ocop_stars: l.ocop.map(|o| o.stars),
            ocop_year: l.ocop.map(|o| o.year),
            commune_code: l.commune_code,
            stock: l.stock,
            status,
            images,
            thumbnails,
            published_at: l.published_at,
            updated_at: l.updated_at,
        }
    }
}

/// How many listings of a category match the query (whatever the `category` filter).
#[derive(Debug, Clone, Object)]
pub struct FacetView {
    pub category: CategoryName,
    pub count: i64,
}

/// A page of listings.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct ListingPage {
    pub items: Vec<ListingView>,
    /// Pass as `cursor` (with the same query) for the next page; `null` on the last one.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
    /// Counts per category, on the first page (`null` on the pages after it).
    #[oai(nullable)]
    pub facets: Option<Vec<FacetView>>,
}

impl Example for ListingPage {
    fn example() -> Self {
        ListingPage {
            items: vec![ListingView::example()],
            next_cursor: None,
            facets: Some(vec![FacetView {
                category: CategoryName::Food,
                count: 1,
            }]),
        }
    }
}

impl ListingPage {
    /// A page of search results; `base` as for [`ListingView::new`].
    pub fn new(p: store::SearchPage, base: &str) -> Self {
        ListingPage {
            items: p
                .items
                .into_iter()
                .map(|l| ListingView::new(l, base))
                .collect(),
            next_cursor: p.next_cursor,
            facets: p.facets.map(|f| {
                f.into_iter()
                    .map(|(category, count)| FacetView {
                        category: category.into(),
                        count,
                    })
                    .collect()
            }),
        }
    }
}

/// What became of one item of a bulk upsert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum BulkOutcomeName {
    Created,
    Updated,
    Unchanged,
    Invalid,
}

impl From<store::BulkOutcome> for BulkOutcomeName {
    fn from(o: store::BulkOutcome) -> Self {
        match o {
            store::BulkOutcome::Created => BulkOutcomeName::Created,
            store::BulkOutcome::Updated => BulkOutcomeName::Updated,
            store::BulkOutcome::Unchanged => BulkOutcomeName::Unchanged,
            store::BulkOutcome::Invalid => BulkOutcomeName::Invalid,
        }
    }
}

/// One item's result, in the order given.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ListingBulkItemResult")]
pub struct BulkResultView {
    pub external_id: String,
    pub result: BulkOutcomeName,
    /// The listing's id (absent for an invalid item).
    #[oai(nullable)]
    pub id: Option<Uuid>,
    /// For an invalid item: its faults, pointers relative to the item.
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<Vec<crate::http::problem::FieldError>>,
}

/// The results of a bulk upsert.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct BulkView {
    pub items: Vec<BulkResultView>,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub invalid: usize,
}

impl Example for BulkView {
    fn example() -> Self {
        BulkView {
            items: vec![BulkResultView {
                external_id: "sku-0001".into(),
                result: BulkOutcomeName::Created,
                id: Some(Uuid::nil()),
                errors: None,
            }],
            created: 1,
            updated: 0,
            unchanged: 0,
            invalid: 0,
        }
    }
}

impl From<Vec<store::BulkResult>> for BulkView {
    fn from(results: Vec<store::BulkResult>) -> Self {
        let count = |o| results.iter().filter(|r| r.outcome == o).count();
        let (created, updated, unchanged, invalid) = (
            count(store::BulkOutcome::Created),
            count(store::BulkOutcome::Updated),
            count(store::BulkOutcome::Unchanged),
            count(store::BulkOutcome::Invalid),
        );
        BulkView {
            items: results
                .into_iter()
                .map(|r| BulkResultView {
                    external_id: r.external_id,
                    result: r.outcome.into(),
                    id: r.id,
                    errors: (!r.errors.is_empty()).then(|| {
                        r.errors
                            .into_iter()
                            .map(|(pointer, detail)| crate::http::problem::FieldError {
                                pointer,
                                detail,
                            })
                            .collect()
                    }),
                })
                .collect(),
            created,
            updated,
            unchanged,
            invalid,
        }
    }
}
