//! The listings' vocabulary: OCOP categories, merchant kinds, statuses, sorts, and the rules a
//! listing's fields obey. Input arrives loose ([`ListingInput`]) so that every fault can be
//! reported against the field that has it, and leaves checked ([`ListingFields`]).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::images::ImageName;

/// The six OCOP product groups (Decision 148/QĐ-TTg).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Food,
    Drinks,
    Herbal,
    TextilesHandicrafts,
    SouvenirsFurniture,
    Tourism,
}

impl Category {
    pub const ALL: [Category; 6] = [
        Category::Food,
        Category::Drinks,
        Category::Herbal,
        Category::TextilesHandicrafts,
        Category::SouvenirsFurniture,
        Category::Tourism,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Food => "food",
            Category::Drinks => "drinks",
            Category::Herbal => "herbal",
            Category::TextilesHandicrafts => "textiles_handicrafts",
            Category::SouvenirsFurniture => "souvenirs_furniture",
            Category::Tourism => "tourism",
        }
    }

    pub fn parse(text: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

/// What kind of business a merchant is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MerchantKind {
    /// Hộ kinh doanh.
    Household,
    /// Hợp tác xã.
    Cooperative,
    /// Doanh nghiệp.
    Enterprise,
}

impl MerchantKind {
    pub const ALL: [MerchantKind; 3] = [
        MerchantKind::Household,
        MerchantKind::Cooperative,
        MerchantKind::Enterprise,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MerchantKind::Household => "household",
            MerchantKind::Cooperative => "cooperative",
            MerchantKind::Enterprise => "enterprise",
        }
    }

    pub fn parse(text: &str) -> Option<MerchantKind> {
        MerchantKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// A listing's status as everyone sees it. The merchant chooses draft, published or archived;
/// a moderator's hiding overrides whichever it is until unhidden.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Draft,
    Published,
    Hidden,
    Archived,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Published => "published",
            Status::Hidden => "hidden",
            Status::Archived => "archived",
        }
    }

    /// The merchant's choice, as stored (`hidden` is never stored as a status).
    pub fn parse_stored(text: &str) -> Option<Status> {
        match text {
            "draft" => Some(Status::Draft),
            "published" => Some(Status::Published),
            "archived" => Some(Status::Archived),
            _ => None,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The orders of the public list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// By how well the listing matches `q`; without `q`, newest first.
    #[default]
    Relevance,
    Newest,
    PriceAsc,
    PriceDesc,
}

impl Sort {
    pub fn parse(text: &str) -> Option<Sort> {
        match text {
            "relevance" => Some(Sort::Relevance),
            "newest" => Some(Sort::Newest),
            "price_asc" => Some(Sort::PriceAsc),
            "price_desc" => Some(Sort::PriceDesc),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Relevance => "relevance",
            Sort::Newest => "newest",
            Sort::PriceAsc => "price_asc",
            Sort::PriceDesc => "price_desc",
        }
    }
}

pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 5000;
pub const MAX_UNIT_CHARS: usize = 40;
pub const MAX_IMAGES: usize = 10;
pub const MAX_IMAGE_URL_LEN: usize = 2000;
/// A price above this is a typing mistake, not a product of a household business.
pub const MAX_PRICE_VND: i64 = 1_000_000_000_000;
/// Items of one bulk upsert.
pub const MAX_BULK_ITEMS: usize = 500;

/// A listing's fields as given: each may be missing or wrong; [`ListingInput::check`] says
/// which.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListingInput {
    pub title: Option<String>,
    pub description: Option<String>,
    pub price_vnd: Option<i64>,
    pub unit: Option<String>,
    pub category: Option<String>,
    pub ocop_stars: Option<i64>,
    pub ocop_year: Option<i64>,
    pub commune_code: Option<String>,
    pub stock: Option<i64>,
    pub images: Vec<String>,
}

/// OCOP certification: 3 to 5 stars, and the year of the certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ocop {
    pub stars: i16,
    pub year: i16,
}

/// A listing's fields, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListingFields {
    pub title: String,
    pub description: String,
    pub price_vnd: i64,
    pub unit: String,
    pub category: Category,
    pub ocop: Option<Ocop>,
    /// `None`: the merchant's commune.
    pub commune_code: Option<String>,
    pub stock: Option<i32>,
    pub images: Vec<String>,
}

/// One faulty field: its JSON Pointer (RFC 6901) and what is wrong.
pub type FieldFault = (String, String);

