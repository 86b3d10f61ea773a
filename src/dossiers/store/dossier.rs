//! A dossier, its timeline and the helpers every write shares.

use super::*;

/// A dossier as its owner and its agency see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dossier {
    pub code: String,
    pub procedure_code: String,
    pub procedure_name: String,
    pub agency_code: String,
    pub status: Status,
    pub online: bool,
    pub citizen_id: Option<Uuid>,
    pub applicant_name_masked: String,
    pub filed_at: OffsetDateTime,
    pub submitted_at: Option<OffsetDateTime>,
    pub received_at: Option<OffsetDateTime>,
    /// The promised date (moved by supplement pauses only).
    pub due_at: Option<OffsetDateTime>,
    pub revised_due_at: Option<OffsetDateTime>,
    pub apology_reason: Option<String>,
    pub paused_since: Option<OffsetDateTime>,
    pub paused: WorkingTime,
    pub finished_at: Option<OffsetDateTime>,
    pub closed_at: Option<OffsetDateTime>,
    pub result: Option<Value>,
    /// Online dossiers: the documents as attached (`id`, `type`, `content_type`, `size`,
    /// `sha256`), the latest of each type after supplements.
    pub documents: Option<Value>,
    /// The agency's last supplement request (`documents`, `note`, `requested_at`, `from`).
    pub supplement_request: Option<Value>,
}

impl Dossier {
    /// Settled (result ready or a final status): the clock no longer runs.
    pub fn is_settled(&self) -> bool {
        self.finished_at.is_some() || self.closed_at.is_some()
    }

    /// The due date the running clock aims at now: the promise, moved on by a pause in
    /// progress.
    pub fn effective_due_at(
        &self,
        now: OffsetDateTime,
        holidays: &Holidays,
    ) -> Option<OffsetDateTime> {
        let due = self.due_at?;
        Some(match self.paused_since {
            Some(since) if now > since => calendar::shift_by_paused(
                due,
                calendar::working_time_between(since, now, holidays),
                holidays,
            ),
            _ => due,
        })
    }

    /// Past the promised date and not settled; a pause in progress stops the clock. The apology's
    /// revised date does not excuse lateness.
    pub fn is_overdue(&self, now: OffsetDateTime) -> bool {
        let Some(due) = self.due_at else {
            return false;
        };
        let clock = self.paused_since.map_or(now, |since| since.min(now));
        calendar::is_overdue(clock, due, self.is_settled())
    }

    /// Working days left until the revised date if the agency apologised, else the promise;
    /// negative once late; `None` before receipt and once settled. While the dossier waits for
    /// a supplement the count stands still.
    pub fn working_days_left(&self, now: OffsetDateTime, holidays: &Holidays) -> Option<f64> {
        if self.is_settled() {
            return None;
        }
        let target = self.revised_due_at.or(self.due_at)?;
        let clock = self.paused_since.map_or(now, |since| since.min(now));
        Some(calendar::working_days_left(clock, target, holidays))
    }
}

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub seq: i32,
    /// `status`, `transfer`, `apology` or `result`.
    pub kind: String,
    pub status: Status,
    pub at: OffsetDateTime,
    pub note: Option<String>,
    pub actor: String,
    pub details: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DossierDetail {
    pub dossier: Dossier,
    pub timeline: Vec<Event>,
}

pub(super) const DOSSIER_COLUMNS: &str = "d.code, d.procedure_code, p.name AS procedure_name, d.agency_code, d.status, d.online, d.citizen_id,
    d.applicant_name_masked, d.filed_at, d.submitted_at, d.received_at, d.due_at, d.revised_due_at, d.apology_reason,
    d.paused_since, d.paused_ticks, d.finished_at, d.closed_at, d.result, d.documents, d.supplement_request";

pub(super) fn status_from(value: &str) -> Result<Status> {
    value
        .parse()
        .map_err(|_| StoreError::Other(anyhow::anyhow!("status {value:?} in the database")))
}

pub(super) fn dossier_from_row(row: &PgRow) -> Result<Dossier> {
    let status: String = row.try_get("status")?;
    Ok(Dossier {
        code: row.try_get("code")?,
        procedure_code: row.try_get("procedure_code")?,
        procedure_name: row.try_get("procedure_name")?,
        agency_code: row.try_get("agency_code")?,
        status: status_from(&status)?,
        online: row.try_get("online")?,
        citizen_id: row.try_get("citizen_id")?,
        applicant_name_masked: row.try_get("applicant_name_masked")?,
        filed_at: row.try_get("filed_at")?,
        submitted_at: row.try_get("submitted_at")?,
        received_at: row.try_get("received_at")?,
        due_at: row.try_get("due_at")?,
        revised_due_at: row.try_get("revised_due_at")?,
        apology_reason: row.try_get("apology_reason")?,
        paused_since: row.try_get("paused_since")?,
        paused: WorkingTime(row.try_get("paused_ticks")?),
        finished_at: row.try_get("finished_at")?,
        closed_at: row.try_get("closed_at")?,
        result: row.try_get("result")?,
        documents: row.try_get("documents")?,
        supplement_request: row.try_get("supplement_request")?,
    })
}

