//! Webhooks: dossier events reach a real receiver signed per Standard Webhooks (checked with the
//! independent `standardwebhooks` package in Node), faults are retried until the receiver is
//! back with one `webhook-id` per event, internal targets and redirects are refused, and two
//! replicas never send one delivery at the same time.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use poem::listener::TcpListener as PoemListener;
use poem::{EndpointExt, IntoResponse, Response, Route, Server, handler};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::helpers::{
    Options, TestApp, motcua_with, ok_json, operator_token, ops, promptly, rows_containing,
    stdout_json,
};

const PROCEDURE: &str = "1.001193";

/// What the receiver does with the next request.
#[derive(Debug, Clone)]
pub(crate) enum Behaviour {
    Slow(Duration),
    Status(u16),
    Redirect(&'static str),
}

/// A request as the receiver got it.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) id: String,
    timestamp: String,
    signature: String,
    pub(crate) body: String,
}

#[derive(Default)]
struct Log {
    script: VecDeque<Behaviour>,
    /// Always answer this way once the script is spent (default: 204).
    then: Option<Behaviour>,
    received: Vec<Received>,
    /// What a deduplicating receiver processed: each `webhook-id` once.
    processed: Vec<String>,
    in_flight: HashMap<String, usize>,
    /// Requests that arrived while another with the same `webhook-id` was in flight.
    overlaps: usize,
    redirected_hits: usize,
}

/// A service provider's receiver on 127.0.0.1: it logs every request, deduplicates on
/// `webhook-id`, and answers as scripted.
pub(crate) struct Receiver {
    log: Arc<Mutex<Log>>,
    port: u16,
    task: JoinHandle<()>,
}

#[handler]
async fn receive(
    req: &poem::Request,
    body: String,
    log: poem::web::Data<&Arc<Mutex<Log>>>,
) -> Response {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let got = Received {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body,
    };
    let behaviour = {
        let mut log = log.lock().unwrap();
        let count = log.in_flight.entry(got.id.clone()).or_default();
        *count += 1;
        if *count > 1 {
            log.overlaps += 1;
        }
        log.received.push(got.clone());
        log.script.pop_front().or(log.then.clone())
    };
    let response = match behaviour {
        Some(Behaviour::Slow(pause)) => {
            tokio::time::sleep(pause).await;
            None
        }
        Some(Behaviour::Status(code)) => Some(
            Response::builder()
                .status(poem::http::StatusCode::from_u16(code).unwrap())
                .body("receiver trouble"),
        ),
        Some(Behaviour::Redirect(to)) => Some(
            Response::builder()
                .status(poem::http::StatusCode::TEMPORARY_REDIRECT)
                .header("location", to)
                .finish(),
        ),
        None => None,
    };
    let mut log = log.lock().unwrap();
    if let Some(count) = log.in_flight.get_mut(&got.id) {
        *count -= 1;
    }
    match response {
        Some(response) => response,
        None => {
            if !log.processed.contains(&got.id) {
                log.processed.push(got.id);
            }
            poem::http::StatusCode::NO_CONTENT.into_response()
        }
    }
}

#[handler]
fn elsewhere(log: poem::web::Data<&Arc<Mutex<Log>>>) -> poem::http::StatusCode {
    log.lock().unwrap().redirected_hits += 1;
    poem::http::StatusCode::NO_CONTENT
}

impl Receiver {
    pub(crate) async fn start(script: Vec<Behaviour>, then: Option<Behaviour>) -> Receiver {
        Self::start_on(free_port(), script, then).await
    }

