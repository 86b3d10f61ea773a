//! What one check decided, and how a response says it: the `RateLimit-*` headers, and the 429.

use std::time::Duration;

use http::{HeaderName, HeaderValue};

use super::Quota;
use crate::http::{ApiError, catalogue};

/// The outcome of one check, with what the `RateLimit-*` headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u64,
    pub remaining: u64,
    /// Until the budget is whole again.
    pub reset: Duration,
    /// Until the next request would be allowed (zero when this one was).
    pub retry_after: Duration,
}

impl Decision {
    pub(super) fn from_gcra(
        quota: Quota,
        allowed: bool,
        remaining: u64,
        reset_us: u64,
        retry_us: u64,
    ) -> Self {
        Decision {
            allowed,
            limit: quota.per_min,
            remaining: remaining.min(quota.per_min),
            reset: Duration::from_micros(reset_us),
            retry_after: Duration::from_micros(retry_us),
        }
    }

    /// `RateLimit-Limit`, `-Remaining` and `-Reset` (seconds, rounded up), and `Retry-After`
    /// on a refusal.
    pub fn headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        let secs = |d: Duration| d.as_micros().div_ceil(1_000_000).to_string();
        let mut headers = vec![
            (
                HeaderName::from_static("ratelimit-limit"),
                HeaderValue::from(self.limit),
            ),
            (
                HeaderName::from_static("ratelimit-remaining"),
                HeaderValue::from(self.remaining),
            ),
            (
                HeaderName::from_static("ratelimit-reset"),
                header_value(secs(self.reset)),
            ),
            (
                HeaderName::from_static("ratelimit-policy"),
                header_value(format!("{};w=60", self.limit)),
            ),
        ];
        if !self.allowed {
            headers.push((
                http::header::RETRY_AFTER,
                HeaderValue::from(self.retry_after_secs()),
            ));
        }
        headers
    }

    /// Whole seconds to wait, at least one.
    fn retry_after_secs(&self) -> u64 {
        (self.retry_after.as_micros().div_ceil(1_000_000) as u64).max(1)
    }

    /// The 429 problem for a refused request.
    pub fn into_error(self) -> ApiError {
        self.headers().into_iter().fold(
            ApiError::new(&catalogue::RATE_LIMITED).arg("retry_after", self.retry_after_secs()),
            |err, (name, value)| err.header(name, value),
        )
    }
}

/// A refusal for the OAuth endpoints' typed responses: a 429 problem, not an OAuth error.
pub struct TooManyRequests(pub Decision);

impl From<TooManyRequests> for poem::Error {
    fn from(refused: TooManyRequests) -> Self {
        refused.0.into_error().into()
    }
}

impl poem_openapi::ApiResponse for TooManyRequests {
    fn meta() -> poem_openapi::registry::MetaResponses {
        use poem_openapi::types::Type;
        poem_openapi::registry::MetaResponses {
            responses: vec![poem_openapi::registry::MetaResponse {
                description: "Over the rate limit; retry after `Retry-After` seconds.",
                status: Some(429),
                status_range: None,
                content: vec![poem_openapi::registry::MetaMediaType {
                    content_type: crate::http::problem::PROBLEM_JSON,
                    schema: crate::http::Problem::schema_ref(),
                }],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut poem_openapi::registry::Registry) {
        <crate::http::Problem as poem_openapi::types::Type>::register(registry);
    }
}

fn header_value(text: String) -> HeaderValue {
    HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_carry_retry_after_and_the_rate_limit_headers() {
        let decision = Decision::from_gcra(Quota { per_min: 10 }, false, 0, 59_000_001, 5_500_000);
        let headers = decision.headers();
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.as_str() == name)
                .map(|(_, v)| v.to_str().unwrap().to_string())
        };
        assert_eq!(get("ratelimit-limit").as_deref(), Some("10"));
        assert_eq!(get("ratelimit-remaining").as_deref(), Some("0"));
        assert_eq!(get("ratelimit-reset").as_deref(), Some("60"));
        assert_eq!(get("retry-after").as_deref(), Some("6"));
        assert_eq!(decision.into_error().status(), 429);
    }
}
