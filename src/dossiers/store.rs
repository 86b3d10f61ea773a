//! Every SQL statement of dossier tracking.
//!
//! Writes take `&mut PgConnection` so the caller decides the transaction: an HTTP handler opens
//! one, records its `Idempotency-Key` ([`begin_idempotent`]), calls the write, stores the
//! response ([`finish_idempotent`]) and commits, so the dossier, its event, its notification and
//! the stored response are all or nothing. A refused write returns an error before writing.
//! Functions whose result depends on the time take `now`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};
use time::{Date, Month as CalendarMonth, OffsetDateTime, PrimitiveDateTime, Time};
use uuid::Uuid;

use super::calendar::{self, DayKind, Holidays, VIETNAM, WorkingTime};
use super::model::{
    self, Actor, AgencyCode, DossierCode, Status, TransitionRefused, check_transition,
};
use crate::crypto::{MasterKey, constant_time_eq};

/// What a store function can refuse, and why. Each variant maps to one API answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such dossier, or not the caller's (the API answers 404 either way).
    #[error("no such dossier")]
    NotFound,
    #[error("unknown procedure {0}")]
    UnknownProcedure(String),
    #[error("unknown agency {0}")]
    UnknownAgency(String),
    /// The client is not bound to the agency it acts for.
    #[error("the client does not act for agency {0}")]
    AgencyNotAllowed(String),
    /// A field is unusable; `field` names it as the API spells it.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Transition(#[from] TransitionRefused),
    /// The key was used before with a different request.
    #[error("the Idempotency-Key was used for a different request")]
    IdempotencyMismatch,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

fn invalid(field: &'static str, message: impl Into<String>) -> StoreError {
    StoreError::Invalid {
        field,
        message: message.into(),
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Who acts. Agencies' clients see only the dossiers of the agencies they are bound to; citizens
/// only their own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Agency {
        client_id: String,
        agencies: Vec<String>,
    },
    Citizen(Uuid),
}

impl Caller {
    fn actor(&self) -> Actor {
        match self {
            Caller::Agency { .. } => Actor::Agency,
            Caller::Citizen(_) => Actor::Citizen,
        }
    }

    /// How the timeline names the caller.
    fn label(&self) -> String {
        match self {
            Caller::Agency { client_id, .. } => format!("agency:{client_id}"),
            Caller::Citizen(id) => format!("citizen:{id}"),
        }
    }

    fn agencies(&self) -> Option<&[String]> {
        match self {
            Caller::Agency { agencies, .. } => Some(agencies),
            Caller::Citizen(_) => None,
        }
    }

    fn citizen(&self) -> Option<Uuid> {
        match self {
            Caller::Citizen(id) => Some(*id),
            Caller::Agency { .. } => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Keyset cursors

/// A position in a list ordered by (time, key) descending; opaque to clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub at: OffsetDateTime,
    pub key: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}|{}", self.at.unix_timestamp_nanos(), self.key))
    }

    pub fn decode(value: &str) -> Option<Cursor> {
        let bytes = URL_SAFE_NO_PAD.decode(value).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (nanos, key) = text.split_once('|')?;
        let at = OffsetDateTime::from_unix_timestamp_nanos(nanos.parse().ok()?).ok()?;
        Some(Cursor {
            at,
            key: key.to_string(),
        })
    }
}

/// One page of a keyset-paginated list.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

fn clamp_limit(limit: u32) -> i64 {
    i64::from(limit.clamp(1, 100))
}

// ---------------------------------------------------------------------------------------------
// Calendar

/// A row of the holiday table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HolidayRow {
    pub day: Date,
    pub name: String,
    pub kind: DayKind,
    pub note: Option<String>,
}

pub async fn list_holidays(db: &PgPool) -> Result<Vec<HolidayRow>> {
    let rows = sqlx::query("SELECT day, name, kind, note FROM holidays ORDER BY day")
        .fetch_all(db)
        .await?;
    rows.iter()
        .map(|row| {
            let kind: String = row.try_get("kind")?;
            Ok(HolidayRow {
                day: row.try_get("day")?,
                name: row.try_get("name")?,
                kind: DayKind::parse(&kind)
                    .ok_or_else(|| anyhow::anyhow!("holiday kind {kind:?} in the database"))?,
                note: row.try_get("note")?,
            })
        })
        .collect()
}

/// The calendar the due-date functions need, from the holiday table.
pub async fn load_holidays(db: &PgPool) -> Result<Holidays> {
    Ok(Holidays::new(
        list_holidays(db)
            .await?
            .into_iter()
            .map(|h| (h.day, h.kind)),
    ))
}

/// Adds or replaces a day of the holiday table. Existing due dates are not recomputed: a due
/// date is a promise made at receipt.
pub async fn upsert_holiday(db: &PgPool, row: &HolidayRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO holidays (day, name, kind, note) VALUES ($1, $2, $3, $4)
         ON CONFLICT (day) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind, note = EXCLUDED.note",
    )
    .bind(row.day)
    .bind(&row.name)
    .bind(row.kind.as_str())
    .bind(&row.note)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn delete_holiday(db: &PgPool, day: Date) -> Result<bool> {
    let done = sqlx::query("DELETE FROM holidays WHERE day = $1")
        .bind(day)
        .execute(db)
        .await?;
    Ok(done.rows_affected() > 0)
}

