//! The online flow end to end: a level-2 citizen signed in through the eID simulator saves a
//! draft, uploads, submits; the agency's receiver gets the signed `dossier.submitted` (checked
//! with the independent `standardwebhooks` package), pulls, downloads, asks for a supplement;
//! the citizen supplies; the agency receives with the due date the calendar computes. Around it:
//! refusal at intake, withdrawal, drafts, and the clock pause of a supplement at fixed instants.

use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc3339;
use time::macros::datetime;
use time::{OffsetDateTime, PrimitiveDateTime};
use uuid::Uuid;

use motcua::dossiers::calendar::{self, SESSIONS, VIETNAM};
use motcua::dossiers::model::{self, Status};
use motcua::dossiers::store::{self, Caller, OnlineSubmission, StoreError, TransitionRequest};

use crate::dossiers_api::{agency_token, problem};
use crate::helpers::{TestApp, motcua_with, promptly, stdout_json};
use crate::signin::{APP_REDIRECT, Request, sign_in};
use crate::webhooks::{Receiver, quick, verify_in_node};

/// A seeded app, an online procedure with required documents, and back offices bound to its
/// agency and to another one.
struct Flow {
    app: TestApp,
    procedure: String,
    agency_code: String,
    /// The procedure's schema example: a valid form.
    form: Value,
    required: Vec<String>,
    /// Client id and token of the back office bound to the procedure's agency.
    agency_client: String,
    agency: String,
    other_agency: String,
}