    async fn start_on(port: u16, script: Vec<Behaviour>, then: Option<Behaviour>) -> Receiver {
        let log = Arc::new(Mutex::new(Log {
            script: script.into(),
            then,
            ..Log::default()
        }));
        let app = Route::new()
            .at("/hook", poem::post(receive))
            .at("/elsewhere", poem::post(elsewhere))
            .data(log.clone());
        let listener = PoemListener::bind(format!("127.0.0.1:{port}"));
        let task = tokio::spawn(async move {
            let _ = Server::new(listener).run(app).await;
        });
        // Ready when it accepts connections.
        promptly("receiver listening", || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
        })
        .await;
        Receiver { log, port, task }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    pub(crate) fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().received.clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Verifies messages with the `standardwebhooks` npm package; returns the payloads, or the
/// verifier's complaint.
pub(crate) async fn verify_in_node(
    secret: &str,
    messages: &[Received],
) -> Result<Vec<Value>, String> {
    let input: Vec<Value> = messages
        .iter()
        .map(|m| {
            json!({
                "headers": {
                    "webhook-id": m.id,
                    "webhook-timestamp": m.timestamp,
                    "webhook-signature": m.signature,
                },
                "body": m.body,
            })
        })
        .collect();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/dev/eid-sim/verify-webhook.mjs"
    );
    let mut child = tokio::process::Command::new("node")
        .arg(script)
        .arg(secret)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("node runs (is `npm ci` done in dev/eid-sim?)");
    let mut stdin = child.stdin.take().unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stdin, Value::from(input).to_string().as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let output = child.wait_with_output().await.unwrap();
    match output.status.success() {
        true => Ok(serde_json::from_slice(&output.stdout).unwrap()),
        false => Err(String::from_utf8_lossy(&output.stderr).into_owned()),
    }
}

/// A port nothing listens on (until a receiver is started on it).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Enqueues an event for one client, as a capability would in its own transaction; returns its
/// `webhook-id`.
async fn enqueue_for(db: &sqlx::PgPool, client: &str, event_type: &str, data: Value) -> String {
    let mut tx = db.begin().await.unwrap();
    let audience = motcua::webhooks::Audience::Client(client);
    let now = time::OffsetDateTime::now_utc();
    let id = motcua::webhooks::enqueue(&mut tx, audience, event_type, data, now)
        .await
        .unwrap()
        .expect("a subscriber");
    tx.commit().await.unwrap();
    id
}

