//! Forged access tokens against our API, and our tokens verified by an independent library.
//!
//! Every forgery starts from the claims of a real sign-in, so that the one thing wrong with it
//! is the thing under test: had it been accepted, `/v1/me` would have answered 200.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use motcua::tokens::{AccessClaims, TokenError};
use reqwest::StatusCode;
use serde_json::Value;
use time::OffsetDateTime;

use crate::helpers::{Options, TestApp};
use crate::signin::{APP_REDIRECT, Request, jwt_parts, me, sign_in};

/// A citizen signed in through the eID simulator: their access token and its claims.
struct SignedIn {
    token: String,
    claims: AccessClaims,
}

async fn signed_in(app: &TestApp, citizen: &str) -> SignedIn {
    let client_id = app.public_client(APP_REDIRECT).await;
    let tokens = sign_in(app, &Request::new(&client_id), citizen).await;
    let (_, payload) = jwt_parts(&tokens.access_token);
    SignedIn {
        token: tokens.access_token,
        claims: serde_json::from_value(payload).expect("our access claims"),
    }
}

/// 401, an RFC 9457 problem and an RFC 6750 `invalid_token` challenge.
async fn assert_refused(app: &TestApp, token: &str, what: &str) {
    let response = me(app, token).await;
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "{what} was not refused"
    );
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json",
        "{what}"
    );
    let challenge = response
        .headers()
        .get("www-authenticate")
        .unwrap_or_else(|| panic!("{what}: no WWW-Authenticate"))
        .to_str()
        .unwrap()
        .to_string();
    assert!(challenge.starts_with("Bearer"), "{what}: {challenge}");
    assert!(
        challenge.contains("error=\"invalid_token\""),
        "{what}: {challenge}"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["status"], 401, "{what}");
    assert!(
        problem["type"]
            .as_str()
            .is_some_and(|t| t.ends_with("/problems/invalid-token")),
        "{what}: {problem}"
    );
}

/// Why our verifier refuses `token` (so a test knows which check fired, not just that one did).
fn refusal(app: &TestApp, token: &str) -> TokenError {
    match app.state.tokens.verify_access(token) {
        Ok(claims) => panic!("accepted: {claims:?}"),
        Err(err) => err,
    }
}

fn invalid_because(app: &TestApp, token: &str, kind: &ErrorKind) -> bool {
    matches!(refusal(app, token), TokenError::Invalid(k) if k == *kind)
}

async fn assert_accepted(app: &TestApp, token: &str, what: &str) {
    let response = me(app, token).await;
    assert_eq!(response.status(), StatusCode::OK, "{what} was refused");
}

fn b64_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// Our current signing key's `kid`.
fn our_kid(app: &TestApp) -> String {
    app.state
        .tokens
        .keyring()
        .signer()
        .expect("signer")
        .kid
        .clone()
}

/// Signs `claims` with our real key under an arbitrary header (what `sign_access` does, minus
/// the header it insists on).
fn sign_with_our_key(app: &TestApp, mut header: Header, claims: &impl serde::Serialize) -> String {
    let signer = app.state.tokens.keyring().signer().expect("signer");
    header.kid = Some(signer.kid.clone());
    jsonwebtoken::encode(&header, claims, &signer.key).unwrap()
}

fn es256_header(typ: Option<&str>) -> Header {
    let mut header = Header::new(Algorithm::ES256);
    header.typ = typ.map(String::from);
    header
}

#[tokio::test]
async fn access_token_from_a_real_sign_in_is_accepted() {
    let app = TestApp::spawn().await;
    let citizen = signed_in(&app, "citizen-l2").await;
    let response = me(&app, &citizen.token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["sub"], citizen.claims.sub);
    assert_eq!(body["level"], 2);

    // Re-signing the very same claims with our key through the public API is also accepted:
    // the forgeries below differ from this control in one respect only.
    let resigned = app.state.tokens.sign_access(&citizen.claims).unwrap();
    assert_accepted(&app, &resigned, "the re-signed real claims").await;
}

#[tokio::test]
async fn unsigned_access_token_with_alg_none_is_refused() {
    let app = TestApp::spawn().await;
    let citizen = signed_in(&app, "citizen-l2").await;
    let payload = b64_json(&serde_json::to_value(&citizen.claims).unwrap());
    let real_signature = citizen.token.rsplit('.').next().unwrap().to_string();
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = b64_json(&serde_json::json!({
            "alg": alg,
            "typ": "at+jwt",
            "kid": our_kid(&app),
        }));
        let unsigned = format!("{header}.{payload}.");
        assert!(matches!(refusal(&app, &unsigned), TokenError::Malformed));
        assert_refused(&app, &unsigned, &format!("alg {alg}, empty signature")).await;
        assert_refused(
            &app,
            &format!("{header}.{payload}.{real_signature}"),
            &format!("alg {alg}, a real signature"),
        )
        .await;
    }
    // Without a `kid` or `typ` either.
    let bare = b64_json(&serde_json::json!({ "alg": "none" }));
    assert_refused(&app, &format!("{bare}.{payload}."), "bare alg none").await;
}

