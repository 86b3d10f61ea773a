//! The public lookup, notifications and statistics.

use super::*;

/// The public lookup: the dossier code and the PIN of the receipt (or the applicant's ID number).
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct LookupBody {
    #[oai(validator(max_length = 64))]
    pub code: String,
    #[oai(nullable, validator(max_length = 32))]
    pub pin: Option<String>,
    #[oai(nullable, validator(max_length = 12))]
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

/// What anyone holding the receipt may see of a dossier (its owner and agency see it too): no
/// names, no notes.
#[derive(Debug, Clone, Object)]
pub struct DossierSummary {
    /// `{agency code}-{yyMMdd}-{NNNN}`.
    pub code: String,
    pub status: StatusName,
    pub procedure_code: String,
    pub procedure_name: String,
    #[oai(nullable)]
    pub received_at: Option<OffsetDateTime>,
    /// The promised date (moved only by time waiting for the citizen's supplement).
    #[oai(nullable)]
    pub due_at: Option<OffsetDateTime>,
    /// The agency's revised date after an apology.
    #[oai(nullable)]
    pub revised_due_at: Option<OffsetDateTime>,
    #[oai(nullable)]
    pub finished_at: Option<OffsetDateTime>,
    /// Past the promised date and not finished.
    pub overdue: bool,
}

impl Example for DossierSummary {
    fn example() -> Self {
        DossierSummary {
            code: "000.00.31.H15-251201-0001".into(),
            status: StatusName::Received,
            procedure_code: "1.001193".into(),
            procedure_name: "Đăng ký khai sinh".into(),
            received_at: Some(OffsetDateTime::UNIX_EPOCH),
            due_at: Some(OffsetDateTime::UNIX_EPOCH),
            revised_due_at: None,
            finished_at: None,
            overdue: false,
        }
    }
}

/// The public lookup's answer: the summary and the timeline's statuses.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct PublicDossierView {
    #[oai(flatten)]
    pub summary: DossierSummary,
    pub timeline: Vec<PublicEventView>,
}

impl Example for PublicDossierView {
    fn example() -> Self {
        PublicDossierView {
            summary: DossierSummary::example(),
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
            summary: DossierSummary {
                code: v.code,
                status: v.status.into(),
                procedure_code: v.procedure_code,
                procedure_name: v.procedure_name,
                received_at: v.received_at,
                due_at: v.due_at,
                revised_due_at: v.revised_due_at,
                finished_at: v.finished_at,
                overdue: v.overdue,
            },
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
    #[oai(nullable)]
    pub read_at: Option<OffsetDateTime>,
}

/// The citizen's notifications, newest first.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct NotificationPage {
    pub items: Vec<NotificationView>,
    #[oai(nullable)]
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
    #[oai(nullable)]
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
    #[oai(nullable)]
    pub on_time_rate: Option<f64>,
    /// Online dossiers ÷ received.
    #[oai(nullable)]
    pub online_share: Option<f64>,
    #[oai(nullable)]
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
