//! Dossier tracking's domain core against a real PostgreSQL: code assignment, the transition
//! table, notifications, idempotency, statistics, lookup, linking and the demo seed.
//! `TestApp` is used only for its fresh, migrated database.

use std::time::Instant;

use motcua::crypto::MasterKey;
use motcua::dossiers::calendar::{Holidays, VIETNAM};
use motcua::dossiers::model::{self, Actor, Status, allowed_targets};
use motcua::dossiers::seed;
use motcua::dossiers::store::{
    self, Caller, CounterRegistration, DossierQuery, LookupFactor, Month, OnlineSubmission,
    ProcedureQuery, StoreError, StoredResponse, TransitionRequest,
};
use sqlx::PgPool;
use time::macros::datetime;
use time::{OffsetDateTime, PrimitiveDateTime};
use uuid::Uuid;

use crate::helpers::TestApp;

const WARD: &str = "000.31.01.H15";
const JUSTICE: &str = "000.00.20.H15";
const HOUSEHOLD_AGENCY: &str = "000.31.04.H15";
const BIRTH: &str = "1.001193";
const JUDICIAL_RECORD: &str = "2.000488";
const HOUSEHOLD_BUSINESS: &str = "1.001612";

struct Fixture {
    app: TestApp,
    db: PgPool,
    master: MasterKey,
    holidays: Holidays,
}

async fn fixture() -> Fixture {
    let app = TestApp::spawn().await;
    let db = app.state.db.clone();
    let master = app.state.master_key();
    seed::load(&db, &master, 0).await.expect("catalogue");
    let holidays = store::load_holidays(&db).await.unwrap();
    Fixture {
        app,
        db,
        master,
        holidays,
    }
}

fn vn(at: PrimitiveDateTime) -> OffsetDateTime {
    at.assume_offset(VIETNAM)
}

fn agency(codes: &[&str]) -> Caller {
    Caller::Agency {
        client_id: "mc_testagencyclient01".into(),
        agencies: codes.iter().map(|c| c.to_string()).collect(),
    }
}

fn registration(procedure: &str, id_number: &str) -> CounterRegistration {
    CounterRegistration {
        procedure_code: procedure.into(),
        agency_code: None,
        applicant_id_number: id_number.into(),
        applicant_name: "Nguyễn Văn An".into(),
        note: None,
    }
}

