//! Applying online: a level-2 citizen's form and uploaded documents become a submitted dossier,
//! and the agency's back office is told by webhook in the same transaction.
//!
//! What depends only on the request (the procedure, the form against its schema, which
//! documents are named) is checked before the transaction; what depends on the uploads (theirs,
//! not yet attached, within the per-dossier cap) is checked under lock inside it.

use std::collections::HashSet;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::forms;
use super::messages as msg;
use super::service;
use super::store::{self, Procedure, StoreError};
use super::views::{DossierView, RegisteredView};
use crate::documents::{self, Document};
use crate::http::{ApiError, ApiResult, catalogue};
use crate::state::AppState;
use crate::webhooks::{self, Audience};

/// Where idempotency keys and request hashes place this write.
pub const PATH: &str = "/v1/me/dossiers";

/// `POST /v1/me/dossiers`, as the citizen sends it.
#[derive(Debug, Clone, Deserialize, Serialize, poem_openapi::Object)]
#[oai(example)]
pub struct ApplicationBody {
    pub procedure_code: String,
    /// Answers to the procedure's form (`form_schema` of the procedure's detail).
    pub form: Value,
    /// One entry per required document (`required_documents` of the procedure's detail).
    pub documents: Vec<AttachedDocument>,
}

#[derive(Debug, Clone, Deserialize, Serialize, poem_openapi::Object)]
pub struct AttachedDocument {
    /// The required document's `code`.
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub kind: String,
    /// The `id` answered by `POST /v1/me/uploads`.
    pub upload_id: Uuid,
}

impl poem_openapi::types::Example for ApplicationBody {
    fn example() -> Self {
        ApplicationBody {
            procedure_code: "1.001193".into(),
            form: json!({"full_name": "Nguyễn Văn An", "phone": "0912345678"}),
            documents: vec![AttachedDocument {
                kind: "to_khai".into(),
                upload_id: Uuid::from_u128(0x0193_6f2a_4c1e_7c4b_9a7d_2b3c_4d5e_6f70),
            }],
        }
    }
}

/// Parses the body the handler read as bytes (after the identity level was checked).
pub fn parse(raw: &[u8]) -> ApiResult<ApplicationBody> {
    parse_body(raw)
}

/// Parses a citizen's JSON body read as bytes: a body of the wrong shape is 422 naming `/`,
/// one that is not JSON 400.
pub fn parse_body<T: serde::de::DeserializeOwned>(raw: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(raw).map_err(|err| {
        let reason = vec![("reason", err.to_string())];
        match err.classify() {
            serde_json::error::Category::Data => {
                ApiError::new(&catalogue::VALIDATION_FAILED).field_text("/", msg::BODY_JSON, reason)
            }
            _ => ApiError::new(&catalogue::INVALID_REQUEST).arg("reason", err),
        }
    })
}

/// The checks that need no lock: the procedure takes online applications, the form satisfies
/// its schema, and the documents named are exactly the required ones.
pub async fn check(state: &AppState, body: &ApplicationBody) -> ApiResult<Procedure> {
    let procedure = store::get_procedure(&state.db, &body.procedure_code)
        .await
        .map_err(service::problem)?
        .ok_or_else(|| {
            service::problem(StoreError::UnknownProcedure(body.procedure_code.clone()))
        })?;
    if !procedure.online {
        return Err(ApiError::new(&catalogue::VALIDATION_FAILED).field_text(
            "/procedure_code",
            msg::NOT_ONLINE,
            Vec::new(),
        ));
    }
    let mut error = ApiError::new(&catalogue::VALIDATION_FAILED);
    let mut failed = false;
    if let Some(schema) = &procedure.form_schema {
        for field in forms::validate(schema, &body.form).map_err(ApiError::internal)? {
            error = error.field_text(field.pointer, field.message, Vec::new());
            failed = true;
        }
    }
    let required: HashSet<&str> = procedure
        .required_documents
        .iter()
        .map(|d| d.code.as_str())
        .collect();
    let mut uploads = HashSet::new();
    for (i, doc) in body.documents.iter().enumerate() {
        if !required.contains(doc.kind.as_str()) {
            error = error.field_text(
                format!("/documents/{i}/type"),
                msg::DOCUMENT_TYPE,
                Vec::new(),
            );
            failed = true;
        }
        if !uploads.insert(doc.upload_id) {
            error = error.field_text(
                format!("/documents/{i}/upload_id"),
                msg::DOCUMENT_UPLOAD,
                Vec::new(),
            );
            failed = true;
        }
    }
    for missing in procedure
        .required_documents
        .iter()
        .filter(|r| !body.documents.iter().any(|d| d.kind == r.code))
    {
        error = error.field_text(
            "/documents",
            msg::DOCUMENT_MISSING,
            vec![("code", missing.code.clone())],
        );
        failed = true;
    }
    match failed {
        true => Err(error),
        false => Ok(procedure),
    }
}

