//! Procedures and agencies.

use super::*;

/// An agency of the province.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct AgencyView {
    /// Electronic ID code, `XXX.YY.ZZ.Hnn`.
    pub code: String,
    pub name: String,
}

impl Example for AgencyView {
    fn example() -> Self {
        AgencyView {
            code: "000.00.12.H15".into(),
            name: "Sở Tư pháp".into(),
        }
    }
}

/// The agencies, in code order.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct AgencyList {
    pub items: Vec<AgencyView>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

impl Example for AgencyList {
    fn example() -> Self {
        AgencyList {
            items: vec![AgencyView::example()],
            next_cursor: None,
        }
    }
}

/// A document the procedure requires.
#[derive(Debug, Clone, Object)]
pub struct RequiredDocumentView {
    pub code: String,
    pub name: String,
}

/// An administrative procedure of the catalogue.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct ProcedureView {
    /// National procedure code.
    pub code: String,
    pub name: String,
    pub field: String,
    pub agency_code: String,
    /// Working days from valid receipt (halves allowed).
    pub processing_days: f64,
    /// Local time (`HH:MM`) after which a receipt counts from the next working day.
    pub cutoff: String,
    pub fee_vnd: i64,
    /// `whole_process`, `partial` or `none`.
    pub online_level: String,
    /// Whether it can be applied for online.
    pub online: bool,
    pub required_documents: Vec<RequiredDocumentView>,
    /// JSON Schema of the online form (detail only); its top-level `examples` holds a valid
    /// form.
    #[oai(skip_serializing_if_is_none)]
    pub form_schema: Option<Value>,
}

impl Example for ProcedureView {
    fn example() -> Self {
        ProcedureView {
            code: "1.001193".into(),
            name: "Đăng ký khai sinh".into(),
            field: "Hộ tịch".into(),
            agency_code: "000.00.31.H15".into(),
            processing_days: 1.0,
            cutoff: "15:00".into(),
            fee_vnd: 0,
            online_level: "whole_process".into(),
            online: true,
            required_documents: vec![RequiredDocumentView {
                code: "giay_chung_sinh".into(),
                name: "Giấy chứng sinh".into(),
            }],
            form_schema: None,
        }
    }
}

impl From<store::Procedure> for ProcedureView {
    fn from(p: store::Procedure) -> Self {
        ProcedureView {
            code: p.code,
            name: p.name,
            field: p.field,
            agency_code: p.agency_code,
            processing_days: p.processing_days,
            cutoff: format!("{:02}:{:02}", p.cutoff.hour(), p.cutoff.minute()),
            fee_vnd: p.fee_vnd,
            online_level: p.online_level,
            online: p.online,
            required_documents: p
                .required_documents
                .into_iter()
                .map(|d| RequiredDocumentView {
                    code: d.code,
                    name: d.name,
                })
                .collect(),
            form_schema: p.form_schema,
        }
    }
}

/// A page of procedures.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct ProcedurePage {
    pub items: Vec<ProcedureView>,
    /// Pass as `cursor` for the next page; `null` on the last one (and with `q`).
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

impl Example for ProcedurePage {
    fn example() -> Self {
        ProcedurePage {
            items: vec![ProcedureView::example()],
            next_cursor: None,
        }
    }
}
