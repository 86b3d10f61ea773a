//! `/v1/ops/clients`: apps and service providers.

use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::{Example, MaybeUndefined};
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::guard::{OperatorAuth, default_page};
use crate::clients::service::{self, ClientChanges, ClientError};
use crate::clients::{Client, ClientKind, InvalidClient, NewClient, store};
use crate::http::{ApiError, ApiResult, ApiTag, catalogue};
use crate::state::AppState;

#[derive(Default)]
pub struct OpsClientsApi;

/// A registered client, as operators see it (never its secret).
#[derive(Debug, Object)]
#[oai(example)]
struct ClientView {
    client_id: String,
    name: String,
    /// `public` or `confidential`.
    kind: String,
    redirect_uris: Vec<String>,
    scopes: Vec<String>,
    /// Requests per minute; absent: the deployment's default.
    #[oai(skip_serializing_if_is_none)]
    rate_limit_per_min: Option<i32>,
    #[oai(skip_serializing_if_is_none)]
    jwks_uri: Option<String>,
    /// Agency codes a bound service provider acts for.
    agencies: Vec<String>,
    /// The merchant a bound service provider acts for.
    #[oai(skip_serializing_if_is_none)]
    merchant_id: Option<String>,
    /// Grants it may use (RFC 7591).
    grant_types: Vec<String>,
    /// How it authenticates (RFC 7591): `none` (apps), `client_secret_basic` (a secret, also
    /// accepted as `client_secret_post`) or `private_key_jwt` (with `jwks_uri`).
    token_endpoint_auth_method: String,
    /// `active` or `suspended`.
    status: String,
}

impl Example for ClientView {
    fn example() -> Self {
        ClientView {
            client_id: "mc_3k9x2m4q8w7e5r1t6y0u2i4o".into(),
            name: "Sở Tư pháp back office".into(),
            kind: "confidential".into(),
            redirect_uris: vec![],
            scopes: vec!["dossiers:read".into(), "dossiers:write".into()],
            rate_limit_per_min: Some(600),
            jwks_uri: None,
            agencies: vec!["000.00.12.H12".into()],
            merchant_id: None,
            grant_types: vec!["client_credentials".into()],
            token_endpoint_auth_method: "client_secret_basic".into(),
            status: "active".into(),
        }
    }
}

impl From<Client> for ClientView {
    fn from(c: Client) -> Self {
        ClientView {
            token_endpoint_auth_method: c.token_endpoint_auth_method().into(),
            client_id: c.client_id,
            name: c.name,
            kind: c.kind.as_str().into(),
            redirect_uris: c.redirect_uris,
            scopes: c.scopes,
            rate_limit_per_min: c.rate_limit_per_min,
            jwks_uri: c.jwks_uri,
            agencies: c.agencies,
            merchant_id: c.merchant_id,
            grant_types: c.grant_types,
            status: c.status.as_str().into(),
        }
    }
}

/// A client to register.
#[derive(Debug, Object)]
#[oai(example)]
struct ClientCreate {
    name: String,
    /// `public` (an app: PKCE, no secret) or `confidential` (a server).
    kind: String,
    /// Apps: a private-use scheme, https, or loopback (RFC 8252).
    #[oai(default)]
    redirect_uris: Vec<String>,
    /// Default for public clients: `openid profile offline_access`.
    #[oai(default)]
    scopes: Vec<String>,
    rate_limit_per_min: Option<i32>,
    /// For `private_key_jwt`: where the client publishes its keys (then it gets no secret).
    jwks_uri: Option<String>,
    #[oai(default)]
    agencies: Vec<String>,
    merchant_id: Option<String>,
    /// Default: `authorization_code` and `refresh_token` for public clients,
    /// `client_credentials` for confidential ones.
    #[oai(default)]
    grant_types: Vec<String>,
}

impl Example for ClientCreate {
    fn example() -> Self {
        ClientCreate {
            name: "Sở Tư pháp back office".into(),
            kind: "confidential".into(),
            redirect_uris: vec![],
            scopes: vec!["dossiers:read".into(), "dossiers:write".into()],
            rate_limit_per_min: Some(600),
            jwks_uri: None,
            agencies: vec!["000.00.12.H12".into()],
            merchant_id: None,
            grant_types: vec![],
        }
    }
}

