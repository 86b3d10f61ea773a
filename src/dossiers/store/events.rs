//! What happens to a dossier: transitions, apologies, transfers, results, linking.

use super::*;

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
/// writes nothing and lists the allowed ones. Refusing at intake and requesting a supplement
/// need a reason (`note`).
pub async fn apply_transition(
    conn: &mut PgConnection,
    holidays: &Holidays,
    by: &Caller,
    code: &str,
    request: &TransitionRequest,
    now: OffsetDateTime,
) -> Result<Dossier> {
    let mut dossier = lock_visible(conn, code, by).await?;
    check_transition(dossier.status, request.to, by.actor())?;
    check_reason(request)?;
    let moved = Move {
        request,
        details: &Value::Null,
    };
    move_locked(conn, holidays, by, &mut dossier, moved, now).await?;
    Ok(dossier)
}

/// Refusing at intake and requesting a supplement tell the citizen why.
pub(super) fn check_reason(request: &TransitionRequest) -> Result<()> {
    let needs_reason = matches!(request.to, Status::Refused | Status::SupplementRequested);
    let given = request
        .note
        .as_deref()
        .is_some_and(|n| !n.trim().is_empty());
    match needs_reason && !given {
        true => Err(invalid("note", msg::REASON_REQUIRED)),
        false => Ok(()),
    }
}

/// A checked move of a locked dossier, with what its timeline line adds to the usual details.
pub(super) struct Move<'a> {
    pub(super) request: &'a TransitionRequest,
    /// An object whose members join the status event's details (or `null`).
    pub(super) details: &'a Value,
}

/// Moves a dossier the caller locked and checked: the due date and pause bookkeeping, the row,
/// the timeline event, the notification and the `dossier.status_changed` webhook.
pub(super) async fn move_locked(
    conn: &mut PgConnection,
    holidays: &Holidays,
    by: &Caller,
    dossier: &mut Dossier,
    Move { request, details }: Move<'_>,
    now: OffsetDateTime,
) -> Result<()> {
    let code = dossier.code.clone();
    let code = code.as_str();
    let from = dossier.status;
    let to = request.to;

    // The pause ends whenever the dossier leaves `supplement_requested`.
    let pause_ended = end_pause(dossier, holidays, now);
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

    write_transition(conn, code, dossier, processing_ticks).await?;
    let mut all_details = transition_details(from, pause_ended, dossier.due_at);
    if let (Some(all), Some(extra)) = (all_details.as_object_mut(), details.as_object()) {
        all.extend(extra.clone());
    }
    let details = all_details;
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
    enqueue_status_changed(conn, dossier, from, now).await?;
    Ok(())
}

/// Ends a running pause: the dossier leaves `supplement_requested`, so the paused working time is
/// added up and the due date moves by it. Returns the pause's length.
fn end_pause(dossier: &mut Dossier, holidays: &Holidays, now: OffsetDateTime) -> WorkingTime {
    let Some(since) = dossier.paused_since.take() else {
        return WorkingTime::ZERO;
    };
    let pause_ended = calendar::working_time_between(since, now, holidays).max(WorkingTime::ZERO);
    dossier.paused = dossier.paused + pause_ended;
    dossier.due_at = dossier
        .due_at
        .map(|due| calendar::shift_by_paused(due, pause_ended, holidays));
    pause_ended
}

async fn write_transition(
    conn: &mut PgConnection,
    code: &str,
    dossier: &Dossier,
    processing_ticks: Option<i64>,
) -> Result<()> {
    sqlx::query!(
        "UPDATE dossiers SET status = $2, received_at = $3, due_at = $4, paused_since = $5, paused_ticks = $6,
                finished_at = $7, closed_at = $8, result = $9, processing_ticks = COALESCE($10, processing_ticks)
          WHERE code = $1",
        code,
        dossier.status.as_str(),
        dossier.received_at,
        dossier.due_at,
        dossier.paused_since,
        dossier.paused.0,
        dossier.finished_at,
        dossier.closed_at,
        dossier.result,
        processing_ticks,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The status event's details: where the dossier came from, the pause that ended, the due date.
fn transition_details(
    from: Status,
    pause_ended: WorkingTime,
    due_at: Option<OffsetDateTime>,
) -> Value {
    let mut details = serde_json::json!({ "from": from.as_str() });
    if pause_ended > WorkingTime::ZERO {
        details["paused_working_days"] = serde_json::json!(pause_ended.as_days());
    }
    if let Some(due) = due_at {
        details["due_at"] = serde_json::json!(due.unix_timestamp());
    }
    details
}

/// Tells the service providers bound to the dossier's agency, in the transition's transaction.
async fn enqueue_status_changed(
    conn: &mut PgConnection,
    dossier: &Dossier,
    from: Status,
    now: OffsetDateTime,
) -> Result<()> {
    let event = serde_json::json!({
        "code": dossier.code,
        "agency_code": dossier.agency_code,
        "procedure_code": dossier.procedure_code,
        "from": from.as_str(),
        "status": dossier.status.as_str(),
        "status_code": dossier.status.code(),
    });
    let audience = crate::webhooks::Audience::Agency(&dossier.agency_code);
    crate::webhooks::enqueue(conn, audience, "dossier.status_changed", event, now).await?;
    Ok(())
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
        return Err(invalid("reason", msg::REASON_LENGTH));
    }
    let mut dossier = lock_visible(conn, code, by).await?;
    if dossier.is_settled() || dossier.due_at.is_none() {
        return Err(invalid("code", msg::NOT_BEING_PROCESSED));
    }
    let floor = dossier
        .revised_due_at
        .or(dossier.due_at)
        .unwrap_or(now)
        .max(now);
    if revised_due_at <= floor {
        return Err(invalid("revised_due_at", msg::REVISED_TOO_EARLY));
    }
    sqlx::query!(
        "UPDATE dossiers SET revised_due_at = $2, apology_reason = $3 WHERE code = $1",
        code,
        revised_due_at,
        reason,
    )
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
            return Err(invalid(field, msg::UNIT_LENGTH));
        }
    }
    let dossier = lock_visible(conn, code, by).await?;
    if dossier.status.is_final() {
        return Err(invalid("code", msg::CLOSED));
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
        return Err(invalid("result", msg::RESULT_OBJECT));
    }
    let mut dossier = lock_visible(conn, code, by).await?;
    if !matches!(dossier.status, Status::ResultReady | Status::Returned) {
        return Err(invalid("code", msg::NO_RESULT_YET));
    }
    sqlx::query!(
        "UPDATE dossiers SET result = $2 WHERE code = $1",
        code,
        result,
    )
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
    let codes = sqlx::query_scalar!(
        "UPDATE dossiers d SET citizen_id = c.id
           FROM citizens c
          WHERE c.id = $1 AND c.id_number_hmac IS NOT NULL
            AND d.citizen_id IS NULL AND d.applicant_id_hmac = c.id_number_hmac
         RETURNING d.code",
        citizen,
    )
    .fetch_all(&mut *conn)
    .await?;
    if !codes.is_empty() {
        sqlx::query!(
            "UPDATE notifications SET citizen_id = $1 WHERE citizen_id IS NULL AND dossier_code = ANY ($2)",
            citizen,
            &codes,
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(codes)
}