#[tokio::test]
async fn access_token_signed_with_hs256_using_our_public_key_is_refused() {
    let app = TestApp::spawn().await;
    let citizen = signed_in(&app, "citizen-l2").await;
    let kid = our_kid(&app);

    let jwks_text = app
        .get("/.well-known/jwks.json")
        .await
        .text()
        .await
        .unwrap();
    let jwks: Value = serde_json::from_str(&jwks_text).unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .expect("our kid is published")
        .clone();
    assert_eq!(jwk["kty"], "EC");
    assert_eq!(jwk["crv"], "P-256");
    let coordinate = |name: &str| URL_SAFE_NO_PAD.decode(jwk[name].as_str().unwrap()).unwrap();
    let (x, y) = (coordinate("x"), coordinate("y"));
    assert_eq!((x.len(), y.len()), (32, 32));
    // The uncompressed SEC1 point, 0x04 ‖ x ‖ y: the "public key bytes" a confused verifier
    // might hand to HMAC.
    let sec1 = [&[0x04][..], &x, &y].concat();

    let secrets: Vec<(&str, Vec<u8>)> = vec![
        ("the JWK as JSON", serde_json::to_vec(&jwk).unwrap()),
        (
            "the JWKS document as served",
            jwks_text.clone().into_bytes(),
        ),
        ("the uncompressed SEC1 point", sec1),
        ("x ‖ y", [x.clone(), y.clone()].concat()),
    ];
    for (name, secret) in secrets {
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let mut header = Header::new(alg);
            header.typ = Some("at+jwt".into());
            header.kid = Some(kid.clone());
            let token =
                jsonwebtoken::encode(&header, &citizen.claims, &EncodingKey::from_secret(&secret))
                    .unwrap();
            assert!(matches!(refusal(&app, &token), TokenError::Algorithm));
            assert_refused(&app, &token, &format!("{alg:?} keyed with {name}")).await;
        }
    }
}

#[tokio::test]
async fn access_token_with_an_unknown_kid_is_refused() {
    let app = TestApp::spawn().await;
    let citizen = signed_in(&app, "citizen-l2").await;
    let signer = app.state.tokens.keyring().signer().unwrap();
    // Signed with our real key, so the only fault is the key id.
    for kid in [
        Some(format!("{}-x", signer.kid)),
        Some(String::new()),
        Some("../../etc/passwd".into()),
        None,
    ] {
        let mut header = es256_header(Some("at+jwt"));
        header.kid = kid.clone();
        let token = jsonwebtoken::encode(&header, &citizen.claims, &signer.key).unwrap();
        assert!(matches!(refusal(&app, &token), TokenError::UnknownKey));
        assert_refused(&app, &token, &format!("kid {kid:?}")).await;
    }
}

#[tokio::test]
async fn access_token_signed_by_a_foreign_es256_key_under_our_kid_is_refused() {
    let app = TestApp::spawn().await;
    let citizen = signed_in(&app, "citizen-l2").await;
    let foreign = crate::helpers::p256();

    let mut header = es256_header(Some("at+jwt"));
    header.kid = Some(our_kid(&app));
    let token = jsonwebtoken::encode(&header, &citizen.claims, &foreign).unwrap();
    assert!(invalid_because(&app, &token, &ErrorKind::InvalidSignature));
    assert_refused(&app, &token, "a foreign key under our kid").await;

    // Offering the foreign public key in the header itself (`jwk`, `jku`) does not help.
    let mut jwk: Jwk = Jwk::from_encoding_key(&foreign, Algorithm::ES256).unwrap();
    jwk.common.key_id = Some(our_kid(&app));
    header.jwk = Some(jwk);
    header.jku = Some("https://attacker.example/jwks.json".into());
    let token = jsonwebtoken::encode(&header, &citizen.claims, &foreign).unwrap();
    assert!(invalid_because(&app, &token, &ErrorKind::InvalidSignature));
    assert_refused(&app, &token, "a foreign key embedded in the header").await;
}

