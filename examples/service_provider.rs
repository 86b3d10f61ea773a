//! How a service provider (an agency's back office, a marketplace) uses motcua: get a token with
//! client credentials, ask motcua about it (introspection), and verify it offline with the JWKS
//! as a resource server would.
//!
//! ```sh
//! motcua client create --name "Back office" --kind confidential --scope dossiers:read
//! MOTCUA_URL=http://127.0.0.1:8080 CLIENT_ID=mc_... CLIENT_SECRET=... \
//!     cargo run --example service_provider
//! ```
//!
//! With `private_key_jwt` instead of a secret (the client registered with `--jwks-uri`), set
//! `CLIENT_KEY_PEM` to the PKCS#8 PEM file of its P-256 key and `CLIENT_KEY_ID` to the key's
//! `kid` in that JWKS.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    motcua::startup::install_crypto_provider();
    let base = std::env::var("MOTCUA_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let client_id = std::env::var("CLIENT_ID").context("set CLIENT_ID")?;
    let http = reqwest::Client::new();

    // 1. One URL finds everything else (RFC 8414).
    let metadata: Value = http
        .get(format!("{base}/.well-known/oauth-authorization-server"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let field = |name: &str| -> anyhow::Result<String> {
        metadata[name]
            .as_str()
            .map(str::to_string)
            .with_context(|| format!("metadata has no {name}"))
    };
    let (issuer, token_endpoint) = (field("issuer")?, field("token_endpoint")?);
    let (introspection_endpoint, jwks_uri) = (field("introspection_endpoint")?, field("jwks_uri")?);

    // 2. Client credentials: a secret (client_secret_basic), or a signed assertion.
    let authenticate = |request: reqwest::RequestBuilder,
                        form: &mut Vec<(&str, String)>|
     -> anyhow::Result<reqwest::RequestBuilder> {
        if let Ok(pem) = std::env::var("CLIENT_KEY_PEM") {
            let key = EncodingKey::from_ec_pem(&std::fs::read(pem)?)?;
            let mut header = Header::new(Algorithm::ES256);
            header.kid = std::env::var("CLIENT_KEY_ID").ok();
            let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
            let claims = json!({
                "iss": client_id, "sub": client_id, "aud": issuer,
                "iat": now, "exp": now + 60, "jti": uuid::Uuid::new_v4().to_string(),
            });
            form.push((
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
            ));
            form.push((
                "client_assertion",
                jsonwebtoken::encode(&header, &claims, &key)?,
            ));
            Ok(request)
        } else {
            let secret =
                std::env::var("CLIENT_SECRET").context("set CLIENT_SECRET or CLIENT_KEY_PEM")?;
            Ok(request.basic_auth(&client_id, Some(secret)))
        }
    };
    let mut form = vec![("grant_type", "client_credentials".to_string())];
    let request = authenticate(http.post(&token_endpoint), &mut form)?;
    let tokens: Value = request.form(&form).send().await?.json().await?;
    let Some(access_token) = tokens["access_token"].as_str() else {
        bail!("token request refused: {tokens}");
    };
    println!(
        "token: scope `{}`, expires in {} s",
        tokens["scope"].as_str().unwrap_or_default(),
        tokens["expires_in"]
    );

    // 3. Introspection: is it active, and whose is it?
    let mut form = vec![("token", access_token.to_string())];
    let request = authenticate(http.post(&introspection_endpoint), &mut form)?;
    let seen: Value = request.form(&form).send().await?.json().await?;
    println!("introspection: {seen}");

    // 4. Offline verification, as a resource server does: our JWKS, ES256 only, typ at+jwt,
    //    iss and aud = the issuer.
    let jwks: JwkSet = http.get(&jwks_uri).send().await?.json().await?;
    let header = jsonwebtoken::decode_header(access_token)?;
    if header.typ.as_deref() != Some("at+jwt") {
        bail!("not an access token");
    }
    let jwk = jwks
        .find(header.kid.as_deref().context("no kid")?)
        .context("kid not in the JWKS")?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[&issuer]);
    validation.set_audience(&[&issuer]);
    let claims =
        jsonwebtoken::decode::<Value>(access_token, &DecodingKey::from_jwk(jwk)?, &validation)?
            .claims;
    println!(
        "verified offline: sub {} scope `{}`",
        claims["sub"].as_str().unwrap_or_default(),
        claims["scope"].as_str().unwrap_or_default()
    );
    Ok(())
}
