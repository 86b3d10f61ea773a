//! What the dossier API sends and takes: the JSON shapes of PRODUCT.md, built from the store's
//! types at one place so that a cached body and a fresh one are the same bytes.

use poem_openapi::types::Example;
use poem_openapi::{Enum, Object};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::calendar::Holidays;
use super::model::Status;
use super::store;

/// A dossier status: the national synchronisation code is `status_code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Serialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum StatusName {
    Submitted,
    Received,
    Refused,
    Processing,
    SupplementRequested,
    AwaitingFee,
    Withdrawn,
    Stopped,
    ResultReady,
    Returned,
}

impl From<Status> for StatusName {
    fn from(status: Status) -> Self {
        match status {
            Status::Submitted => StatusName::Submitted,
            Status::Received => StatusName::Received,
            Status::Refused => StatusName::Refused,
            Status::Processing => StatusName::Processing,
            Status::SupplementRequested => StatusName::SupplementRequested,
            Status::AwaitingFee => StatusName::AwaitingFee,
            Status::Withdrawn => StatusName::Withdrawn,
            Status::Stopped => StatusName::Stopped,
            Status::ResultReady => StatusName::ResultReady,
            Status::Returned => StatusName::Returned,
        }
    }
}

impl From<StatusName> for Status {
    fn from(name: StatusName) -> Self {
        match name {
            StatusName::Submitted => Status::Submitted,
            StatusName::Received => Status::Received,
            StatusName::Refused => Status::Refused,
            StatusName::Processing => Status::Processing,
            StatusName::SupplementRequested => Status::SupplementRequested,
            StatusName::AwaitingFee => Status::AwaitingFee,
            StatusName::Withdrawn => Status::Withdrawn,
            StatusName::Stopped => Status::Stopped,
            StatusName::ResultReady => Status::ResultReady,
            StatusName::Returned => Status::Returned,
        }
    }
}

mod catalogue;
mod dossier;
mod holidays;
mod online;
mod public;
mod writes;

pub use catalogue::*;
pub use dossier::*;
pub use holidays::*;
pub use online::*;
pub use public::*;
pub use writes::*;
