//! Registering dossiers: at the counter and online.

use super::*;

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

pub(super) async fn citizen_by_hmac(conn: &mut PgConnection, hmac: &[u8]) -> Result<Option<Uuid>> {
    Ok(sqlx::query_scalar!(
        "SELECT id FROM citizens WHERE id_number_hmac = $1 ORDER BY last_sign_in_at DESC LIMIT 1",
        hmac,
    )
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
        return Err(invalid("applicant_id_number", msg::ID_NUMBER));
    }
    let name = registration.applicant_name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(invalid("applicant_name", msg::NAME_LENGTH));
    }
    let procedure = get_procedure_in(conn, &registration.procedure_code)
        .await?
        .ok_or_else(|| StoreError::UnknownProcedure(registration.procedure_code.clone()))?;
    let agency = receiving_agency(conn, by, registration, &procedure).await?;
    let processing = procedure.processing_time()?;
    let due = calendar::due_at(now, processing, procedure.cutoff, holidays);
    let hmac = model::id_number_hmac(master, id_number)?;
    let citizen = citizen_by_hmac(conn, &hmac).await?;
    let day = now.to_offset(VIETNAM).date();
    let seq = next_sequence(conn, agency.as_str(), day).await?;
    let code = DossierCode::new(agency.clone(), day, seq).to_string();
    let pin = model::new_lookup_pin();
    let pin_hash = model::lookup_pin_hash(master, &code, &pin)?;
    sqlx::query!(
        "INSERT INTO dossiers (code, procedure_code, agency_code, status, online, citizen_id, applicant_id_hmac,
                               applicant_name_masked, filed_at, received_at, due_at, lookup_pin_hash)
         VALUES ($1, $2, $3, 'received', false, $4, $5, $6, $7, $7, $8, $9)",
        code,
        procedure.code,
        agency.as_str(),
        citizen,
        hmac,
        model::mask_name(name),
        now,
        due,
        pin_hash,
    )
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

/// The agency receiving a counter dossier (the procedure's own when none is named): one that
/// exists and that the caller may register for.
async fn receiving_agency(
    conn: &mut PgConnection,
    by: &Caller,
    registration: &CounterRegistration,
    procedure: &Procedure,
) -> Result<AgencyCode> {
    let agency = registration
        .agency_code
        .clone()
        .unwrap_or_else(|| procedure.agency_code.clone());
    let agency =
        AgencyCode::parse(&agency).map_err(|_| invalid("agency_code", msg::AGENCY_CODE_FORMAT))?;
    if let Some(allowed) = by.agencies()
        && !allowed.iter().any(|a| a == agency.as_str())
    {
        return Err(StoreError::AgencyNotAllowed(agency.to_string()));
    }
    let exists = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM agencies WHERE code = $1) AS "exists!""#,
        agency.as_str(),
    )
    .fetch_one(&mut *conn)
    .await?;
    if !exists {
        return Err(StoreError::UnknownAgency(agency.to_string()));
    }
    Ok(agency)
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
        return Err(invalid("procedure_code", msg::NOT_ONLINE));
    }
    let row = sqlx::query!(
        "SELECT name, id_number_hmac FROM citizens WHERE id = $1",
        citizen,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    let hmac = row
        .id_number_hmac
        .ok_or_else(|| invalid("applicant", msg::NO_ID_NUMBER))?;
    let name = row.name;
    let agency = AgencyCode::parse(&procedure.agency_code).map_err(anyhow::Error::from)?;
    let day = now.to_offset(VIETNAM).date();
    let seq = next_sequence(conn, agency.as_str(), day).await?;
    let code = DossierCode::new(agency.clone(), day, seq).to_string();
    let pin = model::new_lookup_pin();
    let pin_hash = model::lookup_pin_hash(master, &code, &pin)?;
    sqlx::query!(
        "INSERT INTO dossiers (code, procedure_code, agency_code, status, online, citizen_id, applicant_id_hmac,
                               applicant_name_masked, filed_at, submitted_at, lookup_pin_hash, form, documents)
         VALUES ($1, $2, $3, 'submitted', true, $4, $5, $6, $7, $7, $8, $9, $10)",
        code,
        procedure.code,
        agency.as_str(),
        citizen,
        hmac,
        model::mask_name(name.as_deref().unwrap_or("")),
        now,
        pin_hash,
        submission.form,
        submission.documents,
    )
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

/// Locks, for the caller's transaction, the code counters of every agency a bulk import may
/// number a dossier for: each item's `agency_code`, or else its procedure's agency. An import
/// keeps each counter it takes to the end, so two imports taking two agencies' counters in
/// opposite orders would each hold one the other waits for; taking them all first, in one order
/// every import shares, rules that out while imports for other agencies run side by side. A
/// registration one at a time holds one counter and never waits for a second, so it needs none.
pub async fn lock_agency_counters(
    conn: &mut PgConnection,
    agencies: &[String],
    procedures: &[String],
) -> Result<()> {
    let keys = sqlx::query_scalar!(
        r#"SELECT DISTINCT hashtextextended('dossier-counter:' || agency, 0) AS "key!"
         FROM (SELECT unnest($1::text[]) AS agency
               UNION SELECT agency_code FROM procedures WHERE code = ANY ($2)) named
         ORDER BY 1"#,
        agencies,
        procedures,
    )
    .fetch_all(&mut *conn)
    .await?;
    for key in keys {
        sqlx::query!("SELECT pg_advisory_xact_lock($1)", key)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
