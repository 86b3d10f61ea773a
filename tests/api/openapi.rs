//! The committed OpenAPI document is the interface: it must be exactly what the code serves.

use crate::helpers::TestApp;

#[test]
fn committed_openapi_document_matches_the_code() {
    let generated = motcua::startup::openapi_json();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/openapi.json differs from the code. Regenerate it with:\n\n    cargo run --quiet -- openapi > openapi/openapi.json\n"
    );
}

#[test]
fn every_path_in_the_shared_path_table_is_an_operation_of_the_document() {
    let document: serde_json::Value =
        serde_json::from_str(&motcua::startup::openapi_json()).unwrap();
    for path in motcua::http::paths::ALL {
        assert!(
            document["paths"].get(*path).is_some(),
            "{path} is in http::paths but no operation serves it"
        );
    }
}

/// poem-openapi writes a path once per API that names it, and JSON readers keep one of two equal
/// keys: the operations under the other (the public reads of `/v1/listings` once) vanish from
/// every client and fuzzer reading the document.
#[test]
fn every_path_is_one_key_of_the_document() {
    struct Keys(Vec<String>);
    impl<'de> serde::Deserialize<'de> for Keys {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct Visitor;
            impl<'de> serde::de::Visitor<'de> for Visitor {
                type Value = Keys;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<Keys, A::Error> {
                    let mut keys = Vec::new();
                    while let Some((key, _)) = map.next_entry::<String, serde::de::IgnoredAny>()? {
                        keys.push(key);
                    }
                    Ok(Keys(keys))
                }
            }
            deserializer.deserialize_map(Visitor)
        }
    }
    #[derive(serde::Deserialize)]
    struct Document {
        paths: Keys,
    }
    let document: Document = serde_json::from_str(&motcua::startup::openapi_json()).unwrap();
    let mut seen = std::collections::HashSet::new();
    for path in &document.paths.0 {
        assert!(
            seen.insert(path),
            "{path} is written twice in the document's paths"
        );
    }
    let spec: serde_json::Value = serde_json::from_str(&motcua::startup::openapi_json()).unwrap();
    for (path, method) in [("/v1/listings", "get"), ("/v1/listings/{id}", "get")] {
        assert!(
            spec["paths"][path][method].is_object(),
            "{method} {path} is missing"
        );
    }
}

/// RFC 7662 §2.2: an inactive token's answer is `{"active": false}` and nothing else, at
/// `/v1/auth/introspect` and `/v1/ops/tokens/introspect` alike.
#[test]
fn an_introspection_answer_requires_only_active() {
    let spec: serde_json::Value = serde_json::from_str(&motcua::startup::openapi_json()).unwrap();
    let schema = &spec["components"]["schemas"]["Introspection"];
    assert_eq!(
        schema["required"],
        serde_json::json!(["active"]),
        "{schema}"
    );
}

/// poem-openapi names `time`'s dates `naive-date` and the like, formats no OpenAPI tool knows:
/// clients and generators would take them for any string (a fuzzer never sent a valid day to
/// the holiday table).
#[test]
fn every_format_is_one_openapi_tools_know() {
    fn walk(value: &serde_json::Value, at: &str) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(format) = map.get("format").and_then(|f| f.as_str()) {
                    assert!(!format.starts_with("naive-"), "{at}: format {format}");
                }
                for (key, inner) in map {
                    walk(inner, &format!("{at}/{key}"));
                }
            }
            serde_json::Value::Array(items) => {
                for (i, inner) in items.iter().enumerate() {
                    walk(inner, &format!("{at}/{i}"));
                }
            }
            _ => {}
        }
    }
    let spec: serde_json::Value = serde_json::from_str(&motcua::startup::openapi_json()).unwrap();
    walk(&spec, "");
}

/// An image is answered as `image/jpeg` or `image/png`; the document must cover both, not name
/// `application/octet-stream`.
#[test]
fn images_are_documented_as_images() {
    let spec: serde_json::Value = serde_json::from_str(&motcua::startup::openapi_json()).unwrap();
    let content = spec["paths"]["/v1/images/{name}"]["get"]["responses"]["200"]["content"]
        .as_object()
        .unwrap();
    let types: Vec<&String> = content.keys().collect();
    assert_eq!(types, ["image/*"], "{content:?}");
}

#[tokio::test]
async fn the_served_document_is_the_committed_one_and_docs_are_interactive() {
    let app = TestApp::spawn().await;
    let served: serde_json::Value = app.get("/openapi.json").await.json().await.unwrap();
    let committed: serde_json::Value =
        serde_json::from_str(&motcua::startup::openapi_json()).unwrap();
    assert_eq!(served, committed);
    let docs = app.get("/docs").await;
    assert_eq!(docs.status(), 200);
    assert!(
        docs.text()
            .await
            .unwrap()
            .to_lowercase()
            .contains("swagger")
    );
}

