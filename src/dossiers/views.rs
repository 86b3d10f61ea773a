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

/// One line of a dossier's timeline.
#[derive(Debug, Clone, Object)]
pub struct TimelineEntry {
    pub status: StatusName,
    pub at: OffsetDateTime,
    pub note: Option<String>,
    /// `status`, `transfer`, `apology` or `result`.
    pub kind: String,
}

/// A dossier as its applicant and its agency see it.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct DossierView {
    /// `{agency code}-{yyMMdd}-{NNNN}`.
    pub code: String,
    pub procedure_code: String,
    pub procedure_name: String,
    pub agency_code: String,
    pub status: StatusName,
    /// The national synchronisation code of `status`.
    pub status_code: i16,
    /// Submitted online.
    pub online: bool,
    /// The applicant's name, masked.
    pub applicant: String,
    pub submitted_at: Option<OffsetDateTime>,
    pub received_at: Option<OffsetDateTime>,
    /// The promised date (moved only by time waiting for the citizen's supplement).
    pub due_at: Option<OffsetDateTime>,
    /// The agency's revised date after an apology.
    pub revised_due_at: Option<OffsetDateTime>,
    #[oai(skip_serializing_if_is_none)]
    pub apology_reason: Option<String>,
    /// Past the promised date and not finished.
    pub overdue: bool,
    /// Working days left to the revised or promised date (negative when late); `null` before
    /// receipt and once finished.
    pub working_days_left: Option<f64>,
    pub finished_at: Option<OffsetDateTime>,
    /// Result details, when the agency attached them.
    #[oai(skip_serializing_if_is_none)]
    pub result: Option<Value>,
    /// Oldest first (detail only).
    #[oai(skip_serializing_if_is_none)]
    pub timeline: Option<Vec<TimelineEntry>>,
}

impl Example for DossierView {
    fn example() -> Self {
        let at = OffsetDateTime::UNIX_EPOCH;
        DossierView {
            code: "000.00.31.H15-251201-0001".into(),
            procedure_code: "1.001193".into(),
            procedure_name: "Đăng ký khai sinh".into(),
            agency_code: "000.00.31.H15".into(),
            status: StatusName::Processing,
            status_code: 4,
            online: false,
            applicant: "N*** V*** A***".into(),
            submitted_at: None,
            received_at: Some(at),
            due_at: Some(at),
            revised_due_at: None,
            apology_reason: None,
            overdue: false,
            working_days_left: Some(1.5),
            finished_at: None,
            result: None,
            timeline: Some(vec![TimelineEntry {
                status: StatusName::Received,
                at,
                note: None,
                kind: "status".into(),
            }]),
        }
    }
}

impl DossierView {
    pub fn of(
        d: store::Dossier,
        timeline: Option<Vec<store::Event>>,
        now: OffsetDateTime,
        holidays: &Holidays,
    ) -> Self {
        DossierView {
            overdue: d.is_overdue(now),
            working_days_left: d.working_days_left(now, holidays),
            status: d.status.into(),
            status_code: d.status.code(),
            code: d.code,
            procedure_code: d.procedure_code,
            procedure_name: d.procedure_name,
            agency_code: d.agency_code,
            online: d.online,
            applicant: d.applicant_name_masked,
            submitted_at: d.submitted_at,
            received_at: d.received_at,
            due_at: d.due_at,
            revised_due_at: d.revised_due_at,
            apology_reason: d.apology_reason,
            finished_at: d.finished_at,
            result: d.result,
            timeline: timeline.map(|events| {
                events
                    .into_iter()
                    .map(|e| TimelineEntry {
                        status: e.status.into(),
                        at: e.at,
                        note: e.note,
                        kind: e.kind,
                    })
                    .collect()
            }),
        }
    }
}

/// A page of dossiers, newest first.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct DossierPage {
    pub items: Vec<DossierView>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

impl Example for DossierPage {
    fn example() -> Self {
        DossierPage {
            items: vec![DossierView {
                timeline: None,
                ..DossierView::example()
            }],
            next_cursor: None,
        }
    }
}

/// A dossier received at the counter.
#[derive(Debug, Clone, Object, serde::Serialize)]
#[oai(example)]
pub struct CounterRegistrationBody {
    /// National procedure code.
    #[oai(validator(min_length = 1, max_length = 32))]
    pub procedure_code: String,
    /// The receiving agency; default: the procedure's agency.
    #[oai(validator(max_length = 40))]
    pub agency_code: Option<String>,
    /// The applicant's 12-digit personal identification number (kept only as a keyed hash).
    #[oai(validator(max_length = 12))]
    pub applicant_id_number: String,
    #[oai(validator(min_length = 1, max_length = 200))]
    pub applicant_name: String,
    #[oai(validator(max_length = 2000))]
    pub note: Option<String>,
}

