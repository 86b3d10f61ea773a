//! SIGTERM under load, to a real `motcua serve` process: readiness turns false first, requests
//! in flight finish, every request the server took in gets a whole response (callers after the
//! listener closed are refused a connection, never reset), and the process exits 0 within
//! `MOTCUA_SHUTDOWN_GRACE_SECS`, even with a client that never finishes its request.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use crate::helpers::TestApp;
use crate::process::Process;

const GRACE: Duration = Duration::from_secs(5);
const CLIENTS: usize = 32;
/// How long the slow requests keep sending their bodies after SIGTERM.
const TRICKLE: Duration = Duration::from_millis(1500);

/// `motcua serve` with the grace period under test; the load comes from one address, which
/// must not be what stops it.
async fn serve(app: &TestApp) -> Process {
    let env = [
        ("MOTCUA_SHUTDOWN_GRACE_SECS", GRACE.as_secs().to_string()),
        (
            "MOTCUA_RATE_LIMIT_ANONYMOUS_PER_MIN",
            "100000000".to_string(),
        ),
    ];
    Process::serve(app, "sigterm", &env).await
}

/// What the load's callers saw.
#[derive(Default)]
struct Outcomes {
    /// Whole responses (status 200, body read to the end), before and after SIGTERM.
    answered: (usize, usize),
    /// Connections refused after SIGTERM: the listener had closed.
    refused: usize,
    /// Anything else: a reset, a truncated response, an error status.
    failures: Vec<String>,
}

/// `CLIENTS` callers, each opening a connection per request, until `stop`.
fn load(
    server: &Process,
    stop: Arc<AtomicBool>,
    signalled: Arc<Mutex<Option<Instant>>>,
    outcomes: Arc<Mutex<Outcomes>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..CLIENTS)
        .map(|n| {
            let paths = [
                server.url("/v1/listings?sort=price_asc"),
                server.url("/healthz"),
            ];
            let (stop, signalled, outcomes) = (stop.clone(), signalled.clone(), outcomes.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .pool_max_idle_per_host(0)
                    .timeout(Duration::from_secs(30))
                    .build()
                    .unwrap();
                let mut i = n;
                while !stop.load(Ordering::SeqCst) {
                    i += 1;
                    // Steady rather than flat out: the machine's ports and cores are shared.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    let sent = Instant::now();
                    let result = match client.get(&paths[i % 2]).send().await {
                        Ok(response) => {
                            let status = response.status();
                            match response.bytes().await {
                                Ok(_) if status == StatusCode::OK => Ok(()),
                                Ok(_) => Err(format!("status {status}")),
                                Err(e) => Err(format!("body cut: {e:?}")),
                            }
                        }
                        Err(e) if e.is_connect() => Err("refused".into()),
                        Err(e) => Err(format!("{e:?}")),
                    };
                    let signal = *signalled.lock().await;
                    let after_sigterm = signal.is_some_and(|at| at <= sent);
                    let mut outcomes = outcomes.lock().await;
                    match result {
                        Ok(()) if after_sigterm => outcomes.answered.1 += 1,
                        Ok(()) => outcomes.answered.0 += 1,
                        // Refused only once the listener may have closed.
                        Err(refused) if refused == "refused" && signal.is_some() => {
                            outcomes.refused += 1;
                            drop(outcomes);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        Err(other) => outcomes.failures.push(format!(
                            "{} (sent {} SIGTERM)",
                            other,
                            if after_sigterm {
                                "after"
                            } else {
                                "before or around"
                            }
                        )),
                    }
                }
            })
        })
        .collect()
}

