//! The audit log's tamper evidence: a hash chain, signed checkpoints anyone can fetch, and
//! `motcua audit verify` finding the first broken link.

use reqwest::StatusCode;
use serde_json::Value;
use sqlx::Row;

use motcua::audit::chain::{Content, entry_hash};
use motcua::audit::{Event, Outcome};

use crate::helpers::TestApp;
use crate::helpers::motcua_with;

async fn record(app: &TestApp, n: usize) {
    for i in 0..n {
        motcua::audit::record(
            &app.state.db,
            Event::new("client_authentication", Outcome::Failure)
                .client(format!("mc_test{i:04}"))
                .reason("client authentication failed")
                .details(serde_json::json!({ "attempt": i, "grant": "client_credentials" })),
        )
        .await;
    }
}

async fn checkpoint(app: &TestApp) -> i64 {
    motcua::audit::chain::checkpoint(&app.state.db, &app.state.tokens)
        .await
        .unwrap()
        .expect("a new checkpoint")
        .seq
}

/// Runs `motcua audit verify`; returns its exit success and report.
pub fn verify(app: &TestApp) -> (bool, Value) {
    verify_with(app, &[])
}

/// `motcua audit verify` with more arguments.
fn verify_with(app: &TestApp, extra: &[&str]) -> (bool, Value) {
    let args: Vec<&str> = ["audit", "verify"].iter().chain(extra).copied().collect();
    let output = motcua_with(app, &args, &[("MOTCUA_PUBLIC_URL", &app.address)]);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!("stderr: {}", String::from_utf8_lossy(&output.stderr));
    });
    (output.status.success(), report)
}