// ---------------------------------------------------------------------------------------------
// Catalogue

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agency {
    pub code: String,
    pub name: String,
    pub province: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commune {
    pub code: String,
    pub name: String,
    pub province: String,
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequiredDocument {
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Procedure {
    pub code: String,
    pub name: String,
    pub field: String,
    pub agency_code: String,
    pub processing_days: f64,
    /// Local time (Vietnam) after which a receipt counts from the next working day.
    pub cutoff: Time,
    pub fee_vnd: i64,
    pub fee_note: Option<String>,
    /// `whole_process`, `partial` or `none`.
    pub online_level: String,
    pub online: bool,
    pub required_documents: Vec<RequiredDocument>,
    /// Only filled by [`get_procedure`]: lists leave it out.
    pub form_schema: Option<Value>,
}

impl Procedure {
    pub fn processing_time(&self) -> Result<WorkingTime> {
        WorkingTime::from_days(self.processing_days).map_err(|e| StoreError::Other(e.into()))
    }
}

const PROCEDURE_COLUMNS: &str = "code, name, field, agency_code, processing_days::float8 AS processing_days, cutoff, fee_vnd, fee_note, online_level, online, required_documents";

fn procedure_from_row(row: &PgRow, with_schema: bool) -> Result<Procedure> {
    let documents: Value = row.try_get("required_documents")?;
    Ok(Procedure {
        code: row.try_get("code")?,
        name: row.try_get("name")?,
        field: row.try_get("field")?,
        agency_code: row.try_get("agency_code")?,
        processing_days: row.try_get("processing_days")?,
        cutoff: row.try_get("cutoff")?,
        fee_vnd: row.try_get("fee_vnd")?,
        fee_note: row.try_get("fee_note")?,
        online_level: row.try_get("online_level")?,
        online: row.try_get("online")?,
        required_documents: serde_json::from_value(documents)
            .map_err(|e| anyhow::anyhow!("required_documents in the database: {e}"))?,
        form_schema: if with_schema {
            row.try_get("form_schema")?
        } else {
            None
        },
    })
}

pub async fn list_agencies(db: &PgPool) -> Result<Vec<Agency>> {
    let rows = sqlx::query("SELECT code, name, province FROM agencies ORDER BY code")
        .fetch_all(db)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(Agency {
                code: row.try_get("code")?,
                name: row.try_get("name")?,
                province: row.try_get("province")?,
            })
        })
        .collect()
}

pub async fn list_communes(db: &PgPool) -> Result<Vec<Commune>> {
    let rows = sqlx::query("SELECT code, name, province, kind FROM communes ORDER BY code")
        .fetch_all(db)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(Commune {
                code: row.try_get("code")?,
                name: row.try_get("name")?,
                province: row.try_get("province")?,
                kind: row.try_get("kind")?,
            })
        })
        .collect()
}

/// `GET /v1/procedures`: filters and a cursor.
#[derive(Debug, Clone, Default)]
pub struct ProcedureQuery {
    /// Accent-insensitive words, all of which must appear ("cap giay phep" finds "Cấp giấy
    /// phép"). With `q`, results are ranked by similarity and there is no next page.
    pub q: Option<String>,
    pub agency: Option<String>,
    pub online: Option<bool>,
    /// The last code of the previous page (lists without `q` are ordered by code).
    pub after: Option<String>,
    pub limit: u32,
}

pub async fn list_procedures(db: &PgPool, query: &ProcedureQuery) -> Result<Page<Procedure>> {
    let limit = clamp_limit(query.limit);
    let q = query
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(|q| q.chars().take(200).collect::<String>());
    let rows = match &q {
        Some(q) => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {PROCEDURE_COLUMNS} FROM procedures, fold_vietnamese($1) AS folded
                  WHERE ($2::text IS NULL OR agency_code = $2)
                    AND ($3::boolean IS NULL OR online = $3)
                    AND NOT EXISTS (
                        SELECT 1 FROM regexp_split_to_table(folded, '\\s+') AS word
                         WHERE word <> '' AND strpos(search, word) = 0)
                  ORDER BY similarity(search, folded) DESC, code
                  LIMIT $4"
            )))
            .bind(q)
            .bind(&query.agency)
            .bind(query.online)
            .bind(limit)
            .fetch_all(db)
            .await?
        }
        None => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {PROCEDURE_COLUMNS} FROM procedures
                  WHERE ($1::text IS NULL OR agency_code = $1)
                    AND ($2::boolean IS NULL OR online = $2)
                    AND ($3::text IS NULL OR code > $3)
                  ORDER BY code
                  LIMIT $4"
            )))
            .bind(&query.agency)
            .bind(query.online)
            .bind(&query.after)
            .bind(limit + 1)
            .fetch_all(db)
            .await?
        }
    };
    let mut items = rows
        .iter()
        .map(|row| procedure_from_row(row, false))
        .collect::<Result<Vec<_>>>()?;
    let next_cursor = if q.is_none() && items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|p| p.code.clone())
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

/// `GET /v1/procedures/{code}`, with the form schema.
pub async fn get_procedure(db: &PgPool, code: &str) -> Result<Option<Procedure>> {
    get_procedure_in(&mut *db.acquire().await?, code).await
}

async fn get_procedure_in(conn: &mut PgConnection, code: &str) -> Result<Option<Procedure>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {PROCEDURE_COLUMNS}, form_schema FROM procedures WHERE code = $1"
    )))
    .bind(code)
    .fetch_optional(conn)
    .await?;
    row.map(|row| procedure_from_row(&row, true)).transpose()
}

// ---------------------------------------------------------------------------------------------
// Dossiers

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

const DOSSIER_COLUMNS: &str = "d.code, d.procedure_code, p.name AS procedure_name, d.agency_code, d.status, d.online, d.citizen_id,
    d.applicant_name_masked, d.filed_at, d.submitted_at, d.received_at, d.due_at, d.revised_due_at, d.apology_reason,
    d.paused_since, d.paused_ticks, d.finished_at, d.closed_at, d.result";

fn status_from(value: &str) -> Result<Status> {
    value
        .parse()
        .map_err(|_| StoreError::Other(anyhow::anyhow!("status {value:?} in the database")))
}

fn dossier_from_row(row: &PgRow) -> Result<Dossier> {
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
    })
}

fn event_from_row(row: &PgRow) -> Result<Event> {
    let status: String = row.try_get("status")?;
    Ok(Event {
        seq: row.try_get("seq")?,
        kind: row.try_get("kind")?,
        status: status_from(&status)?,
        at: row.try_get("at")?,
        note: row.try_get("note")?,
        actor: row.try_get("actor")?,
        details: row.try_get("details")?,
    })
}

/// Reads a dossier the caller may see, locking it for the rest of the transaction.
async fn lock_visible(conn: &mut PgConnection, code: &str, by: &Caller) -> Result<Dossier> {
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

struct NewEvent<'a> {
    kind: &'a str,
    status: Status,
    at: OffsetDateTime,
    note: Option<&'a str>,
    actor: &'a str,
    details: &'a Value,
}

async fn append_event(conn: &mut PgConnection, code: &str, event: NewEvent<'_>) -> Result<()> {
    // The dossier row is locked by the caller, so max + 1 cannot race.
    sqlx::query(
        "INSERT INTO dossier_events (dossier_code, seq, kind, status, at, note, actor, details)
         SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5, $6, $7
           FROM dossier_events WHERE dossier_code = $1",
    )
    .bind(code)
    .bind(event.kind)
    .bind(event.status.as_str())
    .bind(event.at)
    .bind(event.note)
    .bind(event.actor)
    .bind(event.details)
    .execute(conn)
    .await?;
    Ok(())
}

