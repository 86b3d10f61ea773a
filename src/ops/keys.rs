//! `/v1/ops/keys`: our signing keys.

use poem::Request;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{Object, OpenApi};
use time::OffsetDateTime;

use super::guard::OperatorAuth;
use crate::http::{ApiError, ApiResult, ApiTag, catalogue};
use crate::state::AppState;
use crate::tokens::keys::{self, KeyInfo, RetireError};

#[derive(Default)]
pub struct OpsKeysApi;

/// One of our signing keys.
#[derive(Debug, Object)]
#[oai(example)]
struct SigningKey {
    kid: String,
    alg: String,
    /// `pending` (published, not signing yet), `active`, `retired` (published, no longer
    /// signing), `unpublished`, or `withdrawn` (compromised, out of the JWKS).
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

/// How to retire a key.
#[derive(Debug, Object)]
#[oai(example)]
struct Retirement {
    /// The key is compromised: take it out of the JWKS now, so every token it signed stops
    /// working within seconds. Otherwise it stays published until its tokens expire.
    #[oai(default)]
    withdraw: bool,
}

impl Example for Retirement {
    fn example() -> Self {
        Retirement { withdraw: false }
    }
}

#[OpenApi(prefix_path = "/v1/ops", tag = "ApiTag::Operations")]
impl OpsKeysApi {
    /// List signing keys
    ///
    /// Every key with its phase: pending, active, retired or unpublished.
    #[oai(path = "/keys", method = "get", operation_id = "opsListKeys")]
    async fn list_keys(
        &self,
        state: Data<&AppState>,
        req: &Request,
        operator: OperatorAuth,
    ) -> ApiResult<Json<Vec<SigningKey>>> {
        operator
            .0
            .audit(
                &state,
                req,
                "signing_keys_listed",
                "keys",
                serde_json::json!({}),
            )
            .await;
        let keys = keys::list(&state.db).await?;
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
        operator: OperatorAuth,
    ) -> ApiResult<Json<SigningKey>> {
        let operator = operator.0;
        let key = keys::rotate(
            &state.db,
            &state.master_key(),
            state.config.key_rotation_delay,
            state.config.access_token_ttl,
        )
        .await?;
        operator
            .audit(
                &state,
                req,
                "signing_key_rotated",
                key.kid.clone(),
                serde_json::json!({}),
            )
            .await;
        Ok(Json(key.into()))
    }

    /// Retire a signing key
    ///
    /// The key stops signing now; with `withdraw` it also leaves the JWKS at once (a compromised
    /// key). A pending key that is retired gives the keys it was to replace their schedule back.
    /// Refused with 409 when some moment from now on would be left without a signing key:
    /// rotate first.
    #[oai(
        path = "/keys/:kid/retire",
        method = "post",
        operation_id = "opsRetireKey"
    )]
    async fn retire_key(
        &self,
        state: Data<&AppState>,
        req: &Request,
        operator: OperatorAuth,
        /// The key id.
        kid: Path<String>,
        body: Json<Retirement>,
    ) -> ApiResult<Json<SigningKey>> {
        let operator = operator.0;
        let retired = keys::retire(
            &state.db,
            &kid.0,
            state.config.access_token_ttl,
            body.0.withdraw,
        )
        .await
        .map_err(|err| match err {
            RetireError::Unknown(_) => ApiError::new(&catalogue::NOT_FOUND),
            err @ RetireError::LastSigner(_) => {
                ApiError::new(&catalogue::CONFLICT).arg("reason", err)
            }
            RetireError::Other(err) => ApiError::internal(err),
        })?;
        // This replica at once; the others at their next reload, within seconds.
        state.tokens.keyring().reload().await?;
        operator
            .audit(
                &state,
                req,
                "signing_key_retired",
                retired.key.kid.clone(),
                serde_json::json!({ "withdraw": body.0.withdraw, "restored": retired.restored }),
            )
            .await;
        Ok(Json(retired.key.into()))
    }
}