/// Submits: once per `Idempotency-Key` (a retry gets the first answer), in one transaction
/// with the documents' attachment, the `dossier.submitted` event and the removal of the
/// citizen's draft for the procedure.
pub async fn submit(
    state: &AppState,
    citizen: Uuid,
    idempotency_key: &str,
    (raw, body): (&[u8], ApplicationBody),
    now: OffsetDateTime,
) -> ApiResult<(u16, Bytes)> {
    let app = state.clone();
    let caller = format!("citizen:{citizen}");
    service::write_once(
        state,
        Some(idempotency_key),
        &caller,
        (PATH, raw),
        move |conn| {
            Box::pin(async move {
                let view = submit_in(conn, &app, citizen, &body, now).await?;
                Ok(service::written(201, &view, [citizen]))
            })
        },
    )
    .await
}

async fn submit_in(
    conn: &mut sqlx::PgConnection,
    state: &AppState,
    citizen: Uuid,
    body: &ApplicationBody,
    now: OffsetDateTime,
) -> Result<RegisteredView, StoreError> {
    let ids: Vec<Uuid> = body.documents.iter().map(|d| d.upload_id).collect();
    let docs = documents::store::lock_unattached(conn, citizen, &ids).await?;
    if docs.len() != ids.len() {
        return Err(StoreError::Invalid {
            field: "documents",
            message: msg::DOCUMENT_UPLOAD,
        });
    }
    let total: i64 = docs.iter().map(|d| d.size).sum();
    if total as u64 > state.config.max_dossier_bytes {
        return Err(StoreError::Invalid {
            field: "documents",
            message: msg::DOSSIER_TOO_LARGE,
        });
    }
    let attached = attached_json(body, &docs);
    let submission = store::OnlineSubmission {
        procedure_code: body.procedure_code.clone(),
        form: body.form.clone(),
        documents: Value::Array(attached.clone()),
    };
    let registered =
        store::submit_online(conn, &state.master_key(), citizen, &submission, now).await?;
    let code = registered.dossier.code.clone();
    for doc in &body.documents {
        documents::store::attach(conn, doc.upload_id, &code, &doc.kind).await?;
    }
    // The draft of this application is done with; its uploads are now the dossier's.
    store::delete_draft(conn, citizen, &body.procedure_code).await?;
    let d = &registered.dossier;
    let event = json!({
        "code": code,
        "procedure_code": d.procedure_code,
        "agency_code": d.agency_code,
        "status": "submitted",
        "submitted_at": now.unix_timestamp(),
        "documents": attached,
    });
    webhooks::enqueue(
        conn,
        Audience::Agency(&d.agency_code),
        "dossier.submitted",
        event,
        now,
    )
    .await?;
    let receipt = service::receipt(state, &registered, now)
        .map_err(|e| StoreError::Other(anyhow::anyhow!("{e:?}")))?;
    // A submitted dossier has no due date yet, so its view needs no holiday table.
    let holidays = super::calendar::Holidays::default();
    let d = registered.dossier;
    Ok(RegisteredView {
        code: d.code.clone(),
        status: d.status.into(),
        received_at: d.received_at,
        due_at: d.due_at,
        receipt,
        lookup_pin: registered.lookup_pin,
        dossier: DossierView::of(d, None, now, &holidays),
    })
}

/// The documents as the dossier and its webhook record them.
fn attached_json(body: &ApplicationBody, docs: &[Document]) -> Vec<Value> {
    body.documents
        .iter()
        .filter_map(|a| {
            let doc = docs.iter().find(|d| d.id == a.upload_id)?;
            Some(json!({
                "id": doc.id,
                "type": a.kind,
                "content_type": doc.content_type,
                "size": doc.size,
                "sha256": hex::encode(&doc.sha256),
            }))
        })
        .collect()
}