/// A notification for the applicant, written whether or not they have signed in yet: linking
/// gives them the ones written before.
async fn notify(
    conn: &mut PgConnection,
    dossier: &str,
    citizen: Option<Uuid>,
    kind: &str,
    title: &str,
    body: &str,
    at: OffsetDateTime,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO notifications (id, citizen_id, dossier_code, kind, title, body, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(Uuid::now_v7())
    .bind(citizen)
    .bind(dossier)
    .bind(kind)
    .bind(title)
    .bind(body)
    .bind(at)
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

fn status_notification(
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
async fn next_sequence(conn: &mut PgConnection, agency: &str, day: Date) -> Result<u32> {
    let n: i32 = sqlx::query_scalar(
        "INSERT INTO dossier_code_counters (agency_code, day, n) VALUES ($1, $2, 1)
         ON CONFLICT (agency_code, day) DO UPDATE SET n = dossier_code_counters.n + 1
         RETURNING n",
    )
    .bind(agency)
    .bind(day)
    .fetch_one(conn)
    .await?;
    u32::try_from(n).map_err(|_| StoreError::Other(anyhow::anyhow!("negative counter")))
}

/// `POST /v1/agency/dossiers`: a dossier received at the counter.
#[derive(Debug, Clone, Deserialize)]
pub struct CounterRegistration {
    pub procedure_code: String,
    /// The receiving agency; the procedure's own agency when absent.
    pub agency_code: Option<String>,
    pub applicant_id_number: String,
    pub applicant_name: String,
    pub note: Option<String>,
}

/// What a registration returns: the dossier and the PIN printed on the receipt (shown once;
/// only its keyed hash is stored).
#[derive(Debug, Clone, Serialize)]
pub struct Registered {
    pub dossier: Dossier,
    pub lookup_pin: String,
    /// Keyed hash of the PIN, base64url, for the signed receipt.
    pub lookup_pin_hash: String,
}

async fn citizen_by_hmac(conn: &mut PgConnection, hmac: &[u8]) -> Result<Option<Uuid>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM citizens WHERE id_number_hmac = $1 ORDER BY last_sign_in_at DESC LIMIT 1",
    )
    .bind(hmac)
    .fetch_optional(conn)
    .await?)
}

/// Registers a counter dossier: assigns its code, computes its due date, writes the first
/// timeline event and the applicant's notification, all in the caller's transaction.
pub async fn register_counter(
    conn: &mut PgConnection,
    master: &MasterKey,
    holidays: &Holidays,
    by: &Caller,
    registration: &CounterRegistration,
    now: OffsetDateTime,
) -> Result<Registered> {
    let id_number = registration.applicant_id_number.trim();
    if !model::valid_id_number(id_number) {
        return Err(invalid(
            "applicant_id_number",
            "a personal identification number has 12 digits",
        ));
    }
    let name = registration.applicant_name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(invalid("applicant_name", "between 1 and 200 characters"));
    }
    let procedure = get_procedure_in(conn, &registration.procedure_code)
        .await?
        .ok_or_else(|| StoreError::UnknownProcedure(registration.procedure_code.clone()))?;
    let agency = registration
        .agency_code
        .clone()
        .unwrap_or_else(|| procedure.agency_code.clone());
    let agency = AgencyCode::parse(&agency).map_err(|e| invalid("agency_code", e.to_string()))?;
    if let Some(allowed) = by.agencies()
        && !allowed.iter().any(|a| a == agency.as_str())
    {
        return Err(StoreError::AgencyNotAllowed(agency.to_string()));
    }
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM agencies WHERE code = $1)")
        .bind(agency.as_str())
        .fetch_one(&mut *conn)
        .await?;
    if !exists {
        return Err(StoreError::UnknownAgency(agency.to_string()));
    }
    let processing = procedure.processing_time()?;
    let due = calendar::due_at(now, processing, procedure.cutoff, holidays);
    let hmac = model::id_number_hmac(master, id_number)?;
    let citizen = citizen_by_hmac(conn, &hmac).await?;
    let day = now.to_offset(VIETNAM).date();
    let seq = next_sequence(conn, agency.as_str(), day).await?;
    let code = DossierCode::new(agency.clone(), day, seq).to_string();
    let pin = model::new_lookup_pin();
    let pin_hash = model::lookup_pin_hash(master, &code, &pin)?;
    sqlx::query(
        "INSERT INTO dossiers (code, procedure_code, agency_code, status, online, citizen_id, applicant_id_hmac,
                               applicant_name_masked, filed_at, received_at, due_at, lookup_pin_hash)
         VALUES ($1, $2, $3, 'received', false, $4, $5, $6, $7, $7, $8, $9)",
    )
    .bind(&code)
    .bind(&procedure.code)
    .bind(agency.as_str())
    .bind(citizen)
    .bind(&hmac)
    .bind(model::mask_name(name))
    .bind(now)
    .bind(due)
    .bind(&pin_hash)
    .execute(&mut *conn)
    .await?;
    let note = registration.note.as_deref();
    append_event(
        conn,
        &code,
        NewEvent {
            kind: "status",
            status: Status::Received,
            at: now,
            note,
            actor: &by.label(),
            details: &serde_json::json!({ "due_at": due.unix_timestamp() }),
        },
    )
    .await?;
    let (title, body) = status_notification(&code, Status::Received, None, Some(due));
    notify(conn, &code, citizen, "status", &title, &body, now).await?;
    let dossier = lock_visible(conn, &code, by).await?;
    Ok(Registered {
        dossier,
        lookup_pin: pin,
        lookup_pin_hash: URL_SAFE_NO_PAD.encode(pin_hash),
    })
}

/// `POST /v1/me/dossiers`: a signed-in citizen applies online. The HTTP layer checks the form
/// against the procedure's schema and the uploads before calling this.
#[derive(Debug, Clone, Deserialize)]
pub struct OnlineSubmission {
    pub procedure_code: String,
    pub form: Value,
    /// `[{"type": <required document code>, "upload_id": …}]`
    pub documents: Value,
}

