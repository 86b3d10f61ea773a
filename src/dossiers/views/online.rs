//! The online flow's shapes: an online dossier's documents and pending supplement request, the
//! citizen's supplement and withdrawal, and drafts.

use serde::{Deserialize, Serialize};

use super::*;
use crate::dossiers::apply::AttachedDocument;

/// A document attached to an online dossier.
#[derive(Debug, Clone, Object)]
pub struct DossierDocumentView {
    pub id: Uuid,
    /// The required document's `code`.
    #[oai(rename = "type")]
    pub kind: String,
    /// `application/pdf`, `image/jpeg` or `image/png`.
    pub content_type: String,
    /// Bytes.
    pub size: i64,
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
}

impl DossierDocumentView {
    /// The dossier's `documents` as the store records them.
    pub fn list(value: &Value) -> Vec<Self> {
        let one = |e: &Value| {
            Some(DossierDocumentView {
                id: e["id"].as_str()?.parse().ok()?,
                kind: e["type"].as_str()?.to_string(),
                content_type: e["content_type"].as_str()?.to_string(),
                size: e["size"].as_i64()?,
                sha256: e["sha256"].as_str()?.to_string(),
            })
        };
        value
            .as_array()
            .map(|all| all.iter().filter_map(one).collect())
            .unwrap_or_default()
    }
}

/// What the agency asks the citizen to supply.
#[derive(Debug, Clone, Object)]
pub struct SupplementRequestView {
    /// The missing or wrong documents (`code` and `name` of the procedure's required
    /// documents); the supplement must bring each. Empty when the agency named none.
    pub documents: Vec<RequiredDocumentView>,
    /// The agency's reason.
    #[oai(nullable)]
    pub note: Option<String>,
    pub requested_at: OffsetDateTime,
}

impl SupplementRequestView {
    /// The dossier's `supplement_request` as the store records it.
    pub fn of(value: &Value) -> Self {
        let documents = value["documents"]
            .as_array()
            .map(|all| {
                all.iter()
                    .filter_map(|d| {
                        Some(RequiredDocumentView {
                            code: d["code"].as_str()?.to_string(),
                            name: d["name"].as_str().unwrap_or_default().to_string(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        SupplementRequestView {
            documents,
            note: value["note"].as_str().map(str::to_string),
            requested_at: value["requested_at"]
                .as_i64()
                .and_then(|at| OffsetDateTime::from_unix_timestamp(at).ok())
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
        }
    }
}

/// The citizen's answer to a supplement request.
#[derive(Debug, Clone, Deserialize, Serialize, Object)]
#[oai(example)]
pub struct SupplementBody {
    /// Each a required document's `code` and one of the citizen's uploads not yet attached to a
    /// dossier; every document the agency named must be among them. A supplied type replaces
    /// the dossier's earlier document of that type.
    #[serde(default)]
    #[oai(default, validator(max_items = 20))]
    pub documents: Vec<AttachedDocument>,
    /// For the agency (at most 2000 characters); required when no document is supplied.
    #[oai(skip_serializing_if_is_none, validator(max_length = 2000))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Example for SupplementBody {
    fn example() -> Self {
        SupplementBody {
            documents: vec![AttachedDocument {
                kind: "to_khai".into(),
                upload_id: Uuid::from_u128(0x0193_6f2a_4c1e_7c4b_9a7d_2b3c_4d5e_6f71),
            }],
            note: Some("Đã ký lại tờ khai".into()),
        }
    }
}

/// The citizen withdraws their dossier.
#[derive(Debug, Clone, Deserialize, Serialize, Object)]
#[oai(example)]
pub struct WithdrawalBody {
    /// Why (1 to 2000 characters); the agency reads it.
    #[oai(validator(min_length = 1, max_length = 2000))]
    #[serde(default)]
    pub reason: String,
}

impl Example for WithdrawalBody {
    fn example() -> Self {
        WithdrawalBody {
            reason: "Đã nộp nhầm thủ tục".into(),
        }
    }
}

/// A draft as the citizen saves it: the form as far as filled in (an object, not checked
/// against the schema until submission) and the uploads meant for it.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct DraftBody {
    pub form: Value,
    /// The citizen's own uploads, not yet attached to a dossier; `type` is the required
    /// document's `code` they are meant for.
    #[oai(default, validator(max_items = 20))]
    pub documents: Vec<AttachedDocument>,
}

impl Example for DraftBody {
    fn example() -> Self {
        DraftBody {
            form: serde_json::json!({"full_name": "Nguyễn Văn An"}),
            documents: vec![AttachedDocument {
                kind: "to_khai".into(),
                upload_id: Uuid::from_u128(0x0193_6f2a_4c1e_7c4b_9a7d_2b3c_4d5e_6f70),
            }],
        }
    }
}

/// A saved draft.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct DraftView {
    pub procedure_code: String,
    pub procedure_name: String,
    pub form: Value,
    pub documents: Vec<AttachedDocument>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl Example for DraftView {
    fn example() -> Self {
        let body = DraftBody::example();
        DraftView {
            procedure_code: "1.001193".into(),
            procedure_name: "Đăng ký khai sinh".into(),
            form: body.form,
            documents: body.documents,
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
        }
    }
}

impl From<store::Draft> for DraftView {
    fn from(d: store::Draft) -> Self {
        DraftView {
            procedure_code: d.procedure_code,
            procedure_name: d.procedure_name,
            form: d.form,
            documents: serde_json::from_value(d.documents).unwrap_or_default(),
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

/// The citizen's drafts, most recently saved first.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct DraftPage {
    pub items: Vec<DraftView>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

impl Example for DraftPage {
    fn example() -> Self {
        DraftPage {
            items: vec![DraftView::example()],
            next_cursor: None,
        }
    }
}
