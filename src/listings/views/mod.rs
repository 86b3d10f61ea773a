//! What the listings API sends and takes: the JSON shapes of PRODUCT.md, built from the store's
//! types at one place so that a cached body, a fresh one and the one an `ETag` was computed
//! from are the same bytes.

use poem_openapi::types::{Example, MaybeUndefined};
use poem_openapi::{Enum, Object};
use time::OffsetDateTime;
use uuid::Uuid;

use super::images;
use super::model::{Category, ListingInput, MerchantInput, MerchantKind, Status};
use super::store;

/// An OCOP product group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum CategoryName {
    Food,
    Drinks,
    Herbal,
    TextilesHandicrafts,
    SouvenirsFurniture,
    Tourism,
}

impl From<Category> for CategoryName {
    fn from(c: Category) -> Self {
        match c {
            Category::Food => CategoryName::Food,
            Category::Drinks => CategoryName::Drinks,
            Category::Herbal => CategoryName::Herbal,
            Category::TextilesHandicrafts => CategoryName::TextilesHandicrafts,
            Category::SouvenirsFurniture => CategoryName::SouvenirsFurniture,
            Category::Tourism => CategoryName::Tourism,
        }
    }
}

impl From<CategoryName> for Category {
    fn from(c: CategoryName) -> Self {
        match c {
            CategoryName::Food => Category::Food,
            CategoryName::Drinks => Category::Drinks,
            CategoryName::Herbal => Category::Herbal,
            CategoryName::TextilesHandicrafts => Category::TextilesHandicrafts,
            CategoryName::SouvenirsFurniture => Category::SouvenirsFurniture,
            CategoryName::Tourism => Category::Tourism,
        }
    }
}

/// A listing's status: `hidden` is a moderator's doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "ListingStatus", rename_all = "snake_case")]
pub enum StatusName {
    Draft,
    Published,
    Hidden,
    Archived,
}

impl From<Status> for StatusName {
    fn from(s: Status) -> Self {
        match s {
            Status::Draft => StatusName::Draft,
            Status::Published => StatusName::Published,
            Status::Hidden => StatusName::Hidden,
            Status::Archived => StatusName::Archived,
        }
    }
}

/// What kind of business a merchant is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum MerchantKindName {
    Household,
    Cooperative,
    Enterprise,
}

impl From<MerchantKind> for MerchantKindName {
    fn from(k: MerchantKind) -> Self {
        match k {
            MerchantKind::Household => MerchantKindName::Household,
            MerchantKind::Cooperative => MerchantKindName::Cooperative,
            MerchantKind::Enterprise => MerchantKindName::Enterprise,
        }
    }
}

mod bodies;
mod listing;
mod merchant;

pub use bodies::*;
pub use listing::*;
pub use merchant::*;