pub async fn submit_online(
    conn: &mut PgConnection,
    master: &MasterKey,
    citizen: Uuid,
    submission: &OnlineSubmission,
    now: OffsetDateTime,
) -> Result<Registered> {
    let procedure = get_procedure_in(conn, &submission.procedure_code)
        .await?
        .ok_or_else(|| StoreError::UnknownProcedure(submission.procedure_code.clone()))?;
    if !procedure.online {
        return Err(invalid(
            "procedure_code",
            "this procedure cannot be applied for online",
        ));
    }
    let row = sqlx::query("SELECT name, id_number_hmac FROM citizens WHERE id = $1")
        .bind(citizen)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    let hmac: Option<Vec<u8>> = row.try_get("id_number_hmac")?;
    let hmac = hmac.ok_or_else(|| {
        invalid(
            "applicant",
            "the identity provider did not release your identification number",
        )
    })?;
    let name: Option<String> = row.try_get("name")?;
    let agency = AgencyCode::parse(&procedure.agency_code).map_err(anyhow::Error::from)?;
    let day = now.to_offset(VIETNAM).date();
    let seq = next_sequence(conn, agency.as_str(), day).await?;
    let code = DossierCode::new(agency.clone(), day, seq).to_string();
    let pin = model::new_lookup_pin();
    let pin_hash = model::lookup_pin_hash(master, &code, &pin)?;
    sqlx::query(
        "INSERT INTO dossiers (code, procedure_code, agency_code, status, online, citizen_id, applicant_id_hmac,
                               applicant_name_masked, filed_at, submitted_at, lookup_pin_hash, form, documents)
         VALUES ($1, $2, $3, 'submitted', true, $4, $5, $6, $7, $7, $8, $9, $10)",
    )
    .bind(&code)
    .bind(&procedure.code)
    .bind(agency.as_str())
    .bind(citizen)
    .bind(&hmac)
    .bind(model::mask_name(name.as_deref().unwrap_or("")))
    .bind(now)
    .bind(&pin_hash)
    .bind(&submission.form)
    .bind(&submission.documents)
    .execute(&mut *conn)
    .await?;
    let by = Caller::Citizen(citizen);
    append_event(
        conn,
        &code,
        NewEvent {
            kind: "status",
            status: Status::Submitted,
            at: now,
            note: None,
            actor: &by.label(),
            details: &Value::Object(Default::default()),
        },
    )
    .await?;
    let (title, body) = status_notification(&code, Status::Submitted, None, None);
    notify(conn, &code, Some(citizen), "status", &title, &body, now).await?;
    let dossier = lock_visible(conn, &code, &by).await?;
    Ok(Registered {
        dossier,
        lookup_pin: pin,
        lookup_pin_hash: URL_SAFE_NO_PAD.encode(pin_hash),
    })
}

/// `POST /v1/agency/dossiers/{code}/transitions` (and a citizen's withdrawal).
#[derive(Debug, Clone, Deserialize)]
pub struct TransitionRequest {
    pub to: Status,
    pub note: Option<String>,
    /// Result details (decision number, signer …), kept with a `result_ready` transition.
    pub result: Option<Value>,
}

/// Applies a transition from the table: locks the dossier, checks the table, keeps the due date
/// and pause bookkeeping, and writes the event and the notification. A refused transition
/// writes nothing and lists the allowed ones.
pub async fn apply_transition(
    conn: &mut PgConnection,
    holidays: &Holidays,
    by: &Caller,
    code: &str,
    request: &TransitionRequest,
    now: OffsetDateTime,
) -> Result<Dossier> {
    let mut dossier = lock_visible(conn, code, by).await?;
    let from = dossier.status;
    let to = request.to;
    check_transition(from, to, by.actor())?;

    // The pause ends whenever the dossier leaves `supplement_requested`.
    let mut pause_ended = WorkingTime::ZERO;
    if let Some(since) = dossier.paused_since.take() {
        pause_ended = calendar::working_time_between(since, now, holidays).max(WorkingTime::ZERO);
        dossier.paused = dossier.paused + pause_ended;
        dossier.due_at = dossier
            .due_at
            .map(|due| calendar::shift_by_paused(due, pause_ended, holidays));
    }
    // Receipt of an online dossier: the clock starts (also when a supplement came first).
    if matches!(to, Status::Received | Status::Processing) && dossier.received_at.is_none() {
        let procedure = get_procedure_in(conn, &dossier.procedure_code)
            .await?
            .ok_or_else(|| StoreError::UnknownProcedure(dossier.procedure_code.clone()))?;
        dossier.received_at = Some(now);
        dossier.due_at = Some(calendar::due_at(
            now,
            procedure.processing_time()?,
            procedure.cutoff,
            holidays,
        ));
    }
    // Only a running clock can be paused: before receipt there is nothing to pause.
    if to == Status::SupplementRequested && dossier.received_at.is_some() {
        dossier.paused_since = Some(now);
    }
    let mut processing_ticks: Option<i64> = None;
    if to == Status::ResultReady {
        dossier.finished_at = Some(now);
        if let Some(received) = dossier.received_at {
            let worked =
                calendar::working_time_between(received, now, holidays).0 - dossier.paused.0;
            processing_ticks = Some(worked.max(0));
        }
        if request.result.is_some() {
            dossier.result = request.result.clone();
        }
    }
    if to.is_final() {
        dossier.closed_at = Some(now);
    }
    dossier.status = to;

    sqlx::query(
        "UPDATE dossiers SET status = $2, received_at = $3, due_at = $4, paused_since = $5, paused_ticks = $6,
                finished_at = $7, closed_at = $8, result = $9, processing_ticks = COALESCE($10, processing_ticks)
          WHERE code = $1",
    )
    .bind(code)
    .bind(to.as_str())
    .bind(dossier.received_at)
    .bind(dossier.due_at)
    .bind(dossier.paused_since)
    .bind(dossier.paused.0)
    .bind(dossier.finished_at)
    .bind(dossier.closed_at)
    .bind(&dossier.result)
    .bind(processing_ticks)
    .execute(&mut *conn)
    .await?;
    let mut details = serde_json::json!({ "from": from.as_str() });
    if pause_ended > WorkingTime::ZERO {
        details["paused_working_days"] = serde_json::json!(pause_ended.as_days());
    }
    if let Some(due) = dossier.due_at {
        details["due_at"] = serde_json::json!(due.unix_timestamp());
    }
    let note = request.note.as_deref();
    append_event(
        conn,
        code,
        NewEvent {
            kind: "status",
            status: to,
            at: now,
            note,
            actor: &by.label(),
            details: &details,
        },
    )
    .await?;
    let (title, body) = status_notification(code, to, note, dossier.due_at);
    notify(conn, code, dossier.citizen_id, "status", &title, &body, now).await?;
    Ok(dossier)
}