impl ListingInput {
    /// Every fault of the input, each naming its field; none means the fields are usable.
    pub fn check(self) -> Result<ListingFields, Vec<FieldFault>> {
        let mut faults = Vec::new();
        let mut fault = |field: &str, message: &str| {
            faults.push((format!("/{field}"), message.to_string()));
        };
        let title = self.title.as_deref().map(str::trim).unwrap_or_default();
        if title.is_empty() {
            fault("title", "required, not blank");
        } else if title.chars().count() > MAX_TITLE_CHARS {
            fault("title", "at most 200 characters");
        }
        let description = self.description.as_deref().map(str::trim).unwrap_or("");
        if description.chars().count() > MAX_DESCRIPTION_CHARS {
            fault("description", "at most 5000 characters");
        }
        match self.price_vnd {
            None => fault("price_vnd", "required: a whole number of đồng"),
            Some(p) if p <= 0 => fault("price_vnd", "must be greater than 0"),
            Some(p) if p > MAX_PRICE_VND => fault("price_vnd", "at most 1000000000000"),
            Some(_) => {}
        }
        let unit = self.unit.as_deref().map(str::trim).unwrap_or_default();
        if unit.is_empty() {
            fault("unit", "required, not blank (kg, hộp, chai, …)");
        } else if unit.chars().count() > MAX_UNIT_CHARS {
            fault("unit", "at most 40 characters");
        }
        let category = check_category(self.category.as_deref())
            .map_err(|m| fault("category", m))
            .ok();
        let ocop = check_ocop(self.ocop_stars, self.ocop_year, &mut fault);
        if let Some(code) = &self.commune_code
            && !(code.len() == 5 && code.bytes().all(|b| b.is_ascii_digit()))
        {
            fault("commune_code", "a five-digit commune code");
        }
        let stock = match self.stock {
            Some(s) if !(0..=i64::from(i32::MAX)).contains(&s) => {
                fault("stock", "0 or more");
                None
            }
            other => other.map(|s| s as i32),
        };
        faults.extend(check_images(&self.images));
        match (faults.is_empty(), category) {
            (true, Some(category)) => Ok(ListingFields {
                title: title.to_string(),
                description: description.to_string(),
                price_vnd: self.price_vnd.unwrap_or_default(),
                unit: unit.to_string(),
                category,
                ocop,
                commune_code: self.commune_code,
                stock,
                images: self.images,
            }),
            _ => Err(faults),
        }
    }
}

impl From<&ListingFields> for ListingInput {
    fn from(f: &ListingFields) -> Self {
        ListingInput {
            title: Some(f.title.clone()),
            description: Some(f.description.clone()),
            price_vnd: Some(f.price_vnd),
            unit: Some(f.unit.clone()),
            category: Some(f.category.as_str().to_string()),
            ocop_stars: f.ocop.map(|o| o.stars.into()),
            ocop_year: f.ocop.map(|o| o.year.into()),
            commune_code: f.commune_code.clone(),
            stock: f.stock.map(Into::into),
            images: f.images.clone(),
        }
    }
}

fn check_category(text: Option<&str>) -> Result<Category, &'static str> {
    match text {
        None => Err("required"),
        Some(text) => Category::parse(text).ok_or(
            "one of food, drinks, herbal, textiles_handicrafts, souvenirs_furniture, tourism",
        ),
    }
}

/// Stars and year come together; either alone is a fault of the one missing.
fn check_ocop(
    stars: Option<i64>,
    year: Option<i64>,
    fault: &mut impl FnMut(&str, &str),
) -> Option<Ocop> {
    let stars = match (stars, year) {
        (None, None) => return None,
        (None, Some(_)) => {
            fault("ocop_stars", "required with ocop_year");
            return None;
        }
        (Some(stars), _) => stars,
    };
    if !(3..=5).contains(&stars) {
        fault("ocop_stars", "3, 4 or 5");
    }
    match year {
        Some(y) if (2018..=2100).contains(&y) => {}
        Some(_) => fault("ocop_year", "the certificate's year, 2018 or later"),
        None => fault("ocop_year", "required with ocop_stars"),
    }
    Some(Ocop {
        stars: stars.clamp(3, 5) as i16,
        year: year.unwrap_or_default().clamp(0, 2100) as i16,
    })
}

/// At most ten images: partners' absolute `https` URLs with a host, and references to images
/// uploaded here (`/v1/images/<name>`).
fn check_images(images: &[String]) -> Vec<FieldFault> {
    if images.len() > MAX_IMAGES {
        return vec![("/images".into(), "at most 10 images".into())];
    }
    images
        .iter()
        .enumerate()
        .filter_map(|(i, url)| {
            let fault = match ImageName::of_reference(url) {
                // A thumbnail is shown beside its image, never as one of the images.
                Some(name) if name.thumb => "a thumbnail cannot be one of the images",
                Some(_) => return None,
                None if is_https_url(url) => return None,
                None => "must be an https:// URL or an image uploaded here",
            };
            Some((format!("/images/{i}"), fault.to_string()))
        })
        .collect()
}

fn is_https_url(text: &str) -> bool {
    text.len() <= MAX_IMAGE_URL_LEN
        && url::Url::parse(text)
            .is_ok_and(|u| u.scheme() == "https" && u.host_str().is_some_and(|h| !h.is_empty()))
}

/// A merchant's registration, as given.
#[derive(Debug, Clone, Default)]
pub struct MerchantInput {
    pub name: String,
    pub kind: String,
    pub business_registration_number: String,
    pub commune_code: String,
    pub contact: Option<String>,
    pub contact_public: bool,
}

