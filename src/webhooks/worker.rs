//! The delivery worker every replica runs: it claims due deliveries, posts them signed, and
//! schedules retries with exponential backoff and jitter until the retry window closes; then
//! the endpoint is marked failing and the audit log says so.

use std::time::{Duration, Instant};

use futures::future::join_all;
use sqlx::PgPool;
use time::OffsetDateTime;

use super::store::{self, Claimed, Outcome};
use super::{signature, target};
use crate::audit::{AuditLog, Event, Outcome as AuditOutcome};
use crate::config::WebhookSettings;
use crate::crypto::{MasterKey, Purpose};

/// Deliveries claimed at once by one replica.
const BATCH: i64 = 16;
/// The most of a receiver's answer read (into `last_error`); the rest is never read.
const BODY_CAP: usize = 1024;
/// No retry waits longer than this.
const MAX_DELAY: Duration = Duration::from_secs(6 * 3600);

/// Runs the worker until the database pool closes.
pub fn spawn_worker(db: PgPool, master: MasterKey, settings: WebhookSettings, audit: AuditLog) {
    tokio::spawn(async move {
        let worker = Worker {
            db,
            master,
            settings,
            audit,
        };
        while !worker.db.is_closed() {
            let busy = match worker.round(OffsetDateTime::now_utc()).await {
                Ok(claimed) => claimed == BATCH as usize,
                Err(err) => {
                    tracing::warn!(error = %err, "webhook delivery round failed");
                    false
                }
            };
            if !busy {
                tokio::time::sleep(worker.settings.poll).await;
            }
        }
    });
}

/// The delay before retry number `attempt` (1 for the first retry): `base` doubled each time,
/// capped, then scaled by `jitter` (from 0 to 1) into its upper half, so replicas retrying
/// together spread out.
pub fn retry_delay(base: Duration, attempt: u32, jitter: f64) -> Duration {
    let doubled = base.saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1).min(24)));
    doubled
        .min(MAX_DELAY)
        .mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

struct Worker {
    db: PgPool,
    master: MasterKey,
    settings: WebhookSettings,
    audit: AuditLog,
}

impl Worker {
    /// Claims and sends one batch; returns how many were claimed.
    async fn round(&self, now: OffsetDateTime) -> sqlx::Result<usize> {
        // Longer than an attempt can take (resolution, then the request), so a live claim
        // never lapses.
        let lease = self.settings.timeout * 2 + Duration::from_secs(10);
        let claimed = store::claim(&self.db, BATCH, lease, now).await?;
        let count = claimed.len();
        join_all(claimed.iter().map(|c| self.deliver(c))).await;
        Ok(count)
    }