impl Example for CounterRegistrationBody {
    fn example() -> Self {
        CounterRegistrationBody {
            procedure_code: "1.001193".into(),
            agency_code: None,
            applicant_id_number: "054190000123".into(),
            applicant_name: "Nguyễn Văn An".into(),
            note: None,
        }
    }
}

/// A registered dossier: print `receipt` (as a QR code) and `lookup_pin` on the paper receipt.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct RegisteredView {
    pub code: String,
    pub status: StatusName,
    pub received_at: Option<OffsetDateTime>,
    pub due_at: Option<OffsetDateTime>,
    /// Compact JWS (ES256, `typ` `dossier-receipt+jwt`, `kid` in our JWKS) naming the dossier.
    pub receipt: String,
    /// For the public lookup; shown this once, kept only as a keyed hash.
    pub lookup_pin: String,
    pub dossier: DossierView,
}

impl Example for RegisteredView {
    fn example() -> Self {
        let dossier = DossierView {
            timeline: None,
            ..DossierView::example()
        };
        RegisteredView {
            code: dossier.code.clone(),
            status: StatusName::Received,
            received_at: dossier.received_at,
            due_at: dossier.due_at,
            receipt: "eyJhbGciOiJFUzI1NiIsInR5cCI6ImRvc3NpZXItcmVjZWlwdCtqd3QifQ.e30.c2ln".into(),
            lookup_pin: "48213906".into(),
            dossier,
        }
    }
}

/// A status change.
#[derive(Debug, Clone, Object, serde::Serialize)]
#[oai(example)]
pub struct TransitionBody {
    pub to: StatusName,
    #[oai(validator(max_length = 2000))]
    pub note: Option<String>,
    /// Result details (decision number, signer …), kept with `result_ready`.
    pub result: Option<Value>,
}

impl Example for TransitionBody {
    fn example() -> Self {
        TransitionBody {
            to: StatusName::Processing,
            note: Some("Chuyển phòng chuyên môn".into()),
            result: None,
        }
    }
}

/// An apology for a late result (form 04) with the revised date.
#[derive(Debug, Clone, Object, serde::Serialize)]
#[oai(example)]
pub struct ApologyBody {
    pub revised_due_at: OffsetDateTime,
    #[oai(validator(min_length = 1, max_length = 2000))]
    pub reason: String,
}

impl Example for ApologyBody {
    fn example() -> Self {
        ApologyBody {
            revised_due_at: OffsetDateTime::UNIX_EPOCH,
            reason: "Cần xác minh thêm thông tin".into(),
        }
    }
}

/// The public lookup: the dossier code and the PIN of the receipt (or the applicant's ID number).
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct LookupBody {
    #[oai(validator(max_length = 64))]
    pub code: String,
    #[oai(validator(max_length = 32))]
    pub pin: Option<String>,
    #[oai(validator(max_length = 12))]
    pub id_number: Option<String>,
}

impl Example for LookupBody {
    fn example() -> Self {
        LookupBody {
            code: "000.00.31.H15-251201-0001".into(),
            pin: Some("48213906".into()),
            id_number: None,
        }
    }
}

/// One status of the public timeline.
#[derive(Debug, Clone, Object)]
pub struct PublicEventView {
    pub status: StatusName,
    pub at: OffsetDateTime,
}

/// What anyone holding the receipt may see: no names, no notes.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct PublicDossierView {
    pub code: String,
    pub status: StatusName,
    pub procedure_code: String,
    pub procedure_name: String,
    pub received_at: Option<OffsetDateTime>,
    pub due_at: Option<OffsetDateTime>,
    pub revised_due_at: Option<OffsetDateTime>,
    pub finished_at: Option<OffsetDateTime>,
    pub overdue: bool,
    pub timeline: Vec<PublicEventView>,
}

impl Example for PublicDossierView {
    fn example() -> Self {
        PublicDossierView {
            code: "000.00.31.H15-251201-0001".into(),
            status: StatusName::Received,
            procedure_code: "1.001193".into(),
            procedure_name: "Đăng ký khai sinh".into(),
            received_at: Some(OffsetDateTime::UNIX_EPOCH),
            due_at: Some(OffsetDateTime::UNIX_EPOCH),
            revised_due_at: None,
            finished_at: None,
            overdue: false,
            timeline: vec![PublicEventView {
                status: StatusName::Received,
                at: OffsetDateTime::UNIX_EPOCH,
            }],
        }
    }
}

