//! Public search over HTTP on fixed sets of listings: accents, case, đ/d, several words, a
//! typo, ranking, filters, sorts, facets, and keyset pages while listings keep arriving.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::ok_json;
use crate::listings_api::{COMMUNE, OTHER_COMMUNE, Rig};

/// Publishes listings through a partner's bulk upsert, in order; returns their ids.
async fn load(rig: &Rig, token: &str, items: &[Value]) -> Vec<String> {
    let items: Vec<Value> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let mut item = item.clone();
            item["external_id"] = json!(format!("{}-{i}", uuid::Uuid::new_v4().simple()));
            for (key, value) in [("unit", json!("kg")), ("category", json!("food"))] {
                if item.get(key).is_none() {
                    item[key] = value;
                }
            }
            item
        })
        .collect();
    let done = ok_json(
        rig.post(token, "/v1/listings/bulk", json!({ "items": items }))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(done["invalid"], 0, "{done}");
    done["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

/// Query parameters.
type Query<'a> = &'a [(&'a str, &'a str)];

fn titles(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["title"].as_str().unwrap().to_string())
        .collect()
}

async fn search(rig: &Rig, query: &[(&str, &str)]) -> Value {
    let response = rig
        .app
        .client
        .get(rig.app.url("/v1/listings"))
        .query(query)
        .send()
        .await
        .unwrap();
    ok_json(response, StatusCode::OK).await
}

#[tokio::test]
async fn search_ignores_accents_case_and_the_letter_dd() {
    let rig = Rig::start().await;
    let set = [
        json!({ "title": "Cà phê Robusta Buôn Ma Thuột", "price_vnd": 180000, "category": "drinks" }),
        json!({ "title": "Bánh tráng nướng Hòa Đa", "price_vnd": 45000 }),
        json!({ "title": "Đặc sản sò huyết Ô Loan", "price_vnd": 250000 }),
        json!({ "title": "Cá ngừ đại dương", "price_vnd": 320000 }),
        json!({ "title": "Rượu Quán Đế", "description": "Đặc sản Phú Yên, nấu thủ công.", "price_vnd": 150000, "category": "drinks" }),
    ];
    load(&rig, &rig.partner, &set).await;
    let table: &[(&str, &[&str])] = &[
        ("ca phe", &["Cà phê Robusta Buôn Ma Thuột"]),
        ("CÀ PHÊ", &["Cà phê Robusta Buôn Ma Thuột"]),
        ("Ca Phe buon ma thuot", &["Cà phê Robusta Buôn Ma Thuột"]),
        ("banh trang", &["Bánh tráng nướng Hòa Đa"]),
        ("BÁNH TRÁNG hoa da", &["Bánh tráng nướng Hòa Đa"]),
        ("hoa đa", &["Bánh tráng nướng Hòa Đa"]),
        ("quan de", &["Rượu Quán Đế"]),
        ("dai duong", &["Cá ngừ đại dương"]),
        // One wrong letter in a longer query.
        ("banh trag", &["Bánh tráng nướng Hòa Đa"]),
        ("tom hum", &[]),
    ];
    for (q, expected) in table {
        let page = search(&rig, &[("q", q)]).await;
        assert_eq!(titles(&page), *expected, "q={q}");
    }
    // đ and d are one letter to search: both spellings find both listings that say "đặc sản".
    for q in ["dac san", "đặc sản", "ĐẶC SẢN"] {
        let found: HashSet<String> = titles(&search(&rig, &[("q", q)]).await)
            .into_iter()
            .collect();
        let expected: HashSet<String> = ["Đặc sản sò huyết Ô Loan", "Rượu Quán Đế"]
            .map(String::from)
            .into();
        assert_eq!(found, expected, "q={q}");
    }
}

#[tokio::test]
async fn relevance_ranks_the_phrase_in_the_title_first() {
    let rig = Rig::start().await;
    let set = [
        json!({ "title": "Sữa chua", "description": "Vị cà phê.", "price_vnd": 20000 }),
        json!({ "title": "Cà phê đen", "description": "Uống với sữa.", "price_vnd": 30000 }),
        json!({ "title": "Cà phê sữa đá", "price_vnd": 25000 }),
        json!({ "title": "Trà xanh", "price_vnd": 15000 }),
    ];
    load(&rig, &rig.partner, &set).await;
    let page = search(&rig, &[("q", "ca phe sua")]).await;
    assert_eq!(
        titles(&page),
        ["Cà phê sữa đá", "Cà phê đen", "Sữa chua"],
        "{page}"
    );
    // Pages of a ranked search follow the same order.
    let first = search(&rig, &[("q", "ca phe sua"), ("limit", "2")]).await;
    assert_eq!(titles(&first), ["Cà phê sữa đá", "Cà phê đen"]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = search(
        &rig,
        &[("q", "ca phe sua"), ("limit", "2"), ("cursor", cursor)],
    )
    .await;
    assert_eq!(titles(&second), ["Sữa chua"]);
    assert_eq!(second["next_cursor"], Value::Null);
}

#[tokio::test]
async fn filters_sorts_and_facets() {
    let rig = Rig::start().await;
    let mine = [
        json!({ "title": "Mật ong hoa cà phê", "price_vnd": 160000, "category": "herbal", "ocop_stars": 4, "ocop_year": 2024 }),
        json!({ "title": "Khăn thổ cẩm Ê Đê", "price_vnd": 250000, "category": "textiles_handicrafts", "ocop_stars": 3, "ocop_year": 2023, "stock": 0 }),
        json!({ "title": "Nón lá Phú Yên", "price_vnd": 60000, "category": "souvenirs_furniture" }),
        json!({ "title": "Tour Gành Đá Đĩa", "price_vnd": 450000, "category": "tourism", "ocop_stars": 5, "ocop_year": 2025 }),
    ];
    let theirs = [
        json!({ "title": "Mực một nắng", "price_vnd": 650000 }),
        json!({ "title": "Cá cơm sấy", "price_vnd": 85000, "commune_code": COMMUNE }),
    ];
    load(&rig, &rig.partner, &mine).await;
    load(&rig, &rig.other_partner, &theirs).await;

    let cheapest_first = search(&rig, &[("sort", "price_asc")]).await;
    assert_eq!(
        titles(&cheapest_first),
        [
            "Nón lá Phú Yên",
            "Cá cơm sấy",
            "Mật ong hoa cà phê",
            "Khăn thổ cẩm Ê Đê",
            "Tour Gành Đá Đĩa",
            "Mực một nắng"
        ]
    );
    let dearest_first = search(&rig, &[("sort", "price_desc"), ("limit", "2")]).await;
    assert_eq!(titles(&dearest_first), ["Mực một nắng", "Tour Gành Đá Đĩa"]);
    let newest = search(&rig, &[("sort", "newest"), ("limit", "1")]).await;
    assert_eq!(titles(&newest), ["Cá cơm sấy"]);

    let table: &[(Query, &[&str])] = &[
        (&[("category", "herbal")], &["Mật ong hoa cà phê"]),
        (
            &[("min_stars", "4"), ("sort", "price_asc")],
            &["Mật ong hoa cà phê", "Tour Gành Đá Đĩa"],
        ),
        (
            &[
                ("min_price", "100000"),
                ("max_price", "300000"),
                ("sort", "price_asc"),
            ],
            &["Mật ong hoa cà phê", "Khăn thổ cẩm Ê Đê"],
        ),
        (&[("commune", OTHER_COMMUNE)], &["Mực một nắng"]),
        (
            &[
                ("merchant", &rig.other_merchant.to_string()),
                ("sort", "price_asc"),
            ],
            &["Cá cơm sấy", "Mực một nắng"],
        ),
        (
            &[("in_stock", "true"), ("category", "textiles_handicrafts")],
            &[],
        ),
    ];
    for (query, expected) in table {
        assert_eq!(titles(&search(&rig, query).await), *expected, "{query:?}");
    }
    // A commune code is five digits; anything else is the caller's mistake, named.
    let refused = rig
        .app
        .client
        .get(rig.app.url("/v1/listings"))
        .query(&[("commune", "2673a")])
        .send()
        .await
        .unwrap();
    let refused = ok_json(refused, StatusCode::BAD_REQUEST).await;
    assert_eq!(refused["errors"][0]["pointer"], "commune", "{refused}");
    assert!(
        refused["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains(r#"verification failed. pattern("^[0-9]{5}$")"#),
        "{refused}"
    );

    // Facets count what the other filters match, whatever the category asked for.
    let page = search(
        &rig,
        &[
            ("category", "food"),
            ("merchant", &rig.merchant.to_string()),
        ],
    )
    .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 0);
    let facets: Vec<(String, i64)> = page["facets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["category"].as_str().unwrap().to_string(),
                f["count"].as_i64().unwrap(),
            )
        })
        .collect();
    let expected = [
        ("food", 0),
        ("drinks", 0),
        ("herbal", 1),
        ("textiles_handicrafts", 1),
        ("souvenirs_furniture", 1),
        ("tourism", 1),
    ]
    .map(|(c, n)| (c.to_string(), n));
    assert_eq!(facets, expected);

    // A cursor of another sort, or garbage, is the caller's mistake.
    let cursor = dearest_first["next_cursor"].as_str().unwrap();
    for (sort, cursor) in [("newest", cursor), ("price_asc", "bm9wZQ")] {
        let response = rig
            .app
            .client
            .get(rig.app.url("/v1/listings"))
            .query(&[("sort", sort), ("cursor", cursor)])
            .send()
            .await
            .unwrap();
        assert!(response.status().is_client_error(), "{}", response.status());
    }
}