/// `POST /v1/agency/dossiers/{code}/apologies`: the agency will be late (form 04). The citizen
/// sees the revised date; statistics keep judging by the promised one.
pub async fn apologise(
    conn: &mut PgConnection,
    by: &Caller,
    code: &str,
    revised_due_at: OffsetDateTime,
    reason: &str,
    now: OffsetDateTime,
) -> Result<Dossier> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 2000 {
        return Err(invalid("reason", "between 1 and 2000 characters"));
    }
    let mut dossier = lock_visible(conn, code, by).await?;
    if dossier.is_settled() || dossier.due_at.is_none() {
        return Err(invalid(
            "code",
            "only a dossier being processed can be apologised for",
        ));
    }
    let floor = dossier
        .revised_due_at
        .or(dossier.due_at)
        .unwrap_or(now)
        .max(now);
    if revised_due_at <= floor {
        return Err(invalid(
            "revised_due_at",
            "must be later than the current due date and than now",
        ));
    }
    sqlx::query("UPDATE dossiers SET revised_due_at = $2, apology_reason = $3 WHERE code = $1")
        .bind(code)
        .bind(revised_due_at)
        .bind(reason)
        .execute(&mut *conn)
        .await?;
    append_event(
        conn,
        code,
        NewEvent {
            kind: "apology",
            status: dossier.status,
            at: now,
            note: Some(reason),
            actor: &by.label(),
            details: &serde_json::json!({ "revised_due_at": revised_due_at.unix_timestamp() }),
        },
    )
    .await?;
    let title = format!("Hồ sơ {code}: thư xin lỗi và hẹn lại ngày trả kết quả");
    let body = format!(
        "Cơ quan giải quyết xin lỗi vì hồ sơ {code} chậm so với ngày hẹn. Ngày hẹn mới: {}. Lý do: {reason}",
        format_local(revised_due_at)
    );
    notify(
        conn,
        code,
        dossier.citizen_id,
        "apology",
        &title,
        &body,
        now,
    )
    .await?;
    dossier.revised_due_at = Some(revised_due_at);
    dossier.apology_reason = Some(reason.to_string());
    Ok(dossier)
}

/// A transfer between agencies or departments: a timeline event, not a status.
pub async fn record_transfer(
    conn: &mut PgConnection,
    by: &Caller,
    code: &str,
    from_unit: &str,
    to_unit: &str,
    note: Option<&str>,
    now: OffsetDateTime,
) -> Result<Dossier> {
    for (field, value) in [("from", from_unit), ("to", to_unit)] {
        if value.trim().is_empty() || value.chars().count() > 300 {
            return Err(invalid(field, "between 1 and 300 characters"));
        }
    }
    let dossier = lock_visible(conn, code, by).await?;
    if dossier.status.is_final() {
        return Err(invalid("code", "the dossier is closed"));
    }
    append_event(
        conn,
        code,
        NewEvent {
            kind: "transfer",
            status: dossier.status,
            at: now,
            note,
            actor: &by.label(),
            details: &serde_json::json!({ "from": from_unit.trim(), "to": to_unit.trim() }),
        },
    )
    .await?;
    Ok(dossier)
}

/// Result details (decision number, signer, where to collect …) for a dossier whose result is
/// ready or returned.
pub async fn attach_result(
    conn: &mut PgConnection,
    by: &Caller,
    code: &str,
    result: &Value,
    now: OffsetDateTime,
) -> Result<Dossier> {
    if !result.is_object() {
        return Err(invalid("result", "an object"));
    }
    let mut dossier = lock_visible(conn, code, by).await?;
    if !matches!(dossier.status, Status::ResultReady | Status::Returned) {
        return Err(invalid("code", "the dossier has no result yet"));
    }
    sqlx::query("UPDATE dossiers SET result = $2 WHERE code = $1")
        .bind(code)
        .bind(result)
        .execute(&mut *conn)
        .await?;
    append_event(
        conn,
        code,
        NewEvent {
            kind: "result",
            status: dossier.status,
            at: now,
            note: None,
            actor: &by.label(),
            details: result,
        },
    )
    .await?;
    dossier.result = Some(result.clone());
    Ok(dossier)
}

/// Gives a citizen the dossiers registered under their identification number before they ever
/// signed in, with the notifications written meanwhile. Call after each sign-in; returns the
/// codes newly linked (their caches need invalidating).
pub async fn link_citizen(conn: &mut PgConnection, citizen: Uuid) -> Result<Vec<String>> {
    let codes: Vec<String> = sqlx::query_scalar(
        "UPDATE dossiers d SET citizen_id = c.id
           FROM citizens c
          WHERE c.id = $1 AND c.id_number_hmac IS NOT NULL
            AND d.citizen_id IS NULL AND d.applicant_id_hmac = c.id_number_hmac
         RETURNING d.code",
    )
    .bind(citizen)
    .fetch_all(&mut *conn)
    .await?;
    if !codes.is_empty() {
        sqlx::query(
            "UPDATE notifications SET citizen_id = $1 WHERE citizen_id IS NULL AND dossier_code = ANY ($2)",
        )
        .bind(citizen)
        .bind(&codes)
        .execute(&mut *conn)
        .await?;
    }
    Ok(codes)
}

/// `GET /v1/me/dossiers` filters.
#[derive(Debug, Clone, Default)]
pub struct DossierQuery {
    pub status: Option<Status>,
    /// `true`: only overdue ones; `false`: only those not overdue.
    pub overdue: Option<bool>,
    pub cursor: Option<Cursor>,
    pub limit: u32,
}

/// The SQL twin of [`Dossier::is_overdue`].
const OVERDUE_SQL: &str = "(d.finished_at IS NULL AND d.closed_at IS NULL AND d.due_at IS NOT NULL
    AND d.due_at < LEAST($now, COALESCE(d.paused_since, $now)))";

/// A citizen's own dossiers, newest first, keyset-paginated.
pub async fn list_for_citizen(
    db: &PgPool,
    citizen: Uuid,
    query: &DossierQuery,
    now: OffsetDateTime,
) -> Result<Page<Dossier>> {
    let limit = clamp_limit(query.limit);
    let overdue = OVERDUE_SQL.replace("$now", "$3");
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {DOSSIER_COLUMNS} FROM dossiers d JOIN procedures p ON p.code = d.procedure_code
          WHERE d.citizen_id = $1
            AND ($2::text IS NULL OR d.status = $2)
            AND ($4::boolean IS NULL OR {overdue} = $4)
            AND ($5::timestamptz IS NULL OR (d.filed_at, d.code) < ($5, $6))
          ORDER BY d.filed_at DESC, d.code DESC
          LIMIT $7"
    )))
    .bind(citizen)
    .bind(query.status.map(Status::as_str))
    .bind(now)
    .bind(query.overdue)
    .bind(query.cursor.as_ref().map(|c| c.at))
    .bind(query.cursor.as_ref().map(|c| c.key.as_str()))
    .bind(limit + 1)
    .fetch_all(db)
    .await?;
    let mut items = rows
        .iter()
        .map(dossier_from_row)
        .collect::<Result<Vec<_>>>()?;
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|d| {
            Cursor {
                at: d.filed_at,
                key: d.code.clone(),
            }
            .encode()
        })
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