/// Reads a dossier the caller may see, locking it for the rest of the transaction.
pub(super) async fn lock_visible(
    conn: &mut PgConnection,
    code: &str,
    by: &Caller,
) -> Result<Dossier> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {DOSSIER_COLUMNS} FROM dossiers d JOIN procedures p ON p.code = d.procedure_code
          WHERE d.code = $1
            AND ($2::text[] IS NULL OR d.agency_code = ANY ($2))
            AND ($3::uuid IS NULL OR d.citizen_id = $3)
          FOR UPDATE OF d"
    )))
    .bind(code)
    .bind(by.agencies())
    .bind(by.citizen())
    .fetch_optional(conn)
    .await?;
    row.as_ref()
        .map(dossier_from_row)
        .transpose()?
        .ok_or(StoreError::NotFound)
}

pub(super) struct NewEvent<'a> {
    pub(super) kind: &'a str,
    pub(super) status: Status,
    pub(super) at: OffsetDateTime,
    pub(super) note: Option<&'a str>,
    pub(super) actor: &'a str,
    pub(super) details: &'a Value,
}

pub(super) async fn append_event(
    conn: &mut PgConnection,
    code: &str,
    event: NewEvent<'_>,
) -> Result<()> {
    // The dossier row is locked by the caller, so max + 1 cannot race.
    sqlx::query!(
        "INSERT INTO dossier_events (dossier_code, seq, kind, status, at, note, actor, details)
         SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5, $6, $7
           FROM dossier_events WHERE dossier_code = $1",
        code,
        event.kind,
        event.status.as_str(),
        event.at,
        event.note,
        event.actor,
        event.details,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A notification for the applicant, written whether or not they have signed in yet: linking
/// gives them the ones written before.
pub(super) async fn notify(
    conn: &mut PgConnection,
    dossier: &str,
    citizen: Option<Uuid>,
    kind: &str,
    title: &str,
    body: &str,
    at: OffsetDateTime,
) -> Result<()> {
    sqlx::query!(
        "INSERT INTO notifications (id, citizen_id, dossier_code, kind, title, body, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        Uuid::now_v7(),
        citizen,
        dossier,
        kind,
        title,
        body,
        at,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// `dd/mm/yyyy HH:MM`, Vietnam's time, for notification texts.
pub fn format_local(at: OffsetDateTime) -> String {
    let at = at.to_offset(VIETNAM);
    format!(
        "{:02}/{:02}/{} {:02}:{:02}",
        at.day(),
        u8::from(at.month()),
        at.year(),
        at.hour(),
        at.minute()
    )
}

pub(super) fn status_notification(
    code: &str,
    status: Status,
    note: Option<&str>,
    due: Option<OffsetDateTime>,
) -> (String, String) {
    let title = format!("Hồ sơ {code}: {}", status.label_vi());
    let mut body = format!(
        "Hồ sơ {code} chuyển sang trạng thái \"{}\".",
        status.label_vi()
    );
    if let (Status::Received, Some(due)) = (status, due) {
        body.push_str(&format!(" Ngày hẹn trả kết quả: {}.", format_local(due)));
    }
    if let Some(note) = note.filter(|n| !n.trim().is_empty()) {
        body.push_str(&format!(" Ghi chú: {note}"));
    }
    (title, body)
}

/// The next gap-free sequence number of `agency` for `day`, inside the caller's transaction.
pub(super) async fn next_sequence(conn: &mut PgConnection, agency: &str, day: Date) -> Result<u32> {
    let n = sqlx::query_scalar!(
        "INSERT INTO dossier_code_counters (agency_code, day, n) VALUES ($1, $2, 1)
         ON CONFLICT (agency_code, day) DO UPDATE SET n = dossier_code_counters.n + 1
         RETURNING n",
        agency,
        day,
    )
    .fetch_one(conn)
    .await?;
    u32::try_from(n).map_err(|_| StoreError::Other(anyhow::anyhow!("negative counter")))
}
