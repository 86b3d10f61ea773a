use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{Object, OpenApi};
use time::OffsetDateTime;
use uuid::Uuid;

use super::roles;
use crate::audit::{self, Event, Outcome, RequestFacts};
use crate::http::{ApiError, ApiResult, ApiTag, catalogue};
use crate::startup::AppState;
use crate::tokens::BearerAuth;
use crate::tokens::keys::{self, KeyInfo};

pub struct OpsApi;

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
    #[oai(skip_serializing_if_is_none)]
    rate_limit_per_min: Option<i32>,
    #[oai(skip_serializing_if_is_none)]
    jwks_uri: Option<String>,
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
            scopes: vec!["dossiers:read".into()],
            rate_limit_per_min: Some(600),
            jwks_uri: None,
            status: "active".into(),
        }
    }
}

impl From<crate::clients::Client> for ClientView {
    fn from(c: crate::clients::Client) -> Self {
        ClientView {
            client_id: c.client_id,
            name: c.name,
            kind: c.kind.as_str().into(),
            redirect_uris: c.redirect_uris,
            scopes: c.scopes,
            rate_limit_per_min: c.rate_limit_per_min,
            jwks_uri: c.jwks_uri,
            status: c.status,
        }
    }
}

/// One of our signing keys.
#[derive(Debug, Object)]
#[oai(example)]
struct SigningKey {
    kid: String,
    alg: String,
    /// `pending` (published, not signing yet), `active`, `retired` (published, no longer
    /// signing) or `unpublished`.
    status: String,
    created_at: OffsetDateTime,
    /// When it starts (or started) signing.
    signing_from: OffsetDateTime,
    #[oai(skip_serializing_if_is_none)]
    retired_at: Option<OffsetDateTime>,
    /// When it leaves the JWKS: after every token it signed has expired.
    #[oai(skip_serializing_if_is_none)]
    unpublish_at: Option<OffsetDateTime>,
}

impl Example for SigningKey {
    fn example() -> Self {
        SigningKey {
            kid: "2026-11-27-ab12cd34".into(),
            alg: "ES256".into(),
            status: "active".into(),
            created_at: OffsetDateTime::UNIX_EPOCH,
            signing_from: OffsetDateTime::UNIX_EPOCH,
            retired_at: None,
            unpublish_at: None,
        }
    }
}

impl From<KeyInfo> for SigningKey {
    fn from(k: KeyInfo) -> Self {
        SigningKey {
            kid: k.kid,
            alg: k.alg,
            status: k.status.into(),
            created_at: k.created_at,
            signing_from: k.signing_from,
            retired_at: k.retired_at,
            unpublish_at: k.unpublish_at,
        }
    }
}

/// Operators only, through a client granted the `ops` scope, and only at identity level 2: a
/// citizen without the role gets 403, an operator signed in at level 1 the step-up challenge
/// (RFC 9470).
async fn operator(state: &AppState, auth: &BearerAuth) -> ApiResult<Uuid> {
    let forbidden = || ApiError::new(&catalogue::FORBIDDEN);
    let citizen = Uuid::parse_str(&auth.0.sub).map_err(|_| forbidden())?;
    // Only a token of the operators' console (granted `ops`) counts: an operator's sign-in to
    // any other app must not carry operator powers.
    if auth.0.sid.is_none() || !auth.0.has_scope("ops") {
        return Err(forbidden());
    }
    if !roles::has_role(&state.db, citizen, "operator")
        .await
        .map_err(ApiError::internal)?
    {
        return Err(forbidden());
    }
    auth.require_level2()?;
    Ok(citizen)
}

#[OpenApi(prefix_path = "/v1/ops", tag = "ApiTag::Operations")]
impl OpsApi {
    /// List signing keys
    ///
    /// Every key with its phase: pending, active, retired or unpublished.
    #[oai(path = "/keys", method = "get", operation_id = "opsListKeys")]
    async fn list_keys(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> ApiResult<Json<Vec<SigningKey>>> {
        operator(&state, &auth).await?;
        let keys = keys::list(&state.db).await.map_err(ApiError::internal)?;
        Ok(Json(keys.into_iter().map(SigningKey::from).collect()))
    }

    /// Rotate the signing key
    ///
    /// Publishes a new key now; it signs after the rotation delay (longer than the JWKS cache
    /// lifetime). The current key stops signing then and stays published until its tokens have
    /// expired.
    #[oai(path = "/keys/rotate", method = "post", operation_id = "opsRotateKey")]
    async fn rotate_key(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: BearerAuth,
    ) -> ApiResult<Json<SigningKey>> {
        let operator = operator(&state, &auth).await?;
        let key = keys::rotate(
            &state.db,
            &state.master_key(),
            state.config.key_rotation_delay,
            state.config.access_token_ttl,
        )
        .await
        .map_err(ApiError::internal)?;
        let event = Event::new("signing_key_rotated", Outcome::Success)
            .actor(format!("operator:{operator}"))
            .target(key.kid.clone())
            .facts(&RequestFacts::of(req));
        audit::record(&state.db, event).await;
        Ok(Json(key.into()))
    }

    /// List clients
    ///
    /// In client-id order; pass the last id seen as `after` for the next page.
    #[oai(path = "/clients", method = "get", operation_id = "opsListClients")]
    async fn list_clients(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        /// The last client id of the previous page.
        after: Query<Option<String>>,
        /// Page size, 1 to 200.
        #[oai(
            default = "default_page",
            validator(minimum(value = "1"), maximum(value = "200"))
        )]
        limit: Query<i64>,
    ) -> ApiResult<Json<Vec<ClientView>>> {
        operator(&state, &auth).await?;
        let clients = crate::clients::store::list(&state.db, after.0.as_deref(), limit.0)
            .await
            .map_err(ApiError::internal)?;
        Ok(Json(clients.into_iter().map(ClientView::from).collect()))
    }

    /// Show a client
    #[oai(path = "/clients/:id", method = "get", operation_id = "opsShowClient")]
    async fn show_client(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> ApiResult<Json<ClientView>> {
        operator(&state, &auth).await?;
        let client = crate::clients::store::find(&state.db, &id.0)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::new(&catalogue::NOT_FOUND))?;
        Ok(Json(client.into()))
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
        auth: BearerAuth,
        id: Path<String>,
    ) -> ApiResult<Json<ClientView>> {
        let operator = operator(&state, &auth).await?;
        let at = crate::clients::store::suspend(&state.db, &id.0)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::new(&catalogue::NOT_FOUND))?;
        state.revocations.suspend_client(&id.0, at).await;
        let event = Event::new("client_suspended", Outcome::Success)
            .actor(format!("operator:{operator}"))
            .target(id.0.clone())
            .facts(&RequestFacts::of(req));
        audit::record(&state.db, event).await;
        self.show_client(state, auth, id).await
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
        auth: BearerAuth,
        id: Path<String>,
    ) -> ApiResult<Json<ClientView>> {
        let operator = operator(&state, &auth).await?;
        if !crate::clients::store::resume(&state.db, &id.0)
            .await
            .map_err(ApiError::internal)?
        {
            return Err(ApiError::new(&catalogue::NOT_FOUND));
        }
        let event = Event::new("client_resumed", Outcome::Success)
            .actor(format!("operator:{operator}"))
            .target(id.0.clone())
            .facts(&RequestFacts::of(req));
        audit::record(&state.db, event).await;
        self.show_client(state, auth, id).await
    }
}

fn default_page() -> i64 {
    50
}