/// A dossier with its timeline, if the caller may see it (another citizen's or another agency's
/// dossier is `None`, like an unknown code).
pub async fn get_dossier(db: &PgPool, by: &Caller, code: &str) -> Result<Option<DossierDetail>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {DOSSIER_COLUMNS} FROM dossiers d JOIN procedures p ON p.code = d.procedure_code
          WHERE d.code = $1
            AND ($2::text[] IS NULL OR d.agency_code = ANY ($2))
            AND ($3::uuid IS NULL OR d.citizen_id = $3)"
    )))
    .bind(code)
    .bind(by.agencies())
    .bind(by.citizen())
    .fetch_optional(db)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let dossier = dossier_from_row(&row)?;
    let timeline = timeline(db, code).await?;
    Ok(Some(DossierDetail { dossier, timeline }))
}

pub async fn timeline(db: &PgPool, code: &str) -> Result<Vec<Event>> {
    let rows = sqlx::query(
        "SELECT seq, kind, status, at, note, actor, details FROM dossier_events WHERE dossier_code = $1 ORDER BY seq",
    )
    .bind(code)
    .fetch_all(db)
    .await?;
    rows.iter().map(event_from_row).collect()
}

/// `GET /v1/agency/submissions`: online submissions waiting for receipt at the caller's agencies,
/// oldest first.
pub async fn list_submissions(
    db: &PgPool,
    agencies: &[String],
    after: Option<&Cursor>,
    limit: u32,
) -> Result<Page<Dossier>> {
    let limit = clamp_limit(limit);
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {DOSSIER_COLUMNS} FROM dossiers d JOIN procedures p ON p.code = d.procedure_code
          WHERE d.status = 'submitted' AND d.agency_code = ANY ($1)
            AND ($2::timestamptz IS NULL OR (d.filed_at, d.code) > ($2, $3))
          ORDER BY d.filed_at, d.code
          LIMIT $4"
    )))
    .bind(agencies)
    .bind(after.map(|c| c.at))
    .bind(after.map(|c| c.key.as_str()))
    .bind(limit + 1)
    .fetch_all(db)
    .await?;
    let mut items = rows
        .iter()
        .map(dossier_from_row)
        .collect::<Result<Vec<_>>>()?;
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|d| {
            Cursor {
                at: d.filed_at,
                key: d.code.clone(),
            }
            .encode()
        })
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

// ---------------------------------------------------------------------------------------------
// Public lookup

/// The second factor of a public lookup.
#[derive(Debug, Clone)]
pub enum LookupFactor {
    /// The PIN printed on the receipt.
    Pin(String),
    /// The applicant's 12-digit identification number.
    IdNumber(String),
}

/// What anyone holding the receipt may see: no names, no notes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublicView {
    pub code: String,
    pub status: Status,
    pub procedure_code: String,
    pub procedure_name: String,
    pub received_at: Option<OffsetDateTime>,
    pub due_at: Option<OffsetDateTime>,
    pub revised_due_at: Option<OffsetDateTime>,
    pub finished_at: Option<OffsetDateTime>,
    pub overdue: bool,
    pub timeline: Vec<PublicEvent>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublicEvent {
    pub status: Status,
    pub at: OffsetDateTime,
}

/// `POST /v1/dossiers/lookup`. `None` for a malformed code, an unknown code and a wrong factor
/// alike, after the same work: one query and one keyed hash and one constant-time comparison.
pub async fn lookup(
    db: &PgPool,
    master: &MasterKey,
    code: &str,
    factor: &LookupFactor,
    now: OffsetDateTime,
) -> Result<Option<PublicView>> {
    let code = code.trim();
    let well_formed = DossierCode::parse(code).is_ok();
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {DOSSIER_COLUMNS}, d.lookup_pin_hash, d.applicant_id_hmac
           FROM dossiers d JOIN procedures p ON p.code = d.procedure_code
          WHERE d.code = $1 AND $2"
    )))
    .bind(code)
    .bind(well_formed)
    .fetch_optional(db)
    .await?;
    let (expected, presented) = {
        let stored = |column: &str| -> Result<Vec<u8>> {
            Ok(match &row {
                Some(row) => row.try_get(column)?,
                None => vec![0u8; 32],
            })
        };
        match factor {
            LookupFactor::Pin(pin) => (
                stored("lookup_pin_hash")?,
                model::lookup_pin_hash(master, code, pin)?,
            ),
            LookupFactor::IdNumber(number) => (
                stored("applicant_id_hmac")?,
                model::id_number_hmac(master, number.trim())?,
            ),
        }
    };
    let matches = constant_time_eq(&expected, &presented);
    let Some(row) = row.filter(|_| matches) else {
        return Ok(None);
    };
    let dossier = dossier_from_row(&row)?;
    let timeline = timeline(db, code)
        .await?
        .into_iter()
        .filter(|e| e.kind == "status")
        .map(|e| PublicEvent {
            status: e.status,
            at: e.at,
        })
        .collect();
    Ok(Some(PublicView {
        overdue: dossier.is_overdue(now),
        code: dossier.code,
        status: dossier.status,
        procedure_code: dossier.procedure_code,
        procedure_name: dossier.procedure_name,
        received_at: dossier.received_at,
        due_at: dossier.due_at,
        revised_due_at: dossier.revised_due_at,
        finished_at: dossier.finished_at,
        timeline,
    }))
}

// ---------------------------------------------------------------------------------------------
// Notifications

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notification {
    pub id: Uuid,
    pub dossier_code: String,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub created_at: OffsetDateTime,
    pub read_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NotificationPage {
    pub items: Vec<Notification>,
    pub next_cursor: Option<String>,
    pub unread: i64,
}

/// `GET /v1/notifications`: newest first, keyset-paginated, with the unread count.
pub async fn list_notifications(
    db: &PgPool,
    citizen: Uuid,
    cursor: Option<&Cursor>,
    limit: u32,
) -> Result<NotificationPage> {
    let limit = clamp_limit(limit);
    let after_id = cursor.and_then(|c| Uuid::parse_str(&c.key).ok());
    let rows = sqlx::query(
        "SELECT id, dossier_code, kind, title, body, created_at, read_at FROM notifications
          WHERE citizen_id = $1
            AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
          ORDER BY created_at DESC, id DESC
          LIMIT $4",
    )
    .bind(citizen)
    .bind(cursor.map(|c| c.at))
    .bind(after_id)
    .bind(limit + 1)
    .fetch_all(db)
    .await?;
    let mut items = rows
        .iter()
        .map(|row| {
            Ok(Notification {
                id: row.try_get("id")?,
                dossier_code: row.try_get("dossier_code")?,
                kind: row.try_get("kind")?,
                title: row.try_get("title")?,
                body: row.try_get("body")?,
                created_at: row.try_get("created_at")?,
                read_at: row.try_get("read_at")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|n| {
            Cursor {
                at: n.created_at,
                key: n.id.to_string(),
            }
            .encode()
        })
    } else {
        None
    };
    let unread: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM notifications WHERE citizen_id = $1 AND read_at IS NULL",
    )
    .bind(citizen)
    .fetch_one(db)
    .await?;
    Ok(NotificationPage {
        items,
        next_cursor,
        unread,
    })
}

/// `POST /v1/notifications/{id}/read`. `false` when the notification is not the citizen's.
/// Marking twice keeps the first time.
pub async fn mark_read(db: &PgPool, citizen: Uuid, id: Uuid, now: OffsetDateTime) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE notifications SET read_at = COALESCE(read_at, $3) WHERE id = $1 AND citizen_id = $2",
    )
    .bind(id)
    .bind(citizen)
    .bind(now)
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}

