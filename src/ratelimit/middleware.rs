//! Where limits apply: every request but the probes, by the caller its bearer token names, else
//! by client IP (metrics too: rendering them costs, and a scraper stays far below any address's
//! budget). The OAuth endpoints that authenticate clients decide after authentication (a
//! claimed client id alone would let anyone spend a client's budget), through the slot.

use http::Method;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};

use super::{Caller, RateLimiter};
use crate::audit::RequestFacts;
use crate::http::{ClientIp, paths};
use crate::tokens::bearer::VerifiedBearer;
use crate::tokens::{Revocations, Tokens};

/// Probes are never limited: a refused probe would take a busy replica out of service (a
/// probe may share its address with real traffic behind a NAT). Liveness touches nothing, and
/// concurrent readiness probes share one dependency check.
const EXEMPT: &[&str] = &[paths::HEALTHZ, paths::READYZ];

/// Endpoints that authenticate the client themselves and then call the limiter.
const DECIDED_BY_HANDLER: &[&str] = &[paths::TOKEN, paths::INTROSPECT, paths::REVOKE];

pub struct RateLimit {
    limiter: RateLimiter,
    tokens: Tokens,
    revocations: Revocations,
}

impl RateLimit {
    pub fn new(limiter: RateLimiter, tokens: Tokens, revocations: Revocations) -> Self {
        Self {
            limiter,
            tokens,
            revocations,
        }
    }
}

impl<E: Endpoint> Middleware<E> for RateLimit {
    type Output = RateLimitEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RateLimitEndpoint {
            inner,
            limiter: self.limiter.clone(),
            tokens: self.tokens.clone(),
            revocations: self.revocations.clone(),
        }
    }
}

pub struct RateLimitEndpoint<E> {
    inner: E,
    limiter: RateLimiter,
    tokens: Tokens,
    revocations: Revocations,
}

impl<E: Endpoint> Endpoint for RateLimitEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let path = req.uri().path();
        if EXEMPT.contains(&path) || req.method() == Method::OPTIONS {
            return Box::pin(self.inner.call(req))
                .await
                .map(IntoResponse::into_response);
        }
        let facts = RequestFacts::of(&req);
        let slot = facts.rate_slot.clone().unwrap_or_default();
        if DECIDED_BY_HANDLER.contains(&path) {
            let response = Box::pin(self.inner.call(req)).await;
            // Refused before authentication (a malformed request): charge the address, so
            // floods of garbage are limited too.
            if !slot.is_filled() {
                let decision = self
                    .limiter
                    .check(&Caller::Ip(facts.client_ip), &facts)
                    .await;
                slot.put(decision.headers());
                if !decision.allowed {
                    return Err(decision.into_error().into());
                }
            }
            return response.map(IntoResponse::into_response);
        }
        let caller = self.caller_of(&mut req).await;
        let decision = self.limiter.check(&caller, &facts).await;
        slot.put(decision.headers());
        if !decision.allowed {
            return Err(decision.into_error().into());
        }
        // Boxed, so that this future holds a pointer and not the handlers' large future
        // (see the pipeline).
        Box::pin(self.inner.call(req))
            .await
            .map(IntoResponse::into_response)
    }
}

impl<E> RateLimitEndpoint<E> {
    /// The caller a valid, unrevoked bearer token names; anyone else is their address (a
    /// revoked token must not spend its client's budget). Verification is the cached one, and
    /// revocation is checked in memory, so this is cheap on the hot path; the verified claims
    /// go with the request, so the handler's security scheme does not verify them again.
    async fn caller_of(&self, req: &mut Request) -> Caller {
        let ip = req.extensions().get::<ClientIp>().and_then(|c| c.0);
        let token = req.header(http::header::AUTHORIZATION).and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        });
        let Some(token) = token.map(str::trim) else {
            return Caller::Ip(ip);
        };
        let claims = match self.tokens.verify_access_cached(token) {
            Ok(claims) if !self.revocations.is_revoked(&claims).await => claims,
            _ => return Caller::Ip(ip),
        };
        let caller = match claims.sid {
            Some(_) => Caller::CitizenViaClient {
                client_id: claims.client_id.clone(),
                sub: claims.sub.clone(),
            },
            None => Caller::Client(claims.client_id.clone()),
        };
        let verified = VerifiedBearer::new(token, claims);
        req.extensions_mut().insert(verified);
        caller
    }
}