impl Flow {
    async fn start() -> Flow {
        let app = TestApp::spawn_with(quick(&[])).await;
        motcua::dossiers::seed::load(&app.state.db, &app.state.master_key(), 0)
            .await
            .unwrap();
        let (procedure, agency_code): (String, String) = sqlx::query_as(
            "SELECT code, agency_code FROM procedures
             WHERE online AND jsonb_array_length(required_documents) > 0 AND form_schema IS NOT NULL
             ORDER BY code LIMIT 1",
        )
        .fetch_one(&app.state.db)
        .await
        .unwrap();
        let detail: Value = app
            .get(&format!("/v1/procedures/{procedure}"))
            .await
            .json()
            .await
            .unwrap();
        let form = detail["form_schema"]["examples"][0].clone();
        let required = detail["required_documents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["code"].as_str().unwrap().to_string())
            .collect();
        let (agency_client, secret) = app
            .client_with(motcua::clients::NewClient {
                name: "Back office".into(),
                scopes: vec!["dossiers:write".into()],
                agencies: vec![agency_code.clone()],
                ..Default::default()
            })
            .await;
        let response = app
            .client_credentials(&agency_client, &secret.unwrap())
            .await;
        let body: Value = response.json().await.unwrap();
        let agency = body["access_token"].as_str().unwrap().to_string();
        let other: String =
            sqlx::query_scalar("SELECT code FROM agencies WHERE code <> $1 ORDER BY code LIMIT 1")
                .bind(&agency_code)
                .fetch_one(&app.state.db)
                .await
                .unwrap();
        let other_agency = agency_token(&app, vec![other], "dossiers:write").await;
        Flow {
            app,
            procedure,
            agency_code,
            form,
            required,
            agency_client,
            agency,
            other_agency,
        }
    }

    async fn citizen(&self, who: &str) -> String {
        let client_id = self.app.public_client(APP_REDIRECT).await;
        sign_in(&self.app, &Request::new(&client_id), who)
            .await
            .access_token
    }

    async fn send(
        &self,
        method: reqwest::Method,
        token: &str,
        path: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .app
            .client
            .request(method, self.app.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        request.send().await.unwrap()
    }

    async fn post(
        &self,
        token: &str,
        path: &str,
        body: Value,
        key: Option<&str>,
    ) -> reqwest::Response {
        self.send(reqwest::Method::POST, token, path, Some(body), key)
            .await
    }

    async fn get(&self, token: &str, path: &str) -> reqwest::Response {
        self.send(reqwest::Method::GET, token, path, None, None)
            .await
    }

    async fn put(&self, token: &str, path: &str, body: Value) -> reqwest::Response {
        self.send(reqwest::Method::PUT, token, path, Some(body), None)
            .await
    }

    async fn upload(&self, token: &str, bytes: Vec<u8>) -> Value {
        let part = Part::bytes(bytes)
            .file_name("scan.pdf")
            .mime_str("application/pdf")
            .unwrap();
        let response = self
            .app
            .client
            .post(self.app.url("/v1/me/uploads"))
            .bearer_auth(token)
            .multipart(Form::new().part("file", part))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    /// Uploads one document per required type; returns the application's `documents`.
    async fn documents(&self, token: &str) -> Vec<Value> {
        let mut documents = Vec::new();
        for (i, kind) in self.required.iter().enumerate() {
            let uploaded = self.upload(token, pdf(2000 + i)).await;
            documents.push(json!({"type": kind, "upload_id": uploaded["id"]}));
        }
        documents
    }

    /// A submitted application of the citizen; returns its code.
    async fn submit(&self, token: &str, key: &str) -> String {
        let documents = self.documents(token).await;
        let body =
            json!({"procedure_code": self.procedure, "form": self.form, "documents": documents});
        let response = self.post(token, "/v1/me/dossiers", body, Some(key)).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let submitted: Value = response.json().await.unwrap();
        submitted["code"].as_str().unwrap().to_string()
    }

    async fn transition(&self, token: &str, code: &str, body: Value) -> reqwest::Response {
        let path = format!("/v1/agency/dossiers/{code}/transitions");
        self.post(token, &path, body, None).await
    }

    /// Registers a webhook of the agency's back office for the online events; returns its
    /// secret.
    fn subscribe(&self, receiver: &Receiver) -> String {
        let added = stdout_json(&motcua_with(
            &self.app,
            &[
                "webhook",
                "add",
                "--client",
                &self.agency_client,
                "--url",
                &receiver.url(),
                "--event",
                "dossier.submitted",
                "dossier.supplemented",
                "dossier.withdrawn",
            ],
            &[("MOTCUA_WEBHOOK_ALLOW_PRIVATE", "1")],
        ));
        added["secret"].as_str().unwrap().to_string()
    }
}

fn pdf(len: usize) -> Vec<u8> {
    let mut bytes = b"%PDF-1.7\n".to_vec();
    bytes.extend((0..len.saturating_sub(9)).map(|i| (i * 37 % 251) as u8));
    bytes
}

fn instant(value: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(value.as_str().unwrap(), &Rfc3339).unwrap()
}

/// Asserts the step-up challenge of RFC 9470.
async fn step_up(response: reqwest::Response) {
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        challenge.contains("insufficient_user_authentication")
            && challenge.contains("acr_values=\"2\""),
        "{challenge}"
    );
    problem(response, StatusCode::UNAUTHORIZED).await;
}

/// Waits for a webhook of `kind`, then returns every payload of that kind the receiver got,
/// verified by the `standardwebhooks` package.
async fn arrived(receiver: &Receiver, secret: &str, kind: &str) -> Vec<Value> {
    promptly(&format!("{kind} arrives"), || async {
        receiver.received().iter().any(|r| r.body.contains(kind))
    })
    .await;
    let received = receiver.received();
    let payloads = verify_in_node(secret, &received)
        .await
        .expect("standardwebhooks verifies");
    payloads.into_iter().filter(|p| p["type"] == kind).collect()
}

#[tokio::test]
async fn a_level_2_citizen_drafts_submits_and_supplies_and_the_agency_receives_with_the_calendars_due_date()
 {
    let flow = Flow::start().await;
    let receiver = Receiver::start(vec![], None).await;
    let secret = flow.subscribe(&receiver);
    let token = flow.citizen("citizen-l2").await;
    let draft_path = format!("/v1/me/drafts/{}", flow.procedure);

    // A draft first: half a form, no documents; then with the scan, resumed as saved.
    let response = flow
        .put(&token, &draft_path, json!({"form": {}, "documents": []}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let bytes = pdf(150_000);
    let scan = flow.upload(&token, bytes.clone()).await;
    let sha = hex::encode(Sha256::digest(&bytes));
    assert_eq!(scan["sha256"], sha);
    let mut documents = vec![json!({"type": flow.required[0], "upload_id": scan["id"]})];
    for (i, kind) in flow.required.iter().enumerate().skip(1) {
        let other = flow.upload(&token, pdf(1000 + i)).await;
        documents.push(json!({"type": kind, "upload_id": other["id"]}));
    }
    let draft = json!({"form": flow.form, "documents": documents});
    let response = flow.put(&token, &draft_path, draft).await;
    assert_eq!(response.status(), StatusCode::OK);
    let resumed: Value = flow.get(&token, &draft_path).await.json().await.unwrap();
    assert_eq!(resumed["form"], flow.form);
    assert_eq!(resumed["documents"][0]["upload_id"], scan["id"]);

    // Submit what the draft holds; the draft goes in the same transaction.
    let body = json!({"procedure_code": flow.procedure, "form": resumed["form"], "documents": resumed["documents"]});
    let response = flow
        .post(&token, "/v1/me/dossiers", body, Some("e2e-apply"))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let submitted: Value = response.json().await.unwrap();
    let code = submitted["code"].as_str().unwrap().to_string();
    assert_eq!(submitted["status"], "submitted");
    problem(flow.get(&token, &draft_path).await, StatusCode::NOT_FOUND).await;

    // The agency's receiver: a `dossier.submitted` signed per Standard Webhooks.
    let events = arrived(&receiver, &secret, "dossier.submitted").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["data"]["code"], code.as_str());
    assert_eq!(events[0]["data"]["documents"][0]["sha256"], sha);

    // It pulls the submissions and downloads the scan: the same bytes.
    let waiting: Value = flow
        .get(&flow.agency, "/v1/agency/submissions")
        .await
        .json()
        .await
        .unwrap();
    let item = waiting["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == code.as_str())
        .unwrap_or_else(|| panic!("{waiting}"))
        .clone();
    let listed = item["documents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == scan["id"])
        .unwrap_or_else(|| panic!("{item}"))
        .clone();
    assert_eq!(listed["sha256"], sha);
    let document_path = format!(
        "/v1/agency/dossiers/{code}/documents/{}",
        scan["id"].as_str().unwrap()
    );
    let response = flow.get(&flow.agency, &document_path).await;
    assert_eq!(response.status(), StatusCode::OK);
    let got = response.bytes().await.unwrap();
    assert_eq!(got.as_ref(), bytes.as_slice());
    assert_eq!(hex::encode(Sha256::digest(&got)), sha);

    // An agency not bound to the dossier's sees nothing of it.
    let dossier_path = format!("/v1/agency/dossiers/{code}");
    problem(
        flow.get(&flow.other_agency, &dossier_path).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        flow.get(&flow.other_agency, &document_path).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let note = json!({"to": "received"});
    problem(
        flow.transition(&flow.other_agency, &code, note).await,
        StatusCode::NOT_FOUND,
    )
    .await;

    // A supplement request needs its reason, and names a required document.
    let wanted = flow.required[0].clone();
    let bare = json!({"to": "supplement_requested", "documents": [wanted]});
    let refused = problem(
        flow.transition(&flow.agency, &code, bare).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(refused["errors"][0]["pointer"], "/note", "{refused}");
    let unknown =
        json!({"to": "supplement_requested", "note": "x", "documents": ["no_such_paper"]});
    let refused = problem(
        flow.transition(&flow.agency, &code, unknown).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(refused["errors"][0]["pointer"], "/documents", "{refused}");
    let request =
        json!({"to": "supplement_requested", "note": "Bản scan bị mờ", "documents": [wanted]});
    let response = flow.transition(&flow.agency, &code, request).await;
    assert_eq!(response.status(), StatusCode::OK);

    // The citizen sees what is asked, and why.
    let mine: Value = flow
        .get(&token, &format!("/v1/me/dossiers/{code}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["status"], "supplement_requested");
    assert_eq!(
        mine["supplement_request"]["documents"][0]["code"],
        wanted.as_str(),
        "{mine}"
    );
    assert_eq!(mine["supplement_request"]["note"], "Bản scan bị mờ");

    // Who may answer: not a level-1 token, not another citizen, not without a key.
    let supplements = format!("/v1/me/dossiers/{code}/supplements");
    let level1 = flow.citizen("citizen-l1").await;
    step_up(
        flow.post(&level1, &supplements, json!({}), Some("s-1"))
            .await,
    )
    .await;
    let stranger = flow.citizen("merchant").await;
    let theirs = flow.upload(&stranger, pdf(900)).await;
    let answer = json!({"documents": [{"type": wanted, "upload_id": theirs["id"]}]});
    problem(
        flow.post(&stranger, &supplements, answer, Some("s-2"))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let refused = problem(
        flow.post(&token, &supplements, json!({"note": "x"}), None)
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(refused["errors"][0]["pointer"], "/Idempotency-Key");

    // An answer without the document asked for, or with another citizen's upload, is refused.
    let refused = problem(
        flow.post(&token, &supplements, json!({"note": "đây"}), Some("s-3"))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(refused["errors"][0]["pointer"], "/documents", "{refused}");
    let foreign = json!({"documents": [{"type": wanted, "upload_id": theirs["id"]}]});
    let refused = problem(
        flow.post(&token, &supplements, foreign, Some("s-4")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(refused["errors"][0]["pointer"], "/documents", "{refused}");

    // The new scan: back to `submitted`, the new document in place of the old one.
    let clearer = pdf(160_000);
    let rescan = flow.upload(&token, clearer.clone()).await;
    let answer =
        json!({"documents": [{"type": wanted, "upload_id": rescan["id"]}], "note": "Đã scan lại"});
    let response = flow
        .post(&token, &supplements, answer.clone(), Some("s-5"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let supplied: Value = response.json().await.unwrap();
    assert_eq!(supplied["status"], "submitted");
    assert!(supplied.get("supplement_request").is_none(), "{supplied}");
    let now_held: Vec<&Value> = supplied["documents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["type"] == wanted.as_str())
        .collect();
    assert_eq!(now_held.len(), 1);
    assert_eq!(now_held[0]["id"], rescan["id"]);
    // A retry gets the first answer; a second supplement is refused.
    let again = flow.post(&token, &supplements, answer, Some("s-5")).await;
    assert_eq!(again.status(), StatusCode::OK);
    let refused = problem(
        flow.post(&token, &supplements, json!({"note": "nữa"}), Some("s-6"))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(refused["errors"][0]["pointer"], "/code", "{refused}");

    let events = arrived(&receiver, &secret, "dossier.supplemented").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["data"]["code"], code.as_str());
    assert_eq!(events[0]["data"]["status"], "submitted");
    assert_eq!(events[0]["data"]["documents"][0]["id"], rescan["id"]);
    let path = format!(
        "/v1/agency/dossiers/{code}/documents/{}",
        rescan["id"].as_str().unwrap()
    );
    let got = flow.get(&flow.agency, &path).await.bytes().await.unwrap();
    assert_eq!(got.as_ref(), clearer.as_slice());

    // The agency receives: the due date is the calendar's from the instant of receipt.
    let response = flow
        .transition(&flow.agency, &code, json!({"to": "received"}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let received: Value = response.json().await.unwrap();
    assert_eq!(received["status"], "received");
    let received_at = instant(&received["received_at"]);
    let procedure = store::get_procedure(&flow.app.state.db, &flow.procedure)
        .await
        .unwrap()
        .unwrap();
    let holidays = store::load_holidays(&flow.app.state.db).await.unwrap();
    let expected = calendar::due_at(
        received_at,
        procedure.processing_time().unwrap(),
        procedure.cutoff,
        &holidays,
    );
    assert_eq!(instant(&received["due_at"]), expected);
    let mine: Value = flow
        .get(&token, &format!("/v1/me/dossiers/{code}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["status"], "received");
    let timeline: Vec<&str> = mine["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        timeline,
        ["submitted", "supplement_requested", "submitted", "received"]
    );
}

#[tokio::test]
async fn refusing_at_intake_needs_a_reason_and_closes_the_dossier() {
    let flow = Flow::start().await;
    let token = flow.citizen("citizen-l2").await;
    let code = flow.submit(&token, "refuse-me").await;

    for bare in [
        json!({"to": "refused"}),
        json!({"to": "refused", "note": "  "}),
    ] {
        let refused = problem(
            flow.transition(&flow.agency, &code, bare).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(refused["errors"][0]["pointer"], "/note", "{refused}");
    }
    // Documents are named only with a supplement request.
    let misplaced = json!({"to": "refused", "note": "x", "documents": [flow.required[0]]});
    let refused = problem(
        flow.transition(&flow.agency, &code, misplaced).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(refused["errors"][0]["pointer"], "/documents", "{refused}");

    let reason = "Thủ tục không thuộc thẩm quyền của xã";
    let response = flow
        .transition(
            &flow.agency,
            &code,
            json!({"to": "refused", "note": reason}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let refused: Value = response.json().await.unwrap();
    assert_eq!(refused["status"], "refused");
    assert!(refused["due_at"].is_null(), "{refused}");
    let mine: Value = flow
        .get(&token, &format!("/v1/me/dossiers/{code}"))
        .await
        .json()
        .await
        .unwrap();
    let last = mine["timeline"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["status"], "refused");
    assert_eq!(last["note"], reason);
    let waiting: Value = flow
        .get(&flow.agency, "/v1/agency/submissions")
        .await
        .json()
        .await
        .unwrap();
    assert!(!waiting.to_string().contains(&code), "{waiting}");
    // Closed: nothing moves it any more.
    let closed = problem(
        flow.transition(&flow.agency, &code, json!({"to": "received"}))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(closed["errors"][0]["pointer"], "/to", "{closed}");
}

#[tokio::test]
async fn a_citizen_withdraws_before_a_result_only_and_the_agency_is_told() {
    let flow = Flow::start().await;
    let receiver = Receiver::start(vec![], None).await;
    let secret = flow.subscribe(&receiver);
    let token = flow.citizen("citizen-l2").await;
    let code = flow.submit(&token, "withdraw-me").await;
    let path = format!("/v1/me/dossiers/{code}/withdrawal");
    let reason = json!({"reason": "Tôi nộp nhầm thủ tục"});

    let level1 = flow.citizen("citizen-l1").await;
    step_up(flow.post(&level1, &path, json!({}), Some("w-1")).await).await;
    let stranger = flow.citizen("merchant").await;
    problem(
        flow.post(&stranger, &path, reason.clone(), Some("w-2"))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let refused = problem(
        flow.post(&token, &path, json!({"reason": " "}), Some("w-3"))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(refused["errors"][0]["pointer"], "/reason", "{refused}");
    let refused = problem(
        flow.post(&token, &path, json!({}), Some("w-4")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(refused["errors"][0]["pointer"], "/reason", "{refused}");

    // Received and waiting for a supplement: still withdrawable.
    let response = flow
        .transition(&flow.agency, &code, json!({"to": "received"}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = flow
        .transition(&flow.agency, &code, json!({"to": "processing"}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let request = json!({"to": "supplement_requested", "note": "Thiếu chữ ký"});
    let response = flow.transition(&flow.agency, &code, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = flow.post(&token, &path, reason.clone(), Some("w-5")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let withdrawn: Value = response.json().await.unwrap();
    assert_eq!(withdrawn["status"], "withdrawn");
    assert_eq!(withdrawn["status_code"], 7);
    // Withdrawn is final: 409 naming none allowed.
    let refused = problem(
        flow.post(&token, &path, reason.clone(), Some("w-6")).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(refused["errors"][0]["pointer"], "/code", "{refused}");

    let events = arrived(&receiver, &secret, "dossier.withdrawn").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["data"]["code"], code.as_str());
    assert_eq!(events[0]["data"]["from"], "supplement_requested");
    assert_eq!(events[0]["data"]["reason"], "Tôi nộp nhầm thủ tục");

    // Once the result is ready it is too late.
    let code = flow.submit(&token, "too-late").await;
    for to in ["received", "processing", "result_ready"] {
        let response = flow
            .transition(&flow.agency, &code, json!({"to": to}))
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{to}");
    }
    let path = format!("/v1/me/dossiers/{code}/withdrawal");
    let refused = problem(
        flow.post(&token, &path, reason, Some("w-7")).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        refused["type"]
            .as_str()
            .unwrap()
            .ends_with("transition-not-allowed"),
        "{refused}"
    );
}

#[tokio::test]
async fn drafts_are_the_citizens_own_checked_for_shape_paged_and_deleted_without_their_uploads() {
    let flow = Flow::start().await;
    let token = flow.citizen("citizen-l2").await;
    let path = format!("/v1/me/drafts/{}", flow.procedure);

    let refused = problem(
        flow.put(&token, &path, json!({"form": [1, 2]})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(refused["errors"][0]["pointer"], "/form", "{refused}");
    let stranger = flow.citizen("merchant").await;
    let theirs = flow.upload(&stranger, pdf(700)).await;
    let foreign =
        json!({"form": {}, "documents": [{"type": flow.required[0], "upload_id": theirs["id"]}]});
    let refused = problem(
        flow.put(&token, &path, foreign).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        refused["errors"][0]["pointer"], "/documents/0/upload_id",
        "{refused}"
    );
    let refused = problem(
        flow.put(&token, "/v1/me/drafts/9.999999", json!({"form": {}}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        refused["errors"][0]["pointer"], "/procedure_code",
        "{refused}"
    );
    let offline: String =
        sqlx::query_scalar("SELECT code FROM procedures WHERE NOT online LIMIT 1")
            .fetch_one(&flow.app.state.db)
            .await
            .unwrap();
    let refused = problem(
        flow.put(
            &token,
            &format!("/v1/me/drafts/{offline}"),
            json!({"form": {}}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        refused["errors"][0]["pointer"], "/procedure_code",
        "{refused}"
    );

    // Two drafts, newest first, one per page.
    let mine = flow.upload(&token, pdf(800)).await;
    let first = json!({"form": {"a": 1}, "documents": [{"type": flow.required[0], "upload_id": mine["id"]}]});
    assert_eq!(
        flow.put(&token, &path, first).await.status(),
        StatusCode::CREATED
    );
    let second: String = sqlx::query_scalar(
        "SELECT code FROM procedures WHERE online AND code <> $1 ORDER BY code LIMIT 1",
    )
    .bind(&flow.procedure)
    .fetch_one(&flow.app.state.db)
    .await
    .unwrap();
    let second_path = format!("/v1/me/drafts/{second}");
    let response = flow.put(&token, &second_path, json!({"form": {}})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let page: Value = flow
        .get(&token, "/v1/me/drafts?limit=1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        page["items"][0]["procedure_code"],
        second.as_str(),
        "{page}"
    );
    let cursor = page["next_cursor"].as_str().unwrap();
    let page: Value = flow
        .get(&token, &format!("/v1/me/drafts?limit=1&cursor={cursor}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        page["items"][0]["procedure_code"],
        flow.procedure.as_str(),
        "{page}"
    );
    assert!(page["next_cursor"].is_null(), "{page}");

    // Another citizen sees none of them.
    let theirs: Value = flow
        .get(&stranger, "/v1/me/drafts")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["items"].as_array().unwrap().len(), 0, "{theirs}");
    problem(flow.get(&stranger, &path).await, StatusCode::NOT_FOUND).await;

    // Deleted: gone, the upload kept.
    let response = flow
        .send(reqwest::Method::DELETE, &token, &path, None, None)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    problem(flow.get(&token, &path).await, StatusCode::NOT_FOUND).await;
    problem(
        flow.send(reqwest::Method::DELETE, &token, &path, None, None)
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM documents WHERE id = $1")
        .bind(Uuid::parse_str(mine["id"].as_str().unwrap()).unwrap())
        .fetch_one(&flow.app.state.db)
        .await
        .unwrap();
    assert_eq!(kept, 1);
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action IN ('draft_saved', 'draft_deleted')",
    )
    .fetch_one(&flow.app.state.db)
    .await
    .unwrap();
    assert_eq!(audited, 3);
}

/// A citizen known by identification number, for the store-level tests.
async fn citizen_row(
    db: &sqlx::PgPool,
    master: &motcua::crypto::MasterKey,
    id_number: &str,
) -> Uuid {
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO citizens (id, provider, provider_subject, name, id_number_hmac, id_number_masked, level)
         VALUES ($1, 'test', $2, 'Trần Thị Bích', $3, '********1234', 2)",
    )
    .bind(id)
    .bind(id.to_string())
    .bind(model::id_number_hmac(master, id_number).unwrap())
    .execute(db)
    .await
    .unwrap();
    id
}

fn vn(at: PrimitiveDateTime) -> OffsetDateTime {
    at.assume_offset(VIETNAM)
}

fn to(status: Status, note: Option<&str>) -> TransitionRequest {
    TransitionRequest {
        to: status,
        note: note.map(str::to_string),
        result: None,
    }
}

#[tokio::test]
async fn receipt_after_the_cutoff_and_a_supplement_pause_move_the_due_date_as_the_calendar_says() {
    let flow = Flow::start().await;
    let db = flow.app.state.db.clone();
    let master = flow.app.state.master_key();
    let holidays = store::load_holidays(&db).await.unwrap();
    let procedure = store::get_procedure(&db, &flow.procedure)
        .await
        .unwrap()
        .unwrap();
    let citizen = citizen_row(&db, &master, "054190004321").await;
    let agency = Caller::Agency {
        client_id: "mc_testagencyclient01".into(),
        agencies: vec![flow.agency_code.clone()],
    };
    let submission = OnlineSubmission {
        procedure_code: flow.procedure.clone(),
        form: json!({}),
        documents: json!([]),
    };
    // Monday 3 March 2025: submitted in the morning, received at 16:00, after the cut-off.
    let mut tx = db.begin().await.unwrap();
    let code = store::submit_online(
        &mut tx,
        &master,
        citizen,
        &submission,
        vn(datetime!(2025-03-03 09:00)),
    )
    .await
    .unwrap()
    .dossier
    .code;
    let late = vn(datetime!(2025-03-03 16:00));
    assert!(
        late.time() >= procedure.cutoff,
        "the procedure's cut-off is before 16:00"
    );
    let received = store::apply_transition(
        &mut tx,
        &holidays,
        &agency,
        &code,
        &to(Status::Received, None),
        late,
    )
    .await
    .unwrap();
    let processing_time = procedure.processing_time().unwrap();
    let due = received.due_at.unwrap();
    assert_eq!(
        due,
        calendar::due_at(late, processing_time, procedure.cutoff, &holidays)
    );
    // Counted from Tuesday's first session, as if received then.
    let tuesday = vn(PrimitiveDateTime::new(
        time::macros::date!(2025 - 03 - 04),
        SESSIONS[0].0,
    ));
    assert_eq!(
        due,
        calendar::add_working(tuesday, processing_time, &holidays)
    );

    // Processing, then a supplement request on Wednesday morning, answered Thursday 14:00.
    let wednesday = vn(datetime!(2025-03-05 09:00));
    store::apply_transition(
        &mut tx,
        &holidays,
        &agency,
        &code,
        &to(Status::Processing, None),
        wednesday,
    )
    .await
    .unwrap();
    let asked = vn(datetime!(2025-03-05 10:00));
    let without_reason = store::request_supplement(
        &mut tx,
        &holidays,
        &agency,
        &code,
        &to(Status::SupplementRequested, None),
        &[],
        asked,
    )
    .await;
    assert!(
        matches!(
            without_reason,
            Err(StoreError::Invalid { field: "note", .. })
        ),
        "{without_reason:?}"
    );
    let request = to(Status::SupplementRequested, Some("Bổ sung giấy tờ"));
    let waiting =
        store::request_supplement(&mut tx, &holidays, &agency, &code, &request, &[], asked)
            .await
            .unwrap();
    assert_eq!(waiting.paused_since, Some(asked));
    let answered = vn(datetime!(2025-03-06 14:00));
    let supplement = store::Supplement {
        documents: Vec::new(),
        note: Some("Đã bổ sung".into()),
    };
    let supplied = store::supply(
        &mut tx,
        &holidays,
        citizen,
        &code,
        &supplement,
        50_000_000,
        answered,
    )
    .await
    .unwrap();
    let d = supplied.dossier;
    assert_eq!(d.status, Status::Processing, "back where it was");
    assert_eq!(d.paused_since, None, "the pause ended");
    let paused = calendar::working_time_between(asked, answered, &holidays);
    assert!(paused.0 > 0);
    assert_eq!(d.paused, paused);
    assert_eq!(
        d.due_at,
        Some(calendar::shift_by_paused(due, paused, &holidays))
    );
    // Only while waiting: a second answer is refused.
    let again = store::supply(
        &mut tx,
        &holidays,
        citizen,
        &code,
        &supplement,
        50_000_000,
        answered,
    )
    .await;
    assert!(matches!(again, Err(StoreError::Transition(_))), "{again:?}");
    tx.commit().await.unwrap();
}