// ---------------------------------------------------------------------------------------------
// Idempotency

/// Hash of what makes two requests "the same": method, path and body bytes.
pub fn request_hash(method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut data = Vec::with_capacity(method.len() + path.len() + body.len() + 2);
    data.extend_from_slice(method.as_bytes());
    data.push(0);
    data.extend_from_slice(path.as_bytes());
    data.push(0);
    data.extend_from_slice(body);
    crate::crypto::sha256(&data).to_vec()
}

/// The answer stored for an idempotency key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredResponse {
    pub status: u16,
    pub body: Value,
}

/// What [`begin_idempotent`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum IdempotencyStart {
    /// First use: do the work in this transaction, then [`finish_idempotent`].
    Fresh,
    /// A retry: answer this, write nothing.
    Replay(StoredResponse),
}

/// Claims `(caller, key)` inside the caller's transaction. A concurrent request with the same key
/// waits on the claim until this transaction ends, then sees the stored response (or claims the
/// key itself if this one rolled back), so racing retries write once.
pub async fn begin_idempotent(
    conn: &mut PgConnection,
    caller: &str,
    key: &str,
    request_hash: &[u8],
) -> Result<IdempotencyStart> {
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid(
            "Idempotency-Key",
            "1 to 255 visible ASCII characters",
        ));
    }
    let claimed = sqlx::query(
        "INSERT INTO idempotency_keys (caller, key, request_hash) VALUES ($1, $2, $3)
         ON CONFLICT (caller, key) DO NOTHING",
    )
    .bind(caller)
    .bind(key)
    .bind(request_hash)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if claimed {
        return Ok(IdempotencyStart::Fresh);
    }
    let row = sqlx::query(
        "SELECT request_hash, response_status, response_body FROM idempotency_keys WHERE caller = $1 AND key = $2",
    )
    .bind(caller)
    .bind(key)
    .fetch_one(&mut *conn)
    .await?;
    let stored_hash: Vec<u8> = row.try_get("request_hash")?;
    if !constant_time_eq(&stored_hash, request_hash) {
        return Err(StoreError::IdempotencyMismatch);
    }
    let status: Option<i16> = row.try_get("response_status")?;
    let body: Option<Value> = row.try_get("response_body")?;
    match (status, body) {
        (Some(status), Some(body)) => Ok(IdempotencyStart::Replay(StoredResponse {
            status: u16::try_from(status).unwrap_or(500),
            body,
        })),
        // Claimed and committed without a response: only a caller that forgot to finish.
        _ => Err(StoreError::Other(anyhow::anyhow!(
            "idempotency key {key:?} has no stored response"
        ))),
    }
}

/// Stores the response of a fresh request, in the same transaction as its writes.
pub async fn finish_idempotent(
    conn: &mut PgConnection,
    caller: &str,
    key: &str,
    response: &StoredResponse,
) -> Result<()> {
    sqlx::query(
        "UPDATE idempotency_keys SET response_status = $3, response_body = $4 WHERE caller = $1 AND key = $2",
    )
    .bind(caller)
    .bind(key)
    .bind(i16::try_from(response.status).unwrap_or(500))
    .bind(&response.body)
    .execute(conn)
    .await?;
    Ok(())
}

/// Runs `op` at most once per `(caller, key)`: in one transaction, claims the key, runs the
/// write, stores its response and commits; a retry (also a racing one) gets the stored response.
/// An error from `op` rolls everything back, the key included, so the request may be retried.
/// Returns the response and whether it is a replay.
pub async fn run_idempotent<F>(
    db: &PgPool,
    caller: &str,
    key: &str,
    request_hash: &[u8],
    op: F,
) -> Result<(StoredResponse, bool)>
where
    F: for<'c> FnOnce(
        &'c mut PgConnection,
    ) -> futures::future::BoxFuture<'c, Result<StoredResponse>>,
{
    let mut tx = db.begin().await?;
    match begin_idempotent(&mut tx, caller, key, request_hash).await? {
        IdempotencyStart::Replay(stored) => Ok((stored, true)),
        IdempotencyStart::Fresh => {
            let response = op(&mut tx).await?;
            finish_idempotent(&mut tx, caller, key, &response).await?;
            tx.commit().await?;
            Ok((response, false))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Statistics

/// A calendar month, `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    pub year: i32,
    pub month: CalendarMonth,
}

impl Month {
    pub fn parse(value: &str) -> Option<Month> {
        let (year, month) = value.split_once('-')?;
        if year.len() != 4 || month.len() != 2 {
            return None;
        }
        let year: i32 = year.parse().ok()?;
        let month = CalendarMonth::try_from(month.parse::<u8>().ok()?).ok()?;
        (2000..=2100)
            .contains(&year)
            .then_some(Month { year, month })
    }

    /// The month `at` falls in, in Vietnam's time.
    pub fn of(at: OffsetDateTime) -> Month {
        let at = at.to_offset(VIETNAM);
        Month {
            year: at.year(),
            month: at.month(),
        }
    }

    fn first_instant(self) -> Result<OffsetDateTime> {
        let day = Date::from_calendar_date(self.year, self.month, 1)
            .map_err(|e| StoreError::Other(e.into()))?;
        Ok(PrimitiveDateTime::new(day, Time::MIDNIGHT).assume_offset(VIETNAM))
    }

    fn next(self) -> Month {
        match self.month {
            CalendarMonth::December => Month {
                year: self.year + 1,
                month: CalendarMonth::January,
            },
            month => Month {
                year: self.year,
                month: month.next(),
            },
        }
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, u8::from(self.month))
    }
}

/// One row of `GET /v1/stats/dossiers` (Decision 766/QĐ-TTg definitions).
///
/// Flows (`received`, `finished` …) count the dossiers received, or finished, in the month.
/// States (`in_progress`, `overdue`) count the dossiers received in the month that are still
/// open, and overdue, now. On time means the result was ready by the promised date: the due
/// date at receipt moved only by supplement pauses, never by an apology.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatsRow {
    /// `None` on the province row.
    pub agency_code: Option<String>,
    pub month: String,
    pub received: i64,
    pub finished: i64,
    pub finished_on_time: i64,
    pub finished_late: i64,
    pub in_progress: i64,
    pub overdue: i64,
    /// finished_on_time ÷ finished; `None` when nothing finished.
    pub on_time_rate: Option<f64>,
    /// Online dossiers ÷ received; `None` when nothing was received.
    pub online_share: Option<f64>,
    /// Mean working days from receipt to result, supplement pauses excluded.
    pub average_processing_days: Option<f64>,
    #[serde(skip)]
    received_online: i64,
    #[serde(skip)]
    processing_ticks: i64,
    #[serde(skip)]
    timed: i64,
}