#[tokio::test]
async fn pages_have_no_duplicates_or_gaps_while_listings_arrive() {
    let rig = Rig::start().await;
    let set: Vec<Value> = (0..25)
        .map(|i| json!({ "title": format!("Bánh tráng Hòa Đa mẻ {i}"), "price_vnd": 40_000 + (i % 5) * 1000 }))
        .collect();
    let original: HashSet<String> = load(&rig, &rig.partner, &set).await.into_iter().collect();
    for sort in ["newest", "price_asc", "price_desc", "relevance"] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut round = 0;
        loop {
            let mut query = vec![
                ("q", "banh trang".to_string()),
                ("sort", sort.to_string()),
                ("limit", "7".to_string()),
            ];
            if let Some(cursor) = &cursor {
                query.push(("cursor", cursor.clone()));
            }
            let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let page = search(&rig, &query).await;
            seen.extend(
                page["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l["id"].as_str().unwrap().to_string()),
            );
            // Between pages, more listings of every price arrive.
            round += 1;
            let arriving: Vec<Value> = (0..3)
                .map(|i| json!({ "title": format!("Bánh tráng mới {sort} {round} {i}"), "price_vnd": 39_000 + i * 2500 }))
                .collect();
            load(&rig, &rig.partner, &arriving).await;
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => break,
            }
        }
        let unique: HashSet<String> = seen.iter().cloned().collect();
        assert_eq!(unique.len(), seen.len(), "duplicates with sort={sort}");
        assert!(original.is_subset(&unique), "gaps with sort={sort}");
    }
}