async fn citizen(db: &PgPool, master: &MasterKey, id_number: &str) -> Uuid {
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

async fn register(
    f: &Fixture,
    procedure: &str,
    id_number: &str,
    at: OffsetDateTime,
) -> store::Registered {
    let mut tx = f.db.begin().await.unwrap();
    let registered = store::register_counter(
        &mut tx,
        &f.master,
        &f.holidays,
        &agency(&[WARD, JUSTICE, HOUSEHOLD_AGENCY]),
        &registration(procedure, id_number),
        at,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    registered
}

async fn transition(
    f: &Fixture,
    by: &Caller,
    code: &str,
    to: Status,
    at: OffsetDateTime,
) -> Result<store::Dossier, StoreError> {
    let mut tx = f.db.begin().await.unwrap();
    let result = store::apply_transition(
        &mut tx,
        &f.holidays,
        by,
        code,
        &TransitionRequest {
            to,
            note: Some("ghi chú".into()),
            result: None,
        },
        at,
    )
    .await;
    if result.is_ok() {
        tx.commit().await.unwrap();
    } else {
        tx.rollback().await.unwrap();
    }
    result
}

async fn submit(
    f: &Fixture,
    citizen: Uuid,
    procedure: &str,
    at: OffsetDateTime,
) -> store::Registered {
    let mut tx = f.db.begin().await.unwrap();
    let registered = store::submit_online(
        &mut tx,
        &f.master,
        citizen,
        &OnlineSubmission {
            procedure_code: procedure.into(),
            form: serde_json::json!({}),
            documents: serde_json::json!([]),
        },
        at,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    registered
}

async fn count(db: &PgPool, sql: &'static str, code: &str) -> i64 {
    sqlx::query_scalar(sql)
        .bind(code)
        .fetch_one(db)
        .await
        .unwrap()
}

async fn events_of(db: &PgPool, code: &str) -> i64 {
    count(
        db,
        "SELECT count(*) FROM dossier_events WHERE dossier_code = $1",
        code,
    )
    .await
}

async fn notifications_of(db: &PgPool, code: &str) -> i64 {
    count(
        db,
        "SELECT count(*) FROM notifications WHERE dossier_code = $1",
        code,
    )
    .await
}

#[tokio::test]
async fn concurrent_registrations_get_consecutive_codes_without_gaps_or_duplicates() {
    let f = fixture().await;
    let at = vn(datetime!(2025-03-03 09:00));
    // A registration that rolls back must not burn a number.
    {
        let mut tx = f.db.begin().await.unwrap();
        store::register_counter(
            &mut tx,
            &f.master,
            &f.holidays,
            &agency(&[WARD]),
            &registration(BIRTH, "054190001234"),
            at,
        )
        .await
        .unwrap();
        tx.rollback().await.unwrap();
    }
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let db = f.db.clone();
            let master = f.master.clone();
            let holidays = f.holidays.clone();
            tokio::spawn(async move {
                let mut tx = db.begin().await.unwrap();
                let r = store::register_counter(
                    &mut tx,
                    &master,
                    &holidays,
                    &agency(&[WARD]),
                    &registration(BIRTH, &format!("0541900{i:05}")),
                    at,
                )
                .await
                .unwrap();
                tx.commit().await.unwrap();
                r.dossier.code
            })
        })
        .collect();
    let mut codes = Vec::new();
    for task in tasks {
        codes.push(task.await.unwrap());
    }
    codes.sort();
    let expected: Vec<String> = (1..=50).map(|n| format!("{WARD}-250303-{n:04}")).collect();
    assert_eq!(codes, expected);
    // Another agency's sequence starts at one.
    let other = register(&f, JUDICIAL_RECORD, "054190001234", at).await;
    assert_eq!(other.dossier.code, format!("{JUSTICE}-250303-0001"));
}

/// Drives a fresh dossier into `status` along allowed transitions.
async fn dossier_in(f: &Fixture, status: Status, citizen: Uuid, id_number: &str) -> String {
    let agency = agency(&[WARD]);
    let at = vn(datetime!(2025-03-03 09:00));
    let later = |minutes: i64| at + time::Duration::minutes(minutes);
    let code = if status == Status::Submitted || status == Status::Refused {
        submit(f, citizen, BIRTH, at).await.dossier.code
    } else {
        register(f, BIRTH, id_number, at).await.dossier.code
    };
    let path: &[(Status, bool)] = match status {
        Status::Submitted | Status::Received => &[],
        Status::Refused => &[(Status::Refused, false)],
        Status::Processing => &[(Status::Processing, false)],
        Status::SupplementRequested => &[
            (Status::Processing, false),
            (Status::SupplementRequested, false),
        ],
        Status::AwaitingFee => &[(Status::Processing, false), (Status::AwaitingFee, false)],
        Status::Withdrawn => &[(Status::Withdrawn, true)],
        Status::Stopped => &[(Status::Stopped, false)],
        Status::ResultReady => &[(Status::Processing, false), (Status::ResultReady, false)],
        Status::Returned => &[
            (Status::Processing, false),
            (Status::ResultReady, false),
            (Status::Returned, false),
        ],
    };
    for (i, (to, by_citizen)) in path.iter().enumerate() {
        let by = if *by_citizen {
            Caller::Citizen(citizen)
        } else {
            agency.clone()
        };
        transition(f, &by, &code, *to, later(10 * (i as i64 + 1)))
            .await
            .unwrap();
    }
    code
}

#[tokio::test]
async fn every_allowed_transition_applies_and_notifies_and_every_refused_one_writes_nothing() {
    let f = fixture().await;
    let id_number = "054190005555";
    let citizen = citizen(&f.db, &f.master, id_number).await;
    let at = vn(datetime!(2025-03-04 10:00));
    let mut applied = 0;
    let mut refused = 0;
    for from in Status::ALL {
        for actor in [Actor::Agency, Actor::Citizen] {
            let allowed = allowed_targets(from, actor);
            for to in Status::ALL {
                let code = dossier_in(&f, from, citizen, id_number).await;
                let (events, notes) = (
                    events_of(&f.db, &code).await,
                    notifications_of(&f.db, &code).await,
                );
                let before = store::get_dossier(&f.db, &agency(&[WARD]), &code)
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(before.dossier.status, from);
                let by = match actor {
                    Actor::Agency => agency(&[WARD]),
                    Actor::Citizen => Caller::Citizen(citizen),
                };
                let result = transition(&f, &by, &code, to, at).await;
                let after = store::get_dossier(&f.db, &agency(&[WARD]), &code)
                    .await
                    .unwrap()
                    .unwrap();
                if allowed.contains(&to) {
                    let dossier =
                        result.unwrap_or_else(|e| panic!("{from} → {to} by {actor:?}: {e}"));
                    assert_eq!(dossier.status, to);
                    assert_eq!(after.dossier.status, to);
                    assert_eq!(events_of(&f.db, &code).await, events + 1, "{from} → {to}");
                    assert_eq!(
                        notifications_of(&f.db, &code).await,
                        notes + 1,
                        "{from} → {to}"
                    );
                    let last = after.timeline.last().unwrap();
                    assert_eq!((last.status, last.kind.as_str()), (to, "status"));
                    applied += 1;
                } else {
                    match result {
                        Err(StoreError::Transition(e)) => {
                            assert_eq!(e.allowed, allowed, "{from} → {to} by {actor:?}");
                        }
                        other => panic!("{from} → {to} by {actor:?} should be refused: {other:?}"),
                    }
                    assert_eq!(
                        after.dossier, before.dossier,
                        "{from} → {to} changed the dossier"
                    );
                    assert_eq!(events_of(&f.db, &code).await, events, "{from} → {to}");
                    assert_eq!(notifications_of(&f.db, &code).await, notes, "{from} → {to}");
                    refused += 1;
                }
            }
        }
    }
    assert_eq!(applied, model::TRANSITIONS.len());
    assert_eq!(applied + refused, 200);
    // Every notification reached the applicant, who was known from the start.
    let orphans: i64 =
        sqlx::query_scalar("SELECT count(*) FROM notifications WHERE citizen_id IS NULL")
            .fetch_one(&f.db)
            .await
            .unwrap();
    assert_eq!(orphans, 0);
}

#[tokio::test]
async fn another_agencys_or_citizens_dossier_is_not_found() {
    let f = fixture().await;
    let owner = citizen(&f.db, &f.master, "054190007777").await;
    let stranger = citizen(&f.db, &f.master, "054190008888").await;
    let code = register(&f, BIRTH, "054190007777", vn(datetime!(2025-03-03 09:00)))
        .await
        .dossier
        .code;
    let at = vn(datetime!(2025-03-03 10:00));
    for by in [agency(&[JUSTICE]), Caller::Citizen(stranger)] {
        assert!(
            store::get_dossier(&f.db, &by, &code)
                .await
                .unwrap()
                .is_none()
        );
        let to = if matches!(by, Caller::Citizen(_)) {
            Status::Withdrawn
        } else {
            Status::Processing
        };
        assert!(matches!(
            transition(&f, &by, &code, to, at).await,
            Err(StoreError::NotFound)
        ));
    }
    assert!(
        store::get_dossier(&f.db, &Caller::Citizen(owner), &code)
            .await
            .unwrap()
            .is_some()
    );
    // Registering for an agency the client is not bound to is refused.
    let mut tx = f.db.begin().await.unwrap();
    let refused = store::register_counter(
        &mut tx,
        &f.master,
        &f.holidays,
        &agency(&[JUSTICE]),
        &registration(BIRTH, "054190007777"),
        at,
    )
    .await;
    assert!(
        matches!(refused, Err(StoreError::AgencyNotAllowed(_))),
        "{refused:?}"
    );
}

/// Dossiers, code counters, events and notifications, counted on a connection of its own.
async fn rows_written(db: &PgPool) -> (i64, i64, i64, i64) {
    let mut other = db.acquire().await.unwrap();
    let mut counts = Vec::new();
    for table in [
        "dossiers",
        "dossier_code_counters",
        "dossier_events",
        "notifications",
    ] {
        let sql = format!("SELECT count(*) FROM {table}");
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut *other)
            .await
            .unwrap();
        counts.push(n);
    }
    (counts[0], counts[1], counts[2], counts[3])
}

