//! The online flow after submission: the agency asks for a supplement naming the documents, the
//! citizen supplies them (the dossier returns to where it was and the clock runs again), or
//! withdraws before a result. Each writes its timeline line, notification and webhooks in the
//! caller's transaction.

use serde_json::json;

use super::*;
use crate::documents;
use crate::webhooks::{self, Audience};

/// What the citizen sends to answer a supplement request.
#[derive(Debug, Clone)]
pub struct Supplement {
    /// `(required document code, upload id)`, distinct uploads.
    pub documents: Vec<(String, Uuid)>,
    pub note: Option<String>,
}

/// A dossier after the citizen answered, with the documents it now holds in its timeline.
#[derive(Debug, Clone)]
pub struct Supplied {
    pub dossier: Dossier,
    /// The newly attached documents as the dossier records them.
    pub attached: Vec<Value>,
}

/// `POST /v1/agency/dossiers/{code}/transitions` with `to` `supplement_requested`: the dossier
/// waits for the citizen (the clock pauses once it runs), with the required documents the agency
/// names (codes of the procedure's `required_documents`) and its reason.
pub async fn request_supplement(
    conn: &mut PgConnection,
    holidays: &Holidays,
    by: &Caller,
    code: &str,
    request: &TransitionRequest,
    documents: &[String],
    now: OffsetDateTime,
) -> Result<Dossier> {
    let mut dossier = lock_visible(conn, code, by).await?;
    let from = dossier.status;
    check_transition(from, Status::SupplementRequested, by.actor())?;
    check_reason(request)?;
    let procedure = get_procedure_in(conn, &dossier.procedure_code)
        .await?
        .ok_or_else(|| StoreError::UnknownProcedure(dossier.procedure_code.clone()))?;
    let mut named: Vec<Value> = Vec::new();
    for wanted in documents.iter().map(|d| d.trim()) {
        let required = procedure
            .required_documents
            .iter()
            .find(|r| r.code == wanted)
            .ok_or_else(|| invalid("documents", msg::DOCUMENT_TYPE))?;
        if !named.iter().any(|n| n["code"] == wanted) {
            named.push(json!({ "code": required.code, "name": required.name }));
        }
    }
    let record = json!({
        "documents": named,
        "note": request.note.as_deref().map(str::trim),
        "requested_at": now.unix_timestamp(),
        "from": from.as_str(),
    });
    sqlx::query!(
        "UPDATE dossiers SET supplement_request = $2 WHERE code = $1",
        code,
        &record,
    )
    .execute(&mut *conn)
    .await?;
    dossier.supplement_request = Some(record);
    let details = json!({ "documents": named });
    let moved = Move {
        request,
        details: &details,
    };
    move_locked(conn, holidays, by, &mut dossier, moved, now).await?;
    Ok(dossier)
}

/// Where a supplement returns the dossier: the status it was in when the agency asked.
fn status_before_request(dossier: &Dossier) -> Status {
    dossier
        .supplement_request
        .as_ref()
        .and_then(|r| r["from"].as_str())
        .and_then(|s| s.parse().ok())
        .filter(|s| matches!(s, Status::Submitted | Status::Processing))
        .unwrap_or(match dossier.received_at {
            Some(_) => Status::Processing,
            None => Status::Submitted,
        })
}

/// `POST /v1/me/dossiers/{code}/supplements`: the citizen answers a supplement request with
/// their own unattached uploads, covering every document the agency named. The dossier returns
/// to the status it was in before the request and the pause ends; `dossier.supplemented` goes
/// to the agency. Refused (409) unless the dossier waits for a supplement.
pub async fn supply(
    conn: &mut PgConnection,
    holidays: &Holidays,
    citizen: Uuid,
    code: &str,
    supplement: &Supplement,
    max_dossier_bytes: u64,
    now: OffsetDateTime,
) -> Result<Supplied> {
    let by = Caller::Citizen(citizen);
    let mut dossier = lock_visible(conn, code, &by).await?;
    let from = dossier.status;
    let back = status_before_request(&dossier);
    if from != Status::SupplementRequested {
        let allowed = model::allowed_targets(from, Actor::Citizen);
        return Err(TransitionRefused {
            from,
            to: back,
            allowed,
        }
        .into());
    }
    let note = supplement
        .note
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    if supplement.documents.is_empty() && note.is_none() {
        return Err(invalid("documents", msg::SUPPLEMENT_EMPTY));
    }
    let procedure = get_procedure_in(conn, &dossier.procedure_code)
        .await?
        .ok_or_else(|| StoreError::UnknownProcedure(dossier.procedure_code.clone()))?;
    check_supplied(&procedure, &dossier, supplement)?;
    let attached =
        attach_supplied(conn, &mut dossier, citizen, supplement, max_dossier_bytes).await?;
    let request = TransitionRequest {
        to: back,
        note: note.map(str::to_string),
        result: None,
    };
    let details = json!({ "documents": attached });
    let moved = Move {
        request: &request,
        details: &details,
    };
    move_locked(conn, holidays, &by, &mut dossier, moved, now).await?;
    let event = json!({
        "code": dossier.code,
        "procedure_code": dossier.procedure_code,
        "agency_code": dossier.agency_code,
        "status": dossier.status.as_str(),
        "supplemented_at": now.unix_timestamp(),
        "note": note,
        "documents": attached,
    });
    let audience = Audience::Agency(&dossier.agency_code);
    webhooks::enqueue(conn, audience, "dossier.supplemented", event, now).await?;
    Ok(Supplied { dossier, attached })
}