/// Settings under which the worker picks deliveries up at once and retries quickly.
pub(crate) fn quick(extra: &[(&'static str, &str)]) -> Options {
    let mut env = vec![
        ("MOTCUA_WEBHOOK_ALLOW_PRIVATE", "1".to_string()),
        ("MOTCUA_WEBHOOK_POLL_MS", "100".to_string()),
        ("MOTCUA_WEBHOOK_RETRY_BASE_MS", "400".to_string()),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    Options {
        env,
        ..Options::default()
    }
}

/// The demo catalogue, and an agency's back office allowed to move its dossiers.
struct Agency {
    code: String,
    token: String,
}

async fn agency(app: &TestApp) -> Agency {
    motcua::dossiers::seed::load(&app.state.db, &app.state.master_key(), 0)
        .await
        .unwrap();
    let code: String = sqlx::query_scalar("SELECT agency_code FROM procedures WHERE code = $1")
        .bind(PROCEDURE)
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    let (id, secret) = provider(app, &code, "dossiers:write").await;
    let response = app.client_credentials(&id, &secret).await;
    let body = ok_json(response, StatusCode::OK).await;
    Agency {
        code,
        token: body["access_token"].as_str().unwrap().to_string(),
    }
}

/// A service provider bound to an agency; returns its id and secret.
async fn provider(app: &TestApp, agency: &str, scope: &str) -> (String, String) {
    let (id, secret) = app
        .client_with(motcua::clients::NewClient {
            name: "Back office".into(),
            scopes: vec![scope.into()],
            agencies: vec![agency.into()],
            ..Default::default()
        })
        .await;
    (id, secret.unwrap())
}

async fn register_dossier(app: &TestApp, agency: &Agency) -> String {
    let response = app
        .client
        .post(app.url("/v1/agency/dossiers"))
        .bearer_auth(&agency.token)
        .json(&json!({
            "procedure_code": PROCEDURE,
            "applicant_id_number": "079190001234",
            "applicant_name": "Nguyễn Thị Lan",
        }))
        .send()
        .await
        .unwrap();
    ok_json(response, StatusCode::CREATED).await["code"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn transition(app: &TestApp, agency: &Agency, code: &str, to: &str) {
    let response = app
        .client
        .post(app.url(&format!("/v1/agency/dossiers/{code}/transitions")))
        .bearer_auth(&agency.token)
        .json(&json!({ "to": to }))
        .send()
        .await
        .unwrap();
    ok_json(response, StatusCode::OK).await;
}

pub(crate) async fn create_webhook(
    app: &TestApp,
    operator: &str,
    client: &str,
    body: Value,
) -> Value {
    let path = format!("/v1/ops/clients/{client}/webhooks");
    ok_json(
        ops(app, operator, Method::POST, &path, Some(body)).await,
        StatusCode::CREATED,
    )
    .await
}

async fn deliveries(app: &TestApp, operator: &str, client: &str, webhook: &str) -> Vec<Value> {
    let path = format!("/v1/ops/clients/{client}/webhooks/{webhook}/deliveries");
    let body = ok_json(
        ops(app, operator, Method::GET, &path, None).await,
        StatusCode::OK,
    )
    .await;
    body.as_array().unwrap().clone()
}

#[tokio::test]
async fn a_status_change_reaches_the_bound_agencys_receiver_signed_as_standard_webhooks_verifies() {
    let app = TestApp::spawn_with(quick(&[])).await;
    let agency = agency(&app).await;
    let receiver = Receiver::start(vec![], None).await;
    let unrelated = Receiver::start(vec![], None).await;
    let (hooks, _) = provider(&app, &agency.code, "dossiers:read").await;
    let other_agency: String =
        sqlx::query_scalar("SELECT code FROM agencies WHERE code <> $1 ORDER BY code LIMIT 1")
            .bind(&agency.code)
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    let (foreign, _) = provider(&app, &other_agency, "dossiers:read").await;

    // Registered from the command line, as PRODUCT.md spells it.
    let added = stdout_json(&motcua_with(
        &app,
        &[
            "webhook",
            "add",
            "--client",
            &hooks,
            "--url",
            &receiver.url(),
            "--event",
            "dossier.status_changed",
            "dossier.submitted",
        ],
        &[("MOTCUA_WEBHOOK_ALLOW_PRIVATE", "1")],
    ));
    let webhook = added["id"].as_str().unwrap().to_string();
    let secret = added["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{added}");
    assert!(webhook.starts_with("wh_"), "{added}");
    assert!(
        rows_containing(&app, &secret).await.is_empty(),
        "secret stored in clear"
    );
    let listed = stdout_json(&motcua_with(
        &app,
        &["webhook", "list", "--client", &hooks],
        &[],
    ));
    assert_eq!(listed[0]["id"], webhook.as_str());
    assert!(!listed.to_string().contains(&secret));
    // Another agency's provider, and a subscriber to other events, get nothing.
    let operator = operator_token(&app).await;
    let body = json!({ "url": unrelated.url(), "events": ["dossier.status_changed"] });
    create_webhook(&app, &operator, &foreign, body).await;
    let (withdrawals, _) = provider(&app, &agency.code, "dossiers:read").await;
    let body = json!({ "url": unrelated.url(), "events": ["dossier.withdrawn"] });
    create_webhook(&app, &operator, &withdrawals, body).await;

    let code = register_dossier(&app, &agency).await;
    transition(&app, &agency, &code, "processing").await;
    promptly("the event reaches the receiver", || async {
        !receiver.received().is_empty()
    })
    .await;
    let first = receiver.received();
    assert_eq!(first.len(), 1);
    assert!(first[0].id.starts_with("msg_"), "{:?}", first[0]);
    let payloads = verify_in_node(&secret, &first)
        .await
        .expect("standardwebhooks verifies");
    assert_eq!(payloads[0]["type"], "dossier.status_changed");
    assert_eq!(payloads[0]["data"]["code"], code.as_str());
    assert_eq!(payloads[0]["data"]["status"], "processing");
    assert_eq!(payloads[0]["data"]["from"], "received");
    assert!(
        !first[0].body.contains("079190001234"),
        "no identification number"
    );
    let wrong = motcua::webhooks::signature::new_secret();
    assert!(
        verify_in_node(&wrong, &first).await.is_err(),
        "a wrong secret must fail"
    );

    // After a rotation both secrets verify for a day.
    let path = format!("/v1/ops/clients/{hooks}/webhooks/{webhook}/secret");
    let rotated = ok_json(
        ops(&app, &operator, Method::POST, &path, None).await,
        StatusCode::OK,
    )
    .await;
    let new_secret = rotated["secret"].as_str().unwrap().to_string();
    assert_ne!(new_secret, secret);
    assert!(rotated["previous_secret_until"].is_string(), "{rotated}");
    transition(&app, &agency, &code, "result_ready").await;
    promptly("the second event arrives", || async {
        receiver.received().len() == 2
    })
    .await;
    let second = receiver.received()[1..].to_vec();
    assert_eq!(second[0].signature.split(' ').count(), 2, "{:?}", second[0]);
    verify_in_node(&secret, &second)
        .await
        .expect("the old secret still verifies");
    verify_in_node(&new_secret, &second)
        .await
        .expect("the new secret verifies");

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        unrelated.received().is_empty(),
        "{:?}",
        unrelated.received()
    );
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action IN ('webhook_created', 'webhook_secret_rotated')",
    )
    .fetch_one(&app.state.db)
    .await
    .unwrap();
    assert_eq!(audited, 4);
}

#[tokio::test]
async fn receiver_down_slow_failing_then_back_gets_each_event_once_with_the_schedule_visible() {
    let app = TestApp::spawn_with(quick(&[("MOTCUA_WEBHOOK_TIMEOUT_SECS", "1")])).await;
    let agency = agency(&app).await;
    let operator = operator_token(&app).await;
    let (hooks, _) = provider(&app, &agency.code, "dossiers:read").await;
    // The receiver is down: nothing listens on its port yet.
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/hook");
    let body = json!({ "url": url, "events": ["dossier.status_changed"] });
    let webhook = create_webhook(&app, &operator, &hooks, body).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let code = register_dossier(&app, &agency).await;
    transition(&app, &agency, &code, "processing").await;

    // The first attempt fails and the ops API shows when the next one is due.
    promptly(
        "a failed attempt is visible with its retry time",
        || async {
            let list = deliveries(&app, &operator, &hooks, &webhook).await;
            list.first()
                .is_some_and(|d| d["attempts"].as_i64() >= Some(1) && d["last_error"].is_string())
        },
    )
    .await;
    let pending = deliveries(&app, &operator, &hooks, &webhook).await[0].clone();
    assert_eq!(pending["status"], "pending", "{pending}");
    assert!(pending["next_attempt_at"].is_string(), "{pending}");
    assert_eq!(pending["event_type"], "dossier.status_changed");
    assert!(
        pending["attempt_log"][0]["status_code"].is_null(),
        "{pending}"
    );

    // Back up, but slow (past the 1 s timeout), then failing, then well.
    let receiver = Receiver::start_on(
        port,
        vec![
            Behaviour::Slow(Duration::from_secs(3)),
            Behaviour::Status(500),
        ],
        None,
    )
    .await;
    promptly(
        "the event is delivered once the receiver is well",
        || async {
            deliveries(&app, &operator, &hooks, &webhook).await[0]["status"] == "delivered"
        },
    )
    .await;
    let delivered = deliveries(&app, &operator, &hooks, &webhook).await[0].clone();
    let log = delivered["attempt_log"].as_array().unwrap();
    assert!(log.len() >= 4, "{delivered}");
    let errors: Vec<&str> = log
        .iter()
        .map(|a| a["error"].as_str().unwrap_or(""))
        .collect();
    assert!(errors.iter().any(|e| e.contains("timed out")), "{errors:?}");
    assert!(log.iter().any(|a| a["status_code"] == 500), "{delivered}");
    assert_eq!(log.last().unwrap()["status_code"], 204);
    assert!(delivered["next_attempt_at"].is_null());
    // Each retry waited at least the lower bound of its backoff: base 400 ms, doubling.
    let times: Vec<time::OffsetDateTime> = log
        .iter()
        .map(|a| {
            time::OffsetDateTime::parse(
                a["at"].as_str().unwrap(),
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap()
        })
        .collect();
    for (k, pair) in times.windows(2).enumerate() {
        let floor = Duration::from_millis(200 << k.min(10));
        assert!(
            pair[1] - pair[0] >= floor,
            "retry {k} came too soon: {times:?}"
        );
    }

    // One webhook-id throughout: the deduplicating receiver processed the event once.
    let received = receiver.received();
    let ids: HashSet<&str> = received.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 1, "{received:?}");
    assert_eq!(
        ids.iter().next().unwrap(),
        &delivered["event_id"].as_str().unwrap()
    );
    assert_eq!(receiver.log.lock().unwrap().processed.len(), 1);
    assert!(crate::helpers::counter("motcua_webhook_attempts_total") >= 4.0);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        receiver.received().len(),
        received.len(),
        "nothing after success"
    );
}

#[tokio::test]
async fn internal_targets_are_refused_without_the_development_setting() {
    let app = TestApp::spawn_with(Options {
        env: vec![("MOTCUA_WEBHOOK_POLL_MS", "100".into())],
        ..Options::default()
    })
    .await;
    let operator = operator_token(&app).await;
    let (client, _) = provider(&app, "000.00.12.H12", "dossiers:read").await;
    for url in [
        "https://127.0.0.1/hook",
        "https://10.0.0.1/hook",
        "https://169.254.169.254/latest",
        "https://[::1]/hook",
        "https://[::ffff:10.0.0.1]/hook",
        "https://localhost:8443/hook",
        "http://example.com/hook",
    ] {
        let path = format!("/v1/ops/clients/{client}/webhooks");
        let body = json!({ "url": url, "events": ["dossier.submitted"] });
        let problem = ok_json(
            ops(&app, &operator, Method::POST, &path, Some(body)).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(problem["errors"][0]["pointer"], "/url", "{url}: {problem}");
    }
    let cli = motcua_with(
        &app,
        &[
            "webhook",
            "add",
            "--client",
            &client,
            "--url",
            "https://10.0.0.1/hook",
            "--event",
            "dossier.submitted",
        ],
        &[],
    );
    assert!(!cli.status.success());
    assert!(
        String::from_utf8_lossy(&cli.stderr).contains("10.0.0.1"),
        "{cli:?}"
    );
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_endpoints")
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    assert_eq!(stored, 0);

    // A name that resolved to a public address at registration and to an internal one now
    // (as DNS may change): the worker checks again before connecting.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(Mutex::new(0usize));
    let counted = connections.clone();
    let accepting = tokio::spawn(async move {
        while listener.accept().await.is_ok() {
            *counted.lock().unwrap() += 1;
        }
    });
    let sealed = app
        .state
        .master_key()
        .seal(
            motcua::crypto::Purpose::WebhookSecrets,
            b"wh_turnedinternal0000000000",
            motcua::webhooks::signature::new_secret().as_bytes(),
        )
        .unwrap();
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, client_id, url, events, secret_sealed)
         VALUES ('wh_turnedinternal0000000000', $1, $2, '{dossier.submitted}', $3)",
    )
    .bind(&client)
    .bind(format!("https://localhost:{port}/hook"))
    .bind(sealed)
    .execute(&app.state.db)
    .await
    .unwrap();
    enqueue_for(&app.state.db, &client, "dossier.submitted", json!({})).await;
    let webhook = "wh_turnedinternal0000000000";
    promptly("the attempt is refused", || async {
        deliveries(&app, &operator, &client, webhook).await[0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("internal address"))
    })
    .await;
    assert_eq!(
        *connections.lock().unwrap(),
        0,
        "no connection to the internal target"
    );
    accepting.abort();
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let app = TestApp::spawn_with(quick(&[])).await;
    let operator = operator_token(&app).await;
    let (client, _) = provider(&app, "000.00.12.H12", "dossiers:read").await;
    let receiver = Receiver::start(vec![], Some(Behaviour::Redirect("/elsewhere"))).await;
    let body = json!({ "url": receiver.url(), "events": ["dossier.submitted"] });
    let webhook = create_webhook(&app, &operator, &client, body).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    enqueue_for(&app.state.db, &client, "dossier.submitted", json!({})).await;
    promptly("two attempts answered by a redirect", || async {
        let delivery = deliveries(&app, &operator, &client, &webhook).await[0].clone();
        delivery["attempts"].as_i64() >= Some(2) && delivery["last_error"].is_string()
    })
    .await;
    let delivery = deliveries(&app, &operator, &client, &webhook).await[0].clone();
    assert_eq!(delivery["status"], "pending", "{delivery}");
    let error = delivery["last_error"].as_str().unwrap();
    assert!(
        error.contains("307") && error.contains("not followed"),
        "{error}"
    );
    assert_eq!(receiver.log.lock().unwrap().redirected_hits, 0);
}

#[tokio::test]
async fn two_replicas_never_send_one_delivery_at_the_same_time() {
    let first = TestApp::spawn_with(quick(&[("MOTCUA_WEBHOOK_POLL_MS", "20")])).await;
    let mut options = first.replica_options();
    options
        .env
        .extend(quick(&[("MOTCUA_WEBHOOK_POLL_MS", "20")]).env);
    let second = TestApp::spawn_with(options).await;
    let operator = operator_token(&first).await;
    let (client, _) = provider(&first, "000.00.12.H12", "dossiers:read").await;
    // Slow enough that both workers are busy at once, quick enough not to time out.
    let receiver = Receiver::start(vec![], Some(Behaviour::Slow(Duration::from_millis(150)))).await;
    let body = json!({ "url": receiver.url(), "events": ["dossier.submitted"] });
    create_webhook(&first, &operator, &client, body).await;

    let mut ids = HashSet::new();
    for n in 0..60 {
        let db = if n % 2 == 0 {
            &first.state.db
        } else {
            &second.state.db
        };
        ids.insert(enqueue_for(db, &client, "dossier.submitted", json!({ "n": n })).await);
    }
    promptly("every event delivered", || async {
        let left: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM webhook_deliveries WHERE status <> 'delivered'",
        )
        .fetch_one(&first.state.db)
        .await
        .unwrap();
        left == 0
    })
    .await;
    let log = receiver.log.lock().unwrap();
    assert_eq!(log.overlaps, 0, "one delivery sent twice at the same time");
    assert_eq!(log.received.len(), 60, "each event sent once");
    let seen: HashSet<String> = log.received.iter().map(|r| r.id.clone()).collect();
    assert_eq!(seen, ids);
    drop(second);
}