/// As a superuser would: triggers (the append-only guard included) are off for this session.
async fn tamper(app: &TestApp, statements: &[(&str, Vec<Vec<u8>>)]) {
    let mut conn = app.state.db.acquire().await.unwrap();
    sqlx::query("SET session_replication_role = replica")
        .execute(&mut *conn)
        .await
        .unwrap();
    for (sql, binds) in statements {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(*sql));
        for bind in binds {
            query = query.bind(bind.clone());
        }
        query.execute(&mut *conn).await.unwrap();
    }
    sqlx::query("SET session_replication_role = origin")
        .execute(&mut *conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn concurrent_entries_form_one_chain_that_verifies_against_published_checkpoints() {
    let app = TestApp::spawn().await;
    // Real traffic writes entries too: a failed client authentication.
    let response = app
        .client
        .post(app.url("/v1/auth/token"))
        .basic_auth("mc_nosuchclient000000000", Some("guess"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // Concurrent requests' entries are appended in batches (group commit), and a second writer
    // (the command line, another replica) interleaves: still one gapless chain.
    let writers: Vec<_> = (0..4)
        .map(|n| {
            let audit = app.state.audit.clone();
            let db = app.state.db.clone();
            tokio::spawn(async move {
                for _ in 0..5 {
                    let event = Event::new("rate_limited", Outcome::Failure)
                        .client("mc_busy0000000000000000")
                        .details(serde_json::json!({ "limit_per_min": 5 }));
                    match n {
                        0 => motcua::audit::record(&db, event).await,
                        _ => audit.record(event).await,
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let seqs: Vec<i64> = sqlx::query_scalar("SELECT chain_seq FROM audit_log ORDER BY chain_seq")
        .fetch_all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(seqs, (1..=21).collect::<Vec<i64>>(), "one gapless order");

    assert_eq!(checkpoint(&app).await, 21);
    assert!(
        motcua::audit::chain::checkpoint(&app.state.db, &app.state.tokens)
            .await
            .unwrap()
            .is_none(),
        "an unchanged head is not signed twice"
    );

    // Published for anyone, verifiable with our JWKS.
    let published: Vec<Value> = app.get("/v1/audit/checkpoints").await.json().await.unwrap();
    assert_eq!(published.len(), 1);
    let jwks: jsonwebtoken::jwk::JwkSet = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let jws = published[0]["jws"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(jws).unwrap();
    assert_eq!(header.typ.as_deref(), Some("audit-checkpoint+jwt"));
    let key =
        jsonwebtoken::DecodingKey::from_jwk(jwks.find(header.kid.as_deref().unwrap()).unwrap())
            .unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Value>(jws, &key, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["seq"], 21);
    assert_eq!(claims["hash"], published[0]["hash"]);
    assert_eq!(claims["iss"], app.address.as_str());

    let (ok, report) = verify(&app);
    assert!(ok, "{report}");
    assert_eq!(report["ok"], true);
    assert_eq!(report["entries"], 21);
    assert_eq!(report["checkpoints"], 1);
    assert!(report.get("first_broken").is_none());
}

/// Floats come back from `jsonb` as `numeric` keeps them (no negative zero, whole numbers
/// without a fraction): an entry holding any of them must still verify.
#[tokio::test]
async fn entries_with_any_float_in_their_details_verify_after_the_database_round_trip() {
    let app = TestApp::spawn().await;
    let chosen: [f64; 19] = [
        -0.0,
        0.0,
        5.0,
        -5.0,
        1e16,
        -1e16,
        0.1,
        0.30000000000000004,
        1.5e-7,
        1e-300,
        5e-324,
        1.5e300,
        18446744073709551616.0,
        -9223372036854775808.0,
        9007199254740993.0,
        f64::MAX,
        f64::MIN,
        f64::MIN_POSITIVE,
        2.5e-308,
    ];
    let mut events = vec![
        Event::new("test_floats", Outcome::Success).details(serde_json::json!({ "f": chosen })),
    ];
    // Bit patterns from splitmix64: every exponent and mantissa, not only friendly decimals.
    let mut seed = 0x6d6f_7463_7561_u64;
    for _ in 0..8 {
        let floats: Vec<f64> = std::iter::from_fn(|| {
            seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = seed;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            Some(f64::from_bits(z ^ (z >> 31)))
        })
        .filter(|f| f.is_finite())
        .take(64)
        .collect();
        events.push(
            Event::new("test_floats", Outcome::Success)
                .details(serde_json::json!({ "floats": floats, "ratio": floats[0] / 3.0 })),
        );
    }
    for event in events {
        motcua::audit::record(&app.state.db, event).await;
    }
    let (ok, report) = verify(&app);
    assert!(ok, "{report}");
    assert_eq!(report["entries"], 9);
}

/// The chain's order as stored.
async fn chain_seqs(app: &TestApp) -> Vec<i64> {
    sqlx::query_scalar("SELECT chain_seq FROM audit_log ORDER BY chain_seq")
        .fetch_all(&app.state.db)
        .await
        .unwrap()
}

fn busy(n: usize) -> Event {
    Event::new("rate_limited", Outcome::Failure)
        .client(format!("mc_busy{n:017}"))
        .details(serde_json::json!({ "limit_per_min": 5 }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writers_of_several_replicas_take_turns_at_the_head_and_leave_one_chain() {
    let app = TestApp::spawn().await;
    // Three replicas' writers on one database, each holding the head for a turn while its
    // entries keep coming, and the command line appending between their turns.
    let replicas: Vec<_> = (0..3)
        .map(|_| motcua::audit::AuditLog::start(app.state.db.clone(), app.state.redis.clone()))
        .collect();
    let mut writers = Vec::new();
    for (r, audit) in replicas.iter().enumerate() {
        for task in 0..8 {
            let audit = audit.clone();
            writers.push(tokio::spawn(async move {
                for i in 0..25 {
                    audit.record(busy(r * 1000 + task * 100 + i)).await;
                }
            }));
        }
    }
    let db = app.state.db.clone();
    writers.push(tokio::spawn(async move {
        for i in 0..10 {
            motcua::audit::record(&db, busy(9000 + i)).await;
        }
    }));
    for writer in writers {
        writer.await.unwrap();
    }
    assert_eq!(
        chain_seqs(&app).await,
        (1..=610).collect::<Vec<i64>>(),
        "one gapless order"
    );
    let (ok, report) = verify(&app);
    assert!(ok, "{report}");
    assert_eq!(report["entries"], 610);
}

#[tokio::test]
async fn a_writer_whose_own_connection_dies_loses_no_entry_and_leaves_no_lock() {
    let app = TestApp::spawn().await;
    for i in 0..5 {
        app.state.audit.record(busy(i)).await;
    }
    // The writer holds the head on a connection of its own; PostgreSQL ends it (a restart, a
    // failover, an operator's pg_terminate_backend), which also releases the chain's lock.
    let ended: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE application_name = 'motcua-audit-writer' AND datname = current_database()) t",
    )
    .fetch_one(&app.state.db)
    .await
    .unwrap();
    assert_eq!(ended, 1, "the writer's own connection");
    // Its next batch fails on the dead connection, is stored by a transaction of its own, and
    // the writer then takes a new turn on a new connection.
    for i in 5..10 {
        app.state.audit.record(busy(i)).await;
    }
    // The command line appends after the writer's turn, which must not have left the lock held.
    motcua::audit::record(&app.state.db, busy(10)).await;
    assert_eq!(chain_seqs(&app).await, (1..=11).collect::<Vec<i64>>());
    let (ok, report) = verify(&app);
    assert!(ok, "{report}");
}

#[tokio::test]
async fn verify_names_an_edited_entry_and_the_log_refuses_edits() {
    let app = TestApp::spawn().await;
    record(&app, 5).await;
    checkpoint(&app).await;
    record(&app, 3).await;

    // The trigger refuses an honest attempt to rewrite history.
    let refused =
        sqlx::query("UPDATE audit_log SET reason = 'nothing happened' WHERE chain_seq = 3")
            .execute(&app.state.db)
            .await;
    assert!(refused.unwrap_err().to_string().contains("append-only"));
    for statement in ["DELETE FROM audit_log", "TRUNCATE audit_log"] {
        let refused = sqlx::query(statement)
            .execute(&app.state.db)
            .await
            .expect_err(statement);
        assert!(
            refused.to_string().contains("append-only"),
            "{statement}: {refused}"
        );
    }
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log")
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    assert_eq!(kept, 8);
    let (ok, report) = verify(&app);
    assert!(ok, "{report}");
    assert!(
        report["warnings"][0]
            .as_str()
            .unwrap()
            .contains("entries 6 to 8 are not covered"),
        "{report}"
    );

    // A superuser gets past the trigger, and the chain shows it.
    tamper(
        &app,
        &[(
            "UPDATE audit_log SET client_id = 'mc_someoneelse0000' WHERE chain_seq = 3",
            vec![],
        )],
    )
    .await;
    let (ok, report) = verify(&app);
    assert!(!ok, "verify exits non-zero: {report}");
    assert_eq!(report["ok"], false);
    assert_eq!(report["first_broken"]["seq"], 3, "{report}");
    assert!(
        report["first_broken"]["reason"]
            .as_str()
            .unwrap()
            .contains("altered"),
        "{report}"
    );
}

#[tokio::test]
async fn verify_detects_a_chain_rewritten_with_valid_hashes_and_a_deleted_tail() {
    let app = TestApp::spawn().await;
    record(&app, 4).await;
    assert_eq!(checkpoint(&app).await, 4);
    record(&app, 3).await;
    assert_eq!(checkpoint(&app).await, 7);
    record(&app, 2).await;

    // Rewrite entry 6 and recompute every hash after it: the chain is consistent again...
    let rows = sqlx::query(
        "SELECT chain_seq, (extract(epoch FROM at) * 1000000)::bigint AS at_us, action, outcome,
                client_id, reason, details
         FROM audit_log ORDER BY chain_seq",
    )
    .fetch_all(&app.state.db)
    .await
    .unwrap();
    let mut prev: Vec<u8> = sqlx::query_scalar("SELECT hash FROM audit_log WHERE chain_seq = 5")
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    let mut statements = Vec::new();
    for row in &rows[5..] {
        let seq: i64 = row.get("chain_seq");
        let client_id: String = match seq {
            6 => "mc_innocent000000000".into(),
            _ => row.get("client_id"),
        };
        let details: Value = row.get("details");
        let hash = entry_hash(
            &prev,
            &Content {
                seq,
                at_us: row.get("at_us"),
                action: row.get("action"),
                outcome: row.get("outcome"),
                actor: None,
                target: None,
                reason: row.get("reason"),
                client_id: Some(&client_id),
                client_ip: None,
                request_id: None,
                details: &details,
            },
        );
        statements.push((
            "UPDATE audit_log SET client_id = convert_from($1, 'UTF8'), prev_hash = $2, hash = $3
             WHERE chain_seq = convert_from($4, 'UTF8')::bigint",
            vec![
                client_id.into_bytes(),
                prev.clone(),
                hash.to_vec(),
                seq.to_string().into_bytes(),
            ],
        ));
        prev = hash.to_vec();
    }
    tamper(&app, &statements).await;

    // ...but no longer ends at the signed hash of entry 7.
    let (ok, report) = verify(&app);
    assert!(!ok);
    assert_eq!(report["first_broken"]["seq"], 7, "{report}");
    let reason = report["first_broken"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("rewritten") && reason.contains("after entry 4"),
        "{report}"
    );

    // Dropping everything after the first checkpoint is no way out either.
    tamper(
        &app,
        &[("DELETE FROM audit_log WHERE chain_seq > 4", vec![])],
    )
    .await;
    let (ok, report) = verify(&app);
    assert!(!ok);
    assert_eq!(report["first_broken"]["seq"], 5, "{report}");
    assert!(
        report["first_broken"]["reason"]
            .as_str()
            .unwrap()
            .contains("deleted"),
        "{report}"
    );
}

#[tokio::test]
async fn auditors_copies_of_checkpoints_catch_what_the_database_was_made_to_forget() {
    let app = TestApp::spawn().await;
    record(&app, 3).await;
    checkpoint(&app).await;
    record(&app, 3).await;
    checkpoint(&app).await;
    // An auditor keeps what we publish.
    let published = app.get("/v1/audit/checkpoints").await.text().await.unwrap();
    let kept = std::env::temp_dir().join(format!("{}.json", app.db_name));
    std::fs::write(&kept, &published).unwrap();

    // Someone deletes the newest checkpoint and the entries it covered.
    tamper(
        &app,
        &[
            ("DELETE FROM audit_checkpoints WHERE seq = 6", vec![]),
            ("DELETE FROM audit_log WHERE chain_seq > 3", vec![]),
        ],
    )
    .await;
    // The database alone still tells a consistent story...
    let (ok, report) = verify(&app);
    assert!(ok, "{report}");
    // ...the auditor's copy does not.
    let (ok, report) = verify_with(&app, &["--checkpoints", kept.to_str().unwrap()]);
    std::fs::remove_file(&kept).ok();
    assert!(!ok);
    assert_eq!(report["first_broken"]["seq"], 4, "{report}");
    assert!(
        report["first_broken"]["reason"]
            .as_str()
            .unwrap()
            .contains("deleted"),
        "{report}"
    );
}

async fn checkpoints(app: &TestApp) -> Vec<i64> {
    sqlx::query_scalar("SELECT seq FROM audit_checkpoints ORDER BY seq")
        .fetch_all(&app.state.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_server_signs_the_chain_head_at_its_interval_and_the_command_does_on_demand() {
    let app = TestApp::spawn_with(crate::helpers::Options {
        env: vec![("MOTCUA_AUDIT_CHECKPOINT_SECS", "1".into())],
        ..Default::default()
    })
    .await;
    record(&app, 3).await;
    assert!(
        crate::helpers::eventually(std::time::Duration::from_secs(15), || async {
            checkpoints(&app).await.contains(&3)
        })
        .await,
        "the server never signed the head: {:?}",
        checkpoints(&app).await
    );

    let quiet = TestApp::spawn().await;
    record(&quiet, 2).await;
    assert_eq!(checkpoints(&quiet).await, Vec::<i64>::new());
    let output = motcua_with(
        &quiet,
        &["audit", "checkpoint"],
        &[("MOTCUA_PUBLIC_URL", &quiet.address)],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(checkpoints(&quiet).await, [2]);
    let (ok, report) = verify(&quiet);
    assert!(ok, "{report}");
    assert!(
        report
            .get("warnings")
            .is_none_or(|w| w == &serde_json::json!([])),
        "{report}"
    );
}

/// The hash of entry `seq`, hex, as a checkpoint states it.
async fn hash_of(app: &TestApp, seq: i64) -> String {
    let hash: Vec<u8> = sqlx::query_scalar("SELECT hash FROM audit_log WHERE chain_seq = $1")
        .bind(seq)
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    motcua::audit::chain::hex(&hash)
}

async fn insert_checkpoint(app: &TestApp, seq: i64, kid: &str, jws: &str) {
    let hash: Vec<u8> = sqlx::query_scalar("SELECT hash FROM audit_log WHERE chain_seq = $1")
        .bind(seq)
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    sqlx::query("INSERT INTO audit_checkpoints (seq, hash, kid, jws) VALUES ($1, $2, $3, $4)")
        .bind(seq)
        .bind(hash)
        .bind(kid)
        .bind(jws)
        .execute(&app.state.db)
        .await
        .unwrap();
}

fn broken_because(report: &Value, seq: i64, why: &str) {
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(report["first_broken"]["seq"], seq, "{report}");
    assert!(
        report["first_broken"]["reason"]
            .as_str()
            .unwrap()
            .contains(why),
        "{report}"
    );
}

#[tokio::test]
async fn a_key_planted_in_the_table_proves_nothing() {
    let app = TestApp::spawn().await;
    record(&app, 3).await;
    let (ok, report) = verify(&app);
    assert!(ok, "{report}");
    // Someone with write access adds a key of their own, published like ours, and signs the
    // head with it: it does not decrypt under the master key, so it vouches for nothing.
    let key = crate::helpers::p256();
    let kid = crate::helpers::unique("planted");
    let jwk = crate::helpers::public_jwk(&key, &kid);
    sqlx::query(
        "INSERT INTO signing_keys (kid, alg, private_key_enc, public_jwk) VALUES ($1, 'ES256', $2, $3)",
    )
    .bind(&kid)
    .bind(vec![7u8; 80])
    .bind(serde_json::to_value(&jwk).unwrap())
    .execute(&app.state.db)
    .await
    .unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(kid.clone());
    header.typ = Some(motcua::audit::chain::CHECKPOINT_TYP.into());
    let claims = serde_json::json!({
        "iss": app.state.tokens.issuer(), "seq": 3, "hash": hash_of(&app, 3).await,
        "iat": crate::helpers::now(),
    });
    let jws = jsonwebtoken::encode(&header, &claims, &key).unwrap();
    insert_checkpoint(&app, 3, &kid, &jws).await;
    let (ok, report) = verify(&app);
    assert!(!ok);
    broken_because(&report, 3, "not ours");
}

#[tokio::test]
async fn a_checkpoint_dated_after_its_key_retired_is_refused() {
    let app = TestApp::spawn().await;
    record(&app, 3).await;
    let claims = motcua::audit::chain::CheckpointClaims {
        iss: app.state.tokens.issuer().to_string(),
        seq: 3,
        hash: hash_of(&app, 3).await,
        iat: crate::helpers::now(),
    };
    let (kid, jws) = app
        .state
        .tokens
        .sign_statement(&claims, motcua::audit::chain::CHECKPOINT_TYP)
        .unwrap();
    insert_checkpoint(&app, 3, &kid, &jws).await;
    let (ok, report) = verify(&app);
    assert!(ok, "signed by our key while it signed: {report}");
    // The same statement, once its key is on record as retired an hour before it: not ours.
    sqlx::query("UPDATE signing_keys SET retired_at = now() - interval '1 hour' WHERE kid = $1")
        .bind(&kid)
        .execute(&app.state.db)
        .await
        .unwrap();
    let (ok, report) = verify(&app);
    assert!(!ok);
    broken_because(&report, 3, "after its key retired");
}
