//! The eID provider slow or down: citizens signed in before keep their sessions (their access
//! tokens read, their refresh tokens refresh), and a new sign-in gets `temporarily_unavailable`
//! within our bounded timeouts. (Failures later in a sign-in, at the provider's token endpoint,
//! are `eid_faults`' tests.)

use std::time::Duration;

use reqwest::StatusCode;

use super::{assert_temporarily_unavailable, start_sign_in};
use crate::helpers::{Options, Silent, TestApp, closed_port, ok_json};
use crate::signin::{me_status, refreshed, signed_in};

/// Our HTTP client gives the provider 3 s to connect and 5 s to answer; discovery is one such
/// request: with room for a loaded machine, the app hears back within this.
const BOUND: Duration = Duration::from_secs(15);

/// A replica of `of` whose eID provider is at `issuer`.
async fn replica_with_provider(of: &TestApp, issuer: String) -> TestApp {
    let mut options: Options = of.replica_options();
    options.env.push(("MOTCUA_EID_ISSUER", issuer));
    TestApp::spawn_with(options).await
}

async fn dossiers_status(app: &TestApp, access_token: &str) -> StatusCode {
    app.client
        .get(app.url("/v1/me/dossiers"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn eid_provider_down_signed_in_citizens_keep_working_and_new_sign_ins_are_refused_in_bounded_time()
 {
    let app = TestApp::spawn().await;
    let (client_id, tokens) = signed_in(&app).await;
    // The provider as a wedged server (accepts, never answers) and as a dead one (refuses).
    let hanging = Silent::start().await;
    let cases = [
        ("hanging", format!("http://{}", hanging.addr)),
        ("refusing", format!("http://127.0.0.1:{}", closed_port())),
    ];
    let mut refresh_token = tokens.refresh_token.clone().unwrap();
    for (how, issuer) in cases {
        let replica = replica_with_provider(&app, issuer).await;
        assert_eq!(
            me_status(&replica, &tokens.access_token).await,
            StatusCode::OK,
            "{how}"
        );
        assert_eq!(
            dossiers_status(&replica, &tokens.access_token).await,
            StatusCode::OK,
            "{how}"
        );
        let renewed = refreshed(&replica, &client_id, &refresh_token).await;
        assert_eq!(
            me_status(&replica, &renewed.access_token).await,
            StatusCode::OK,
            "{how}"
        );
        refresh_token = renewed.refresh_token.unwrap();

        let (request, to, took) = start_sign_in(&replica, &client_id).await;
        eprintln!("{how} provider: sign-in start answered after {took:?}");
        assert!(took < BOUND, "{how} provider: the app waited {took:?}");
        assert_temporarily_unavailable(&app, &request, &to);
        // The next one does not queue behind the provider again.
        let (request, to, took) = start_sign_in(&replica, &client_id).await;
        assert!(
            took < BOUND,
            "{how} provider, again: the app waited {took:?}"
        );
        assert_temporarily_unavailable(&app, &request, &to);
        // Liveness and readiness do not depend on the provider.
        assert_eq!(replica.get("/readyz").await.status(), StatusCode::OK);
    }
    // The session carried on throughout: the last refresh token still works where it began.
    let last = ok_json(
        crate::signin::refresh(&app, &client_id, &refresh_token).await,
        StatusCode::OK,
    )
    .await;
    assert!(last["access_token"].is_string());
}
