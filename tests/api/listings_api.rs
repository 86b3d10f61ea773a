//! The listings API over HTTP: merchants and marketplaces write, the public reads from the
//! cache, and every write is visible on the next read, on a second replica too.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, ok_json};

/// A deployment with the catalogue's communes and merchants whose marketplace clients hold
/// tokens.
pub struct Rig {
    pub app: TestApp,
    /// Between the server and PostgreSQL, when asked for.
    pub postgres: Option<crate::helpers::TcpProxy>,
    pub merchant: Uuid,
    /// A marketplace bound to `merchant`.
    pub partner: String,
    pub other_merchant: Uuid,
    /// A marketplace bound to `other_merchant`.
    pub other_partner: String,
}

pub const COMMUNE: &str = "22015";
pub const OTHER_COMMUNE: &str = "22210";

pub async fn new_merchant(app: &TestApp, name: &str, commune: &str) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO merchants (id, name, kind, business_registration_number, commune_code, contact, contact_public)
         VALUES ($1, $2, 'cooperative', $3, $4, '0257 3 000 000', true)",
    )
    .bind(id)
    .bind(name)
    .bind(format!("HTX-{}", &id.simple().to_string()[20..]))
    .bind(commune)
    .execute(&app.state.db)
    .await
    .unwrap();
    id
}