/// Changes to a client; absent fields stay as they are, `null` clears an optional one.
#[derive(Debug, Object)]
#[oai(example)]
struct ClientUpdate {
    name: Option<String>,
    redirect_uris: Option<Vec<String>>,
    scopes: Option<Vec<String>>,
    rate_limit_per_min: MaybeUndefined<i32>,
    jwks_uri: MaybeUndefined<String>,
    agencies: Option<Vec<String>>,
    merchant_id: MaybeUndefined<String>,
    grant_types: Option<Vec<String>>,
}

impl Example for ClientUpdate {
    fn example() -> Self {
        ClientUpdate {
            name: None,
            redirect_uris: None,
            scopes: Some(vec!["dossiers:read".into()]),
            rate_limit_per_min: MaybeUndefined::Value(120),
            jwks_uri: MaybeUndefined::Undefined,
            agencies: None,
            merchant_id: MaybeUndefined::Undefined,
            grant_types: None,
        }
    }
}

/// A new client or a new secret: the secret is shown this once.
#[derive(Debug, Object)]
#[oai(example)]
struct ClientWithSecret {
    #[oai(flatten)]
    client: ClientView,
    /// Only for confidential clients without a `jwks_uri`. Store it now: it is kept hashed.
    #[oai(skip_serializing_if_is_none)]
    client_secret: Option<String>,
}

impl Example for ClientWithSecret {
    fn example() -> Self {
        ClientWithSecret {
            client: ClientView::example(),
            client_secret: Some("nH3v8Vt0yS2m1Qx7bq9Lr4aZc6Wd5Ef8Gh0Jk2Lm4No".into()),
        }
    }
}

#[derive(ApiResponse)]
enum Created {
    /// Registered.
    #[oai(status = 201)]
    Created(
        Json<ClientWithSecret>,
        #[oai(header = "Cache-Control")] String,
    ),
}

#[derive(ApiResponse)]
enum Updated {
    /// Updated; `client_secret` only when clearing `jwks_uri` gave the client a new secret.
    #[oai(status = 200)]
    Ok(
        Json<ClientWithSecret>,
        #[oai(header = "Cache-Control")] String,
    ),
}

#[derive(ApiResponse)]
enum SecretRotated {
    /// The new secret; the old one and the tokens it obtained no longer work.
    #[oai(status = 200)]
    Ok(
        Json<ClientWithSecret>,
        #[oai(header = "Cache-Control")] String,
    ),
}

#[derive(ApiResponse)]
enum Deleted {
    /// Deleted: it authenticates no more, and its tokens and sessions end on every replica
    /// within a second (within 5 s if Redis fails).
    #[oai(status = 204)]
    NoContent,
}

/// A registration refused, with the field at fault.
fn invalid(err: InvalidClient) -> ApiError {
    let pointer = match &err {
        InvalidClient::Name => "/name",
        InvalidClient::RedirectUri(..) | InvalidClient::NoRedirectUri => "/redirect_uris",
        InvalidClient::TooMany("agencies", _) => "/agencies",
        InvalidClient::TooMany("scopes", _) => "/scopes",
        InvalidClient::TooMany("grant types", _) => "/grant_types",
        InvalidClient::TooMany(..) => "/redirect_uris",
        InvalidClient::Scope(_) => "/scopes",
        InvalidClient::RateLimit => "/rate_limit_per_min",
        InvalidClient::JwksUri | InvalidClient::JwksUriOnPublic => "/jwks_uri",
        InvalidClient::Binding(_) | InvalidClient::TwoBindings | InvalidClient::BindingOnPublic => {
            "/agencies"
        }
        InvalidClient::GrantType(_)
        | InvalidClient::ClientCredentialsOnPublic
        | InvalidClient::CodeWithoutRedirect
        | InvalidClient::RefreshWithoutCode => "/grant_types",
    };
    ApiError::new(&catalogue::VALIDATION_FAILED).field(pointer, err.to_string())
}

