//! What agencies send besides registrations and status changes: transfers, result details and
//! a day's dossiers in bulk, and what the bulk import answers.

use super::*;
use crate::http::Problem;

/// A transfer between agencies or departments: a line of the timeline, not a status.
#[derive(Debug, Clone, Object, serde::Serialize)]
#[oai(example)]
pub struct TransferBody {
    /// The unit handing the dossier over.
    #[oai(validator(min_length = 1, max_length = 300))]
    pub from: String,
    /// The unit taking it.
    #[oai(validator(min_length = 1, max_length = 300))]
    pub to: String,
    #[oai(nullable, validator(max_length = 2000))]
    pub note: Option<String>,
}

impl Example for TransferBody {
    fn example() -> Self {
        TransferBody {
            from: "Bộ phận Một cửa UBND xã Hòa Thịnh".into(),
            to: "Phòng Tư pháp - Hộ tịch".into(),
            note: Some("Chuyển thẩm định".into()),
        }
    }
}

/// How the agency decided, on the merits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Serialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ResultOutcome {
    Granted,
    Refused,
}

/// The result's details: what the citizen needs to know to collect it and to cite it.
#[derive(Debug, Clone, Object, serde::Serialize)]
#[oai(example)]
pub struct ResultDetails {
    pub outcome: ResultOutcome,
    /// Number of the decision, licence or certificate issued.
    #[oai(skip_serializing_if_is_none, validator(max_length = 100))]
    pub document_number: Option<String>,
    /// Who signed it (name and position).
    #[oai(skip_serializing_if_is_none, validator(max_length = 200))]
    pub signed_by: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub signed_at: Option<OffsetDateTime>,
    /// Where or how to collect it: the counter, by post, online.
    #[oai(skip_serializing_if_is_none, validator(max_length = 500))]
    pub collection: Option<String>,
    #[oai(skip_serializing_if_is_none, validator(max_length = 2000))]
    pub note: Option<String>,
}

impl Example for ResultDetails {
    fn example() -> Self {
        ResultDetails {
            outcome: ResultOutcome::Granted,
            document_number: Some("125/2026/GKS".into()),
            signed_by: Some("Chủ tịch UBND xã".into()),
            signed_at: Some(OffsetDateTime::UNIX_EPOCH),
            collection: Some("Bộ phận Một cửa, quầy số 2".into()),
            note: None,
        }
    }
}

impl ResultDetails {
    /// As the dossier keeps it (and shows it back in `result`).
    pub fn to_value(&self) -> Value {
        poem_openapi::types::ToJSON::to_json(self).unwrap_or_default()
    }
}

/// The most dossiers one bulk import takes.
pub const MAX_BULK_ITEMS: usize = 200;

/// A day's counter dossiers, registered one by one.
#[derive(Debug, Clone, Object, serde::Serialize)]
#[oai(example)]
pub struct BulkRegistrationBody {
    /// 1 to 200 dossiers, each as `POST /v1/agency/dossiers` takes it.
    #[oai(validator(min_items = 1, max_items = 200))]
    pub items: Vec<CounterRegistrationBody>,
}

impl Example for BulkRegistrationBody {
    fn example() -> Self {
        BulkRegistrationBody {
            items: vec![CounterRegistrationBody::example()],
        }
    }
}

/// What became of one item of a bulk import.
#[derive(Debug, Clone, Object)]
pub struct BulkItemView {
    /// The item's position in the request, from 0.
    pub index: u32,
    /// `201` when registered, else the status its own request would have had.
    pub status: u16,
    /// The registration, when `status` is 201.
    #[oai(skip_serializing_if_is_none)]
    pub registered: Option<RegisteredView>,
    /// Why the item was refused; field pointers start with `/items/{index}`.
    #[oai(skip_serializing_if_is_none)]
    pub problem: Option<Problem>,
}

/// A bulk import's results, one per item, in the request's order.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct BulkResultView {
    pub created: u32,
    pub failed: u32,
    pub items: Vec<BulkItemView>,
}

impl Example for BulkResultView {
    fn example() -> Self {
        let mut problem = Problem::example();
        problem.errors = problem.errors.map(|errors| {
            errors
                .into_iter()
                .map(|mut e| {
                    e.pointer = format!("/items/1{}", e.pointer);
                    e
                })
                .collect()
        });
        BulkResultView {
            created: 1,
            failed: 1,
            items: vec![
                BulkItemView {
                    index: 0,
                    status: 201,
                    registered: Some(RegisteredView::example()),
                    problem: None,
                },
                BulkItemView {
                    index: 1,
                    status: 422,
                    registered: None,
                    problem: Some(problem),
                },
            ],
        }
    }
}