impl From<store::PublicView> for PublicDossierView {
    fn from(v: store::PublicView) -> Self {
        PublicDossierView {
            code: v.code,
            status: v.status.into(),
            procedure_code: v.procedure_code,
            procedure_name: v.procedure_name,
            received_at: v.received_at,
            due_at: v.due_at,
            revised_due_at: v.revised_due_at,
            finished_at: v.finished_at,
            overdue: v.overdue,
            timeline: v
                .timeline
                .into_iter()
                .map(|e| PublicEventView {
                    status: e.status.into(),
                    at: e.at,
                })
                .collect(),
        }
    }
}

/// An in-app notification.
#[derive(Debug, Clone, Object)]
pub struct NotificationView {
    pub id: Uuid,
    pub dossier_code: String,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub created_at: OffsetDateTime,
    pub read_at: Option<OffsetDateTime>,
}

/// The citizen's notifications, newest first.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct NotificationPage {
    pub items: Vec<NotificationView>,
    pub next_cursor: Option<String>,
    /// Unread notifications in all.
    pub unread: i64,
}

impl Example for NotificationPage {
    fn example() -> Self {
        NotificationPage {
            items: vec![NotificationView {
                id: Uuid::nil(),
                dossier_code: "000.00.31.H15-251201-0001".into(),
                kind: "status".into(),
                title: "Hồ sơ 000.00.31.H15-251201-0001: Đã tiếp nhận".into(),
                body: "Hồ sơ chuyển sang trạng thái \"Đã tiếp nhận\".".into(),
                created_at: OffsetDateTime::UNIX_EPOCH,
                read_at: None,
            }],
            next_cursor: None,
            unread: 1,
        }
    }
}

impl From<store::NotificationPage> for NotificationPage {
    fn from(p: store::NotificationPage) -> Self {
        NotificationPage {
            items: p
                .items
                .into_iter()
                .map(|n| NotificationView {
                    id: n.id,
                    dossier_code: n.dossier_code,
                    kind: n.kind,
                    title: n.title,
                    body: n.body,
                    created_at: n.created_at,
                    read_at: n.read_at,
                })
                .collect(),
            next_cursor: p.next_cursor,
            unread: p.unread,
        }
    }
}

/// One row of the open statistics (Decision 766/QĐ-TTg definitions).
#[derive(Debug, Clone, Object)]
pub struct StatsRowView {
    /// `null` on the province row.
    pub agency_code: Option<String>,
    /// `YYYY-MM`.
    pub month: String,
    pub received: i64,
    pub finished: i64,
    /// Finished by the promised date (supplement time excluded; apologies do not move it).
    pub finished_on_time: i64,
    pub finished_late: i64,
    pub in_progress: i64,
    pub overdue: i64,
    /// finished_on_time ÷ finished.
    pub on_time_rate: Option<f64>,
    /// Online dossiers ÷ received.
    pub online_share: Option<f64>,
    pub average_processing_days: Option<f64>,
}

impl From<store::StatsRow> for StatsRowView {
    fn from(r: store::StatsRow) -> Self {
        StatsRowView {
            agency_code: r.agency_code,
            month: r.month,
            received: r.received,
            finished: r.finished,
            finished_on_time: r.finished_on_time,
            finished_late: r.finished_late,
            in_progress: r.in_progress,
            overdue: r.overdue,
            on_time_rate: r.on_time_rate,
            online_share: r.online_share,
            average_processing_days: r.average_processing_days,
        }
    }
}

/// Statistics of a month: a row per agency with activity, and the province.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct StatsView {
    pub month: String,
    pub items: Vec<StatsRowView>,
    pub province: StatsRowView,
}

impl Example for StatsView {
    fn example() -> Self {
        let row = StatsRowView {
            agency_code: Some("000.00.12.H15".into()),
            month: "2026-11".into(),
            received: 120,
            finished: 100,
            finished_on_time: 95,
            finished_late: 5,
            in_progress: 20,
            overdue: 2,
            on_time_rate: Some(0.95),
            online_share: Some(0.4),
            average_processing_days: Some(3.5),
        };
        StatsView {
            month: "2026-11".into(),
            items: vec![row.clone()],
            province: StatsRowView {
                agency_code: None,
                ..row
            },
        }
    }
}

/// The CSV of the statistics: the same names as the JSON rows, the province last.
pub fn stats_csv(view: &StatsView) -> String {
    let mut out = String::from(
        "agency_code,month,received,finished,finished_on_time,finished_late,in_progress,overdue,on_time_rate,online_share,average_processing_days\n",
    );
    let num = |v: Option<f64>| v.map(|v| format!("{v:.4}")).unwrap_or_default();
    for row in view.items.iter().chain(std::iter::once(&view.province)) {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{}\n",
            row.agency_code.as_deref().unwrap_or(""),
            row.month,
            row.received,
            row.finished,
            row.finished_on_time,
            row.finished_late,
            row.in_progress,
            row.overdue,
            num(row.on_time_rate),
            num(row.online_share),
            num(row.average_processing_days),
        ));
    }
    out
}
