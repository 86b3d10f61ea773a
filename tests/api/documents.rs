//! Documents and online applications over HTTP: a level-2 citizen (signed in through the eID
//! simulator) uploads scans, applies with a form and the required documents, and the agency's
//! back office downloads exactly those bytes.

use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::dossiers_api::{Rig, agency_token, problem};
use crate::signin::{APP_REDIRECT, Request, sign_in};

const PNG_HEAD: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

fn pdf(len: usize) -> Vec<u8> {
    let mut bytes = b"%PDF-1.7\n".to_vec();
    bytes.extend((0..len.saturating_sub(9)).map(|i| (i * 31 % 251) as u8));
    bytes
}

async fn upload(rig: &Rig, token: &str, name: &str, bytes: Vec<u8>) -> reqwest::Response {
    let part = Part::bytes(bytes)
        .file_name(name.to_string())
        .mime_str("application/pdf")
        .unwrap();
    rig.app
        .client
        .post(rig.app.url("/v1/me/uploads"))
        .bearer_auth(token)
        .multipart(Form::new().part("file", part))
        .send()
        .await
        .unwrap()
}

async fn document_rows(rig: &Rig) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM documents")
        .fetch_one(&rig.app.state.db)
        .await
        .unwrap()
}

/// Files under the test's object directory (the local backend), staged ones included.
fn object_files(rig: &Rig) -> usize {
    let location = rig.app.state.storage.location().to_string();
    let Some(dir) = location.strip_prefix("file://") else {
        return 0;
    };
    fn walk(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| match e.path().is_dir() {
                        true => walk(&e.path()),
                        false => 1,
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    walk(std::path::Path::new(dir))
}

async fn citizen(rig: &Rig, who: &str) -> String {
    let client_id = rig.app.public_client(APP_REDIRECT).await;
    sign_in(&rig.app, &Request::new(&client_id), who)
        .await
        .access_token
}

/// An online procedure with required documents: its code, agency, a valid form (the schema's
/// example) and the required document codes.
async fn online_procedure(rig: &Rig) -> (String, String, Value, Vec<String>) {
    let (code, agency): (String, String) = sqlx::query_as(
        "SELECT code, agency_code FROM procedures
         WHERE online AND jsonb_array_length(required_documents) > 0 AND form_schema IS NOT NULL
         ORDER BY code LIMIT 1",
    )
    .fetch_one(&rig.app.state.db)
    .await
    .unwrap();
    let detail: Value = rig
        .app
        .get(&format!("/v1/procedures/{code}"))
        .await
        .json()
        .await
        .unwrap();
    let form = detail["form_schema"]["examples"][0].clone();
    assert!(form.is_object(), "{detail}");
    let required = detail["required_documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap().to_string())
        .collect();
    (code, agency, form, required)
}

async fn apply(rig: &Rig, token: &str, body: &Value, key: Option<&str>) -> reqwest::Response {
    rig.post(token, "/v1/me/dossiers", body.clone(), key).await
}

#[tokio::test]
async fn an_upload_is_typed_by_magic_bytes_hashed_and_downloaded_unchanged_by_the_agency() {
    let rig = Rig::start().await;
    let token = citizen(&rig, "citizen-l2").await;
    let bytes = pdf(300_000);
    let response = upload(&rig, &token, "to khai.pdf", bytes.clone()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let uploaded: Value = response.json().await.unwrap();
    let sha = hex::encode(Sha256::digest(&bytes));
    assert_eq!(uploaded["sha256"], sha);
    assert_eq!(uploaded["content_type"], "application/pdf");
    assert_eq!(uploaded["size"], bytes.len());

    let (procedure, agency, form, required) = online_procedure(&rig).await;
    let mut documents = vec![json!({"type": required[0], "upload_id": uploaded["id"]})];
    for kind in &required[1..] {
        let mut png = PNG_HEAD.to_vec();
        png.extend_from_slice(b"rest of a scan");
        let other: Value = upload(&rig, &token, "scan.png", png)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(other["content_type"], "image/png");
        documents.push(json!({"type": kind, "upload_id": other["id"]}));
    }
    let body = json!({"procedure_code": procedure, "form": form, "documents": documents});
    let response = apply(&rig, &token, &body, Some("apply-1")).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let submitted: Value = response.json().await.unwrap();
    assert_eq!(submitted["status"], "submitted");
    assert!(submitted["receipt"].as_str().unwrap().split('.').count() == 3);
    let code = submitted["code"].as_str().unwrap();

    // The same key and body: the first answer again, nothing new.
    let again = apply(&rig, &token, &body, Some("apply-1")).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["code"], code);

    let back_office = agency_token(&rig.app, vec![agency.clone()], "dossiers:read").await;
    let path = format!(
        "/v1/agency/dossiers/{code}/documents/{}",
        uploaded["id"].as_str().unwrap()
    );
    let response = rig.get(&back_office, &path).await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/pdf");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let got = response.bytes().await.unwrap();
    assert_eq!(hex::encode(Sha256::digest(&got)), sha);
    assert_eq!(got.as_ref(), bytes.as_slice());

    // The applicant reads it too; an agency not bound to the dossier's, and another citizen,
    // get 404.
    let mine = rig
        .get(&token, &path.replace("/v1/agency/", "/v1/me/"))
        .await;
    assert_eq!(mine.status(), StatusCode::OK);
    assert_eq!(mine.bytes().await.unwrap().as_ref(), bytes.as_slice());
    problem(
        rig.get(&rig.other_agency, &path).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let stranger = citizen(&rig, "citizen-l1").await;
    problem(
        rig.get(&stranger, &path.replace("/v1/agency/", "/v1/me/"))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;

    // The agency was told, in the same transaction, and sees it waiting.
    let waiting: Value = rig
        .get(&back_office, "/v1/agency/submissions")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        waiting["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["code"] == code),
        "{waiting}"
    );
}

#[tokio::test]
async fn an_exe_named_pdf_an_oversized_file_and_a_truncated_body_store_nothing() {
    let rig = Rig::start().await;
    let token = citizen(&rig, "citizen-l2").await;

    let mut exe = b"MZ\x90\x00\x03\x00\x00\x00".to_vec();
    exe.extend(std::iter::repeat_n(0u8, 4096));
    let body = problem(
        upload(&rig, &token, "giay-to.pdf", exe).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    )
    .await;
    assert_eq!(body["errors"][0]["pointer"], "/file", "{body}");

    let max = rig.app.state.config.max_upload_bytes as usize;
    let body = problem(
        upload(&rig, &token, "big.pdf", pdf(max + 1)).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    assert_eq!(body["errors"][0]["pointer"], "/file", "{body}");

    // Chunked (no Content-Length), so the cap is found while streaming.
    let stream = futures::stream::iter(
        pdf(max + 200_000)
            .chunks(64 * 1024)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let part = Part::stream(reqwest::Body::wrap_stream(stream)).file_name("big.pdf");
    let response = rig
        .app
        .client
        .post(rig.app.url("/v1/me/uploads"))
        .bearer_auth(&token)
        .multipart(Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;

    // A body that ends in the middle of the file.
    let boundary = "xYzBoundary";
    let mut raw = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\nContent-Type: application/pdf\r\n\r\n"
    )
    .into_bytes();
    raw.extend(pdf(200_000));
    let response = rig
        .app
        .client
        .post(rig.app.url("/v1/me/uploads"))
        .bearer_auth(&token)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(raw)
        .send()
        .await
        .unwrap();
    problem(response, StatusCode::BAD_REQUEST).await;

    assert_eq!(document_rows(&rig).await, 0);
    assert_eq!(object_files(&rig), 0, "no object, staged or final, is left");
}

#[tokio::test]
async fn applying_needs_level_2_a_key_a_valid_form_and_the_required_documents() {
    let rig = Rig::start().await;
    let (procedure, _, form, required) = online_procedure(&rig).await;

    // Level 1: the step-up challenge, whatever the body.
    let level1 = citizen(&rig, "citizen-l1").await;
    for body in [
        json!({}),
        json!({"procedure_code": procedure, "form": form, "documents": []}),
    ] {
        let response = apply(&rig, &level1, &body, Some("k")).await;
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            challenge.contains("insufficient_user_authentication"),
            "{challenge}"
        );
        assert!(challenge.contains("acr_values=\"2\""), "{challenge}");
        problem(response, StatusCode::UNAUTHORIZED).await;
    }

    let token = citizen(&rig, "citizen-l2").await;
    let uploaded: Value = upload(&rig, &token, "a.pdf", pdf(1000))
        .await
        .json()
        .await
        .unwrap();
    let all_documents: Vec<Value> = required
        .iter()
        .map(|kind| json!({"type": kind, "upload_id": uploaded["id"]}))
        .collect();
    let body = json!({"procedure_code": procedure, "form": form, "documents": all_documents[..1]});

    // No key.
    let response = apply(&rig, &token, &body, None).await;
    let refused = problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(refused["errors"][0]["pointer"], "/Idempotency-Key");

    // A form failing its schema: each field by pointer, in Vietnamese when asked.
    let bad = json!({"procedure_code": procedure, "form": {}, "documents": all_documents[..1]});
    let response = rig
        .app
        .client
        .post(rig.app.url("/v1/me/dossiers"))
        .bearer_auth(&token)
        .header("Idempotency-Key", "bad-form")
        .header("Accept-Language", "vi")
        .json(&bad)
        .send()
        .await
        .unwrap();
    let refused = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let errors = refused["errors"].as_array().unwrap();
    assert!(
        errors
            .iter()
            .any(|e| e["pointer"].as_str().unwrap().starts_with("/form/")),
        "{refused}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e["detail"].as_str().unwrap_or("").contains("bắt buộc")),
        "{refused}"
    );

    // A missing required document (when the procedure asks for more than one), or an upload
    // that is not the citizen's.
    if required.len() > 1 {
        let response = apply(&rig, &token, &body, Some("missing")).await;
        let refused = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(refused["errors"][0]["pointer"], "/documents", "{refused}");
    }
    let foreign = json!({"procedure_code": procedure, "form": form, "documents": required.iter().map(|kind| json!({"type": kind, "upload_id": uuid::Uuid::new_v4()})).collect::<Vec<_>>()});
    let response = apply(&rig, &token, &foreign, Some("foreign")).await;
    let refused = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(refused["errors"][0]["pointer"], "/documents", "{refused}");

    // A key reused with another body.
    let first: Value = upload(&rig, &token, "b.pdf", pdf(2000))
        .await
        .json()
        .await
        .unwrap();
    let mut documents = vec![json!({"type": required[0], "upload_id": first["id"]})];
    for kind in &required[1..] {
        let more: Value = upload(&rig, &token, "c.pdf", pdf(1500))
            .await
            .json()
            .await
            .unwrap();
        documents.push(json!({"type": kind, "upload_id": more["id"]}));
    }
    let good = json!({"procedure_code": procedure, "form": form, "documents": documents});
    assert_eq!(
        apply(&rig, &token, &good, Some("once")).await.status(),
        StatusCode::CREATED
    );
    let mut other = good.clone();
    other["note"] = json!("another body under the same key");
    let reused = problem(
        apply(&rig, &token, &other, Some("once")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        reused["type"]
            .as_str()
            .unwrap()
            .ends_with("idempotency-key-reused"),
        "{reused}"
    );
    let dossiers: i64 = sqlx::query_scalar("SELECT count(*) FROM dossiers WHERE online AND citizen_id IS NOT NULL AND submitted_at > now() - interval '1 hour' AND form IS NOT NULL AND documents IS NOT NULL AND jsonb_array_length(documents) > 0 AND code IN (SELECT dossier_code FROM documents)")
        .fetch_one(&rig.app.state.db)
        .await
        .unwrap();
    assert_eq!(dossiers, 1, "only the good application made a dossier");
}