#[tokio::test]
async fn access_token_with_a_tampered_payload_is_refused() {
    let app = TestApp::spawn().await;
    let citizen = signed_in(&app, "citizen-l1").await;
    assert_eq!(citizen.claims.acr, Some(motcua::tokens::Level::One));
    // The original token still works: the refusals below are the tampering's doing.
    assert_accepted(&app, &citizen.token, "the untouched token").await;

    let other = signed_in(&app, "citizen-l2").await;
    let mut parts = citizen.token.split('.');
    let (header, _, signature) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let (_, payload) = jwt_parts(&citizen.token);
    let edits: Vec<(&str, &str, Value)> = vec![
        (
            "sub",
            "another citizen's sub",
            other.claims.sub.clone().into(),
        ),
        ("acr", "identity level raised to 2", "2".into()),
        (
            "exp",
            "lifetime extended",
            (citizen.claims.exp + 86_400).into(),
        ),
        ("scope", "scope widened", "openid profile admin".into()),
    ];
    for (claim, what, value) in edits {
        let mut forged = payload.clone();
        forged[claim] = value;
        let token = format!("{header}.{}.{signature}", b64_json(&forged));
        assert!(invalid_because(&app, &token, &ErrorKind::InvalidSignature));
        assert_refused(&app, &token, what).await;
    }
    // The other citizen's signature on this citizen's payload.
    let other_signature = other.token.rsplit('.').next().unwrap();
    let token = format!(
        "{header}.{}.{other_signature}",
        citizen.token.split('.').nth(1).unwrap()
    );
    assert!(invalid_because(&app, &token, &ErrorKind::InvalidSignature));
    assert_refused(&app, &token, "a signature from another token").await;
}

#[tokio::test]
async fn token_signed_with_our_key_but_typed_jwt_is_refused() {
    let app = TestApp::spawn().await;
    let citizen = signed_in(&app, "citizen-l2").await;
    // Exactly the real access claims, signed with our real key; only `typ` differs.
    for typ in [Some("JWT"), Some("jwt"), Some("application/jwt"), None] {
        let token = sign_with_our_key(&app, es256_header(typ), &citizen.claims);
        assert!(matches!(refusal(&app, &token), TokenError::Type));
        assert_refused(&app, &token, &format!("typ {typ:?}")).await;
    }
    // What `sign_id_token` makes (typ JWT), even with our issuer as its audience.
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let id_token = app
        .state
        .tokens
        .sign_id_token(&motcua::tokens::IdClaims {
            iss: app.address.clone(),
            sub: citizen.claims.sub.clone(),
            aud: app.address.clone(),
            exp: now + 600,
            iat: now,
            auth_time: now,
            nonce: None,
            acr: motcua::tokens::Level::Two,
            sid: citizen.claims.sid.clone().unwrap(),
            azp: citizen.claims.client_id.clone(),
        })
        .unwrap();
    assert_eq!(jwt_parts(&id_token).0["typ"], "JWT");
    assert!(matches!(refusal(&app, &id_token), TokenError::Type));
    assert_refused(&app, &id_token, "an ID token").await;
}

#[tokio::test]
async fn access_tokens_with_one_wrong_claim_are_refused_for_that_reason() {
    let app = TestApp::spawn().await;
    let citizen = signed_in(&app, "citizen-l2").await;
    let now = OffsetDateTime::now_utc();
    // The real claims, minted afresh at `at`: what every case starts from.
    let at = |when: OffsetDateTime| {
        let mut claims = app.state.tokens.access_claims(
            &citizen.claims.sub,
            &citizen.claims.client_id,
            &citizen.claims.scope,
            when,
        );
        claims.sid = citizen.claims.sid.clone();
        claims.auth_time = citizen.claims.auth_time;
        claims.acr = citizen.claims.acr;
        claims
    };
    assert_accepted(
        &app,
        &app.state.tokens.sign_access(&at(now)).unwrap(),
        "a fresh token",
    )
    .await;

    let mut cases: Vec<(String, AccessClaims, ErrorKind)> = vec![
        (
            "expired for over an hour".into(),
            at(now - time::Duration::hours(2)),
            ErrorKind::ExpiredSignature,
        ),
        (
            "valid only from an hour from now".into(),
            at(now + time::Duration::hours(1)),
            ErrorKind::ImmatureSignature,
        ),
    ];
    for aud in [
        "https://other-gateway.example".to_string(),
        citizen.claims.client_id.clone(),
        crate::helpers::eid_issuer(),
        format!("{}/", app.address),
        String::new(),
    ] {
        let claims = AccessClaims {
            aud: aud.clone(),
            ..at(now)
        };
        cases.push((format!("aud {aud:?}"), claims, ErrorKind::InvalidAudience));
    }
    for iss in [
        "https://other-gateway.example".to_string(),
        crate::helpers::eid_issuer(),
        format!("{}/", app.address),
        app.address.to_uppercase(),
        String::new(),
    ] {
        let claims = AccessClaims {
            iss: iss.clone(),
            ..at(now)
        };
        cases.push((format!("iss {iss:?}"), claims, ErrorKind::InvalidIssuer));
    }
    let leeway = motcua::tokens::LEEWAY_SECS as i64;
    assert!(cases[0].1.exp < now.unix_timestamp() - leeway);
    assert!(cases[1].1.nbf > now.unix_timestamp() + leeway);
    for (what, claims, kind) in cases {
        let token = app.state.tokens.sign_access(&claims).unwrap();
        assert!(
            invalid_because(&app, &token, &kind),
            "{what}: refused as {:?}, not {kind:?}",
            refusal(&app, &token)
        );
        assert_refused(&app, &token, &what).await;
    }
}