    async fn deliver(&self, claimed: &Claimed) {
        let started = Instant::now();
        let at = OffsetDateTime::now_utc();
        let (status_code, error) = match self.attempt(claimed, at).await {
            Ok(answer) => (Some(answer.status), answer.error),
            Err(error) => (None, Some(error)),
        };
        let delivered = error.is_none();
        let next_attempt_at = match delivered {
            true => None,
            false => {
                let attempt = u32::try_from(claimed.attempt).unwrap_or(u32::MAX);
                let next = at + retry_delay(self.settings.retry_base, attempt, rand::random());
                (next <= claimed.retry_from + self.settings.retry_window).then_some(next)
            }
        };
        let result = match (delivered, next_attempt_at) {
            (true, _) => "delivered",
            (false, Some(_)) => "retry",
            (false, None) => "failed",
        };
        metrics::counter!("motcua_webhook_attempts_total", "result" => result).increment(1);
        let outcome = Outcome {
            at,
            status_code,
            error: error.map(|e| e.chars().filter(|c| !c.is_control()).take(500).collect()),
            duration_ms: i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX),
            delivered,
            next_attempt_at,
        };
        if let Err(err) = self.record(claimed, &outcome).await {
            tracing::warn!(error = %err, delivery = %claimed.id, "recording a webhook attempt failed");
        }
    }

    /// One POST: the target checked and pinned, signed with every valid secret, no redirect
    /// followed, at most [`BODY_CAP`] of the answer read.
    async fn attempt(&self, claimed: &Claimed, at: OffsetDateTime) -> Result<Answer, String> {
        let allow_private = self.settings.allow_private;
        let url = target::check_url(&claimed.url, allow_private).map_err(|e| e.to_string())?;
        let addrs = target::resolve(&url, allow_private)
            .await
            .map_err(|e| e.to_string())?;
        let keys = self
            .keys(claimed)
            .map_err(|()| "the endpoint's secret is unreadable")?;
        let timestamp = at.unix_timestamp();
        let mut client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // A proxy from the environment would do its own resolution, past the guard.
            .no_proxy()
            .connect_timeout(self.settings.timeout)
            .timeout(self.settings.timeout)
            .user_agent(concat!("motcua-webhooks/", env!("CARGO_PKG_VERSION")));
        if let Some(url::Host::Domain(name)) = url.host() {
            // Connect to the addresses just checked, not to a second resolution's.
            client = client.resolve_to_addrs(name, &addrs);
        }
        let client = client.build().map_err(|e| format!("client: {e}"))?;
        let mut response = client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &claimed.event_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header(
                "webhook-signature",
                signature::header(&keys, &claimed.event_id, timestamp, &claimed.body),
            )
            .body(claimed.body.clone())
            .send()
            .await
            .map_err(|e| describe(&e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(Answer {
                status: status.as_u16().into(),
                error: None,
            });
        }
        let mut error = format!("HTTP {}", status.as_u16());
        if status.is_redirection() {
            let location = response
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .unwrap_or("");
            error.push_str(&format!(": redirect to `{location}` not followed"));
        } else {
            let mut read = Vec::new();
            while read.len() < BODY_CAP {
                match response.chunk().await {
                    Ok(Some(chunk)) => read.extend_from_slice(&chunk),
                    _ => break,
                }
            }
            read.truncate(BODY_CAP);
            let text = String::from_utf8_lossy(&read);
            if !text.trim().is_empty() {
                error.push_str(&format!(": {}", text.trim()));
            }
        }
        Ok(Answer {
            status: status.as_u16().into(),
            error: Some(error),
        })
    }

    /// The signing keys: the current secret's, and the previous one's while it still signs.
    fn keys(&self, claimed: &Claimed) -> Result<Vec<Vec<u8>>, ()> {
        let context = claimed.endpoint_id.as_bytes();
        let open = |sealed: &[u8]| {
            let secret = self
                .master
                .open(Purpose::WebhookSecrets, context, sealed)
                .map_err(|_| ())?;
            signature::key_of(std::str::from_utf8(&secret).map_err(|_| ())?).ok_or(())
        };
        let mut keys = vec![open(&claimed.secret_sealed)?];
        if let Some(previous) = &claimed.previous_secret_sealed {
            keys.push(open(previous)?);
        }
        Ok(keys)
    }

    /// Stores the outcome; a give-up marks the endpoint failing and tells the operators, a
    /// success clears that.
    async fn record(&self, claimed: &Claimed, outcome: &Outcome) -> sqlx::Result<()> {
        if !store::finish(&self.db, claimed, outcome).await? {
            return Ok(());
        }
        if outcome.delivered {
            if store::mark_active(&self.db, &claimed.endpoint_id).await? {
                let event =
                    self.event("webhook_endpoint_recovered", AuditOutcome::Success, claimed);
                self.audit.record(event).await;
            }
        } else if outcome.next_attempt_at.is_none() {
            tracing::warn!(delivery = %claimed.id, endpoint = %claimed.endpoint_id, "webhook delivery gave up");
            if store::mark_failing(&self.db, &claimed.endpoint_id, outcome.at).await? {
                let event = self
                    .event("webhook_endpoint_failing", AuditOutcome::Failure, claimed)
                    .reason(outcome.error.clone().unwrap_or_default());
                self.audit.record(event).await;
            }
        }
        Ok(())
    }

    fn event(&self, action: &'static str, outcome: AuditOutcome, claimed: &Claimed) -> Event {
        Event::new(action, outcome)
            .actor("system")
            .client(claimed.client_id.clone())
            .target(claimed.endpoint_id.clone())
            .details(serde_json::json!({
                "event_id": claimed.event_id,
                "attempts": claimed.attempt,
            }))
    }
}

/// A receiver's answer: its status, and what was wrong with it unless it was a success.
struct Answer {
    status: i32,
    error: Option<String>,
}

/// A failed request, said plainly: reqwest's own text is a chain of wrappers.
fn describe(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        "timed out".into()
    } else {
        let mut text = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            text = format!("{text}: {cause}");
            source = cause.source();
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_with_jitter_and_a_cap() {
        let base = Duration::from_secs(5);
        assert_eq!(retry_delay(base, 1, 1.0), Duration::from_secs(5));
        assert_eq!(retry_delay(base, 1, 0.0), Duration::from_millis(2500));
        assert_eq!(retry_delay(base, 4, 1.0), Duration::from_secs(40));
        assert_eq!(retry_delay(base, 40, 1.0), MAX_DELAY);
        let spread: Vec<Duration> = [0.0, 0.5, 1.0]
            .iter()
            .map(|j| retry_delay(base, 3, *j))
            .collect();
        assert!(spread[0] < spread[1] && spread[1] < spread[2]);
    }

    #[test]
    fn a_day_of_retries_at_the_default_base_is_about_fifteen_attempts() {
        let (mut spent, mut attempts) = (Duration::ZERO, 0);
        while spent < Duration::from_secs(24 * 3600) {
            attempts += 1;
            spent += retry_delay(Duration::from_secs(5), attempts, 1.0);
        }
        assert!((12..=20).contains(&attempts), "{attempts}");
    }
}
