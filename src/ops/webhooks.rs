//! `/v1/ops/clients/{id}/webhooks`: a service provider's webhook endpoints, their secrets, and
//! what was delivered to them.

use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use time::OffsetDateTime;
use time::macros::datetime;
use uuid::Uuid;

use super::guard::{OperatorAuth, default_page};
use crate::http::{ApiError, ApiResult, ApiTag, catalogue};
use crate::state::AppState;
use crate::webhooks::service::{self, WebhookError, WithSecret};
use crate::webhooks::{Attempt, Delivery, Endpoint};

#[derive(Default)]
pub struct OpsWebhooksApi;

const EXAMPLE_AT: OffsetDateTime = datetime!(2026-12-01 08:30 UTC);

/// A webhook endpoint (never its secret).
#[derive(Debug, Object)]
#[oai(example)]
struct WebhookView {
    id: String,
    client_id: String,
    /// Where events are posted (https; resolving only to public addresses).
    url: String,
    /// Event types sent to it.
    events: Vec<String>,
    /// `active`, or `failing` once an event was given up after the retry window (the next
    /// success makes it `active` again; events keep being sent).
    status: String,
    #[oai(skip_serializing_if_is_none)]
    failing_since: Option<OffsetDateTime>,
    /// After a rotation, the previous secret also signs each event until then.
    #[oai(skip_serializing_if_is_none)]
    previous_secret_until: Option<OffsetDateTime>,
    created_at: OffsetDateTime,
}

impl Example for WebhookView {
    fn example() -> Self {
        WebhookView {
            id: "wh_3k9x2m4q8w7e5r1t6y0u2i4o".into(),
            client_id: "mc_3k9x2m4q8w7e5r1t6y0u2i4o".into(),
            url: "https://motcua.sotuphap.camau.gov.vn/hooks/motcua".into(),
            events: vec!["dossier.submitted".into(), "dossier.status_changed".into()],
            status: "active".into(),
            failing_since: None,
            previous_secret_until: None,
            created_at: EXAMPLE_AT,
        }
    }
}

impl From<Endpoint> for WebhookView {
    fn from(e: Endpoint) -> Self {
        WebhookView {
            id: e.id,
            client_id: e.client_id,
            url: e.url,
            events: e.events,
            status: e.status,
            failing_since: e.failing_since,
            previous_secret_until: e.previous_secret_until,
            created_at: e.created_at,
        }
    }
}

/// An endpoint to register.
#[derive(Debug, Object)]
#[oai(example)]
struct WebhookCreate {
    /// https, resolving only to public addresses (not loopback, private, link-local, CGNAT,
    /// multicast); checked now and before every delivery. No credentials or fragment.
    #[oai(validator(max_length = 2000))]
    url: String,
    /// `dossier.submitted`, `dossier.supplemented`, `dossier.withdrawn`,
    /// `dossier.status_changed`.
    #[oai(validator(max_items = 16))]
    events: Vec<String>,
}

impl Example for WebhookCreate {
    fn example() -> Self {
        WebhookCreate {
            url: "https://motcua.sotuphap.camau.gov.vn/hooks/motcua".into(),
            events: vec!["dossier.submitted".into(), "dossier.status_changed".into()],
        }
    }
}

/// An endpoint with its signing secret, shown this once.
#[derive(Debug, Object)]
#[oai(example)]
struct WebhookWithSecret {
    #[oai(flatten)]
    webhook: WebhookView,
    /// `whsec_` and base64 of 32 random bytes: the Standard Webhooks key. Store it now.
    secret: String,
}

impl Example for WebhookWithSecret {
    fn example() -> Self {
        WebhookWithSecret {
            webhook: WebhookView::example(),
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwJ6dPUxtBS3k=".into(),
        }
    }
}

impl From<WithSecret> for WebhookWithSecret {
    fn from(w: WithSecret) -> Self {
        WebhookWithSecret {
            webhook: w.endpoint.into(),
            secret: w.secret,
        }
    }
}

/// One try to deliver an event.
#[derive(Debug, Object)]
struct AttemptView {
    attempt: i32,
    at: OffsetDateTime,
    /// The receiver's HTTP status, when it answered.
    #[oai(skip_serializing_if_is_none)]
    status_code: Option<i32>,
    #[oai(skip_serializing_if_is_none)]
    error: Option<String>,
    duration_ms: i32,
}

impl From<Attempt> for AttemptView {
    fn from(a: Attempt) -> Self {
        AttemptView {
            attempt: a.attempt,
            at: a.at,
            status_code: a.status_code,
            error: a.error,
            duration_ms: a.duration_ms,
        }
    }
}