#[test]
fn every_operation_has_a_summary_an_id_and_documented_responses() {
    let spec: serde_json::Value = serde_json::from_str(&motcua::startup::openapi_json()).unwrap();
    let paths = spec["paths"].as_object().unwrap();
    assert!(!paths.is_empty());
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{method} {path}: summary"
            );
            assert!(
                op["operationId"].is_string(),
                "{method} {path}: operationId"
            );
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses
                    .keys()
                    .any(|s| s.starts_with('2') || s.starts_with('3')),
                "{method} {path}: a success or redirect response"
            );
        }
    }
}

fn enum_of(schema: &serde_json::Value) -> Vec<&str> {
    schema["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("no enum in {schema}"))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn the_served_document_describes_the_errors_and_oauth_values_the_server_answers_with() {
    let app = TestApp::spawn().await;
    let spec: serde_json::Value = app.get("/openapi.json").await.json().await.unwrap();
    let schemas = &spec["components"]["schemas"];

    // Problems without field errors leave `errors` out, so it cannot be required.
    let required: Vec<&str> = schemas["Problem"]["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(!required.contains(&"errors"), "{required:?}");
    let not_found = app.get("/v1/nothing-here").await;
    assert_eq!(not_found.status(), 404);
    let body: serde_json::Value = not_found.json().await.unwrap();
    for field in &required {
        assert!(body.get(*field).is_some(), "{field} missing from {body}");
    }

    // A request body without `Content-Type` is answered with 415, so it is documented.
    let create = &spec["paths"]["/v1/ops/clients"]["post"]["responses"];
    assert!(create.get("415").is_some(), "{create}");
    // Operators are checked first: only an operator gets as far as the body.
    let operator = crate::helpers::operator_token(&app).await;
    let unsupported = app
        .client
        .post(app.url("/v1/ops/clients"))
        .bearer_auth(&operator)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(unsupported.status(), 415);

    let token = &schemas["TokenForm"]["properties"];
    assert_eq!(
        enum_of(&token["grant_type"]),
        ["authorization_code", "refresh_token", "client_credentials"]
    );
    assert_eq!(
        enum_of(&token["client_assertion_type"]),
        ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"]
    );
    assert_eq!(token["code_verifier"]["minLength"], 43);
    assert_eq!(token["code_verifier"]["maxLength"], 128);
    for form in ["RevokeForm", "IntrospectForm"] {
        assert_eq!(
            enum_of(&schemas[form]["properties"]["token_type_hint"]),
            ["access_token", "refresh_token"],
            "{form}"
        );
    }
    let authorize = spec["paths"]["/v1/auth/authorize"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let param = |name: &str| {
        &authorize
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no {name}"))["schema"]
    };
    assert_eq!(enum_of(param("response_type")), ["code"]);
    assert_eq!(enum_of(param("code_challenge_method")), ["S256"]);
    assert_eq!(param("code_challenge")["maxLength"], 128);

    let token_doc = spec["paths"]["/v1/auth/token"]["post"]["description"]
        .as_str()
        .unwrap();
    for named in [
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    ] {
        assert!(
            token_doc.contains(named),
            "the token endpoint's description names {named}"
        );
    }
}

#[tokio::test]
async fn values_outside_the_documented_ones_still_get_rfc_6749_errors() {
    let app = TestApp::spawn().await;
    let token = |form: &'static [(&'static str, &'static str)]| {
        app.client.post(app.url("/v1/auth/token")).form(form).send()
    };
    for (form, error) in [
        (&[("grant_type", "password")][..], "unsupported_grant_type"),
        (&[("client_id", "mc_x")][..], "invalid_request"),
        (
            &[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", "saml"),
                ("client_assertion", "x"),
            ][..],
            "invalid_request",
        ),
    ] {
        let response = token(form).await.unwrap();
        assert_eq!(response.status(), 400, "{form:?}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], error, "{form:?}: {body}");
    }

    let client_id = app.public_client(crate::signin::APP_REDIRECT).await;
    let request = crate::signin::Request::new(&client_id);
    let url = request
        .authorize_url(&app)
        .replace("response_type=code", "response_type=token");
    let response = app.client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 302);
    let params = crate::signin::query_of(&crate::signin::location(&response));
    assert_eq!(params["error"], "unsupported_response_type");
    assert_eq!(params["state"], request.state);
}