/// The supplied documents are of types the procedure asks for, one of each, and cover every
/// document the agency named.
fn check_supplied(procedure: &Procedure, dossier: &Dossier, supplement: &Supplement) -> Result<()> {
    let known = |kind: &str| procedure.required_documents.iter().any(|r| r.code == kind);
    if supplement.documents.iter().any(|(kind, _)| !known(kind)) {
        return Err(invalid("documents", msg::DOCUMENT_TYPE));
    }
    // A supplied document replaces the one of its type: two of one type would both stay.
    let mut kinds: Vec<&str> = supplement
        .documents
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    kinds.sort_unstable();
    if kinds.windows(2).any(|pair| pair[0] == pair[1]) {
        return Err(invalid("documents", msg::DOCUMENT_TWICE));
    }
    let requested = dossier
        .supplement_request
        .as_ref()
        .and_then(|r| r["documents"].as_array().cloned())
        .unwrap_or_default();
    let covered = |wanted: &Value| {
        supplement
            .documents
            .iter()
            .any(|(k, _)| wanted["code"] == **k)
    };
    if !requested.iter().all(covered) {
        return Err(invalid("documents", msg::SUPPLEMENT_MISSING));
    }
    Ok(())
}

/// Locks the citizen's uploads, checks the per-dossier cap, attaches them and records the
/// dossier's documents (a supplied type replaces the earlier one of that type).
async fn attach_supplied(
    conn: &mut PgConnection,
    dossier: &mut Dossier,
    citizen: Uuid,
    supplement: &Supplement,
    max_dossier_bytes: u64,
) -> Result<Vec<Value>> {
    let ids: Vec<Uuid> = supplement.documents.iter().map(|(_, id)| *id).collect();
    let docs = documents::store::lock_unattached(conn, citizen, &ids).await?;
    if docs.len() != ids.len() {
        return Err(invalid("documents", msg::DOCUMENT_UPLOAD));
    }
    let attached: Vec<Value> = supplement
        .documents
        .iter()
        .filter_map(|(kind, id)| {
            let doc = docs.iter().find(|d| d.id == *id)?;
            Some(json!({
                "id": doc.id,
                "type": kind,
                "content_type": doc.content_type,
                "size": doc.size,
                "sha256": hex::encode(&doc.sha256),
            }))
        })
        .collect();
    let replaced = |entry: &Value| {
        supplement
            .documents
            .iter()
            .any(|(k, _)| entry["type"] == **k)
    };
    let mut current: Vec<Value> = dossier
        .documents
        .as_ref()
        .and_then(Value::as_array)
        .map(|all| all.iter().filter(|e| !replaced(e)).cloned().collect())
        .unwrap_or_default();
    current.extend(attached.iter().cloned());
    let total: i64 = current.iter().filter_map(|e| e["size"].as_i64()).sum();
    if total as u64 > max_dossier_bytes {
        return Err(invalid("documents", msg::DOSSIER_TOO_LARGE));
    }
    for (kind, id) in &supplement.documents {
        documents::store::attach(conn, *id, &dossier.code, kind).await?;
    }
    let current = Value::Array(current);
    sqlx::query!(
        "UPDATE dossiers SET documents = $2 WHERE code = $1",
        &dossier.code,
        &current,
    )
    .execute(&mut *conn)
    .await?;
    dossier.documents = Some(current);
    Ok(attached)
}

/// `POST /v1/me/dossiers/{code}/withdrawal`: the citizen withdraws, with a reason, from any
/// status before a result (409 with the allowed transitions otherwise); the pause of a pending
/// supplement request ends, and `dossier.withdrawn` goes to the agency.
pub async fn withdraw(
    conn: &mut PgConnection,
    holidays: &Holidays,
    citizen: Uuid,
    code: &str,
    reason: &str,
    now: OffsetDateTime,
) -> Result<Dossier> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 2000 {
        return Err(invalid("reason", msg::REASON_LENGTH));
    }
    let by = Caller::Citizen(citizen);
    let mut dossier = lock_visible(conn, code, &by).await?;
    let from = dossier.status;
    check_transition(from, Status::Withdrawn, Actor::Citizen)?;
    let request = TransitionRequest {
        to: Status::Withdrawn,
        note: Some(reason.to_string()),
        result: None,
    };
    let moved = Move {
        request: &request,
        details: &Value::Null,
    };
    move_locked(conn, holidays, &by, &mut dossier, moved, now).await?;
    let event = json!({
        "code": dossier.code,
        "procedure_code": dossier.procedure_code,
        "agency_code": dossier.agency_code,
        "from": from.as_str(),
        "status": "withdrawn",
        "withdrawn_at": now.unix_timestamp(),
        "reason": reason,
    });
    let audience = Audience::Agency(&dossier.agency_code);
    webhooks::enqueue(conn, audience, "dossier.withdrawn", event, now).await?;
    Ok(dossier)
}
