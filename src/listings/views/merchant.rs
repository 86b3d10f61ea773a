//! Merchants.

use super::*;

/// A merchant's public page.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct MerchantView {
    pub id: Uuid,
    pub name: String,
    pub kind: MerchantKindName,
    pub commune_code: String,
    /// Shown only when the merchant chose to.
    #[oai(nullable)]
    pub contact: Option<String>,
    /// Listings the public sees (browse them with `GET /v1/listings?merchant=`).
    pub published_listings: i64,
}

impl Example for MerchantView {
    fn example() -> Self {
        MerchantView {
            id: Uuid::nil(),
            name: "Hợp tác xã bánh tráng Hòa Đa".into(),
            kind: MerchantKindName::Cooperative,
            commune_code: "22210".into(),
            contact: Some("0257 3 868 686".into()),
            published_listings: 12,
        }
    }
}

impl From<store::MerchantPage> for MerchantView {
    fn from(p: store::MerchantPage) -> Self {
        let m = p.merchant;
        MerchantView {
            id: m.id,
            name: m.name,
            kind: m.kind.into(),
            commune_code: m.commune_code,
            contact: m.contact.filter(|_| m.contact_public),
            published_listings: p.published_listings,
        }
    }
}

/// A merchant registered by the citizen who manages it.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct OwnMerchantView {
    pub id: Uuid,
    pub name: String,
    pub kind: MerchantKindName,
    pub business_registration_number: String,
    pub commune_code: String,
    #[oai(nullable)]
    pub contact: Option<String>,
    pub contact_public: bool,
}

impl Example for OwnMerchantView {
    fn example() -> Self {
        OwnMerchantView {
            id: Uuid::nil(),
            name: "Hộ kinh doanh Cà phê Ea Tu".into(),
            kind: MerchantKindName::Household,
            business_registration_number: "40A8012345".into(),
            commune_code: "22015".into(),
            contact: None,
            contact_public: false,
        }
    }
}

impl From<store::Merchant> for OwnMerchantView {
    fn from(m: store::Merchant) -> Self {
        OwnMerchantView {
            id: m.id,
            name: m.name,
            kind: m.kind.into(),
            business_registration_number: m.business_registration_number,
            commune_code: m.commune_code,
            contact: m.contact,
            contact_public: m.contact_public,
        }
    }
}