pub async fn partner_token(app: &TestApp, merchant: Uuid) -> String {
    let (id, secret) = app
        .client_with(motcua::clients::NewClient {
            name: "Sàn thương mại".into(),
            scopes: vec!["listings:write".into()],
            merchant_id: Some(merchant.to_string()),
            ..Default::default()
        })
        .await;
    let response = app.client_credentials(&id, &secret.unwrap()).await;
    ok_json(response, StatusCode::OK).await["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

impl Rig {
    pub async fn start() -> Rig {
        Self::start_with(false).await
    }

    pub async fn start_with(proxied: bool) -> Rig {
        let postgres = match proxied {
            true => Some(crate::helpers::postgres_proxy().await),
            false => None,
        };
        let app = TestApp::spawn_with(crate::helpers::Options {
            postgres_addr: postgres.as_ref().map(|p| p.addr),
            ..Default::default()
        })
        .await;
        Self::on(app, postgres).await
    }

    pub async fn on(app: TestApp, postgres: Option<crate::helpers::TcpProxy>) -> Rig {
        motcua::dossiers::seed::load(&app.state.db, &app.state.master_key(), 0)
            .await
            .unwrap();
        let merchant = new_merchant(&app, "Hợp tác xã Hòa Đa", COMMUNE).await;
        let other_merchant = new_merchant(&app, "Hộ kinh doanh Sông Cầu", OTHER_COMMUNE).await;
        let partner = partner_token(&app, merchant).await;
        let other_partner = partner_token(&app, other_merchant).await;
        Rig {
            app,
            postgres,
            merchant,
            partner,
            other_merchant,
            other_partner,
        }
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        token: Option<&str>,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self.app.client.request(method, self.app.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }

    pub async fn patch(&self, token: &str, path: &str, body: Value) -> reqwest::Response {
        self.send(reqwest::Method::PATCH, Some(token), path, Some(body), &[])
            .await
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> reqwest::Response {
        self.send(reqwest::Method::POST, Some(token), path, Some(body), &[])
            .await
    }

    /// Creates and publishes a listing of the partner's merchant; returns it.
    pub async fn publish(&self, token: &str, body: Value) -> Value {
        let created = ok_json(
            self.post(token, "/v1/listings", body).await,
            StatusCode::CREATED,
        )
        .await;
        let id = created["id"].as_str().unwrap();
        ok_json(
            self.post(token, &format!("/v1/listings/{id}/publish"), json!({}))
                .await,
            StatusCode::OK,
        )
        .await
    }

    pub async fn get_json(&self, path: &str) -> Value {
        ok_json(self.app.get(path).await, StatusCode::OK).await
    }
}

pub fn product(title: &str, price: i64, category: &str) -> Value {
    json!({ "title": title, "price_vnd": price, "unit": "kg", "category": category })
}

async fn problem(response: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    response.json().await.unwrap()
}

fn pointers(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["pointer"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_partner_creates_a_draft_that_only_it_sees_until_published() {
    let rig = Rig::start().await;
    let response = rig
        .post(
            &rig.partner,
            "/v1/listings",
            json!({
                "title": "Bánh tráng nướng Hòa Đa",
                "price_vnd": 45000,
                "unit": "xấp",
                "category": "food",
                "ocop_stars": 4,
                "ocop_year": 2024,
                "images": ["https://cdn.example.vn/banh-trang.webp"],
            }),
        )
        .await;
    let etag = response.headers()["etag"].to_str().unwrap().to_string();
    let created = ok_json(response, StatusCode::CREATED).await;
    assert_eq!(created["status"], "draft");
    assert_eq!(created["merchant_id"], rig.merchant.to_string());
    // The commune defaults to the merchant's.
    assert_eq!(created["commune_code"], COMMUNE);
    let path = format!("/v1/listings/{}", created["id"].as_str().unwrap());

    assert_eq!(rig.app.get(&path).await.status(), StatusCode::NOT_FOUND);
    let own = rig
        .send(reqwest::Method::GET, Some(&rig.partner), &path, None, &[])
        .await;
    assert_eq!(own.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(ok_json(own, StatusCode::OK).await["status"], "draft");
    let other = rig
        .send(
            reqwest::Method::GET,
            Some(&rig.other_partner),
            &path,
            None,
            &[],
        )
        .await;
    assert_eq!(other.status(), StatusCode::NOT_FOUND);

    ok_json(
        rig.post(&rig.partner, &format!("{path}/publish"), json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    let public = rig.get_json(&path).await;
    assert_eq!(public["status"], "published");
    assert_eq!(public["ocop_stars"], 4);
    for field in [
        "id",
        "merchant_id",
        "title",
        "description",
        "price_vnd",
        "unit",
        "category",
        "ocop_stars",
        "commune_code",
        "stock",
        "status",
        "images",
    ] {
        assert!(public.get(field).is_some(), "{field} missing: {public}");
    }
}

#[tokio::test]
async fn a_merchant_cannot_touch_another_merchants_listing() {
    let rig = Rig::start().await;
    let listing = rig
        .publish(&rig.partner, product("Sò huyết Ô Loan", 250_000, "food"))
        .await;
    let path = format!("/v1/listings/{}", listing["id"].as_str().unwrap());
    let patch = rig
        .patch(&rig.other_partner, &path, json!({ "price_vnd": 1 }))
        .await;
    problem(patch, StatusCode::NOT_FOUND).await;
    for action in ["publish", "archive"] {
        let response = rig
            .post(&rig.other_partner, &format!("{path}/{action}"), json!({}))
            .await;
        problem(response, StatusCode::NOT_FOUND).await;
    }
    assert_eq!(rig.get_json(&path).await["price_vnd"], 250_000);
    // A token without `listings:write`, or not bound to a merchant, writes nothing.
    let (id, secret) = rig
        .app
        .client_with(motcua::clients::NewClient {
            name: "Unbound".into(),
            scopes: vec!["listings:write".into()],
            ..Default::default()
        })
        .await;
    let token = ok_json(
        rig.app.client_credentials(&id, &secret.unwrap()).await,
        StatusCode::OK,
    )
    .await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let response = rig
        .post(&token, "/v1/listings", product("Mực một nắng", 1, "food"))
        .await;
    problem(response, StatusCode::FORBIDDEN).await;
}

#[tokio::test]
async fn a_stale_if_match_is_refused_with_412_and_a_fresh_one_applies_a_merge_patch() {
    let rig = Rig::start().await;
    let mut body = product("Rượu Quán Đế", 150_000, "drinks");
    body["stock"] = json!(20);
    body["description"] = json!("Rượu gạo nấu thủ công.");
    let listing = rig.publish(&rig.partner, body).await;
    let path = format!("/v1/listings/{}", listing["id"].as_str().unwrap());
    let read = rig.app.get(&path).await;
    let etag = read.headers()["etag"].to_str().unwrap().to_string();

    let patched = rig
        .send(
            reqwest::Method::PATCH,
            Some(&rig.partner),
            &path,
            Some(json!({ "price_vnd": 140000, "stock": null })),
            &[("If-Match", &etag)],
        )
        .await;
    let new_etag = patched.headers()["etag"].to_str().unwrap().to_string();
    let patched = ok_json(patched, StatusCode::OK).await;
    assert_eq!(patched["price_vnd"], 140_000);
    assert_eq!(patched["stock"], Value::Null);
    // Members left out stay.
    assert_eq!(patched["description"], "Rượu gạo nấu thủ công.");
    assert_eq!(patched["title"], "Rượu Quán Đế");
    assert_ne!(new_etag, etag);
    // The ETag of a write is the one the next read gives.
    assert_eq!(
        rig.app.get(&path).await.headers()["etag"].to_str().unwrap(),
        new_etag
    );

    let stale = rig
        .send(
            reqwest::Method::PATCH,
            Some(&rig.partner),
            &path,
            Some(json!({ "price_vnd": 1000 })),
            &[("If-Match", &etag)],
        )
        .await;
    let refused = problem(stale, StatusCode::PRECONDITION_FAILED).await;
    assert!(
        refused["type"]
            .as_str()
            .unwrap()
            .ends_with("/precondition-failed")
    );
    assert_eq!(rig.get_json(&path).await["price_vnd"], 140_000);
    // `application/merge-patch+json` is the same patch.
    let response = rig
        .app
        .client
        .patch(rig.app.url(&path))
        .bearer_auth(&rig.partner)
        .header("content-type", "application/merge-patch+json")
        .header("If-Match", &new_etag)
        .body(r#"{"unit":"chai 500 ml"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        ok_json(response, StatusCode::OK).await["unit"],
        "chai 500 ml"
    );
}

#[tokio::test]
async fn validation_errors_name_each_field_in_the_callers_language() {
    let rig = Rig::start().await;
    let eleven: Vec<String> = (0..11)
        .map(|i| format!("https://cdn.example.vn/{i}.webp"))
        .collect();
    let table = [
        (json!({ "price_vnd": 0 }), "/price_vnd"),
        (json!({ "category": "seafood" }), "/category"),
        (json!({ "title": "á".repeat(201) }), "/title"),
        (json!({ "images": eleven }), "/images"),
        (
            json!({ "images": ["https://cdn.example.vn/a.webp", "http://cdn.example.vn/b.webp"] }),
            "/images/1",
        ),
        (json!({ "commune_code": "99999" }), "/commune_code"),
    ];
    for (change, pointer) in table {
        let mut body = product("Cá ngừ đại dương", 320_000, "food");
        for (key, value) in change.as_object().unwrap() {
            body[key] = value.clone();
        }
        let response = rig
            .send(
                reqwest::Method::POST,
                Some(&rig.partner),
                "/v1/listings",
                Some(body),
                &[("Accept-Language", "vi")],
            )
            .await;
        let refused = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(pointers(&refused), [pointer], "{refused}");
        assert_eq!(refused["title"], "Dữ liệu không hợp lệ");
    }
    let missing = rig.post(&rig.partner, "/v1/listings", json!({})).await;
    let refused = problem(missing, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        pointers(&refused),
        ["/title", "/price_vnd", "/unit", "/category"]
    );
    // Nothing half-written.
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM listings")
        .fetch_one(&rig.app.state.db)
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn a_bulk_upsert_is_idempotent_and_reports_each_item() {
    let rig = Rig::start().await;
    let items: Vec<Value> = (0..30)
        .map(|i| {
            let mut item = product(&format!("Bơ sáp Đắk Lắk lô {i}"), 55_000 + i, "food");
            item["external_id"] = json!(format!("sku-{i:03}"));
            item
        })
        .chain([json!({ "external_id": "sku-bad", "title": "Bơ", "price_vnd": 0, "unit": "kg", "category": "food" })])
        .collect();
    let first = ok_json(
        rig.post(&rig.partner, "/v1/listings/bulk", json!({ "items": items }))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (first["created"].as_i64(), first["invalid"].as_i64()),
        (Some(30), Some(1))
    );
    let bad = &first["items"][30];
    assert_eq!(bad["result"], "invalid");
    assert_eq!(bad["errors"][0]["pointer"], "/price_vnd");

    let again = ok_json(
        rig.post(&rig.partner, "/v1/listings/bulk", json!({ "items": items }))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(again["unchanged"], 30);
    assert_eq!(again["created"], 0);
    for (a, b) in first["items"]
        .as_array()
        .unwrap()
        .iter()
        .zip(again["items"].as_array().unwrap())
    {
        assert_eq!(a["id"], b["id"]);
    }
    let mut changed = items[3].clone();
    changed["price_vnd"] = json!(60_000);
    let update = ok_json(
        rig.post(
            &rig.partner,
            "/v1/listings/bulk",
            json!({ "items": [changed] }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(update["items"][0]["result"], "updated");
    let page = rig.get_json("/v1/listings?q=bo%20sap&limit=100").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 30);

    let too_many: Vec<Value> = (0..501)
        .map(|i| json!({ "external_id": format!("x{i}") }))
        .collect();
    let refused = problem(
        rig.post(
            &rig.partner,
            "/v1/listings/bulk",
            json!({ "items": too_many }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(pointers(&refused), ["/items"]);
}

#[tokio::test]
async fn a_citizen_with_the_merchant_role_registers_a_merchant_and_lists_for_it() {
    let rig = Rig::start().await;
    let client_id = rig.app.public_client(crate::signin::APP_REDIRECT).await;
    let citizen = crate::signin::sign_in(
        &rig.app,
        &crate::signin::Request::new(&client_id),
        "citizen-l2",
    )
    .await
    .access_token;
    let registration = json!({
        "name": "Hộ kinh doanh Cà phê Ea Tu",
        "kind": "household",
        "business_registration_number": "66A8009999",
        "commune_code": COMMUNE,
        "contact": "0905 000 111",
    });
    let refused = rig
        .post(&citizen, "/v1/merchants", registration.clone())
        .await;
    problem(refused, StatusCode::FORBIDDEN).await;

    let sub = crate::signin::jwt_parts(&citizen).1["sub"]
        .as_str()
        .unwrap()
        .to_string();
    crate::helpers::grant(&rig.app, &sub, "merchant");
    let merchant = ok_json(
        rig.post(&citizen, "/v1/merchants", registration).await,
        StatusCode::CREATED,
    )
    .await;
    let page = rig
        .get_json(&format!(
            "/v1/merchants/{}",
            merchant["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(page["kind"], "household");
    // The contact is not shown unless the merchant chose to.
    assert_eq!(page["contact"], Value::Null);

    let listing = rig
        .publish(
            &citizen,
            product("Cà phê Robusta rang mộc", 180_000, "drinks"),
        )
        .await;
    assert_eq!(listing["merchant_id"], merchant["id"]);
    let path = format!("/v1/listings/{}", listing["id"].as_str().unwrap());
    // The partner of another merchant cannot change it; the citizen can.
    let response = rig.patch(&rig.partner, &path, json!({"stock": 1})).await;
    problem(response, StatusCode::NOT_FOUND).await;
    let response = rig.patch(&citizen, &path, json!({"stock": 1})).await;
    assert_eq!(ok_json(response, StatusCode::OK).await["stock"], 1);
}

#[tokio::test]
async fn every_kind_of_write_is_visible_on_the_next_read_on_both_replicas() {
    let rig = Rig::start().await;
    let replica = rig.app.replica().await;
    let operator = crate::helpers::operator_token(&rig.app).await;
    let listing = rig
        .publish(
            &rig.partner,
            product("Tôm hùm xanh Sông Cầu", 1_200_000, "food"),
        )
        .await;
    let id = listing["id"].as_str().unwrap().to_string();
    let path = format!("/v1/listings/{id}");
    let search = "/v1/listings?q=tom%20hum";
    let merchant_page = format!("/v1/merchants/{}", rig.merchant);
    let apps = [&rig.app, &replica];

    // Warm every cache on both replicas, then check each read after each write.
    let read = |app: &TestApp, path: String| {
        let client = app.client.clone();
        let url = app.url(&path);
        async move { client.get(url).send().await.unwrap() }
    };
    let check = |price: Option<i64>, published: i64| {
        let (path, merchant_page) = (path.clone(), merchant_page.clone());
        async move {
            for app in apps {
                for _ in 0..2 {
                    let detail = read(app, path.clone()).await;
                    let found = read(app, search.to_string())
                        .await
                        .json::<Value>()
                        .await
                        .unwrap();
                    let page = read(app, merchant_page.clone())
                        .await
                        .json::<Value>()
                        .await
                        .unwrap();
                    assert_eq!(page["published_listings"], published);
                    match price {
                        Some(price) => {
                            assert_eq!(detail.json::<Value>().await.unwrap()["price_vnd"], price);
                            assert_eq!(found["items"][0]["price_vnd"], price, "{found}");
                        }
                        None => {
                            assert_eq!(detail.status(), StatusCode::NOT_FOUND);
                            assert_eq!(found["items"].as_array().unwrap().len(), 0, "{found}");
                        }
                    }
                }
            }
        }
    };
    check(Some(1_200_000), 1).await;

    let patch = rig
        .patch(&rig.partner, &path, json!({"price_vnd": 1_100_000}))
        .await;
    ok_json(patch, StatusCode::OK).await;
    check(Some(1_100_000), 1).await;

    ok_json(
        rig.post(&rig.partner, &format!("{path}/archive"), json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    check(None, 0).await;
    ok_json(
        rig.post(&rig.partner, &format!("{path}/publish"), json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    check(Some(1_100_000), 1).await;

    let reason = json!({ "reason": "Ảnh không đúng sản phẩm" });
    let hidden = rig
        .post(
            &operator,
            &format!("/v1/ops/listings/{id}/hide"),
            reason.clone(),
        )
        .await;
    assert_eq!(ok_json(hidden, StatusCode::OK).await["status"], "hidden");
    check(None, 0).await;
    // The merchant still sees it, as hidden; publishing does not bring it back.
    ok_json(
        rig.post(&rig.partner, &format!("{path}/publish"), json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    check(None, 0).await;
    ok_json(
        rig.post(&operator, &format!("/v1/ops/listings/{id}/unhide"), reason)
            .await,
        StatusCode::OK,
    )
    .await;
    check(Some(1_100_000), 1).await;
    let db = rig.app.state.db.clone();
    crate::helpers::promptly("hide and unhide audited", || {
        let (db, id) = (db.clone(), id.clone());
        async move {
            let audited: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM audit_log
                  WHERE action IN ('listing_hidden', 'listing_unhidden') AND target = $1",
            )
            .bind(&id)
            .fetch_one(&db)
            .await
            .unwrap();
            audited == 2
        }
    })
    .await;

    let bulk = json!({ "items": [{
        "external_id": "tom-hum", "title": "Tôm hùm bông Sông Cầu", "price_vnd": 900_000,
        "unit": "kg", "category": "food",
    }]});
    ok_json(
        rig.post(&rig.partner, "/v1/listings/bulk", bulk).await,
        StatusCode::OK,
    )
    .await;
    for app in apps {
        let found = read(app, search.to_string())
            .await
            .json::<Value>()
            .await
            .unwrap();
        assert_eq!(found["items"].as_array().unwrap().len(), 2, "{found}");
        let page = read(app, merchant_page.clone())
            .await
            .json::<Value>()
            .await
            .unwrap();
        assert_eq!(page["published_listings"], 2);
    }
}

#[tokio::test]
async fn reads_answer_304_to_their_etag_and_count_hits_and_misses() {
    let rig = Rig::start().await;
    let listing = rig
        .publish(
            &rig.partner,
            product("Mắt cá ngừ đại dương", 150_000, "food"),
        )
        .await;
    let hits_before = crate::helpers::counter("motcua_cache_requests_total");
    for path in [
        format!("/v1/listings/{}", listing["id"].as_str().unwrap()),
        "/v1/listings?q=ca%20ngu".to_string(),
        format!("/v1/merchants/{}", rig.merchant),
    ] {
        let first = rig.app.get(&path).await;
        assert_eq!(first.status(), StatusCode::OK);
        let etag = first.headers()["etag"].to_str().unwrap().to_string();
        let again = rig
            .send(
                reqwest::Method::GET,
                None,
                &path,
                None,
                &[("If-None-Match", &etag)],
            )
            .await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
        assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
    }
    assert!(crate::helpers::counter("motcua_cache_requests_total") >= hits_before + 6.0);
    let metrics = rig.app.get("/metrics").await.text().await.unwrap();
    for namespace in ["listing", "listings", "merchant"] {
        for result in ["hit", "miss"] {
            let line = format!("namespace=\"{namespace}\",result=\"{result}\"");
            assert!(metrics.contains(&line), "{line} not in /metrics");
        }
    }
}

#[tokio::test]
async fn a_cache_hit_issues_no_sql() {
    // The server reaches PostgreSQL through a proxy the test can cut: a cached read that
    // needed the database would fail.
    let rig = Rig::start_with(true).await;
    let listing = rig
        .publish(
            &rig.partner,
            product("Bánh tráng phơi sương", 60_000, "food"),
        )
        .await;
    let paths = [
        format!("/v1/listings/{}", listing["id"].as_str().unwrap()),
        "/v1/listings?q=banh%20trang&sort=price_asc".to_string(),
        format!("/v1/merchants/{}", rig.merchant),
    ];
    let mut bodies = Vec::new();
    for path in &paths {
        let warm = rig.app.get(path).await;
        assert_eq!(warm.status(), StatusCode::OK);
        bodies.push(warm.bytes().await.unwrap());
    }
    let proxy = rig.postgres.as_ref().unwrap();
    proxy.pause();
    for (path, body) in paths.iter().zip(&bodies) {
        let hit = rig.app.get(path).await;
        assert_eq!(hit.status(), StatusCode::OK, "{path}");
        assert_eq!(&hit.bytes().await.unwrap(), body);
    }
    // The positive control: what is not cached does need the database.
    let miss = rig
        .app
        .get("/v1/listings?q=banh%20trang&sort=price_desc")
        .await;
    assert!(miss.status().is_server_error(), "{}", miss.status());
    proxy.resume();
}

#[tokio::test]
async fn with_redis_down_reads_come_from_postgresql() {
    let app = TestApp::spawn_with(crate::helpers::Options {
        redis_url: Some(format!(
            "redis://127.0.0.1:{}",
            crate::helpers::closed_port()
        )),
        ..Default::default()
    })
    .await;
    let rig = Rig::on(app, None).await;
    let listing = rig
        .publish(
            &rig.partner,
            product("Rượu Quán Đế ngâm ba kích", 420_000, "drinks"),
        )
        .await;
    let path = format!("/v1/listings/{}", listing["id"].as_str().unwrap());
    assert_eq!(
        rig.get_json(&path).await["title"],
        "Rượu Quán Đế ngâm ba kích"
    );
    let found = rig.get_json("/v1/listings?q=ruou%20quan%20de").await;
    assert_eq!(found["items"][0]["id"], listing["id"]);
}

#[tokio::test]
async fn seed_demo_loads_merchants_and_listings_once_and_prints_the_merchants() {
    let app = TestApp::spawn().await;
    let first = crate::helpers::stdout_json(&crate::helpers::motcua_with(
        &app,
        &["seed-demo", "--listings", "300"],
        &[],
    ));
    let merchants = first["merchants"].as_array().unwrap();
    assert!(merchants.len() >= 10, "{first}");
    assert!(first["listings"]["curated_listings"].as_u64().unwrap() >= 200);
    assert_eq!(first["listings"]["generated_created"], 300);
    let again = crate::helpers::stdout_json(&crate::helpers::motcua_with(
        &app,
        &["seed-demo", "--listings", "300"],
        &[],
    ));
    assert_eq!(again["listings"]["generated_created"], 0);
    assert_eq!(again["merchants"], first["merchants"]);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM listings")
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    let curated = first["listings"]["curated_listings"].as_i64().unwrap();
    assert_eq!(count, curated + 300);
    // The demo is searchable as the app would search it.
    let merchant = merchants[0].as_str().unwrap();
    let page = ok_json(
        app.get(&format!("/v1/merchants/{merchant}")).await,
        StatusCode::OK,
    )
    .await;
    assert!(page["published_listings"].as_i64().unwrap() > 0);
    let found = ok_json(
        app.get("/v1/listings?q=banh%20trang%20hoa%20da").await,
        StatusCode::OK,
    )
    .await;
    assert!(
        found["items"][0]["title"]
            .as_str()
            .unwrap()
            .starts_with("Bánh tráng"),
        "{found}"
    );
    let found = ok_json(
        app.get("/v1/listings?q=ruou%20quan%20de").await,
        StatusCode::OK,
    )
    .await;
    assert!(
        found["items"][0]["title"]
            .as_str()
            .unwrap()
            .contains("Quán Đế"),
        "{found}"
    );
}