#[tokio::test]
async fn bad_registrations_name_the_field_and_write_nothing() {
    let f = fixture().await;
    let at = vn(datetime!(2025-03-03 09:00));
    let cases: Vec<(CounterRegistration, &str)> = vec![
        (registration(BIRTH, "05419000123"), "applicant_id_number"),
        (registration(BIRTH, "05419000123x"), "applicant_id_number"),
        (
            CounterRegistration {
                applicant_name: " ".into(),
                ..registration(BIRTH, "054190001234")
            },
            "applicant_name",
        ),
        (
            CounterRegistration {
                agency_code: Some("000.00.12".into()),
                ..registration(BIRTH, "054190001234")
            },
            "agency_code",
        ),
    ];
    // Each refusal's transaction is committed, and the database is read from another
    // connection: whatever the refused registration wrote before refusing would show.
    let written = || rows_written(&f.db);
    for (case, field) in cases {
        let mut tx = f.db.begin().await.unwrap();
        match store::register_counter(&mut tx, &f.master, &f.holidays, &agency(&[WARD]), &case, at)
            .await
        {
            Err(StoreError::Invalid { field: got, .. }) => assert_eq!(got, field),
            other => panic!("{field}: {other:?}"),
        }
        tx.commit().await.unwrap();
        assert_eq!(written().await, (0, 0, 0, 0), "{field}");
    }
    let mut tx = f.db.begin().await.unwrap();
    let unknown = store::register_counter(
        &mut tx,
        &f.master,
        &f.holidays,
        &agency(&[WARD]),
        &registration("9.999999", "054190001234"),
        at,
    )
    .await;
    assert!(matches!(unknown, Err(StoreError::UnknownProcedure(_))));
    tx.commit().await.unwrap();
    assert_eq!(written().await, (0, 0, 0, 0));
    // The positive control: a good registration, committed, does show.
    let mut tx = f.db.begin().await.unwrap();
    store::register_counter(
        &mut tx,
        &f.master,
        &f.holidays,
        &agency(&[WARD]),
        &registration(BIRTH, "054190001234"),
        at,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(written().await.0, 1);
}

async fn register_idempotently(
    f: &Fixture,
    key: &str,
    id_number: &str,
) -> Result<(StoredResponse, bool), StoreError> {
    let body = format!(r#"{{"procedure_code":"{BIRTH}","applicant_id_number":"{id_number}"}}"#);
    let hash = store::request_hash("POST", "/v1/agency/dossiers", body.as_bytes());
    let master = f.master.clone();
    let holidays = f.holidays.clone();
    let id_number = id_number.to_string();
    store::run_idempotent(
        &f.db,
        &f.master,
        "client:mc_testagencyclient01",
        key,
        &hash,
        move |conn| {
            Box::pin(async move {
                let at = vn(datetime!(2025-03-03 09:00));
                let r = store::register_counter(
                    conn,
                    &master,
                    &holidays,
                    &agency(&[WARD]),
                    &registration(BIRTH, &id_number),
                    at,
                )
                .await?;
                Ok(StoredResponse {
                    status: 201,
                    body: serde_json::json!({ "code": r.dossier.code, "lookup_pin": r.lookup_pin }),
                })
            })
        },
    )
    .await
}

#[tokio::test]
async fn idempotent_retries_write_once_even_when_racing() {
    let f = std::sync::Arc::new(fixture().await);
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let f = f.clone();
            tokio::spawn(async move {
                register_idempotently(&f, "key-1", "054190001234")
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut responses = Vec::new();
    for task in tasks {
        responses.push(task.await.unwrap());
    }
    let fresh = responses.iter().filter(|(_, replay)| !replay).count();
    assert_eq!(fresh, 1, "exactly one request did the work");
    assert!(
        responses.iter().all(|(r, _)| r == &responses[0].0),
        "every retry got the first response"
    );
    let dossiers: i64 = sqlx::query_scalar("SELECT count(*) FROM dossiers")
        .fetch_one(&f.db)
        .await
        .unwrap();
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM dossier_events")
        .fetch_one(&f.db)
        .await
        .unwrap();
    assert_eq!((dossiers, events), (1, 1));

    // A later retry too, and the same key with another body is a distinct error.
    let (again, replay) = register_idempotently(&f, "key-1", "054190001234")
        .await
        .unwrap();
    assert!(replay);
    assert_eq!(again, responses[0].0);
    assert!(matches!(
        register_idempotently(&f, "key-1", "054190009999").await,
        Err(StoreError::IdempotencyMismatch)
    ));
    // A new key is a new request.
    let (other, replay) = register_idempotently(&f, "key-2", "054190001234")
        .await
        .unwrap();
    assert!(!replay);
    assert_ne!(other.body["code"], responses[0].0.body["code"]);
}

#[tokio::test]
async fn a_failed_idempotent_request_can_be_retried() {
    let f = fixture().await;
    let hash = store::request_hash("POST", "/x", b"{}");
    let failed = store::run_idempotent(&f.db, &f.master, "client:a", "k", &hash, |_conn| {
        Box::pin(async { Err(StoreError::NotFound) })
    })
    .await;
    assert!(matches!(failed, Err(StoreError::NotFound)));
    let (response, replay) =
        store::run_idempotent(&f.db, &f.master, "client:a", "k", &hash, |_conn| {
            Box::pin(async {
                Ok(StoredResponse {
                    status: 200,
                    body: serde_json::json!({"ok": true}),
                })
            })
        })
        .await
        .unwrap();
    assert_eq!((response.status, replay), (200, false));
}

#[tokio::test]
async fn statistics_equal_a_hand_computed_dataset() {
    let f = fixture().await;
    let applicant = "054190003333";
    let citizen = citizen(&f.db, &f.master, applicant).await;
    let justice = agency(&[JUSTICE, HOUSEHOLD_AGENCY]);
    let step = |code: String, to: Status, at: PrimitiveDateTime| {
        let f = &f;
        let justice = justice.clone();
        async move { transition(f, &justice, &code, to, vn(at)).await.unwrap() }
    };

    // Judicial records (10 working days). March 2025 has no holiday.
    // d1: on time; 7 days and 1 h of a 4 h morning = 7.125 working days.
    let d1 = register(
        &f,
        JUDICIAL_RECORD,
        applicant,
        vn(datetime!(2025-03-03 09:00)),
    )
    .await
    .dossier;
    assert_eq!(d1.due_at, Some(vn(datetime!(2025-03-17 09:00))));
    step(
        d1.code.clone(),
        Status::Processing,
        datetime!(2025-03-03 10:00),
    )
    .await;
    step(
        d1.code.clone(),
        Status::ResultReady,
        datetime!(2025-03-12 10:00),
    )
    .await;
    // d2: late although the agency apologised: 12 working days.
    let d2 = register(
        &f,
        JUDICIAL_RECORD,
        applicant,
        vn(datetime!(2025-03-04 09:00)),
    )
    .await
    .dossier;
    step(
        d2.code.clone(),
        Status::Processing,
        datetime!(2025-03-04 10:00),
    )
    .await;
    {
        let mut tx = f.db.begin().await.unwrap();
        let apologised = store::apologise(
            &mut tx,
            &justice,
            &d2.code,
            vn(datetime!(2025-03-25 17:00)),
            "Chờ xác minh từ địa phương khác",
            vn(datetime!(2025-03-17 09:00)),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(apologised.due_at, Some(vn(datetime!(2025-03-18 09:00))));
        assert_eq!(
            apologised.revised_due_at,
            Some(vn(datetime!(2025-03-25 17:00)))
        );
    }
    step(
        d2.code.clone(),
        Status::ResultReady,
        datetime!(2025-03-20 09:00),
    )
    .await;
    // d3: on time thanks to a two-day supplement pause; 12 − 1/8 − 2 = 9.875 working days.
    let d3 = register(
        &f,
        JUDICIAL_RECORD,
        applicant,
        vn(datetime!(2025-03-05 09:00)),
    )
    .await
    .dossier;
    step(
        d3.code.clone(),
        Status::Processing,
        datetime!(2025-03-05 10:00),
    )
    .await;
    step(
        d3.code.clone(),
        Status::SupplementRequested,
        datetime!(2025-03-06 09:00),
    )
    .await;
    let resumed = step(
        d3.code.clone(),
        Status::Processing,
        datetime!(2025-03-10 09:00),
    )
    .await;
    assert_eq!(resumed.due_at, Some(vn(datetime!(2025-03-21 09:00))));
    step(
        d3.code.clone(),
        Status::ResultReady,
        datetime!(2025-03-21 08:00),
    )
    .await;
    // d4: online, still processing, overdue at the end of the month.
    let d4 = submit(
        &f,
        citizen,
        JUDICIAL_RECORD,
        vn(datetime!(2025-03-06 08:00)),
    )
    .await
    .dossier;
    step(
        d4.code.clone(),
        Status::Received,
        datetime!(2025-03-06 09:00),
    )
    .await;
    step(
        d4.code.clone(),
        Status::Processing,
        datetime!(2025-03-06 10:00),
    )
    .await;
    // d5: in progress, not yet due.
    register(
        &f,
        JUDICIAL_RECORD,
        applicant,
        vn(datetime!(2025-03-28 09:00)),
    )
    .await;
    // d6: stopped: neither finished nor in progress.
    let d6 = register(
        &f,
        JUDICIAL_RECORD,
        applicant,
        vn(datetime!(2025-03-07 09:00)),
    )
    .await
    .dossier;
    step(
        d6.code.clone(),
        Status::Stopped,
        datetime!(2025-03-10 09:00),
    )
    .await;

    // Household business (3 working days).
    // k1: late; 4 working days.
    let k1 = register(
        &f,
        HOUSEHOLD_BUSINESS,
        applicant,
        vn(datetime!(2025-03-03 13:30)),
    )
    .await
    .dossier;
    assert_eq!(k1.due_at, Some(vn(datetime!(2025-03-06 11:30))));
    step(
        k1.code.clone(),
        Status::Processing,
        datetime!(2025-03-03 14:00),
    )
    .await;
    step(
        k1.code.clone(),
        Status::ResultReady,
        datetime!(2025-03-07 13:30),
    )
    .await;
    // k2: online, submitted on a Sunday, on time; 2.5 working days.
    let k2 = submit(
        &f,
        citizen,
        HOUSEHOLD_BUSINESS,
        vn(datetime!(2025-03-09 20:00)),
    )
    .await
    .dossier;
    let received = step(
        k2.code.clone(),
        Status::Received,
        datetime!(2025-03-10 07:30),
    )
    .await;
    assert_eq!(received.due_at, Some(vn(datetime!(2025-03-12 17:00))));
    step(
        k2.code.clone(),
        Status::Processing,
        datetime!(2025-03-10 08:00),
    )
    .await;
    step(
        k2.code.clone(),
        Status::ResultReady,
        datetime!(2025-03-12 13:30),
    )
    .await;
    // k3: received in February, finished on its due date in March; 3 working days.
    let k3 = register(
        &f,
        HOUSEHOLD_BUSINESS,
        applicant,
        vn(datetime!(2025-02-27 09:00)),
    )
    .await
    .dossier;
    assert_eq!(k3.due_at, Some(vn(datetime!(2025-03-04 09:00))));
    step(
        k3.code.clone(),
        Status::Processing,
        datetime!(2025-02-27 10:00),
    )
    .await;
    step(
        k3.code.clone(),
        Status::ResultReady,
        datetime!(2025-03-04 09:00),
    )
    .await;

    let now = vn(datetime!(2025-03-31 12:00));
    let report = store::stats(&f.db, None, Month::parse("2025-03"), now)
        .await
        .unwrap();
    let row = |agency: Option<&str>| {
        let r = match agency {
            Some(a) => report
                .items
                .iter()
                .find(|r| r.agency_code.as_deref() == Some(a))
                .unwrap()
                .clone(),
            None => report.province.clone(),
        };
        (
            r.received,
            r.finished,
            r.finished_on_time,
            r.finished_late,
            r.in_progress,
            r.overdue,
            r.on_time_rate,
            r.online_share,
            r.average_processing_days,
        )
    };
    assert_eq!(report.items.len(), 2);
    assert_eq!(report.month, "2025-03");
    assert_eq!(
        row(Some(JUSTICE)),
        (
            6,
            3,
            2,
            1,
            2,
            1,
            Some(2.0 / 3.0),
            Some(1.0 / 6.0),
            Some(29.0 / 3.0)
        )
    );
    assert_eq!(
        row(Some(HOUSEHOLD_AGENCY)),
        (
            2,
            3,
            2,
            1,
            0,
            0,
            Some(2.0 / 3.0),
            Some(0.5),
            Some(9.5 / 3.0)
        )
    );
    assert_eq!(
        row(None),
        (
            8,
            6,
            4,
            2,
            2,
            1,
            Some(4.0 / 6.0),
            Some(0.25),
            Some(38.5 / 6.0)
        )
    );

    // One agency only; February holds only k3's receipt.
    let one = store::stats(&f.db, Some(JUSTICE), Month::parse("2025-03"), now)
        .await
        .unwrap();
    assert_eq!(one.items.len(), 1);
    assert_eq!(one.province.received, 6);
    let february = store::stats(&f.db, None, Month::parse("2025-02"), now)
        .await
        .unwrap();
    assert_eq!(
        (
            february.province.received,
            february.province.finished,
            february.province.on_time_rate
        ),
        (1, 0, None)
    );
    // The JSON uses the contract's field names.
    let json = serde_json::to_value(&report.items[0]).unwrap();
    for field in [
        "agency_code",
        "month",
        "received",
        "finished",
        "finished_on_time",
        "overdue",
        "on_time_rate",
        "online_share",
    ] {
        assert!(json.get(field).is_some(), "{field}");
    }
}

#[tokio::test]
async fn lookup_answers_the_same_for_an_unknown_code_and_a_wrong_pin() {
    let f = fixture().await;
    let registered = register(&f, BIRTH, "054190001234", vn(datetime!(2025-03-03 09:00))).await;
    let code = registered.dossier.code.clone();
    let now = vn(datetime!(2025-03-03 10:00));
    let look = |code: String, factor: LookupFactor| {
        let f = &f;
        async move {
            store::lookup(&f.db, &f.master, &code, &factor, now)
                .await
                .unwrap()
        }
    };
    let found = look(
        code.clone(),
        LookupFactor::Pin(registered.lookup_pin.clone()),
    )
    .await
    .unwrap();
    assert_eq!(found.status, Status::Received);
    assert_eq!(found.timeline.len(), 1);
    let by_id = look(code.clone(), LookupFactor::IdNumber("054190001234".into())).await;
    assert_eq!(by_id, Some(found.clone()));
    let unknown = format!("{WARD}-250303-0999");
    for (code, factor) in [
        (code.clone(), LookupFactor::Pin("00000000".into())),
        (
            unknown.clone(),
            LookupFactor::Pin(registered.lookup_pin.clone()),
        ),
        (
            "not-a-code".to_string(),
            LookupFactor::Pin(registered.lookup_pin.clone()),
        ),
        (code.clone(), LookupFactor::IdNumber("054190009999".into())),
        (unknown, LookupFactor::IdNumber("054190001234".into())),
    ] {
        assert_eq!(look(code, factor).await, None);
    }
    // The public view names no one.
    let json = serde_json::to_string(&found).unwrap();
    assert!(!json.contains("N***"), "{json}");
}

fn median(mut samples: Vec<std::time::Duration>) -> std::time::Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[tokio::test]
async fn lookup_takes_as_long_for_an_unknown_code_as_for_a_wrong_pin() {
    let f = fixture().await;
    let registered = register(&f, BIRTH, "054190001234", vn(datetime!(2025-03-03 09:00))).await;
    let code = registered.dossier.code.clone();
    let now = vn(datetime!(2025-03-03 10:00));
    let unknown = format!("{WARD}-250303-0999");
    let time_one = |code: String| {
        let f = &f;
        async move {
            let started = Instant::now();
            let found = store::lookup(
                &f.db,
                &f.master,
                &code,
                &LookupFactor::Pin("00000000".into()),
                now,
            )
            .await
            .unwrap();
            assert_eq!(found, None);
            started.elapsed()
        }
    };
    // Warm the pool and the plans, then interleave the two kinds so drift hits both alike.
    for _ in 0..5 {
        time_one(code.clone()).await;
        time_one(unknown.clone()).await;
    }
    let (mut wrong_pin, mut no_such) = (Vec::new(), Vec::new());
    for _ in 0..30 {
        wrong_pin.push(time_one(code.clone()).await);
        no_such.push(time_one(unknown.clone()).await);
    }
    let (a, b) = (median(wrong_pin), median(no_such));
    // Generous: a shared machine is noisy, but one answer costing twice the other would show.
    let (fast, slow) = (a.min(b), a.max(b));
    assert!(
        slow.as_secs_f64() <= fast.as_secs_f64() * 2.0 + 0.002,
        "wrong PIN {a:?}, unknown code {b:?}"
    );
}

#[tokio::test]
async fn an_idempotency_key_expires_after_a_day_and_old_keys_are_swept() {
    let f = fixture().await;
    let (first, replay) = register_idempotently(&f, "day-old", "054190001234")
        .await
        .unwrap();
    assert!(!replay);
    let age = |key: &'static str, hours: i32| {
        let db = f.db.clone();
        async move {
            sqlx::query(
                "UPDATE idempotency_keys SET created_at = now() - make_interval(hours => $2)
                  WHERE key = $1",
            )
            .bind(key)
            .bind(hours)
            .execute(&db)
            .await
            .unwrap();
        }
    };
    // Within the day, a retry is a replay.
    age("day-old", 23).await;
    let (again, replay) = register_idempotently(&f, "day-old", "054190001234")
        .await
        .unwrap();
    assert!(replay);
    assert_eq!(again, first);
    // After it, the key is new again: the work is done again, even with another body.
    age("day-old", 25).await;
    let (fresh, replay) = register_idempotently(&f, "day-old", "054190009999")
        .await
        .unwrap();
    assert!(!replay);
    assert_ne!(fresh.body["code"], first.body["code"]);
    let (retried, replay) = register_idempotently(&f, "day-old", "054190009999")
        .await
        .unwrap();
    assert!(replay, "the renewed key holds for its own day");
    assert_eq!(retried, fresh);

    // The sweep deletes keys past their day and keeps the others.
    register_idempotently(&f, "stale", "054190001234")
        .await
        .unwrap();
    age("stale", 25).await;
    assert_eq!(store::sweep_idempotency_keys(&f.db, 100).await.unwrap(), 1);
    let keys: Vec<String> = sqlx::query_scalar("SELECT key FROM idempotency_keys ORDER BY key")
        .fetch_all(&f.db)
        .await
        .unwrap();
    assert_eq!(keys, ["day-old"]);
}

#[tokio::test]
async fn a_citizen_signing_in_later_finds_earlier_dossiers_with_their_notifications() {
    let f = fixture().await;
    let id_number = "054190004444";
    let code = register(&f, BIRTH, id_number, vn(datetime!(2025-03-03 09:00)))
        .await
        .dossier
        .code;
    transition(
        &f,
        &agency(&[WARD]),
        &code,
        Status::Processing,
        vn(datetime!(2025-03-03 10:00)),
    )
    .await
    .unwrap();
    let someone_else = register(&f, BIRTH, "054190004445", vn(datetime!(2025-03-03 09:00)))
        .await
        .dossier
        .code;

    let citizen = citizen(&f.db, &f.master, id_number).await;
    let now = vn(datetime!(2025-03-03 11:00));
    let before = store::list_for_citizen(
        &f.db,
        citizen,
        &DossierQuery {
            limit: 10,
            ..Default::default()
        },
        now,
    )
    .await
    .unwrap();
    assert!(before.items.is_empty());

    let mut tx = f.db.begin().await.unwrap();
    let linked = store::link_citizen(&mut tx, citizen).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(linked, vec![code.clone()]);
    let list = store::list_for_citizen(
        &f.db,
        citizen,
        &DossierQuery {
            limit: 10,
            ..Default::default()
        },
        now,
    )
    .await
    .unwrap();
    assert_eq!(
        list.items
            .iter()
            .map(|d| d.code.clone())
            .collect::<Vec<_>>(),
        vec![code.clone()]
    );
    let notes = store::list_notifications(&f.db, citizen, None, 10)
        .await
        .unwrap();
    assert_eq!((notes.items.len(), notes.unread), (2, 2));
    assert!(
        notes
            .items
            .iter()
            .all(|n| n.dossier_code == code && n.dossier_code != someone_else)
    );

    // Linking again finds nothing new.
    let mut tx = f.db.begin().await.unwrap();
    assert!(
        store::link_citizen(&mut tx, citizen)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn citizens_list_filters_and_pages_through_their_dossiers() {
    let f = fixture().await;
    let id_number = "054190006666";
    let citizen = citizen(&f.db, &f.master, id_number).await;
    let mut codes = Vec::new();
    for day in 3..=7 {
        let at = vn(PrimitiveDateTime::new(
            time::Date::from_calendar_date(2025, time::Month::March, day).unwrap(),
            time::macros::time!(09:00),
        ));
        codes.push(register(&f, BIRTH, id_number, at).await.dossier.code);
    }
    // Half a working day each: by 10 March only the one finished in time is not overdue, and
    // the one waiting for a supplement since before its due date.
    transition(
        &f,
        &agency(&[WARD]),
        &codes[0],
        Status::Processing,
        vn(datetime!(2025-03-03 10:00)),
    )
    .await
    .unwrap();
    transition(
        &f,
        &agency(&[WARD]),
        &codes[0],
        Status::ResultReady,
        vn(datetime!(2025-03-03 11:00)),
    )
    .await
    .unwrap();
    transition(
        &f,
        &agency(&[WARD]),
        &codes[1],
        Status::Processing,
        vn(datetime!(2025-03-04 10:00)),
    )
    .await
    .unwrap();
    transition(
        &f,
        &agency(&[WARD]),
        &codes[1],
        Status::SupplementRequested,
        vn(datetime!(2025-03-04 10:30)),
    )
    .await
    .unwrap();
    let now = vn(datetime!(2025-03-10 09:00));

    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store::list_for_citizen(
            &f.db,
            citizen,
            &DossierQuery {
                limit: 2,
                cursor: cursor.clone(),
                ..Default::default()
            },
            now,
        )
        .await
        .unwrap();
        seen.extend(page.items.iter().map(|d| d.code.clone()));
        match page.next_cursor {
            Some(next) => cursor = store::Cursor::decode(&next),
            None => break,
        }
    }
    let mut newest_first = codes.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);

    let overdue = store::list_for_citizen(
        &f.db,
        citizen,
        &DossierQuery {
            overdue: Some(true),
            limit: 10,
            ..Default::default()
        },
        now,
    )
    .await
    .unwrap();
    let overdue: Vec<_> = overdue.items.iter().map(|d| d.code.clone()).collect();
    assert_eq!(
        overdue,
        vec![codes[4].clone(), codes[3].clone(), codes[2].clone()]
    );
    for d in store::list_for_citizen(
        &f.db,
        citizen,
        &DossierQuery {
            limit: 10,
            ..Default::default()
        },
        now,
    )
    .await
    .unwrap()
    .items
    {
        assert_eq!(d.is_overdue(now), overdue.contains(&d.code), "{}", d.code);
    }
    let waiting = store::list_for_citizen(
        &f.db,
        citizen,
        &DossierQuery {
            status: Some(Status::SupplementRequested),
            limit: 10,
            ..Default::default()
        },
        now,
    )
    .await
    .unwrap();
    assert_eq!(waiting.items.len(), 1);
    assert_eq!(waiting.items[0].code, codes[1]);
    // The paused dossier's due date moves on while it waits.
    let paused = &waiting.items[0];
    assert!(paused.effective_due_at(now, &f.holidays).unwrap() > paused.due_at.unwrap());
    assert!(paused.working_days_left(now, &f.holidays).unwrap() > 0.0);

    let detail = store::get_dossier(&f.db, &Caller::Citizen(citizen), &codes[1])
        .await
        .unwrap()
        .unwrap();
    let statuses: Vec<_> = detail.timeline.iter().map(|e| e.status).collect();
    assert_eq!(
        statuses,
        vec![
            Status::Received,
            Status::Processing,
            Status::SupplementRequested
        ]
    );
}

#[tokio::test]
async fn notifications_page_count_unread_and_are_marked_read_by_their_owner_only() {
    let f = fixture().await;
    let id_number = "054190002222";
    let citizen = citizen(&f.db, &f.master, id_number).await;
    let stranger = Uuid::new_v4();
    let code = register(&f, BIRTH, id_number, vn(datetime!(2025-03-03 09:00)))
        .await
        .dossier
        .code;
    transition(
        &f,
        &agency(&[WARD]),
        &code,
        Status::Processing,
        vn(datetime!(2025-03-03 09:10)),
    )
    .await
    .unwrap();
    transition(
        &f,
        &agency(&[WARD]),
        &code,
        Status::ResultReady,
        vn(datetime!(2025-03-03 09:20)),
    )
    .await
    .unwrap();
    let first = store::list_notifications(&f.db, citizen, None, 2)
        .await
        .unwrap();
    assert_eq!((first.items.len(), first.unread), (2, 3));
    let cursor = store::Cursor::decode(first.next_cursor.as_deref().unwrap()).unwrap();
    let second = store::list_notifications(&f.db, citizen, Some(&cursor), 2)
        .await
        .unwrap();
    assert_eq!(second.items.len(), 1);
    assert!(second.next_cursor.is_none());
    assert!(second.items[0].title.contains("Đã tiếp nhận"));

    let id = first.items[0].id;
    let now = vn(datetime!(2025-03-03 10:00));
    assert!(!store::mark_read(&f.db, stranger, id, now).await.unwrap());
    assert!(store::mark_read(&f.db, citizen, id, now).await.unwrap());
    assert!(
        store::mark_read(&f.db, citizen, id, now + time::Duration::hours(1))
            .await
            .unwrap()
    );
    let after = store::list_notifications(&f.db, citizen, None, 10)
        .await
        .unwrap();
    assert_eq!(after.unread, 2);
    assert_eq!(after.items[0].read_at, Some(now));
}

#[tokio::test]
async fn the_catalogue_search_ignores_accents() {
    let f = fixture().await;
    let search = |q: &str, online: Option<bool>| {
        let db = f.db.clone();
        let q = q.to_string();
        async move {
            store::list_procedures(
                &db,
                &ProcedureQuery {
                    q: Some(q),
                    online,
                    limit: 50,
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .items
        }
    };
    let permits = search("cap giay phep", None).await;
    assert!(!permits.is_empty());
    assert!(
        permits
            .iter()
            .all(|p| p.name.starts_with("Cấp giấy phép") || p.name.contains("giấy phép")),
        "{permits:?}"
    );
    assert!(
        search("dang ky khai sinh", None)
            .await
            .iter()
            .any(|p| p.code == BIRTH)
    );
    assert!(
        search("ĐĂNG KÝ KẾT HÔN", None)
            .await
            .iter()
            .any(|p| p.code == "1.000894")
    );
    assert!(
        search("ly lich tu phap", Some(true))
            .await
            .iter()
            .all(|p| p.online)
    );
    assert!(search("khong co thu tuc nay", None).await.is_empty());

    let detail = store::get_procedure(&f.db, BIRTH).await.unwrap().unwrap();
    assert_eq!(detail.processing_days, 0.5);
    assert!(detail.online);
    assert!(detail.form_schema.unwrap()["examples"][0].is_object());
    assert!(!detail.required_documents.is_empty());

    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = store::list_procedures(
            &f.db,
            &ProcedureQuery {
                after: after.clone(),
                limit: 7,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        all.extend(page.items.into_iter().map(|p| p.code));
        match page.next_cursor {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert!(all.len() >= 20);
    assert!(all.windows(2).all(|w| w[0] < w[1]));
    assert!(store::list_agencies(&f.db).await.unwrap().len() >= 5);
}

#[tokio::test]
async fn loading_the_seed_twice_changes_nothing() {
    let app = TestApp::spawn().await;
    let db = app.state.db.clone();
    let master = app.state.master_key();
    let first = seed::load(&db, &master, 300).await.unwrap();
    assert_eq!(first.dossiers_created, 300);
    let snapshot = || async {
        sqlx::query_as::<_, (i64, i64, i64, i64, i64)>(
            "SELECT (SELECT count(*) FROM agencies), (SELECT count(*) FROM procedures),
                    (SELECT count(*) FROM dossiers), (SELECT count(*) FROM dossier_events),
                    (SELECT count(*) FROM procedures WHERE updated_at > created_at)",
        )
        .fetch_one(&db)
        .await
        .unwrap()
    };
    let before = snapshot().await;
    let second = seed::load(&db, &master, 300).await.unwrap();
    assert_eq!(second.dossiers_created, 0);
    assert_eq!(second.demo_dossiers, 300);
    assert_eq!(snapshot().await, before);
    assert!(first.procedures >= 20 && first.agencies >= 5);
}

#[tokio::test]
async fn a_hundred_thousand_demo_dossiers_load_in_well_under_a_minute() {
    let f = fixture().await;
    let started = Instant::now();
    let summary = seed::load(&f.db, &f.master, 100_000).await.unwrap();
    let elapsed = started.elapsed();
    println!(
        "seed-demo with 100000 dossiers: {elapsed:?} ({} ms inside load)",
        summary.elapsed_ms
    );
    assert_eq!(summary.dossiers_created, 100_000);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM dossiers WHERE demo")
        .fetch_one(&f.db)
        .await
        .unwrap();
    assert_eq!(count, 100_000);
    assert!(elapsed.as_secs() < 60, "{elapsed:?}");

    // A realistic spread.
    let (statuses, online, overdue): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(DISTINCT status), count(*) FILTER (WHERE online),
                count(*) FILTER (WHERE finished_at IS NULL AND closed_at IS NULL AND due_at < now())
           FROM dossiers",
    )
    .fetch_one(&f.db)
    .await
    .unwrap();
    assert!(statuses >= 8, "{statuses}");
    assert!(online > 5_000 && overdue > 100, "{online} {overdue}");
    // Codes are unique and a registration today continues its agency's sequence.
    let today = OffsetDateTime::now_utc();
    let code = register(&f, BIRTH, "054190001234", today)
        .await
        .dossier
        .code;
    let prefix = &code[..code.len() - 4];
    let max_generated: Option<String> =
        sqlx::query_scalar("SELECT max(code) FROM dossiers WHERE demo AND code LIKE $1 || '%'")
            .bind(prefix)
            .fetch_one(&f.db)
            .await
            .unwrap();
    if let Some(max) = max_generated {
        assert!(code > max, "{code} after {max}");
    }
    // The demo PIN opens a generated dossier.
    let any: String = sqlx::query_scalar("SELECT code FROM dossiers WHERE demo LIMIT 1")
        .fetch_one(&f.db)
        .await
        .unwrap();
    let found = store::lookup(
        &f.db,
        &f.master,
        &any,
        &LookupFactor::Pin(seed::DEMO_PIN.into()),
        today,
    )
    .await
    .unwrap();
    assert!(found.is_some());
    let report = store::stats(&f.db, None, None, today).await.unwrap();
    assert!(report.province.received > 0);
    drop(f.app);
}

#[tokio::test]
async fn agencies_see_online_submissions_waiting_for_receipt() {
    let f = fixture().await;
    let citizen = citizen(&f.db, &f.master, "054190001010").await;
    let first = submit(&f, citizen, BIRTH, vn(datetime!(2025-03-03 08:00)))
        .await
        .dossier;
    let second = submit(&f, citizen, BIRTH, vn(datetime!(2025-03-03 08:05)))
        .await
        .dossier;
    submit(
        &f,
        citizen,
        JUDICIAL_RECORD,
        vn(datetime!(2025-03-03 08:10)),
    )
    .await;
    assert_eq!(
        (first.status, first.online, first.due_at),
        (Status::Submitted, true, None)
    );
    let page = store::list_submissions(&f.db, &[WARD.to_string()], None, 1)
        .await
        .unwrap();
    assert_eq!(page.items[0].code, first.code);
    let cursor = store::Cursor::decode(page.next_cursor.as_deref().unwrap()).unwrap();
    let rest = store::list_submissions(&f.db, &[WARD.to_string()], Some(&cursor), 10)
        .await
        .unwrap();
    assert_eq!(
        rest.items
            .iter()
            .map(|d| d.code.clone())
            .collect::<Vec<_>>(),
        vec![second.code.clone()]
    );
    // Receiving starts the clock: an after-cut-off receipt counts from the next working day.
    let received = transition(
        &f,
        &agency(&[WARD]),
        &first.code,
        Status::Received,
        vn(datetime!(2025-03-03 15:30)),
    )
    .await
    .unwrap();
    assert_eq!(received.received_at, Some(vn(datetime!(2025-03-03 15:30))));
    assert_eq!(received.due_at, Some(vn(datetime!(2025-03-04 11:30))));
    let left = store::list_submissions(&f.db, &[WARD.to_string()], None, 10)
        .await
        .unwrap();
    assert_eq!(left.items.len(), 1);
}

#[tokio::test]
async fn transfers_apologies_and_results_join_the_timeline() {
    let f = fixture().await;
    let by = agency(&[JUSTICE]);
    let code = register(
        &f,
        JUDICIAL_RECORD,
        "054190001212",
        vn(datetime!(2025-03-03 09:00)),
    )
    .await
    .dossier
    .code;
    let at = vn(datetime!(2025-03-04 09:00));
    transition(&f, &by, &code, Status::Processing, at)
        .await
        .unwrap();
    let mut tx = f.db.begin().await.unwrap();
    store::record_transfer(
        &mut tx,
        &by,
        &code,
        "Sở Tư pháp",
        "Công an tỉnh Đắk Lắk",
        Some("Xác minh nhân thân"),
        at,
    )
    .await
    .unwrap();
    // A revised date before the promise is no apology.
    let early = store::apologise(
        &mut tx,
        &by,
        &code,
        vn(datetime!(2025-03-10 09:00)),
        "Chậm xác minh",
        at,
    )
    .await;
    assert!(
        matches!(
            early,
            Err(StoreError::Invalid {
                field: "revised_due_at",
                ..
            })
        ),
        "{early:?}"
    );
    let empty = store::apologise(
        &mut tx,
        &by,
        &code,
        vn(datetime!(2025-03-24 09:00)),
        " ",
        at,
    )
    .await;
    assert!(matches!(
        empty,
        Err(StoreError::Invalid {
            field: "reason",
            ..
        })
    ));
    store::apologise(
        &mut tx,
        &by,
        &code,
        vn(datetime!(2025-03-24 09:00)),
        "Chậm xác minh",
        at,
    )
    .await
    .unwrap();
    // No result before the result is ready.
    let too_soon = store::attach_result(
        &mut tx,
        &by,
        &code,
        &serde_json::json!({"decision": "12/QĐ"}),
        at,
    )
    .await;
    assert!(matches!(
        too_soon,
        Err(StoreError::Invalid { field: "code", .. })
    ));
    tx.commit().await.unwrap();
    transition(
        &f,
        &by,
        &code,
        Status::ResultReady,
        vn(datetime!(2025-03-20 09:00)),
    )
    .await
    .unwrap();
    let mut tx = f.db.begin().await.unwrap();
    let result = serde_json::json!({"decision": "125/PLLTP", "signed_by": "Phó Giám đốc"});
    store::attach_result(
        &mut tx,
        &by,
        &code,
        &result,
        vn(datetime!(2025-03-20 10:00)),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let detail = store::get_dossier(&f.db, &by, &code)
        .await
        .unwrap()
        .unwrap();
    let kinds: Vec<_> = detail
        .timeline
        .iter()
        .map(|e| (e.kind.as_str(), e.status))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("status", Status::Received),
            ("status", Status::Processing),
            ("transfer", Status::Processing),
            ("apology", Status::Processing),
            ("status", Status::ResultReady),
            ("result", Status::ResultReady),
        ]
    );
    assert_eq!(detail.timeline[2].details["to"], "Công an tỉnh Đắk Lắk");
    assert_eq!(detail.dossier.result, Some(result));
    assert_eq!(
        detail.dossier.revised_due_at,
        Some(vn(datetime!(2025-03-24 09:00)))
    );
    assert_eq!(
        detail.dossier.apology_reason.as_deref(),
        Some("Chậm xác minh")
    );
}