/// A merchant's registration, checked.
#[derive(Debug, Clone)]
pub struct MerchantFields {
    pub name: String,
    pub kind: MerchantKind,
    pub business_registration_number: String,
    pub commune_code: String,
    pub contact: Option<String>,
    pub contact_public: bool,
}

impl MerchantInput {
    pub fn check(self) -> Result<MerchantFields, Vec<FieldFault>> {
        let mut faults: Vec<FieldFault> = Vec::new();
        let name = self.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 200 {
            faults.push(("/name".into(), "1 to 200 characters".into()));
        }
        let kind = MerchantKind::parse(&self.kind);
        if kind.is_none() {
            faults.push((
                "/kind".into(),
                "household, cooperative or enterprise".into(),
            ));
        }
        let number = self.business_registration_number.trim().to_string();
        if !(6..=20).contains(&number.len())
            || !number
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        {
            faults.push((
                "/business_registration_number".into(),
                "6 to 20 letters, digits, dots or dashes".into(),
            ));
        }
        let code = &self.commune_code;
        if !(code.len() == 5 && code.bytes().all(|b| b.is_ascii_digit())) {
            faults.push(("/commune_code".into(), "a five-digit commune code".into()));
        }
        let contact = self.contact.map(|c| c.trim().to_string());
        if contact.as_ref().is_some_and(|c| c.chars().count() > 200) {
            faults.push(("/contact".into(), "at most 200 characters".into()));
        }
        match (faults.is_empty(), kind) {
            (true, Some(kind)) => Ok(MerchantFields {
                name,
                kind,
                business_registration_number: number,
                commune_code: self.commune_code,
                contact: contact.filter(|c| !c.is_empty()),
                contact_public: self.contact_public,
            }),
            _ => Err(faults),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> ListingInput {
        ListingInput {
            title: Some("Bánh tráng Hòa Đa".into()),
            price_vnd: Some(45_000),
            unit: Some("xấp".into()),
            category: Some("food".into()),
            ..Default::default()
        }
    }

    fn fields_of(input: ListingInput) -> Vec<String> {
        input
            .check()
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|(f, _)| f)
            .collect()
    }

    #[test]
    fn a_listing_needs_title_price_unit_and_category() {
        assert!(valid().check().is_ok());
        assert_eq!(
            fields_of(ListingInput::default()),
            ["/title", "/price_vnd", "/unit", "/category"]
        );
    }

    #[test]
    fn each_fault_names_its_field() {
        let table: Vec<(ListingInput, &str)> = vec![
            (
                ListingInput {
                    price_vnd: Some(0),
                    ..valid()
                },
                "/price_vnd",
            ),
            (
                ListingInput {
                    category: Some("seafood".into()),
                    ..valid()
                },
                "/category",
            ),
            (
                ListingInput {
                    title: Some("á".repeat(201)),
                    ..valid()
                },
                "/title",
            ),
            (
                ListingInput {
                    images: vec!["https://a.vn/x.jpg".into(); 11],
                    ..valid()
                },
                "/images",
            ),
            (
                ListingInput {
                    images: vec!["https://a.vn/x.jpg".into(), "http://a.vn/y.jpg".into()],
                    ..valid()
                },
                "/images/1",
            ),
            (
                ListingInput {
                    images: vec!["/v1/images/../../etc/passwd.jpg".into()],
                    ..valid()
                },
                "/images/0",
            ),
            (
                ListingInput {
                    images: vec![
                        format!("/v1/images/{}.jpg", "e3".repeat(32)),
                        format!("/v1/images/{}-thumb.jpg", "e3".repeat(32)),
                    ],
                    ..valid()
                },
                "/images/1",
            ),
            (
                ListingInput {
                    ocop_stars: Some(6),
                    ocop_year: Some(2024),
                    ..valid()
                },
                "/ocop_stars",
            ),
            (
                ListingInput {
                    ocop_stars: Some(4),
                    ..valid()
                },
                "/ocop_year",
            ),
            (
                ListingInput {
                    stock: Some(-1),
                    ..valid()
                },
                "/stock",
            ),
        ];
        for (input, field) in table {
            assert_eq!(fields_of(input), [field]);
        }
    }

    #[test]
    fn checked_fields_round_trip_through_the_loose_form() {
        let fields = ListingInput {
            ocop_stars: Some(4),
            ocop_year: Some(2023),
            stock: Some(12),
            images: vec![
                "https://cdn.example.vn/a.webp".into(),
                format!("/v1/images/{}.jpg", "e3".repeat(32)),
            ],
            ..valid()
        }
        .check()
        .unwrap();
        assert_eq!(ListingInput::from(&fields).check().unwrap(), fields);
    }

    #[test]
    fn names_parse_back() {
        for c in Category::ALL {
            assert_eq!(Category::parse(c.as_str()), Some(c));
        }
        for k in MerchantKind::ALL {
            assert_eq!(MerchantKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(Sort::parse("price_desc"), Some(Sort::PriceDesc));
        assert_eq!(Sort::parse("cheapest"), None);
    }
}
