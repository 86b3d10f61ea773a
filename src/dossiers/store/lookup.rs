//! The public lookup from a receipt.

use super::*;

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
