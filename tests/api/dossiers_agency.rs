//! Agencies' records beyond status changes, over HTTP: transfers and result details on the
//! citizen's timeline, a day's dossiers in bulk, and problems told in Vietnamese.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::dossiers_api::{LAN_ID_NUMBER, PROCEDURE, Rig, problem};

impl Rig {
    async fn post_vi(&self, token: &str, path: &str, body: Value) -> reqwest::Response {
        self.app
            .client
            .post(self.app.url(path))
            .bearer_auth(token)
            .header("Accept-Language", "vi")
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn get_vi(&self, token: &str, path: &str) -> reqwest::Response {
        self.app
            .client
            .get(self.app.url(path))
            .bearer_auth(token)
            .header("Accept-Language", "vi")
            .send()
            .await
            .unwrap()
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(&self.app.state.db)
            .await
            .unwrap()
    }
}

async fn ok(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test]
async fn transfers_and_result_details_reach_the_citizens_timeline() {
    let rig = Rig::start().await;
    let citizen = rig.citizen().await;
    let code = rig.register(LAN_ID_NUMBER).await["code"]
        .as_str()
        .unwrap()
        .to_string();
    let mine = format!("/v1/me/dossiers/{code}");
    // Cached before the transfer: the next read must show it all the same.
    ok(rig.get(&citizen, &mine).await).await;

    let transfer = json!({"from": "Bộ phận Một cửa", "to": "Phòng Tư pháp", "note": "thẩm định"});
    let path = format!("/v1/agency/dossiers/{code}/transfers");
    let first = rig
        .post(&rig.agency, &path, transfer.clone(), Some("transfer-1"))
        .await;
    let first = ok(first).await;
    assert_eq!(first["status"], "received", "a transfer is not a status");
    let retry = ok(rig
        .post(&rig.agency, &path, transfer.clone(), Some("transfer-1"))
        .await)
    .await;
    assert_eq!(retry, first);
    let transfers = rig
        .count("SELECT count(*) FROM dossier_events WHERE kind = 'transfer'")
        .await;
    assert_eq!(transfers, 1, "the retry wrote nothing");
    let timeline = ok(rig.get(&citizen, &mine).await).await["timeline"].clone();
    let line = &timeline[1];
    assert_eq!(line["kind"], "transfer", "{timeline}");
    assert_eq!(line["details"]["to"], "Phòng Tư pháp");
    assert_eq!(line["note"], "thẩm định");

    // Another agency's client does not see it; a blank unit is named.
    let foreign = rig.post(&rig.other_agency, &path, transfer, None).await;
    problem(foreign, StatusCode::NOT_FOUND).await;
    let blank = rig
        .post(&rig.agency, &path, json!({"from": " ", "to": "x"}), None)
        .await;
    let blank = problem(blank, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(blank["errors"][0]["pointer"], "/from", "{blank}");

    // Result details: refused before there is a result, kept with `result_ready`, corrected.
    let result_path = format!("/v1/agency/dossiers/{code}/result");
    let early = rig
        .post(
            &rig.agency,
            &result_path,
            json!({"outcome": "granted"}),
            None,
        )
        .await;
    let early = problem(early, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(early["errors"][0]["pointer"], "/code", "{early}");
    ok(rig.transition(&rig.agency, &code, "processing").await).await;
    let ready = rig
        .post(
            &rig.agency,
            &format!("/v1/agency/dossiers/{code}/transitions"),
            json!({"to": "result_ready", "result": {"outcome": "granted", "document_number": "12/GKS"}}),
            None,
        )
        .await;
    assert_eq!(ok(ready).await["result"]["document_number"], "12/GKS");
    let corrected = json!({
        "outcome": "granted",
        "document_number": "12/2026/GKS",
        "signed_by": "Chủ tịch UBND xã",
        "signed_at": "2026-12-01T08:00:00Z",
        "collection": "Quầy số 2",
    });
    let attached = ok(rig.post(&rig.agency, &result_path, corrected, None).await).await;
    assert_eq!(attached["result"]["document_number"], "12/2026/GKS");
    let seen = ok(rig.get(&citizen, &mine).await).await;
    assert_eq!(seen["status"], "result_ready");
    assert_eq!(seen["result"]["signed_by"], "Chủ tịch UBND xã");
    let last = seen["timeline"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "result", "{seen}");
    assert_eq!(last["details"]["collection"], "Quầy số 2");
    let bad_outcome = rig
        .post(&rig.agency, &result_path, json!({"outcome": "maybe"}), None)
        .await;
    assert!(bad_outcome.status().is_client_error());

    // Closed: no more transfers.
    ok(rig.transition(&rig.agency, &code, "returned").await).await;
    let closed = rig
        .post(&rig.agency, &path, json!({"from": "a", "to": "b"}), None)
        .await;
    let closed = problem(closed, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(closed["errors"][0]["pointer"], "/code", "{closed}");
}

fn item(procedure: &str, id_number: &str) -> Value {
    json!({"procedure_code": procedure, "applicant_id_number": id_number, "applicant_name": "Lê Văn Cường"})
}

#[tokio::test]
async fn a_bulk_import_registers_the_good_items_and_names_each_bad_one() {
    let rig = Rig::start().await;
    let mut foreign = item(PROCEDURE, "054190000004");
    let other_agency: String =
        sqlx::query_scalar("SELECT code FROM agencies WHERE code <> $1 ORDER BY code LIMIT 1")
            .bind(&rig.agency_code)
            .fetch_one(&rig.app.state.db)
            .await
            .unwrap();
    foreign["agency_code"] = other_agency.into();
    let body = json!({"items": [
        item(PROCEDURE, "054190000001"),
        item("9.999999", "054190000002"),
        item(PROCEDURE, "12345"),
        item(PROCEDURE, LAN_ID_NUMBER),
        foreign,
    ]});
    let response = rig
        .post(
            &rig.agency,
            "/v1/agency/dossiers/bulk",
            body.clone(),
            Some("day-2026-12-01"),
        )
        .await;
    let result = ok(response).await;
    assert_eq!(
        (result["created"].clone(), result["failed"].clone()),
        (json!(2), json!(3))
    );
    let items = result["items"].as_array().unwrap();
    let statuses: Vec<i64> = items
        .iter()
        .map(|i| i["status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, [201, 422, 422, 201, 403]);
    let pointer = |i: usize| items[i]["problem"]["errors"][0]["pointer"].clone();
    assert_eq!(pointer(1), "/items/1/procedure_code");
    assert_eq!(pointer(2), "/items/2/applicant_id_number");
    assert_eq!(pointer(4), "/items/4/agency_code");
    // Gap-free: the refused item between them took no number.
    let codes: Vec<&str> = [0, 3]
        .map(|i| items[i]["registered"]["code"].as_str().unwrap())
        .to_vec();
    assert!(
        codes[0].ends_with("-0001") && codes[1].ends_with("-0002"),
        "{codes:?}"
    );
    assert_eq!(
        items[0]["registered"]["lookup_pin"].as_str().unwrap().len(),
        8
    );
    assert_eq!(rig.count("SELECT count(*) FROM dossiers").await, 2);

    // The same import again: the first answer, nothing written twice.
    let again = rig
        .post(
            &rig.agency,
            "/v1/agency/dossiers/bulk",
            body,
            Some("day-2026-12-01"),
        )
        .await;
    assert_eq!(ok(again).await, result);
    assert_eq!(rig.count("SELECT count(*) FROM dossiers").await, 2);
    // The citizen who has signed in sees theirs.
    let citizen = rig.citizen().await;
    let list = ok(rig.get(&citizen, "/v1/me/dossiers").await).await;
    assert_eq!(list["items"][0]["code"], codes[1]);
}

#[tokio::test]
async fn a_bulk_import_is_bounded_and_a_malformed_one_writes_nothing() {
    let rig = Rig::start().await;
    let many: Vec<Value> = (0..201)
        .map(|n| item(PROCEDURE, &format!("0541900{n:05}")))
        .collect();
    let response = rig
        .post(
            &rig.agency,
            "/v1/agency/dossiers/bulk",
            json!({"items": many}),
            None,
        )
        .await;
    assert!(response.status().is_client_error(), "{}", response.status());
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let empty = rig
        .post(
            &rig.agency,
            "/v1/agency/dossiers/bulk",
            json!({"items": []}),
            None,
        )
        .await;
    assert!(empty.status().is_client_error());
    let citizen = rig.citizen().await;
    let as_citizen = rig
        .post(
            &citizen,
            "/v1/agency/dossiers/bulk",
            json!({"items": [item(PROCEDURE, LAN_ID_NUMBER)]}),
            None,
        )
        .await;
    problem(as_citizen, StatusCode::FORBIDDEN).await;
    assert_eq!(rig.count("SELECT count(*) FROM dossiers").await, 0);
}

#[tokio::test]
async fn concurrent_bulk_imports_and_registrations_leave_no_gap_in_the_codes() {
    let rig = Rig::start().await;
    let bulk = |base: u32| {
        let items: Vec<Value> = (0..5)
            .map(|n| item(PROCEDURE, &format!("0541900{:05}", base + n)))
            .collect();
        rig.post(
            &rig.agency,
            "/v1/agency/dossiers/bulk",
            json!({"items": items}),
            None,
        )
    };
    let single = rig.post(
        &rig.agency,
        "/v1/agency/dossiers",
        item(PROCEDURE, "054190099999"),
        None,
    );
    let (a, b, c) = tokio::join!(bulk(0), bulk(100), single);
    assert_eq!(c.status(), StatusCode::CREATED);
    for response in [a, b] {
        assert_eq!(ok(response).await["created"], 5);
    }
    let mut seqs: Vec<u32> = sqlx::query_scalar::<_, String>("SELECT code FROM dossiers")
        .fetch_all(&rig.app.state.db)
        .await
        .unwrap()
        .iter()
        .map(|code| code.rsplit('-').next().unwrap().parse().unwrap())
        .collect();
    seqs.sort();
    assert_eq!(seqs, (1..=11).collect::<Vec<u32>>());
}

#[tokio::test]
async fn dossier_problems_speak_vietnamese() {
    let rig = Rig::start().await;
    let code = rig.register(LAN_ID_NUMBER).await["code"]
        .as_str()
        .unwrap()
        .to_string();
    let refused = rig
        .post_vi(
            &rig.agency,
            &format!("/v1/agency/dossiers/{code}/transitions"),
            json!({"to": "returned"}),
        )
        .await;
    assert_eq!(refused.headers()["content-language"], "vi");
    let refused = problem(refused, StatusCode::CONFLICT).await;
    assert_eq!(refused["title"], "Không được chuyển trạng thái");
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .starts_with("Hồ sơ ở trạng thái")
    );
    let detail = refused["errors"][0]["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("được phép từ `received`: processing"),
        "{detail}"
    );

    let bad = rig
        .post_vi(&rig.agency, "/v1/agency/dossiers", item(PROCEDURE, "12345"))
        .await;
    let bad = problem(bad, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(bad["title"], "Dữ liệu không hợp lệ");
    assert_eq!(
        bad["errors"][0]["detail"],
        "số định danh cá nhân gồm 12 chữ số"
    );
    let unknown = rig
        .post_vi(
            &rig.agency,
            "/v1/agency/dossiers",
            item("9.999999", LAN_ID_NUMBER),
        )
        .await;
    let unknown = problem(unknown, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        unknown["errors"][0]["detail"],
        "không có thủ tục `9.999999`"
    );

    // Within a bulk import too.
    let bulk = rig
        .post_vi(
            &rig.agency,
            "/v1/agency/dossiers/bulk",
            json!({"items": [item(PROCEDURE, "12345")]}),
        )
        .await;
    let bulk = ok(bulk).await;
    let item_problem = &bulk["items"][0]["problem"];
    assert_eq!(item_problem["title"], "Dữ liệu không hợp lệ");
    assert_eq!(
        item_problem["errors"][0]["detail"],
        "số định danh cá nhân gồm 12 chữ số"
    );

    let missing = rig
        .get_vi(&rig.agency, "/v1/agency/dossiers/000.00.00.H00-000101-0001")
        .await;
    assert_eq!(
        problem(missing, StatusCode::NOT_FOUND).await["title"],
        "Không tìm thấy"
    );
    let cursor = rig
        .get_vi(&rig.agency, "/v1/agency/submissions?cursor=nope")
        .await;
    let cursor = problem(cursor, StatusCode::BAD_REQUEST).await;
    assert_eq!(cursor["title"], "Yêu cầu không hợp lệ");
    assert!(
        cursor["detail"].as_str().unwrap().contains("con trỏ trang"),
        "{cursor}"
    );

    let key = "vi-reuse";
    let path = format!("/v1/agency/dossiers/{code}/transfers");
    let first = rig
        .post(
            &rig.agency,
            &path,
            json!({"from": "a", "to": "b"}),
            Some(key),
        )
        .await;
    assert_eq!(first.status(), StatusCode::OK);
    let reused = rig
        .app
        .client
        .post(rig.app.url(&path))
        .bearer_auth(&rig.agency)
        .header("Accept-Language", "vi")
        .header("Idempotency-Key", key)
        .json(&json!({"from": "a", "to": "c"}))
        .send()
        .await
        .unwrap();
    let reused = problem(reused, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(reused["title"], "Idempotency-Key đã được dùng");
}

#[tokio::test]
async fn a_cursor_of_one_list_is_refused_by_another() {
    let rig = Rig::start().await;
    let citizen = rig.citizen().await;
    for _ in 0..2 {
        rig.register(LAN_ID_NUMBER).await;
    }
    let page = ok(rig.get(&citizen, "/v1/me/dossiers?limit=1").await).await;
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let next = ok(rig
        .get(
            &citizen,
            &format!("/v1/me/dossiers?limit=1&cursor={cursor}"),
        )
        .await)
    .await;
    assert_eq!(next["items"].as_array().unwrap().len(), 1);
    assert_ne!(next["items"][0]["code"], page["items"][0]["code"]);
    // Notifications are keyed by id, not by dossier code: the dossier list's cursor is not theirs.
    let foreign = rig
        .get(&citizen, &format!("/v1/notifications?cursor={cursor}"))
        .await;
    let foreign = problem(foreign, StatusCode::BAD_REQUEST).await;
    assert_eq!(foreign["errors"][0]["pointer"], "/cursor", "{foreign}");
    let notes = ok(rig.get(&citizen, "/v1/notifications?limit=1").await).await;
    let own = notes["next_cursor"].as_str().unwrap();
    let second = ok(rig
        .get(&citizen, &format!("/v1/notifications?limit=1&cursor={own}"))
        .await)
    .await;
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_nul_character_is_the_callers_mistake_in_a_transfer_and_one_bulk_item() {
    let rig = Rig::start().await;
    let code = rig.register(LAN_ID_NUMBER).await["code"]
        .as_str()
        .unwrap()
        .to_string();
    // Stored as JSON on the timeline: PostgreSQL refuses \u0000 there (22P05).
    let transfer = json!({"from": "Một cửa\u{0}", "to": "Phòng Tư pháp"});
    let path = format!("/v1/agency/dossiers/{code}/transfers");
    let response = rig.post(&rig.agency, &path, transfer, None).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let transfers = rig
        .count("SELECT count(*) FROM dossier_events WHERE kind = 'transfer'")
        .await;
    assert_eq!(transfers, 0);

    // In a bulk import it refuses that item alone.
    let bad = item(&format!("{PROCEDURE}\u{0}"), "054190000011");
    let body = json!({"items": [bad, item(PROCEDURE, "054190000012")]});
    let result = ok(rig
        .post(&rig.agency, "/v1/agency/dossiers/bulk", body, None)
        .await)
    .await;
    assert_eq!(
        (result["created"].clone(), result["failed"].clone()),
        (json!(1), json!(1)),
        "{result}"
    );
    assert_eq!(result["items"][0]["status"], 400, "{result}");
    assert_eq!(result["items"][1]["status"], 201, "{result}");
}

#[tokio::test]
async fn the_first_answer_kept_for_retries_holds_no_lookup_pin_in_clear() {
    let rig = Rig::start().await;
    let body = json!({
        "procedure_code": PROCEDURE,
        "applicant_id_number": LAN_ID_NUMBER,
        "applicant_name": "Nguyễn Thị Lan",
    });
    let send = || {
        rig.post(
            &rig.agency,
            "/v1/agency/dossiers",
            body.clone(),
            Some("quay-1-0007"),
        )
    };
    let first = send().await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let pin = first["lookup_pin"].as_str().unwrap().to_string();

    let (plain, sealed): (Option<Value>, Option<Vec<u8>>) = sqlx::query_as(
        "SELECT response_body, response_sealed FROM idempotency_keys WHERE key = 'quay-1-0007'",
    )
    .fetch_one(&rig.app.state.db)
    .await
    .unwrap();
    assert_eq!(plain, None, "no plain copy of the answer");
    let sealed = sealed.expect("the answer is kept, sealed");
    assert!(
        !sealed.windows(pin.len()).any(|w| w == pin.as_bytes()),
        "the PIN is not readable in the stored answer"
    );

    // A retry still gets the first answer, PIN included.
    let retry: Value = send().await.json().await.unwrap();
    assert_eq!(retry, first);
}

/// The dossier as its agency sees it, with the rows that hang off it: what a refused write must
/// leave as it was.
async fn snapshot(rig: &Rig, code: &str) -> (Value, i64, i64) {
    let mut view = ok(rig
        .get(&rig.agency, &format!("/v1/agency/dossiers/{code}"))
        .await)
    .await;
    // The clock's share, not the dossier's.
    view.as_object_mut().unwrap().remove("working_days_left");
    let count = |table: &str| {
        let sql = format!("SELECT count(*) FROM {table} WHERE dossier_code = '{code}'");
        async move { rig.count(&sql).await }
    };
    (
        view,
        count("dossier_events").await,
        count("notifications").await,
    )
}

async fn refused_naming(response: reqwest::Response, status: StatusCode, slug: &str) -> Value {
    let body = problem(response, status).await;
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/problems/{slug}")),
        "{body}"
    );
    body
}

#[tokio::test]
async fn bad_input_names_the_field_and_leaves_the_dossier_as_it_was() {
    let rig = Rig::start().await;
    let code = rig.register(LAN_ID_NUMBER).await["code"]
        .as_str()
        .unwrap()
        .to_string();
    let before = snapshot(&rig, &code).await;
    let on = |what: &str| format!("/v1/agency/dossiers/{code}/{what}");
    let cases = [
        // A date that is not one, in an apology and in result details.
        (
            on("apologies"),
            json!({"revised_due_at": "2026-13-01T09:00:00+07:00", "reason": "Cần xác minh"}),
            "/revised_due_at",
        ),
        (
            on("apologies"),
            json!({"revised_due_at": "next week", "reason": "Cần xác minh"}),
            "/revised_due_at",
        ),
        (
            on("transitions"),
            json!({"to": "processing", "result": {"outcome": "granted", "signed_at": "hôm qua"}}),
            "/result/signed_at",
        ),
        (
            on("result"),
            json!({"outcome": "granted", "signed_at": "2026-02-30T10:00:00Z"}),
            "/signed_at",
        ),
        // A status or an outcome that does not exist.
        (on("transitions"), json!({"to": "finished"}), "/to"),
        (on("result"), json!({"outcome": "approved"}), "/outcome"),
        // The wrong type, and a string over its length.
        (
            on("transitions"),
            json!({"to": "processing", "note": ["bước tiếp"]}),
            "/note",
        ),
        (
            on("transfers"),
            json!({"from": "x".repeat(301), "to": "Phòng Tư pháp"}),
            "/from",
        ),
        (
            on("apologies"),
            json!({"reason": "Cần xác minh"}),
            "/revised_due_at",
        ),
    ];
    for (path, body, pointer) in cases {
        let response = rig.post(&rig.agency, &path, body.clone(), None).await;
        let refused = refused_naming(response, StatusCode::BAD_REQUEST, "invalid-request").await;
        let errors = refused["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("{refused}"));
        assert!(
            errors.iter().any(|e| e["pointer"] == pointer),
            "{path} {body}: {refused}"
        );
        assert_eq!(snapshot(&rig, &code).await, before, "{path} {body}");
    }

    // Over the 1 MiB limit: 413 before anything is parsed.
    let oversized = rig
        .post(
            &rig.agency,
            &on("transitions"),
            json!({"to": "processing", "note": "x".repeat(1024 * 1024 + 1)}),
            None,
        )
        .await;
    refused_naming(
        oversized,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload-too-large",
    )
    .await;
    assert_eq!(snapshot(&rig, &code).await, before);

    // A code that is not `{agency code}-{yyMMdd}-{NNNN}` names the parameter, on writes and reads.
    let agency = &rig.agency_code;
    for bad in [
        "not-a-code".to_string(),
        format!("{agency}-2604-0001"),
        format!("{agency}-260401-01"),
        format!("{agency}-260401-0001-1"),
    ] {
        let write = rig
            .post(
                &rig.agency,
                &format!("/v1/agency/dossiers/{bad}/transitions"),
                json!({"to": "processing"}),
                None,
            )
            .await;
        let refused = refused_naming(write, StatusCode::BAD_REQUEST, "invalid-request").await;
        assert_eq!(refused["errors"][0]["pointer"], "code", "{bad}: {refused}");
        let read = rig
            .get(&rig.agency, &format!("/v1/agency/dossiers/{bad}"))
            .await;
        let refused = refused_naming(read, StatusCode::BAD_REQUEST, "invalid-request").await;
        assert_eq!(refused["errors"][0]["pointer"], "code", "{bad}: {refused}");
    }
    assert_eq!(snapshot(&rig, &code).await, before);
    assert_eq!(rig.count("SELECT count(*) FROM dossiers").await, 1);
}

#[tokio::test]
async fn concurrent_bulk_imports_across_two_agencies_number_each_agency_without_gaps() {
    let rig = Rig::start().await;
    // The judicial-record office, besides the ward of the rig's procedure.
    let (justice, justice_procedure) = ("000.00.20.H15", "2.000488");
    let both = crate::dossiers_api::agency_token(
        &rig.app,
        vec![rig.agency_code.clone(), justice.to_string()],
        "dossiers:write",
    )
    .await;
    let bulk = |base: u32, procedures: &[&str]| {
        let items: Vec<Value> = (0..6)
            .map(|n| {
                let procedure = procedures[n as usize % procedures.len()];
                item(procedure, &format!("0541900{:05}", base + n))
            })
            .collect();
        rig.post(
            &both,
            "/v1/agency/dossiers/bulk",
            json!({"items": items}),
            None,
        )
    };
    let (a, b, c, d) = tokio::join!(
        bulk(0, &[PROCEDURE]),
        bulk(100, &[justice_procedure]),
        bulk(200, &[PROCEDURE, justice_procedure]),
        bulk(300, &[justice_procedure, PROCEDURE]),
    );
    for response in [a, b, c, d] {
        assert_eq!(ok(response).await["created"], 6);
    }
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT agency_code, code FROM dossiers ORDER BY code")
            .fetch_all(&rig.app.state.db)
            .await
            .unwrap();
    assert_eq!(rows.len(), 24);
    // Per agency and day (a run may straddle midnight): numbered 1, 2, 3… with no gap or twin.
    let mut numbered: std::collections::BTreeMap<String, Vec<u32>> = Default::default();
    for (agency, code) in &rows {
        let (prefix, seq) = code.rsplit_once('-').unwrap();
        assert!(prefix.starts_with(agency.as_str()), "{code} of {agency}");
        numbered
            .entry(prefix.to_string())
            .or_default()
            .push(seq.parse().unwrap());
    }
    let mut per_agency: std::collections::BTreeMap<String, usize> = Default::default();
    for (prefix, mut seqs) in numbered {
        seqs.sort();
        let n = seqs.len() as u32;
        assert_eq!(seqs, (1..=n).collect::<Vec<u32>>(), "{prefix}");
        *per_agency
            .entry(prefix.split('-').next().unwrap().to_string())
            .or_default() += n as usize;
    }
    assert_eq!(per_agency[&rig.agency_code], 12);
    assert_eq!(per_agency[justice], 12);
}