#[tokio::test]
async fn past_the_retry_window_the_endpoint_is_failing_and_audited_and_redelivery_keeps_the_id() {
    let app = TestApp::spawn_with(quick(&[("MOTCUA_WEBHOOK_RETRY_WINDOW_SECS", "1")])).await;
    let operator = operator_token(&app).await;
    let (client, _) = provider(&app, "000.00.12.H12", "dossiers:read").await;
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/hook");
    let body = json!({ "url": url, "events": ["dossier.withdrawn"] });
    let webhook = create_webhook(&app, &operator, &client, body).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let event_id = enqueue_for(&app.state.db, &client, "dossier.withdrawn", json!({})).await;

    promptly("the delivery is given up after the window", || async {
        deliveries(&app, &operator, &client, &webhook).await[0]["status"] == "failed"
    })
    .await;
    let failed = deliveries(&app, &operator, &client, &webhook).await[0].clone();
    assert!(failed["next_attempt_at"].is_null(), "{failed}");
    assert!(failed["attempts"].as_i64().unwrap() >= 2, "{failed}");
    let path = format!("/v1/ops/clients/{client}/webhooks");
    let listed = ok_json(
        ops(&app, &operator, Method::GET, &path, None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed[0]["status"], "failing", "{listed}");
    assert!(listed[0]["failing_since"].is_string(), "{listed}");
    promptly("operators are told", || async {
        app.audited("webhook_endpoint_failing").await == 1
    })
    .await;

    // The receiver is back; an operator redelivers: same webhook-id, fresh window.
    let receiver = Receiver::start_on(port, vec![], None).await;
    let delivery = failed["id"].as_str().unwrap();
    let path =
        format!("/v1/ops/clients/{client}/webhooks/{webhook}/deliveries/{delivery}/redeliver");
    let redelivery = ops(&app, &operator, Method::POST, &path, None).await;
    let redelivery = ok_json(redelivery, StatusCode::ACCEPTED).await;
    assert_eq!(redelivery["status"], "pending", "{redelivery}");
    promptly("the redelivery arrives", || async {
        deliveries(&app, &operator, &client, &webhook).await[0]["status"] == "delivered"
    })
    .await;
    let ids: Vec<String> = receiver.received().into_iter().map(|r| r.id).collect();
    assert_eq!(ids, [event_id]);
    let path = format!("/v1/ops/clients/{client}/webhooks");
    let listed = ok_json(
        ops(&app, &operator, Method::GET, &path, None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed[0]["status"], "active", "{listed}");
    promptly("the recovery is audited", || async {
        app.audited("webhook_endpoint_recovered").await == 1
    })
    .await;
    assert_eq!(app.audited("webhook_redelivery_requested").await, 1);

    // Removed from the command line: gone with its deliveries.
    let removed = stdout_json(&motcua_with(
        &app,
        &["webhook", "remove", "--client", &client, "--id", &webhook],
        &[],
    ));
    assert_eq!(removed["deleted"], true);
    let path = format!("/v1/ops/clients/{client}/webhooks/{webhook}/deliveries");
    let gone = ops(&app, &operator, Method::GET, &path, None).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.audited("webhook_deleted").await, 1);
}
