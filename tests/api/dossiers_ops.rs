//! Operators keep the holiday table over HTTP, audited, and due dates computed afterwards count
//! with their edits.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use time::{Date, Duration, OffsetDateTime, UtcOffset};

use crate::dossiers_api::{LAN_ID_NUMBER, Rig, problem};
use crate::helpers::{ok_json, operator_token, ops};

fn due_of(registered: &Value) -> OffsetDateTime {
    let text = registered["due_at"].as_str().unwrap();
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap()
}

/// The next `n` days in Vietnam, today first.
fn days_ahead(n: i64) -> Vec<Date> {
    let today = OffsetDateTime::now_utc()
        .to_offset(UtcOffset::from_hms(7, 0, 0).unwrap())
        .date();
    (0..n).map(|d| today + Duration::days(d)).collect()
}

#[tokio::test]
async fn operators_edit_holidays_and_new_due_dates_count_with_them() {
    let rig = Rig::start().await;
    let app = &rig.app;
    let operator = operator_token(app).await;
    let before = due_of(&rig.register(LAN_ID_NUMBER).await);

    // The government gives the next ten days off: a dossier received now is due after them.
    let days = days_ahead(10);
    for day in &days {
        let set = ops(
            app,
            &operator,
            Method::PUT,
            &format!("/v1/ops/holidays/{day}"),
            Some(json!({"name": "Nghỉ bù", "kind": "day_off", "note": "thông báo 01/TB"})),
        )
        .await;
        let view = ok_json(set, StatusCode::OK).await;
        assert_eq!(view["kind"], "day_off");
    }
    let during = due_of(&rig.register(LAN_ID_NUMBER).await);
    assert!(during > before, "{during} after {before}");
    let off_until = days.last().unwrap().with_hms(23, 59, 59).unwrap();
    assert!(
        during
            .to_offset(UtcOffset::from_hms(7, 0, 0).unwrap())
            .date()
            > off_until.date(),
        "{during}"
    );
    let year = days[0].year();
    let listed = ok_json(
        ops(
            app,
            &operator,
            Method::GET,
            &format!("/v1/ops/holidays?year={year}"),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let listed: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["day"].as_str().unwrap())
        .collect();
    assert!(listed.contains(&days[0].to_string().as_str()), "{listed:?}");

    // Taken back: the days count again.
    for day in &days {
        let gone = ops(
            app,
            &operator,
            Method::DELETE,
            &format!("/v1/ops/holidays/{day}"),
            None,
        )
        .await;
        assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    }
    let after = due_of(&rig.register(LAN_ID_NUMBER).await);
    assert!(after < during, "{after} before {during}");
    let again = ops(
        app,
        &operator,
        Method::DELETE,
        &format!("/v1/ops/holidays/{}", days[0]),
        None,
    )
    .await;
    problem(again, StatusCode::NOT_FOUND).await;

    // Audited as the operator's actions.
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE action LIKE 'holiday%' ORDER BY chain_seq",
    )
    .fetch_all(&app.state.db)
    .await
    .unwrap();
    assert_eq!(actions.iter().filter(|a| *a == "holiday_set").count(), 10);
    assert_eq!(
        actions.iter().filter(|a| *a == "holiday_deleted").count(),
        10
    );
    assert!(actions.contains(&"holidays_listed".to_string()));
}

#[tokio::test]
async fn only_operators_edit_holidays_and_bad_input_is_named() {
    let rig = Rig::start().await;
    let app = &rig.app;
    let body = json!({"name": "Tết", "kind": "holiday"});
    // An agency's token and a citizen's are not operators'.
    let agency = ops(
        app,
        &rig.agency,
        Method::PUT,
        "/v1/ops/holidays/2026-12-24",
        Some(body.clone()),
    )
    .await;
    problem(agency, StatusCode::FORBIDDEN).await;
    let citizen = rig.citizen().await;
    let as_citizen = ops(
        app,
        &citizen,
        Method::DELETE,
        "/v1/ops/holidays/2026-09-02",
        None,
    )
    .await;
    problem(as_citizen, StatusCode::FORBIDDEN).await;
    let anonymous = app
        .client
        .get(app.url("/v1/ops/holidays"))
        .send()
        .await
        .unwrap();
    problem(anonymous, StatusCode::UNAUTHORIZED).await;

    let operator = operator_token(app).await;
    let bad_day = ops(
        app,
        &operator,
        Method::PUT,
        "/v1/ops/holidays/2026-13-01",
        Some(body),
    )
    .await;
    assert!(bad_day.status().is_client_error(), "{}", bad_day.status());
    let bad_kind = ops(
        app,
        &operator,
        Method::PUT,
        "/v1/ops/holidays/2026-12-24",
        Some(json!({"name": "x", "kind": "party"})),
    )
    .await;
    assert!(bad_kind.status().is_client_error());
    let blank = ops(
        app,
        &operator,
        Method::PUT,
        "/v1/ops/holidays/2026-12-24",
        Some(json!({"name": "  ", "kind": "holiday"})),
    )
    .await;
    let blank = problem(blank, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(blank["errors"][0]["pointer"], "/name");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM holidays WHERE day = '2026-12-24'")
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    assert_eq!(count, 0, "nothing was written");
}
