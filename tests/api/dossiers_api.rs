//! The dossier API over HTTP: an agency's back office registers and moves dossiers, the citizen
//! (signed in through the eID simulator) follows their own from cache, anyone checks one from
//! its receipt, and the statistics are open.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::signin::{APP_REDIRECT, Request, sign_in};

/// The simulator's `citizen-l2` (its identification number).
pub(crate) const LAN_ID_NUMBER: &str = "079190001234";
pub(crate) const PROCEDURE: &str = "1.001193";

pub(crate) struct Rig {
    pub(crate) app: TestApp,
    /// Between the server and PostgreSQL, when asked for.
    postgres: Option<crate::helpers::TcpProxy>,
    pub(crate) agency_code: String,
    /// A token of a back office bound to the procedure's agency.
    pub(crate) agency: String,
    /// A token of a back office bound to another agency.
    pub(crate) other_agency: String,
}

pub(crate) async fn agency_token(app: &TestApp, agencies: Vec<String>, scope: &str) -> String {
    let (id, secret) = app
        .client_with(motcua::clients::NewClient {
            name: "Back office".into(),
            scopes: vec![scope.into()],
            agencies,
            ..Default::default()
        })
        .await;
    let response = app.client_credentials(&id, &secret.unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

impl Rig {
    pub(crate) async fn start() -> Rig {
        Self::start_with(false).await
    }

    pub(crate) async fn start_with(proxied: bool) -> Rig {
        Self::start_configured(proxied, Vec::new()).await
    }

    /// With extra configuration (`MOTCUA_TRUSTED_PROXIES`, say).
    pub(crate) async fn start_configured(proxied: bool, env: Vec<(&'static str, String)>) -> Rig {
        let postgres = match proxied {
            true => Some(crate::helpers::postgres_proxy().await),
            false => None,
        };
        let app = TestApp::spawn_with(crate::helpers::Options {
            postgres_addr: postgres.as_ref().map(|p| p.addr),
            env,
            ..Default::default()
        })
        .await;
        motcua::dossiers::seed::load(&app.state.db, &app.state.master_key(), 0)
            .await
            .unwrap();
        let agency_code: String =
            sqlx::query_scalar("SELECT agency_code FROM procedures WHERE code = $1")
                .bind(PROCEDURE)
                .fetch_one(&app.state.db)
                .await
                .unwrap();
        let other: String =
            sqlx::query_scalar("SELECT code FROM agencies WHERE code <> $1 ORDER BY code LIMIT 1")
                .bind(&agency_code)
                .fetch_one(&app.state.db)
                .await
                .unwrap();
        let agency = agency_token(&app, vec![agency_code.clone()], "dossiers:write").await;
        let other_agency = agency_token(&app, vec![other], "dossiers:write").await;
        Rig {
            app,
            postgres,
            agency_code,
            agency,
            other_agency,
        }
    }

    pub(crate) async fn post(
        &self,
        token: &str,
        path: &str,
        body: Value,
        key: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .app
            .client
            .post(self.app.url(path))
            .bearer_auth(token)
            .json(&body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        request.send().await.unwrap()
    }

    pub(crate) async fn get(&self, token: &str, path: &str) -> reqwest::Response {
        self.app
            .client
            .get(self.app.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub(crate) async fn register(&self, id_number: &str) -> Value {
        let response = self
            .post(
                &self.agency,
                "/v1/agency/dossiers",
                json!({
                    "procedure_code": PROCEDURE,
                    "applicant_id_number": id_number,
                    "applicant_name": "Nguyễn Thị Lan",
                }),
                None,
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    pub(crate) async fn transition(&self, token: &str, code: &str, to: &str) -> reqwest::Response {
        self.post(
            token,
            &format!("/v1/agency/dossiers/{code}/transitions"),
            json!({ "to": to, "note": "bước tiếp" }),
            None,
        )
        .await
    }

    pub(crate) async fn citizen(&self) -> String {
        let client_id = self.app.public_client(APP_REDIRECT).await;
        sign_in(&self.app, &Request::new(&client_id), "citizen-l2")
            .await
            .access_token
    }
}

pub(crate) async fn problem(response: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_counter_dossier_gets_a_code_a_due_date_and_a_receipt_that_jose_verifies() {
    let rig = Rig::start().await;
    let registered = rig.register(LAN_ID_NUMBER).await;
    let code = registered["code"].as_str().unwrap();
    assert!(code.starts_with(&format!("{}-", rig.agency_code)), "{code}");
    assert!(code.ends_with("-0001"), "{code}");
    assert_eq!(registered["status"], "received");
    assert!(registered["due_at"].is_string());
    assert_eq!(registered["lookup_pin"].as_str().unwrap().len(), 8);
    let applicant = registered["dossier"]["applicant"].as_str().unwrap();
    assert!(!applicant.contains("Lan"), "{applicant}");

    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/dev/eid-sim/verify-receipt.mjs"
    );
    let output = tokio::process::Command::new("node")
        .arg(script)
        .arg(rig.app.url("/.well-known/jwks.json"))
        .arg(registered["receipt"].as_str().unwrap())
        .arg(&rig.app.address)
        .output()
        .await
        .expect("node runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "jose refused the receipt: {stderr}"
    );
    let payload: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(payload["code"], code);
    assert_eq!(payload["procedure_code"], PROCEDURE);
    assert!(payload.get("applicant_id_number").is_none());
    assert!(!String::from_utf8_lossy(&output.stdout).contains(LAN_ID_NUMBER));
}

#[tokio::test]
async fn transitions_follow_the_table_and_a_refused_one_lists_the_allowed() {
    let rig = Rig::start().await;
    let code = rig.register(LAN_ID_NUMBER).await["code"]
        .as_str()
        .unwrap()
        .to_string();
    let refused = rig.transition(&rig.agency, &code, "returned").await;
    let body = problem(refused, StatusCode::CONFLICT).await;
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .ends_with("/problems/transition-not-allowed")
    );
    let allowed = body["errors"][0]["detail"].as_str().unwrap();
    assert!(allowed.contains("processing"), "{body}");
    assert!(!allowed.contains("returned"), "{body}");

    let moved = rig.transition(&rig.agency, &code, "processing").await;
    assert_eq!(moved.status(), StatusCode::OK);
    let dossier: Value = moved.json().await.unwrap();
    assert_eq!(dossier["status"], "processing");
    assert_eq!(dossier["status_code"], 4);

    // Another agency's client does not even see it.
    let foreign = rig
        .transition(&rig.other_agency, &code, "result_ready")
        .await;
    problem(foreign, StatusCode::NOT_FOUND).await;
    let read = rig
        .get(&rig.other_agency, &format!("/v1/agency/dossiers/{code}"))
        .await;
    problem(read, StatusCode::NOT_FOUND).await;
    // Nor does a citizen's token act as an agency.
    let citizen = rig.citizen().await;
    let as_citizen = rig.transition(&citizen, &code, "result_ready").await;
    problem(as_citizen, StatusCode::FORBIDDEN).await;
}

#[tokio::test]
async fn the_citizen_follows_their_own_dossier_from_cache_and_sees_each_event_next() {
    let rig = Rig::start().await;
    let citizen = rig.citizen().await;
    let code = rig.register(LAN_ID_NUMBER).await["code"]
        .as_str()
        .unwrap()
        .to_string();
    let someone_else = rig.register("054190000001").await["code"]
        .as_str()
        .unwrap()
        .to_string();

    let list = rig.get(&citizen, "/v1/me/dossiers").await;
    assert_eq!(list.status(), StatusCode::OK);
    let etag = list.headers()["etag"].to_str().unwrap().to_string();
    let page: Value = list.json().await.unwrap();
    let codes: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, [code.as_str()]);
    assert!(page["next_cursor"].is_null());

    // Unchanged: 304.
    let again = rig
        .app
        .client
        .get(rig.app.url("/v1/me/dossiers"))
        .bearer_auth(&citizen)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    // Someone else's dossier is not found, never forbidden.
    let foreign = rig
        .get(&citizen, &format!("/v1/me/dossiers/{someone_else}"))
        .await;
    problem(foreign, StatusCode::NOT_FOUND).await;

    // The detail, cached, then an event: the next read shows it.
    let detail: Value = rig
        .get(&citizen, &format!("/v1/me/dossiers/{code}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detail["status"], "received");
    assert_eq!(detail["timeline"].as_array().unwrap().len(), 1);
    let moved = rig.transition(&rig.agency, &code, "processing").await;
    assert_eq!(moved.status(), StatusCode::OK);
    let detail: Value = rig
        .get(&citizen, &format!("/v1/me/dossiers/{code}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detail["status"], "processing");
    assert_eq!(detail["timeline"].as_array().unwrap().len(), 2);
    let after = rig
        .app
        .client
        .get(rig.app.url("/v1/me/dossiers"))
        .bearer_auth(&citizen)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(
        after.status(),
        StatusCode::OK,
        "the list changed, so no 304"
    );

    // A notification per applied transition (receipt, processing); none for a refused one.
    let refused = rig.transition(&rig.agency, &code, "returned").await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let notifications: Value = rig
        .get(&citizen, "/v1/notifications")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        notifications["items"].as_array().unwrap().len(),
        2,
        "{notifications}"
    );
    assert_eq!(notifications["unread"], 2);
    let id = notifications["items"][0]["id"].as_str().unwrap();
    let read = rig
        .post(
            &citizen,
            &format!("/v1/notifications/{id}/read"),
            json!({}),
            None,
        )
        .await;
    assert_eq!(read.status(), StatusCode::NO_CONTENT);
    let notifications: Value = rig
        .get(&citizen, "/v1/notifications")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(notifications["unread"], 1);
}

#[tokio::test]
async fn a_cache_hit_issues_no_sql() {
    // The server reaches PostgreSQL through a proxy the test can cut: a cached read that
    // needed the database would fail.
    let rig = Rig::start_with(true).await;
    let citizen = rig.citizen().await;
    let code = rig.register(LAN_ID_NUMBER).await["code"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/v1/me/dossiers/{code}");
    let warm = rig.get(&citizen, &path).await;
    assert_eq!(warm.status(), StatusCode::OK);
    let body = warm.bytes().await.unwrap();
    let proxy = rig.postgres.as_ref().unwrap();
    proxy.pause();
    for _ in 0..3 {
        let hit = rig.get(&citizen, &path).await;
        assert_eq!(hit.status(), StatusCode::OK);
        assert_eq!(hit.bytes().await.unwrap(), body);
    }
    // The positive control: what is not cached does need the database.
    let miss = rig.get(&citizen, "/v1/me/dossiers?limit=7").await;
    assert!(miss.status().is_server_error(), "{}", miss.status());
    proxy.resume();
}

#[tokio::test]
async fn agency_writes_with_an_idempotency_key_happen_once() {
    let rig = Rig::start().await;
    let body = json!({
        "procedure_code": PROCEDURE,
        "applicant_id_number": LAN_ID_NUMBER,
        "applicant_name": "Nguyễn Thị Lan",
    });
    let attempts = (0..4).map(|_| {
        rig.post(
            &rig.agency,
            "/v1/agency/dossiers",
            body.clone(),
            Some("counter-42-2026-12-01"),
        )
    });
    let mut answers = Vec::new();
    for response in futures::future::join_all(attempts).await {
        assert_eq!(response.status(), StatusCode::CREATED);
        answers.push(response.json::<Value>().await.unwrap());
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM dossiers")
        .fetch_one(&rig.app.state.db)
        .await
        .unwrap();
    assert_eq!(count, 1);
    // The same key with another body is refused and writes nothing.
    let mut other = body.clone();
    other["applicant_name"] = "Trần Văn Bình".into();
    let reused = rig
        .post(
            &rig.agency,
            "/v1/agency/dossiers",
            other,
            Some("counter-42-2026-12-01"),
        )
        .await;
    problem(reused, StatusCode::UNPROCESSABLE_ENTITY).await;
}

#[tokio::test]
async fn bad_registrations_name_the_field_and_write_nothing() {
    let rig = Rig::start().await;
    let cases = [
        (
            json!({"procedure_code": "9.999999", "applicant_id_number": LAN_ID_NUMBER, "applicant_name": "A"}),
            "/procedure_code",
        ),
        (
            json!({"procedure_code": PROCEDURE, "applicant_id_number": "12345", "applicant_name": "A"}),
            "/applicant_id_number",
        ),
    ];
    for (body, pointer) in cases {
        let response = rig
            .post(&rig.agency, "/v1/agency/dossiers", body, None)
            .await;
        let problem = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(problem["errors"][0]["pointer"], pointer, "{problem}");
    }
    // Registering for an agency the back office is not bound to.
    let elsewhere = rig
        .post(
            &rig.other_agency,
            "/v1/agency/dossiers",
            json!({"procedure_code": PROCEDURE, "agency_code": rig.agency_code, "applicant_id_number": LAN_ID_NUMBER, "applicant_name": "A"}),
            None,
        )
        .await;
    let refused = problem(elsewhere, StatusCode::FORBIDDEN).await;
    assert_eq!(refused["errors"][0]["pointer"], "/agency_code", "{refused}");
    // A code that is not `{agency code}-{yyMMdd}-{NNNN}` is the caller's mistake, named.
    let malformed = rig
        .transition(&rig.agency, "not-a-code", "processing")
        .await;
    let malformed = problem(malformed, StatusCode::BAD_REQUEST).await;
    assert!(
        malformed["type"]
            .as_str()
            .unwrap()
            .ends_with("/problems/invalid-request"),
        "{malformed}"
    );
    assert_eq!(malformed["errors"][0]["pointer"], "code", "{malformed}");
    let pattern = r"^[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.H[0-9]{2}-[0-9]{6}-[0-9]{4,9}$";
    assert_eq!(
        malformed["errors"][0]["detail"],
        format!("failed to parse \"string\": verification failed. pattern(\"{pattern}\")"),
        "{malformed}"
    );
    let long = rig
        .transition(&rig.agency, &"1".repeat(65), "processing")
        .await;
    let long = problem(long, StatusCode::BAD_REQUEST).await;
    assert_eq!(long["errors"][0]["pointer"], "code", "{long}");
    assert_eq!(
        long["errors"][0]["detail"],
        "failed to parse \"string\": verification failed. maxLength(64)",
        "{long}"
    );
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM dossiers")
        .fetch_one(&rig.app.state.db)
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn the_public_lookup_answers_alike_for_an_unknown_code_and_a_wrong_pin() {
    let rig = Rig::start().await;
    let registered = rig.register(LAN_ID_NUMBER).await;
    let code = registered["code"].as_str().unwrap();
    let lookup = |body: Value| {
        let request = rig
            .app
            .client
            .post(rig.app.url("/v1/dossiers/lookup"))
            .json(&body);
        async move { request.send().await.unwrap() }
    };
    let found = lookup(json!({"code": code, "pin": registered["lookup_pin"]})).await;
    assert_eq!(found.status(), StatusCode::OK);
    let view: Value = found.json().await.unwrap();
    assert_eq!(view["status"], "received");
    assert!(view.get("applicant").is_none());
    let strip = |mut v: Value| {
        v.as_object_mut().unwrap().remove("request_id");
        v
    };
    let wrong_pin = lookup(json!({"code": code, "pin": "00000000"})).await;
    let unknown =
        lookup(json!({"code": format!("{}-991231-9999", rig.agency_code), "pin": "00000000"}))
            .await;
    let a = strip(problem(wrong_pin, StatusCode::NOT_FOUND).await);
    let b = strip(problem(unknown, StatusCode::NOT_FOUND).await);
    assert_eq!(a, b);
    assert!(!a.to_string().contains(code));
}

async fn lookup_from(rig: &Rig, address: &str, code: &str, pin: &str) -> reqwest::Response {
    rig.app
        .client
        .post(rig.app.url("/v1/dossiers/lookup"))
        .header("x-forwarded-for", address)
        .json(&json!({"code": code, "pin": pin}))
        .send()
        .await
        .unwrap()
}

async fn assert_lookup_refused(response: reqwest::Response) {
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    let refused = problem(response, StatusCode::TOO_MANY_REQUESTS).await;
    assert!(
        refused["type"]
            .as_str()
            .unwrap()
            .ends_with("/problems/rate-limited"),
        "{refused}"
    );
}

#[tokio::test]
async fn the_public_lookup_has_budgets_of_its_own_per_address_and_per_code() {
    let rig = Rig::start_configured(
        false,
        vec![("MOTCUA_TRUSTED_PROXIES", "127.0.0.1/32".to_string())],
    )
    .await;
    let registered = rig.register(LAN_ID_NUMBER).await;
    let code = registered["code"].as_str().unwrap();

    // One code from many addresses: five guesses a minute in all, then even the right PIN waits.
    for n in 1..=5 {
        let guess = lookup_from(&rig, &format!("198.51.100.{n}"), code, "00000000").await;
        problem(guess, StatusCode::NOT_FOUND).await;
    }
    assert_lookup_refused(lookup_from(&rig, "198.51.100.6", code, "00000000").await).await;
    let pin = registered["lookup_pin"].as_str().unwrap();
    assert_lookup_refused(lookup_from(&rig, "198.51.100.7", code, pin).await).await;

    // One address trying many codes: ten a minute.
    let unknown = |n: u32| format!("{}-991231-{n:04}", rig.agency_code);
    for n in 1..=10 {
        let miss = lookup_from(&rig, "203.0.113.7", &unknown(n), "00000000").await;
        problem(miss, StatusCode::NOT_FOUND).await;
    }
    assert_lookup_refused(lookup_from(&rig, "203.0.113.7", &unknown(11), "00000000").await).await;
    // Another address is not held back by it.
    let other = lookup_from(&rig, "203.0.113.8", &unknown(12), "00000000").await;
    problem(other, StatusCode::NOT_FOUND).await;

    // Refusals are audited like every rate-limit refusal.
    let audited: Vec<String> = sqlx::query_scalar(
        "SELECT details->>'budget' FROM audit_log WHERE action = 'rate_limited' ORDER BY id",
    )
    .fetch_all(&rig.app.state.db)
    .await
    .unwrap();
    assert!(
        audited.contains(&format!("lookup:code:{code}")),
        "{audited:?}"
    );
    assert!(
        audited.contains(&"lookup:ip:203.0.113.7".to_string()),
        "{audited:?}"
    );
}

#[tokio::test]
async fn the_next_read_after_an_apology_or_a_registration_shows_it() {
    let rig = Rig::start().await;
    let citizen = rig.citizen().await;
    let first = rig.register(LAN_ID_NUMBER).await["code"]
        .as_str()
        .unwrap()
        .to_string();
    let read = |path: String| {
        let request = rig.app.client.get(rig.app.url(&path)).bearer_auth(&citizen);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<Value>().await.unwrap()
        }
    };
    let codes = |page: &Value| -> Vec<String> {
        let mut codes: Vec<String> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["code"].as_str().unwrap().to_string())
            .collect();
        codes.sort();
        codes
    };
    // The list and the detail are read, so cached.
    assert_eq!(
        codes(&read("/v1/me/dossiers".into()).await),
        vec![first.clone()]
    );
    let detail = read(format!("/v1/me/dossiers/{first}")).await;
    assert!(detail["revised_due_at"].is_null(), "{detail}");

    // A registration for the same citizen: the next read of the list shows it.
    let second = rig.register(LAN_ID_NUMBER).await["code"]
        .as_str()
        .unwrap()
        .to_string();
    let mut both = vec![first.clone(), second];
    both.sort();
    assert_eq!(codes(&read("/v1/me/dossiers".into()).await), both);

    // An apology: the next read of the detail and of the list shows the revised date.
    let due = time::OffsetDateTime::parse(
        detail["due_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let revised = (due + time::Duration::days(7))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let apology = rig
        .post(
            &rig.agency,
            &format!("/v1/agency/dossiers/{first}/apologies"),
            json!({"revised_due_at": revised, "reason": "Cần xác minh thêm"}),
            None,
        )
        .await;
    assert_eq!(apology.status(), StatusCode::OK);
    let revised_at = |view: &Value| {
        time::OffsetDateTime::parse(
            view["revised_due_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    let detail = read(format!("/v1/me/dossiers/{first}")).await;
    assert_eq!(
        revised_at(&detail),
        due + time::Duration::days(7),
        "{detail}"
    );
    let timeline = detail["timeline"].as_array().unwrap();
    assert!(timeline.iter().any(|e| e["kind"] == "apology"), "{detail}");
    let list = read("/v1/me/dossiers".into()).await;
    let item = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == first.as_str())
        .unwrap()
        .clone();
    assert_eq!(revised_at(&item), due + time::Duration::days(7), "{item}");
}

#[tokio::test]
async fn statistics_are_open_data_in_json_and_csv() {
    let rig = Rig::start().await;
    let code = rig.register(LAN_ID_NUMBER).await["code"]
        .as_str()
        .unwrap()
        .to_string();
    for to in ["processing", "result_ready"] {
        assert_eq!(
            rig.transition(&rig.agency, &code, to).await.status(),
            StatusCode::OK
        );
    }
    let stats: Value = rig
        .app
        .get("/v1/stats/dossiers")
        .await
        .json()
        .await
        .unwrap();
    let row = stats["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["agency_code"] == rig.agency_code.as_str())
        .unwrap_or_else(|| panic!("{stats}"))
        .clone();
    assert_eq!(row["received"], 1);
    assert_eq!(row["finished"], 1);
    assert_eq!(row["finished_on_time"], 1);
    assert_eq!(row["on_time_rate"], 1.0);
    assert_eq!(row["online_share"], 0.0);
    let csv = rig
        .app
        .client
        .get(rig.app.url("/v1/stats/dossiers"))
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = csv.text().await.unwrap();
    assert!(text.starts_with("agency_code,month,received,finished,finished_on_time,"));
    assert!(text.contains(&rig.agency_code));
    let bad = rig.app.get("/v1/stats/dossiers?month=2026-13").await;
    problem(bad, StatusCode::UNPROCESSABLE_ENTITY).await;
    // Text PostgreSQL cannot store is the caller's mistake, not a 500.
    let nul = rig.app.get("/v1/stats/dossiers?agency=a%00b").await;
    problem(nul, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn the_catalogue_is_public_cached_and_accent_insensitive() {
    let rig = Rig::start().await;
    let found: Value = rig
        .app
        .get("/v1/procedures?q=dang%20ky%20khai%20sinh")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["items"][0]["code"], PROCEDURE, "{found}");
    let detail = rig.app.get(&format!("/v1/procedures/{PROCEDURE}")).await;
    assert_eq!(detail.status(), StatusCode::OK);
    let etag = detail.headers()["etag"].to_str().unwrap().to_string();
    let detail: Value = detail.json().await.unwrap();
    assert!(detail["required_documents"].is_array());
    let unchanged = rig
        .app
        .client
        .get(rig.app.url(&format!("/v1/procedures/{PROCEDURE}")))
        .header("If-None-Match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(unchanged.status(), StatusCode::NOT_MODIFIED);
    let agencies: Value = rig.app.get("/v1/agencies").await.json().await.unwrap();
    assert!(agencies["items"].as_array().unwrap().len() >= 5);
    problem(
        rig.app.get("/v1/procedures/0.000000").await,
        StatusCode::NOT_FOUND,
    )
    .await;
}
