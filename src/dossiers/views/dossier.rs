//! A dossier, its timeline, and what agencies send to change it.

use super::*;

/// One line of a dossier's timeline.
#[derive(Debug, Clone, Object)]
pub struct TimelineEntry {
    pub status: StatusName,
    pub at: OffsetDateTime,
    #[oai(nullable)]
    pub note: Option<String>,
    /// `status`, `transfer`, `apology` or `result`.
    pub kind: String,
    /// A transfer's `from` and `to` units; a result's details.
    #[oai(skip_serializing_if_is_none)]
    pub details: Option<Value>,
}

/// A dossier as its applicant and its agency see it: the public summary and the rest.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct DossierView {
    #[oai(flatten)]
    pub summary: DossierSummary,
    pub agency_code: String,
    /// The national synchronisation code of `status`.
    pub status_code: i16,
    /// Submitted online.
    pub online: bool,
    /// The applicant's name, masked.
    pub applicant: String,
    #[oai(nullable)]
    pub submitted_at: Option<OffsetDateTime>,
    #[oai(skip_serializing_if_is_none)]
    pub apology_reason: Option<String>,
    /// Working days left to the revised or promised date (negative when late); `null` before
    /// receipt and once finished.
    #[oai(nullable)]
    pub working_days_left: Option<f64>,
    /// Result details, when the agency attached them.
    #[oai(skip_serializing_if_is_none)]
    pub result: Option<Value>,
    /// An online dossier's documents, the latest of each type after supplements (download by
    /// `id` under `…/dossiers/{code}/documents/{id}`).
    #[oai(skip_serializing_if_is_none)]
    pub documents: Option<Vec<DossierDocumentView>>,
    /// While the dossier is `supplement_requested`: what the agency asks for and why.
    #[oai(skip_serializing_if_is_none)]
    pub supplement_request: Option<SupplementRequestView>,
    /// Oldest first (detail only).
    #[oai(skip_serializing_if_is_none)]
    pub timeline: Option<Vec<TimelineEntry>>,
}

impl Example for DossierView {
    fn example() -> Self {
        let at = OffsetDateTime::UNIX_EPOCH;
        DossierView {
            summary: DossierSummary {
                status: StatusName::Processing,
                ..DossierSummary::example()
            },
            agency_code: "000.00.31.H15".into(),
            status_code: 4,
            online: false,
            applicant: "N*** V*** A***".into(),
            submitted_at: None,
            apology_reason: None,
            working_days_left: Some(1.5),
            result: None,
            documents: None,
            supplement_request: None,
            timeline: Some(vec![TimelineEntry {
                status: StatusName::Received,
                at,
                note: None,
                kind: "status".into(),
                details: None,
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
            working_days_left: d.working_days_left(now, holidays),
            status_code: d.status.code(),
            summary: DossierSummary {
                overdue: d.is_overdue(now),
                status: d.status.into(),
                code: d.code,
                procedure_code: d.procedure_code,
                procedure_name: d.procedure_name,
                received_at: d.received_at,
                due_at: d.due_at,
                revised_due_at: d.revised_due_at,
                finished_at: d.finished_at,
            },
            agency_code: d.agency_code,
            online: d.online,
            applicant: d.applicant_name_masked,
            submitted_at: d.submitted_at,
            apology_reason: d.apology_reason,
            result: d.result,
            documents: d.documents.as_ref().map(DossierDocumentView::list),
            supplement_request: (d.status == Status::SupplementRequested)
                .then(|| d.supplement_request.as_ref().map(SupplementRequestView::of))
                .flatten(),
            timeline: timeline.map(|events| {
                events
                    .into_iter()
                    .map(|e| TimelineEntry {
                        status: e.status.into(),
                        at: e.at,
                        note: e.note,
                        // Transfers, results, and the documents a supplement named or brought.
                        details: (matches!(e.kind.as_str(), "transfer" | "result")
                            || e.details.get("documents").is_some())
                        .then_some(e.details),
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
    #[oai(nullable)]
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
    #[oai(nullable, validator(max_length = 40))]
    pub agency_code: Option<String>,
    /// The applicant's 12-digit personal identification number (kept only as a keyed hash).
    #[oai(validator(max_length = 12))]
    pub applicant_id_number: String,
    #[oai(validator(min_length = 1, max_length = 200))]
    pub applicant_name: String,
    #[oai(nullable, validator(max_length = 2000))]
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
    #[oai(nullable)]
    pub received_at: Option<OffsetDateTime>,
    #[oai(nullable)]
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
            code: dossier.summary.code.clone(),
            status: StatusName::Received,
            received_at: dossier.summary.received_at,
            due_at: dossier.summary.due_at,
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
    /// What the citizen reads on the timeline; required (the reason) for `refused` and
    /// `supplement_requested`.
    #[oai(nullable, validator(max_length = 2000))]
    pub note: Option<String>,
    /// Result details, kept with `result_ready` (or sent later to `…/result`).
    #[oai(nullable)]
    pub result: Option<ResultDetails>,
    /// With `supplement_requested` only: the missing or wrong documents, by the `code` of the
    /// procedure's `required_documents`. The citizen's supplement must bring each of them.
    #[oai(skip_serializing_if_is_none, validator(max_items = 50))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub documents: Option<Vec<String>>,
}

impl Example for TransitionBody {
    fn example() -> Self {
        TransitionBody {
            to: StatusName::Processing,
            note: Some("Chuyển phòng chuyên môn".into()),
            result: None,
            documents: None,
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