#[tokio::test]
async fn malformed_access_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let citizen = signed_in(&app, "citizen-l2").await;
    let mut parts = citizen.token.split('.');
    let (header, payload) = (parts.next().unwrap(), parts.next().unwrap());
    for token in [
        "not-a-jwt".to_string(),
        "a.b.c".to_string(),
        format!("{header}.{payload}"),
        format!("{header}.{payload}.!!!!"),
        format!("{}.{payload}.", citizen.token.split('.').nth(2).unwrap()),
        format!("{}.x.y.z", citizen.token),
    ] {
        assert_refused(&app, &token, &format!("malformed {token:?}")).await;
    }
}

#[tokio::test]
async fn access_tokens_are_bound_to_our_keys_not_to_our_name() {
    let first = TestApp::spawn().await;
    // Another deployment under the same public URL (so `iss` and `aud` match) but with its own
    // database, hence its own keys.
    let second = TestApp::spawn_with(Options {
        env: vec![("MOTCUA_PUBLIC_URL", first.address.clone())],
        ..Options::default()
    })
    .await;
    assert_eq!(second.state.tokens.issuer(), first.state.tokens.issuer());
    assert_ne!(our_kid(&first), our_kid(&second));

    let citizen = signed_in(&first, "citizen-l2").await;
    assert_accepted(&first, &citizen.token, "the token at its issuer").await;
    assert!(matches!(
        refusal(&second, &citizen.token),
        TokenError::UnknownKey
    ));
    assert_refused(&second, &citizen.token, "a token of another deployment").await;

    // The second deployment accepts the same claims once it has signed them itself.
    let own = second.state.tokens.sign_access(&citizen.claims).unwrap();
    assert_eq!(
        second.state.tokens.verify_access(&own).unwrap(),
        citizen.claims
    );
    // ... and the first refuses that one in turn.
    assert!(matches!(refusal(&first, &own), TokenError::UnknownKey));
    assert_refused(&first, &own, "the second deployment's token").await;
}

/// Runs `dev/eid-sim/verify-token.mjs` (jose, in Node) against our JWKS.
async fn verify_with_jose(app: &TestApp, token: &str) -> std::process::Output {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/dev/eid-sim/verify-token.mjs");
    tokio::process::Command::new("node")
        .arg(script)
        .arg(app.url("/.well-known/jwks.json"))
        .arg(token)
        .arg(&app.address)
        .arg(&app.address)
        .kill_on_drop(true)
        .output()
        .await
        .expect("node runs (is Node.js installed and `npm ci` done in dev/eid-sim?)")
}

#[tokio::test]
async fn our_access_token_verifies_with_jose_in_node() {
    let app = TestApp::spawn().await;
    let citizen = signed_in(&app, "citizen-l2").await;

    let output = verify_with_jose(&app, &citizen.token).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "jose refused our token: {stderr}");
    let payload: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}; {stderr}", String::from_utf8_lossy(&output.stdout)));
    assert_eq!(payload["sub"], citizen.claims.sub);
    assert_eq!(payload["client_id"], citizen.claims.client_id);
    assert_eq!(payload["acr"], "2");
    assert_eq!(payload["iss"], app.address);
    assert_eq!(payload["aud"], app.address);

    // Tampered: jose refuses it too.
    let (_, mut forged) = jwt_parts(&citizen.token);
    forged["acr"] = "1".into();
    let mut parts = citizen.token.split('.');
    let tampered = format!(
        "{}.{}.{}",
        parts.next().unwrap(),
        b64_json(&forged),
        parts.nth(1).unwrap()
    );
    let output = verify_with_jose(&app, &tampered).await;
    assert!(!output.status.success(), "jose accepted a tampered token");
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("ERR_JWS_SIGNATURE_VERIFICATION_FAILED"),
        "{stderr}"
    );

    // And a token of ours that is not an access token (typ JWT).
    let typed_jwt = sign_with_our_key(&app, es256_header(Some("JWT")), &citizen.claims);
    let output = verify_with_jose(&app, &typed_jwt).await;
    assert!(!output.status.success(), "jose accepted typ JWT");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("typ"), "{stderr}");
}