impl StatsRow {
    fn complete(mut self) -> StatsRow {
        self.finished_late = self.finished - self.finished_on_time;
        self.on_time_rate =
            (self.finished > 0).then(|| self.finished_on_time as f64 / self.finished as f64);
        self.online_share =
            (self.received > 0).then(|| self.received_online as f64 / self.received as f64);
        self.average_processing_days = (self.timed > 0)
            .then(|| WorkingTime(self.processing_ticks).as_days() / self.timed as f64);
        self
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatsReport {
    pub month: String,
    pub items: Vec<StatsRow>,
    /// The whole province: the sum of the rows, rates recomputed.
    pub province: StatsRow,
}

/// Statistics for one month (the current one by default), per agency with activity (or the
/// one asked for), and for the province.
pub async fn stats(
    db: &PgPool,
    agency: Option<&str>,
    month: Option<Month>,
    now: OffsetDateTime,
) -> Result<StatsReport> {
    let month = month.unwrap_or_else(|| Month::of(now));
    let (start, end) = (month.first_instant()?, month.next().first_instant()?);
    let overdue = OVERDUE_SQL.replace("$now", "$4");
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT d.agency_code,
                count(*) FILTER (WHERE d.received_at >= $1 AND d.received_at < $2) AS received,
                count(*) FILTER (WHERE d.received_at >= $1 AND d.received_at < $2 AND d.online) AS received_online,
                count(*) FILTER (WHERE d.finished_at >= $1 AND d.finished_at < $2) AS finished,
                count(*) FILTER (WHERE d.finished_at >= $1 AND d.finished_at < $2 AND d.finished_at <= d.due_at) AS finished_on_time,
                count(d.processing_ticks) FILTER (WHERE d.finished_at >= $1 AND d.finished_at < $2) AS timed,
                COALESCE(sum(d.processing_ticks) FILTER (WHERE d.finished_at >= $1 AND d.finished_at < $2), 0)::int8 AS processing_ticks,
                count(*) FILTER (WHERE d.received_at >= $1 AND d.received_at < $2
                                   AND d.finished_at IS NULL AND d.closed_at IS NULL) AS in_progress,
                count(*) FILTER (WHERE d.received_at >= $1 AND d.received_at < $2 AND {overdue}) AS overdue
           FROM dossiers d
          WHERE ($3::text IS NULL OR d.agency_code = $3)
            AND ((d.received_at >= $1 AND d.received_at < $2) OR (d.finished_at >= $1 AND d.finished_at < $2))
          GROUP BY d.agency_code
          ORDER BY d.agency_code"
    )))
    .bind(start)
    .bind(end)
    .bind(agency)
    .bind(now)
    .fetch_all(db)
    .await?;
    let label = month.to_string();
    let mut province = StatsRow {
        agency_code: None,
        month: label.clone(),
        received: 0,
        finished: 0,
        finished_on_time: 0,
        finished_late: 0,
        in_progress: 0,
        overdue: 0,
        on_time_rate: None,
        online_share: None,
        average_processing_days: None,
        received_online: 0,
        processing_ticks: 0,
        timed: 0,
    };
    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        let item = StatsRow {
            agency_code: Some(row.try_get("agency_code")?),
            month: label.clone(),
            received: row.try_get("received")?,
            finished: row.try_get("finished")?,
            finished_on_time: row.try_get("finished_on_time")?,
            in_progress: row.try_get("in_progress")?,
            overdue: row.try_get("overdue")?,
            received_online: row.try_get("received_online")?,
            processing_ticks: row.try_get("processing_ticks")?,
            timed: row.try_get("timed")?,
            ..province.clone()
        };
        province.received += item.received;
        province.finished += item.finished;
        province.finished_on_time += item.finished_on_time;
        province.in_progress += item.in_progress;
        province.overdue += item.overdue;
        province.received_online += item.received_online;
        province.processing_ticks += item.processing_ticks;
        province.timed += item.timed;
        items.push(item.complete());
    }
    Ok(StatsReport {
        month: label,
        items,
        province: province.complete(),
    })
}

/// The applicant's citizen id, once linked (for cache invalidation after a write).
pub async fn citizen_of(db: &PgPool, code: &str) -> Result<Option<Uuid>> {
    Ok(
        sqlx::query_scalar::<_, Option<Uuid>>("SELECT citizen_id FROM dossiers WHERE code = $1")
            .bind(code)
            .fetch_optional(db)
            .await?
            .flatten(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let cursor = Cursor {
            at: datetime!(2025-03-03 09:00:00.123456789 UTC),
            key: "000.00.12.H12-250303-0001".into(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        for bad in ["", "!!", "bm9waXBl", &URL_SAFE_NO_PAD.encode("x|y")] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn months_parse_and_bound_in_vietnam_time() {
        let table = [
            ("2025-01", true),
            ("2025-12", true),
            ("2025-13", false),
            ("2025-1", false),
            ("25-01", false),
            ("1999-01", false),
            ("2025/01", false),
        ];
        for (value, ok) in table {
            assert_eq!(Month::parse(value).is_some(), ok, "{value}");
        }
        let december = Month::parse("2025-12").unwrap();
        assert_eq!(december.to_string(), "2025-12");
        assert_eq!(december.next().to_string(), "2026-01");
        assert_eq!(
            december.first_instant().unwrap(),
            datetime!(2025-11-30 17:00 UTC)
        );
        // 18:00 UTC on 31 January is already February in Vietnam.
        assert_eq!(
            Month::of(datetime!(2025-01-31 18:00 UTC)).to_string(),
            "2025-02"
        );
    }

    #[test]
    fn request_hashes_separate_their_parts() {
        assert_ne!(
            request_hash("POST", "/a", b"b"),
            request_hash("POST", "/ab", b"")
        );
        assert_eq!(
            request_hash("POST", "/a", b"{}"),
            request_hash("POST", "/a", b"{}")
        );
    }
}