/// One event for one endpoint.
#[derive(Debug, Object)]
#[oai(example)]
struct DeliveryView {
    id: Uuid,
    /// The `webhook-id` header: the same on every attempt and redelivery.
    event_id: String,
    event_type: String,
    /// `pending`, `delivered`, or `failed` (given up after the retry window).
    status: String,
    attempts: i32,
    /// When the next attempt is due (pending deliveries only).
    #[oai(skip_serializing_if_is_none)]
    next_attempt_at: Option<OffsetDateTime>,
    #[oai(skip_serializing_if_is_none)]
    delivered_at: Option<OffsetDateTime>,
    #[oai(skip_serializing_if_is_none)]
    last_error: Option<String>,
    created_at: OffsetDateTime,
    /// Every attempt, oldest first.
    attempt_log: Vec<AttemptView>,
}

impl Example for DeliveryView {
    fn example() -> Self {
        DeliveryView {
            id: Uuid::nil(),
            event_id: "msg_019ad9a3c2f07c30b1e5d0c4a2f3b6e1".into(),
            event_type: "dossier.status_changed".into(),
            status: "pending".into(),
            attempts: 1,
            next_attempt_at: Some(EXAMPLE_AT + time::Duration::seconds(5)),
            delivered_at: None,
            last_error: Some("HTTP 503".into()),
            created_at: EXAMPLE_AT,
            attempt_log: vec![AttemptView {
                attempt: 1,
                at: EXAMPLE_AT,
                status_code: Some(503),
                error: Some("HTTP 503".into()),
                duration_ms: 87,
            }],
        }
    }
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> Self {
        DeliveryView {
            id: d.id,
            event_id: d.event_id,
            event_type: d.event_type,
            status: d.status,
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            delivered_at: d.delivered_at,
            last_error: d.last_error,
            created_at: d.created_at,
            attempt_log: d.attempt_log.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(ApiResponse)]
enum Created {
    /// Registered; the secret is shown this once.
    #[oai(status = 201)]
    Created(
        Json<WebhookWithSecret>,
        #[oai(header = "Cache-Control")] String,
    ),
}

#[derive(ApiResponse)]
enum SecretRotated {
    /// The new secret, shown this once; the previous one also signs for 24 hours.
    #[oai(status = 200)]
    Ok(
        Json<WebhookWithSecret>,
        #[oai(header = "Cache-Control")] String,
    ),
}

#[derive(ApiResponse)]
enum Deleted {
    /// Deleted, with its pending deliveries.
    #[oai(status = 204)]
    NoContent,
}

#[derive(ApiResponse)]
enum Redelivery {
    /// Due now, with the same `webhook-id` and a fresh retry window.
    #[oai(status = 202)]
    Accepted(Json<DeliveryView>),
}

impl From<WebhookError> for ApiError {
    fn from(err: WebhookError) -> Self {
        match err {
            WebhookError::ClientNotFound(_) | WebhookError::NotFound => {
                ApiError::new(&catalogue::NOT_FOUND)
            }
            WebhookError::Invalid(err) => ApiError::new(&catalogue::VALIDATION_FAILED)
                .field(format!("/{}", err.field()), err.to_string()),
            WebhookError::InFlight => ApiError::new(&catalogue::CONFLICT)
                .arg("reason", "an attempt to deliver it is in flight"),
            WebhookError::Crypto => ApiError::internal(err),
            WebhookError::Database(err) => ApiError::internal(err),
        }
    }
}

#[OpenApi(prefix_path = "/v1/ops", tag = "ApiTag::Operations")]
impl OpsWebhooksApi {
    /// List a client's webhook endpoints
    #[oai(
        path = "/clients/:id/webhooks",
        method = "get",
        operation_id = "opsListWebhooks"
    )]
    async fn list_webhooks(
        &self,
        state: Data<&AppState>,
        req: &Request,
        operator: OperatorAuth,
        /// The client id.
        id: Path<String>,
    ) -> ApiResult<Json<Vec<WebhookView>>> {
        let endpoints = service::list(&state.db, &id.0).await?;
        let details = serde_json::json!({});
        operator
            .0
            .audit(&state, req, "webhooks_listed", id.0.clone(), details)
            .await;
        Ok(Json(endpoints.into_iter().map(Into::into).collect()))
    }

