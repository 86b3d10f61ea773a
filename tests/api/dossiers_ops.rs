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
    let bad_day = problem(bad_day, StatusCode::BAD_REQUEST).await;
    assert_eq!(bad_day["errors"][0]["pointer"], "day", "{bad_day}");
    let bad_kind = ops(
        app,
        &operator,
        Method::PUT,
        "/v1/ops/holidays/2026-12-24",
        Some(json!({"name": "x", "kind": "party"})),
    )
    .await;
    let bad_kind = problem(bad_kind, StatusCode::BAD_REQUEST).await;
    assert_eq!(bad_kind["errors"][0]["pointer"], "/kind", "{bad_kind}");
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

/// A weekday strictly between tomorrow and the day before `due` (Vietnam's dates) that the
/// holiday table does not name: a whole working day the dossier still has ahead of it.
async fn working_day_before(rig: &Rig, due: OffsetDateTime) -> Date {
    let vn = UtcOffset::from_hms(7, 0, 0).unwrap();
    let due_day = due.to_offset(vn).date();
    let listed: Vec<Date> = sqlx::query_scalar("SELECT day FROM holidays")
        .fetch_all(&rig.app.state.db)
        .await
        .unwrap();
    days_ahead(60)
        .into_iter()
        .skip(1)
        .take_while(|day| *day < due_day)
        .find(|day| {
            !matches!(
                day.weekday(),
                time::Weekday::Saturday | time::Weekday::Sunday
            ) && !listed.contains(day)
        })
        .expect("a working day before the due date")
}

#[tokio::test]
async fn a_holiday_edit_reaches_citizens_cached_dossiers_and_is_audited_in_its_transaction() {
    let rig = Rig::start().await;
    let app = &rig.app;
    let operator = operator_token(app).await;
    let citizen = rig.citizen().await;
    // A ten-day procedure of the judicial-record office, for the simulator's citizen.
    let justice =
        crate::dossiers_api::agency_token(app, vec!["000.00.20.H15".into()], "dossiers:write")
            .await;
    let registered = rig
        .post(
            &justice,
            "/v1/agency/dossiers",
            json!({"procedure_code": "2.000488", "applicant_id_number": LAN_ID_NUMBER,
                   "applicant_name": "Nguyễn Thị Lan"}),
            None,
        )
        .await;
    let registered = ok_json(registered, StatusCode::CREATED).await;
    let code = registered["code"].as_str().unwrap().to_string();
    let read = |path: String| {
        let request = app.client.get(app.url(&path)).bearer_auth(&citizen);
        async move { ok_json(request.send().await.unwrap(), StatusCode::OK).await }
    };
    let left = |view: &Value| view["working_days_left"].as_f64().unwrap();
    let detail_path = format!("/v1/me/dossiers/{code}");
    // Read twice: cached.
    read(detail_path.clone()).await;
    let before = left(&read(detail_path.clone()).await);
    let listed_before = left(&read("/v1/me/dossiers".into()).await["items"][0]);

    let day = working_day_before(&rig, due_of(&registered)).await;
    let holiday = json!({"name": "Nghỉ bù", "kind": "day_off"});
    let path = format!("/v1/ops/holidays/{day}");

    // If its audit entry cannot be written, the edit is not made either.
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_holiday_audit() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN IF NEW.action = 'holiday_set' THEN RAISE EXCEPTION 'audit refused'; END IF;
         RETURN NEW; END $$;
         CREATE TRIGGER refuse_holiday_audit BEFORE INSERT ON audit_log
         FOR EACH ROW EXECUTE FUNCTION refuse_holiday_audit();",
    )
    .execute(&app.state.db)
    .await
    .unwrap();
    let failed = ops(app, &operator, Method::PUT, &path, Some(holiday.clone())).await;
    assert_eq!(failed.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM holidays WHERE day = $1")
        .bind(day)
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    assert_eq!(stored, 0, "an edit without its audit entry is not kept");
    assert!((left(&read(detail_path.clone()).await) - before).abs() < 0.05);
    sqlx::raw_sql("DROP TRIGGER refuse_holiday_audit ON audit_log")
        .execute(&app.state.db)
        .await
        .unwrap();

    // The edit and its entry, together; then the citizen's cached reads count with the day.
    let set = ops(app, &operator, Method::PUT, &path, Some(holiday)).await;
    ok_json(set, StatusCode::OK).await;
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'holiday_set' AND target = $1",
    )
    .bind(day.to_string())
    .fetch_one(&app.state.db)
    .await
    .unwrap();
    assert_eq!(audited, 1);
    let after = left(&read(detail_path.clone()).await);
    assert!((before - after - 1.0).abs() < 0.05, "{before} then {after}");
    let listed_after = left(&read("/v1/me/dossiers".into()).await["items"][0]);
    assert!(
        (listed_before - listed_after - 1.0).abs() < 0.05,
        "{listed_before} then {listed_after}"
    );

    // Taken back: the day counts again at the next read.
    let gone = ops(app, &operator, Method::DELETE, &path, None).await;
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    let restored = left(&read(detail_path).await);
    assert!((restored - before).abs() < 0.05, "{before} then {restored}");
}