impl From<ClientError> for ApiError {
    fn from(err: ClientError) -> Self {
        match err {
            ClientError::NotFound(_) => ApiError::new(&catalogue::NOT_FOUND),
            ClientError::Invalid(err) => invalid(err),
            ClientError::NoSecret => ApiError::new(&catalogue::CONFLICT)
                .arg("reason", "this client authenticates without a secret"),
            ClientError::Database(err) => ApiError::internal(err),
        }
    }
}

fn changes(body: ClientUpdate) -> ClientChanges {
    ClientChanges {
        name: body.name,
        redirect_uris: body.redirect_uris,
        scopes: body.scopes,
        agencies: body.agencies,
        grant_types: body.grant_types,
        rate_limit_per_min: change(body.rate_limit_per_min),
        jwks_uri: change(body.jwks_uri),
        merchant_id: change(body.merchant_id),
    }
}

fn change<T>(field: MaybeUndefined<T>) -> Option<Option<T>> {
    match field {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(value) => Some(Some(value)),
    }
}

#[OpenApi(prefix_path = "/v1/ops", tag = "ApiTag::Operations")]
impl OpsClientsApi {
    /// List clients
    ///
    /// In client-id order; pass the last id seen as `after` for the next page.
    #[oai(path = "/clients", method = "get", operation_id = "opsListClients")]
    async fn list_clients(
        &self,
        state: Data<&AppState>,
        req: &Request,
        operator: OperatorAuth,
        /// The last client id of the previous page.
        after: Query<Option<String>>,
        /// Page size, 1 to 200.
        #[oai(
            default = "default_page",
            validator(minimum(value = "1"), maximum(value = "200"))
        )]
        limit: Query<i64>,
    ) -> ApiResult<Json<Vec<ClientView>>> {
        operator
            .0
            .audit(
                &state,
                req,
                "clients_listed",
                "clients",
                serde_json::json!({ "after": after.0 }),
            )
            .await;
        let clients = store::list(&state.db, after.0.as_deref(), limit.0).await?;
        Ok(Json(clients.into_iter().map(ClientView::from).collect()))
    }

    /// Register a client
    ///
    /// A confidential client without `jwks_uri` gets a generated 256-bit secret, returned this
    /// once and stored only as its SHA-256.
    #[oai(path = "/clients", method = "post", operation_id = "opsCreateClient")]
    async fn create_client(
        &self,
        state: Data<&AppState>,
        req: &Request,
        operator: OperatorAuth,
        body: Json<ClientCreate>,
    ) -> ApiResult<Created> {
        let body = body.0;
        let kind = ClientKind::parse(&body.kind).ok_or_else(|| {
            ApiError::new(&catalogue::VALIDATION_FAILED)
                .field("/kind", "must be `public` or `confidential`")
        })?;
        let new = NewClient {
            name: body.name,
            kind,
            redirect_uris: body.redirect_uris,
            scopes: body.scopes,
            rate_limit_per_min: body.rate_limit_per_min,
            jwks_uri: body.jwks_uri,
            agencies: body.agencies,
            merchant_id: body.merchant_id,
            grant_types: body.grant_types,
        }
        .validate()
        .map_err(invalid)?;
        let done = service::create(&state.db, new).await?;
        operator.0.record(&state, req, done.event).await;
        Ok(Created::Created(
            Json(ClientWithSecret {
                client: done.value.client.into(),
                client_secret: done.value.secret,
            }),
            "no-store".into(),
        ))
    }

    /// Show a client
    #[oai(path = "/clients/:id", method = "get", operation_id = "opsShowClient")]
    async fn show_client(
        &self,
        state: Data<&AppState>,
        req: &Request,
        operator: OperatorAuth,
        /// The client id.
        id: Path<String>,
    ) -> ApiResult<Json<ClientView>> {
        let client = service::find(&state.db, &id.0).await?;
        operator
            .0
            .audit(
                &state,
                req,
                "client_shown",
                id.0.clone(),
                serde_json::json!({}),
            )
            .await;
        Ok(Json(client.into()))
    }

    /// Update a client
    ///
    /// Changes name, redirect URIs, scopes, grant types, rate limit, `jwks_uri` or bindings.
    /// When scopes, grant types, bindings or `jwks_uri` change, tokens issued before stop
    /// working on every replica within a second (5 s if Redis fails), so the change applies at once; the client
    /// gets new tokens as usual. Refresh tokens never mint scopes the app no longer has. Setting
    /// a `jwks_uri` moves the client to `private_key_jwt` and its secret stops working; clearing
    /// it gives the client a new secret, returned this once.
    #[oai(
        path = "/clients/:id",
        method = "patch",
        operation_id = "opsUpdateClient"
    )]
    async fn update_client(
        &self,
        state: Data<&AppState>,
        req: &Request,
        operator: OperatorAuth,
        /// The client id.
        id: Path<String>,
        body: Json<ClientUpdate>,
    ) -> ApiResult<Updated> {
        let done = service::update(&state.db, &state.revocations, &id.0, changes(body.0)).await?;
        operator.0.record(&state, req, done.event).await;
        Ok(Updated::Ok(
            Json(ClientWithSecret {
                client: service::find(&state.db, &id.0).await?.into(),
                client_secret: done.value,
            }),
            "no-store".into(),
        ))
    }

    /// Delete a client
    ///
    /// It can authenticate no more; its tokens and sessions end on every replica within a
    /// second. Its id is never reused.
    #[oai(
        path = "/clients/:id",
        method = "delete",
        operation_id = "opsDeleteClient"
    )]
    async fn delete_client(
        &self,
        state: Data<&AppState>,
        req: &Request,
        operator: OperatorAuth,
        /// The client id.
        id: Path<String>,
    ) -> ApiResult<Deleted> {
        let done = service::delete(&state.db, &state.revocations, &id.0).await?;
        operator.0.record(&state, req, done.event).await;
        Ok(Deleted::NoContent)
    }

    /// Suspend a client
    ///
    /// It can get no new tokens, and every token it holds stops working on every replica within
    /// a second. Resuming does not bring those tokens back.
    #[oai(
        path = "/clients/:id/suspend",
        method = "post",
        operation_id = "opsSuspendClient"
    )]
    async fn suspend_client(
        &self,
        state: Data<&AppState>,
        req: &Request,
        operator: OperatorAuth,
        /// The client id.
        id: Path<String>,
    ) -> ApiResult<Json<ClientView>> {
        let done = service::suspend(&state.db, &state.revocations, &id.0).await?;
        operator.0.record(&state, req, done.event).await;
        Ok(Json(service::find(&state.db, &id.0).await?.into()))
    }

    /// Resume a client
    #[oai(
        path = "/clients/:id/resume",
        method = "post",
        operation_id = "opsResumeClient"
    )]
    async fn resume_client(
        &self,
        state: Data<&AppState>,
        req: &Request,
        operator: OperatorAuth,
        /// The client id.
        id: Path<String>,
    ) -> ApiResult<Json<ClientView>> {
        let done = service::resume(&state.db, &id.0).await?;
        operator.0.record(&state, req, done.event).await;
        Ok(Json(service::find(&state.db, &id.0).await?.into()))
    }

    /// Rotate a client's secret
    ///
    /// Returns a new secret, shown this once. The old secret stops working at once, and so do
    /// the tokens obtained before (a rotation usually follows a leak). 409 for clients without
    /// a secret (apps, `private_key_jwt`).
    #[oai(
        path = "/clients/:id/secret",
        method = "post",
        operation_id = "opsRotateClientSecret"
    )]
    async fn rotate_secret(
        &self,
        state: Data<&AppState>,
        req: &Request,
        operator: OperatorAuth,
        /// The client id.
        id: Path<String>,
    ) -> ApiResult<SecretRotated> {
        let done = service::rotate_secret(&state.db, &state.revocations, &id.0).await?;
        operator.0.record(&state, req, done.event).await;
        let (client, secret) = done.value;
        Ok(SecretRotated::Ok(
            Json(ClientWithSecret {
                client: client.into(),
                client_secret: Some(secret),
            }),
            "no-store".into(),
        ))
    }
}