    /// Register a webhook endpoint
    ///
    /// Events the client subscribes to are posted to `url`, signed per Standard Webhooks
    /// (`webhook-id`, `webhook-timestamp`, `webhook-signature`) with a new secret returned this
    /// once and stored encrypted. Dossier events go to clients bound to the dossier's agency.
    /// A URL that is not https or resolves to an internal address is refused (422, `/url`).
    #[oai(
        path = "/clients/:id/webhooks",
        method = "post",
        operation_id = "opsCreateWebhook"
    )]
    async fn create_webhook(
        &self,
        state: Data<&AppState>,
        req: &Request,
        operator: OperatorAuth,
        /// The client id.
        id: Path<String>,
        body: Json<WebhookCreate>,
    ) -> ApiResult<Created> {
        let done = service::create(
            &state.db,
            &state.master_key(),
            &state.config.webhooks,
            &id.0,
            &body.0.url,
            &body.0.events,
        )
        .await?;
        operator.0.record(&state, req, done.event).await;
        Ok(Created::Created(Json(done.value.into()), "no-store".into()))
    }

    /// Delete a webhook endpoint
    ///
    /// Its pending deliveries are dropped.
    #[oai(
        path = "/clients/:id/webhooks/:webhook_id",
        method = "delete",
        operation_id = "opsDeleteWebhook"
    )]
    async fn delete_webhook(
        &self,
        state: Data<&AppState>,
        req: &Request,
        operator: OperatorAuth,
        /// The client id.
        id: Path<String>,
        /// The endpoint id.
        webhook_id: Path<String>,
    ) -> ApiResult<Deleted> {
        let done = service::delete(&state.db, &id.0, &webhook_id.0).await?;
        operator.0.record(&state, req, done.event).await;
        Ok(Deleted::NoContent)
    }

    /// Rotate a webhook endpoint's secret
    ///
    /// Returns a new secret, shown this once. For 24 hours every event carries two signatures,
    /// one per secret, so the receiver can switch without losing an event.
    #[oai(
        path = "/clients/:id/webhooks/:webhook_id/secret",
        method = "post",
        operation_id = "opsRotateWebhookSecret"
    )]
    async fn rotate_webhook_secret(
        &self,
        state: Data<&AppState>,
        req: &Request,
        operator: OperatorAuth,
        /// The client id.
        id: Path<String>,
        /// The endpoint id.
        webhook_id: Path<String>,
    ) -> ApiResult<SecretRotated> {
        let now = OffsetDateTime::now_utc();
        let done =
            service::rotate_secret(&state.db, &state.master_key(), &id.0, &webhook_id.0, now)
                .await?;
        operator.0.record(&state, req, done.event).await;
        Ok(SecretRotated::Ok(
            Json(done.value.into()),
            "no-store".into(),
        ))
    }

    /// List a webhook endpoint's deliveries
    ///
    /// Newest first, each with its attempts, last error and next attempt; pass the last id
    /// seen as `before` for the next page. Retries back off exponentially, with jitter, for
    /// `MOTCUA_WEBHOOK_RETRY_WINDOW_SECS` (a day by default).
    #[oai(
        path = "/clients/:id/webhooks/:webhook_id/deliveries",
        method = "get",
        operation_id = "opsListWebhookDeliveries"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn list_deliveries(
        &self,
        state: Data<&AppState>,
        req: &Request,
        operator: OperatorAuth,
        /// The client id.
        id: Path<String>,
        /// The endpoint id.
        webhook_id: Path<String>,
        /// The last delivery id of the previous page.
        before: Query<Option<Uuid>>,
        /// Page size, 1 to 200.
        #[oai(
            default = "default_page",
            validator(minimum(value = "1"), maximum(value = "200"))
        )]
        limit: Query<i64>,
    ) -> ApiResult<Json<Vec<DeliveryView>>> {
        let deliveries =
            service::deliveries(&state.db, &id.0, &webhook_id.0, before.0, limit.0).await?;
        let details = serde_json::json!({ "webhook": webhook_id.0 });
        operator
            .0
            .audit(
                &state,
                req,
                "webhook_deliveries_listed",
                id.0.clone(),
                details,
            )
            .await;
        Ok(Json(deliveries.into_iter().map(Into::into).collect()))
    }

    /// Redeliver an event
    ///
    /// Makes the delivery due now, with the same `webhook-id`, and gives it a fresh retry
    /// window: after it was given up, or when the receiver lost what it acknowledged. 409 while
    /// an attempt is in flight.
    #[oai(
        path = "/clients/:id/webhooks/:webhook_id/deliveries/:delivery_id/redeliver",
        method = "post",
        operation_id = "opsRedeliverWebhook"
    )]
    async fn redeliver(
        &self,
        state: Data<&AppState>,
        req: &Request,
        operator: OperatorAuth,
        /// The client id.
        id: Path<String>,
        /// The endpoint id.
        webhook_id: Path<String>,
        /// The delivery id.
        delivery_id: Path<Uuid>,
    ) -> ApiResult<Redelivery> {
        let now = OffsetDateTime::now_utc();
        let done = service::redeliver(&state.db, &id.0, &webhook_id.0, delivery_id.0, now).await?;
        operator.0.record(&state, req, done.event).await;
        Ok(Redelivery::Accepted(Json(done.value.into())))
    }
}