/// A token request whose body is still arriving for `TRICKLE` after `go` fires: in flight
/// across SIGTERM.
async fn slow_token_request(
    token_url: String,
    id: &str,
    secret: &str,
    go: Arc<tokio::sync::Notify>,
) -> reqwest::Result<reqwest::Response> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    tokio::spawn(async move {
        let _ = tx.send(Ok(b"grant_type=".to_vec())).await;
        go.notified().await;
        tokio::time::sleep(TRICKLE).await;
        let _ = tx.send(Ok(b"client_credentials".to_vec())).await;
    });
    let mut rx = rx;
    let body = reqwest::Body::wrap_stream(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)));
    reqwest::Client::new()
        .post(token_url)
        .basic_auth(id, Some(secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
}

/// A readiness probe whose request line and first header are in before SIGTERM and whose end
/// comes after it: the answer says what readiness was once shutdown had begun.
struct LateProbe(TcpStream);

impl LateProbe {
    async fn open(server: &Process) -> LateProbe {
        let mut stream = TcpStream::connect(("127.0.0.1", server.port()))
            .await
            .unwrap();
        stream
            .write_all(b"GET /readyz HTTP/1.1\r\nhost: 127.0.0.1\r\n")
            .await
            .unwrap();
        LateProbe(stream)
    }

    async fn finish(mut self) -> String {
        self.0
            .write_all(b"connection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        self.0.read_to_string(&mut answer).await.unwrap();
        answer
    }
}

#[tokio::test]
async fn sigterm_under_load_readiness_goes_first_in_flight_requests_finish_and_the_process_exits_in_the_grace_period()
 {
    let app = TestApp::spawn().await;
    let (id, secret) = app.service_client(&["listings:write"]).await;
    let mut server = serve(&app).await;

    let stop = Arc::new(AtomicBool::new(false));
    let signalled = Arc::new(Mutex::new(None));
    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    let workers = load(&server, stop.clone(), signalled.clone(), outcomes.clone());
    let go = Arc::new(tokio::sync::Notify::new());
    let slow: Vec<_> = (0..4)
        .map(|_| {
            let go = go.clone();
            let (token_url, id, secret) =
                (server.url("/v1/auth/token"), id.clone(), secret.clone());
            tokio::spawn(async move {
                let response = slow_token_request(token_url, &id, &secret, go).await;
                (response, Instant::now())
            })
        })
        .collect();
    let probe = LateProbe::open(&server).await;
    // A client that never finishes its request: only the grace period ends it.
    let mut stalled = TcpStream::connect(("127.0.0.1", server.port()))
        .await
        .unwrap();
    stalled
        .write_all(b"POST /v1/auth/token HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\nab")
        .await
        .unwrap();
    // Let the load run, and the server read what the slow ones sent so far.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        outcomes.lock().await.answered.0 > 0,
        "the load never got an answer"
    );

    let sigterm = Instant::now();
    *signalled.lock().await = Some(sigterm);
    server.sigterm();
    go.notify_waiters();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let answer = probe.finish().await;
    let probed = sigterm.elapsed();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("shutting-down"), "{answer}");

    for task in slow {
        let (response, at) = task.await.unwrap();
        let response = response.expect("a request in flight at SIGTERM gets its answer");
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.expect("a whole body");
        assert!(body["access_token"].is_string(), "{body}");
        assert!(
            at.duration_since(sigterm) > probed,
            "readiness went false before they finished"
        );
    }

    let status = tokio::time::timeout(GRACE + Duration::from_secs(5), server.child.wait())
        .await
        .expect("the process outlived its grace period")
        .unwrap();
    let exited = sigterm.elapsed();
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.await.unwrap();
    }
    let outcomes = outcomes.lock().await;
    eprintln!(
        "readiness 503 after {probed:?}; exit after {exited:?}; {} answered before SIGTERM, {} after; {} refused",
        outcomes.answered.0, outcomes.answered.1, outcomes.refused
    );
    assert!(
        status.success(),
        "exit status {status:?}: {}",
        server.log_text()
    );
    assert!(
        exited < GRACE + Duration::from_secs(1),
        "exited after {exited:?}"
    );
    assert!(
        outcomes.failures.is_empty(),
        "{:#?}\n{}",
        outcomes.failures,
        server.log_text()
    );
    assert!(
        outcomes.refused > 0,
        "the load never saw the listener close"
    );
}
