//! The request pipeline every request goes through: request id, client address, language, body
//! limit, timeout, error rendering, security headers, logs and metrics.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{HeaderName, HeaderValue, Method, StatusCode, header};
use ipnet::IpNet;
use poem::PathPattern;
use poem::error::{MethodNotAllowedError, NotFoundError, ReadBodyError};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};
use tracing::Instrument;

use super::catalogue;
use super::fields::{self, BodySchemas};
use super::lang::Lang;
use super::problem::{ApiError, ProblemContext};
use super::request_metrics::RequestMetrics;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The id of the current request: the caller's `X-Request-Id` when it is sane, else a new UUIDv7.
#[derive(Debug, Clone)]
pub struct RequestId(pub Arc<str>);

/// The client's address: the peer, or the first untrusted hop of `X-Forwarded-For` when the peer
/// is a trusted proxy (`MOTCUA_TRUSTED_PROXIES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

/// Settings of the pipeline, taken from the configuration once.
#[derive(Debug, Clone)]
pub struct PipelineSettings {
    /// Base of problem `type` URIs: our public URL without a trailing slash.
    pub base_url: String,
    pub max_body_bytes: usize,
    /// Routes (templates of `http::paths`) whose handlers stream the body and enforce limits
    /// of their own: the pipeline neither buffers nor caps them.
    pub streamed_paths: &'static [&'static str],
    pub request_timeout: Duration,
    pub trusted_proxies: Vec<IpNet>,
    /// Send `Strict-Transport-Security` (the public URL is https).
    pub hsts: bool,
    /// The operations' body schemas, to name the fields of a body that does not parse.
    pub body_schemas: Arc<BodySchemas>,
}

pub struct RequestPipeline(Arc<Shared>);

/// What every request's pass through the pipeline reads.
struct Shared {
    settings: PipelineSettings,
    metrics: RequestMetrics,
}

impl RequestPipeline {
    pub fn new(settings: PipelineSettings) -> Self {
        // The metrics keep handles from the recorder: it must be installed before the first.
        crate::telemetry::metrics();
        let metrics = RequestMetrics::default();
        Self(Arc::new(Shared { settings, metrics }))
    }
}

impl<E: Endpoint> Middleware<E> for RequestPipeline {
    type Output = PipelineEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        PipelineEndpoint {
            inner,
            shared: self.0.clone(),
        }
    }
}

pub struct PipelineEndpoint<E> {
    inner: E,
    shared: Arc<Shared>,
}

impl<E: Endpoint> Endpoint for PipelineEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let (settings, metrics) = (&self.shared.settings, &self.shared.metrics);
        let started = Instant::now();
        let _in_flight = InFlight::enter();
        let request_id = request_id_of(&req);
        let lang = Lang::negotiate(req.header(header::ACCEPT_LANGUAGE));
        let client_ip = client_ip_of(&req, &settings.trusted_proxies);
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        req.extensions_mut().insert(RequestId(request_id.clone()));
        req.extensions_mut().insert(lang);
        req.extensions_mut().insert(client_ip);
        let rate_slot = RateSlot::default();
        req.extensions_mut().insert(rate_slot.clone());

        let span = tracing::info_span!(
            "request",
            request_id = %request_id,
            method = %method,
            route = tracing::field::Empty,
        );
        async move {
            // The body as read, kept to name the fields of one that does not parse.
            let mut body = None;
            // The timeout covers reading the body too, so a client trickling bytes cannot hold
            // a request open forever.
            let handle = async {
                let streamed = |t: &&str| super::paths::matches(t, &path);
                if !settings.streamed_paths.iter().any(streamed) {
                    body = limit_body(&mut req, settings.max_body_bytes).await?;
                }
                // Boxed: the handlers' future is several kilobytes, and a future held inline
                // is copied whole each time it is moved (into the timeout, the span, poem's
                // own box), which profiled as a third of a cached read's instructions.
                Box::pin(self.inner.call(req))
                    .await
                    .map(IntoResponse::into_response)
            };
            let outcome = match tokio::time::timeout(settings.request_timeout, handle).await {
                Ok(result) => result,
                Err(_) => Err(ApiError::new(&catalogue::TIMEOUT)
                    .arg("seconds", settings.request_timeout.as_secs())
                    .into()),
            };
            let sent = Sent {
                method: &method,
                path: &path,
                body: body.as_deref(),
            };
            let ctx = ProblemContext {
                base_url: &settings.base_url,
                request_id: &request_id,
                path: &path,
                lang,
            };
            let (route, mut response) = self.respond(outcome, &sent, &ctx);
            let route: &str = route
                .as_deref()
                .filter(|r| !r.is_empty())
                .unwrap_or("unmatched");
            tracing::Span::current().record("route", route);
            decorate(&mut response, &request_id, &path, settings.hsts);
            if let Some(rate_headers) = rate_slot.take() {
                let headers = response.headers_mut();
                for (name, value) in rate_headers {
                    headers.insert(name, value);
                }
            }

            let (status, elapsed) = (response.status(), started.elapsed());
            metrics.record(&method, route, status, elapsed);
            log_completion(status, elapsed);
            Ok(response)
        }
        .instrument(span)
        .await
    }
}

impl<E> PipelineEndpoint<E> {
    /// The response, with the route pattern it matched; a failure becomes problem details.
    fn respond(
        &self,
        outcome: poem::Result<Response>,
        sent: &Sent<'_>,
        ctx: &ProblemContext<'_>,
    ) -> (Option<Arc<str>>, Response) {
        match outcome {
            Ok(response) => (
                response.data::<PathPattern>().map(|p| p.0.clone()),
                response,
            ),
            Err(err) => {
                // A miss carries the pattern of the nest it fell through; count it as unmatched.
                let route = match err.is::<NotFoundError>() {
                    true => None,
                    false => err.data::<PathPattern>().map(|p| p.0.clone()),
                };
                let api_error = classify(err, sent, &self.shared.settings);
                if let Some(source) = api_error.source() {
                    tracing::error!(error = format!("{source:#}"), "request failed");
                }
                (route, api_error.into_response(ctx))
            }
        }
    }
}

fn log_completion(status: StatusCode, elapsed: Duration) {
    if status.is_server_error() {
        tracing::warn!(
            status = status.as_u16(),
            elapsed_ms = elapsed.as_millis() as u64,
            "request completed"
        );
    } else {
        tracing::info!(
            status = status.as_u16(),
            elapsed_ms = elapsed.as_millis() as u64,
            "request completed"
        );
    }
}

fn request_id_of(req: &Request) -> Arc<str> {
    match req.header(REQUEST_ID_HEADER) {
        Some(id) if is_acceptable_request_id(id) => Arc::from(id),
        _ => Arc::from(uuid::Uuid::now_v7().to_string()),
    }
}

/// A caller-supplied id is echoed into logs and headers, so it must be short and inert.
fn is_acceptable_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'/' | b'+' | b'=')
        })
}

fn client_ip_of(req: &Request, trusted: &[IpNet]) -> ClientIp {
    let peer = match req.remote_addr().as_socket_addr() {
        Some(addr) => addr.ip().to_canonical(),
        None => return ClientIp(None),
    };
    ClientIp(Some(forwarded_client(
        peer,
        req.header("x-forwarded-for"),
        trusted,
    )))
}

/// Walks `X-Forwarded-For` from the nearest hop back, skipping trusted proxies: the first
/// untrusted address is the client. Entries a client wrote itself are never believed.
pub fn forwarded_client(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let Some(header) = forwarded_for else {
        return peer;
    };
    let mut client = peer;
    for hop in header.rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = ip.to_canonical();
                if !is_trusted(&client) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    client
}

/// Enforces the body limit: by `Content-Length` when present, and by reading at most the limit;
/// the body read, if any.
async fn limit_body(req: &mut Request, max: usize) -> poem::Result<Option<bytes::Bytes>> {
    let too_large = || ApiError::new(&catalogue::PAYLOAD_TOO_LARGE).arg("limit", max);
    if let Some(length) = req.header(header::CONTENT_LENGTH) {
        match length.parse::<u64>() {
            Ok(n) if n > max as u64 => return Err(too_large().into()),
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(_) => {
                return Err(ApiError::new(&catalogue::INVALID_REQUEST)
                    .arg("reason", "invalid Content-Length")
                    .into());
            }
        }
    } else if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(None);
    }
    match req.take_body().into_bytes_limit(max).await {
        Ok(bytes) => {
            req.set_body(bytes.clone());
            Ok(Some(bytes))
        }
        Err(ReadBodyError::PayloadTooLarge) => Err(too_large().into()),
        Err(err) => Err(ApiError::new(&catalogue::INVALID_REQUEST)
            .arg("reason", err)
            .into()),
    }
}

/// What the caller sent, as far as a problem about it needs.
struct Sent<'a> {
    method: &'a Method,
    path: &'a str,
    body: Option<&'a [u8]>,
}

/// Turns any error raised while handling a request into the problem the caller sees.
fn classify(err: poem::Error, sent: &Sent<'_>, settings: &PipelineSettings) -> ApiError {
    use poem_openapi::error::{
        AuthorizationError, ContentTypeError, ParseMultipartError, ParseParamError, ParsePathError,
        ParseRequestPayloadError,
    };
    let (method, max_body) = (sent.method, settings.max_body_bytes);
    let err = match err.downcast::<ApiError>() {
        Ok(api) => return api,
        Err(err) => err,
    };
    if err.is::<NotFoundError>() {
        return ApiError::new(&catalogue::NOT_FOUND);
    }
    if err.is::<MethodNotAllowedError>() {
        return ApiError::new(&catalogue::METHOD_NOT_ALLOWED).arg("method", method);
    }
    if err.is::<AuthorizationError>() {
        return ApiError::new(&catalogue::UNAUTHORIZED)
            .header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    if let Some(e) = err.downcast_ref::<ReadBodyError>()
        && matches!(e, ReadBodyError::PayloadTooLarge)
    {
        return ApiError::new(&catalogue::PAYLOAD_TOO_LARGE).arg("limit", max_body);
    }
    if let Some(e) = err.downcast_ref::<ContentTypeError>() {
        return ApiError::new(&catalogue::UNSUPPORTED_MEDIA_TYPE).arg("reason", e);
    }
    if let Some(e) = err.downcast_ref::<ParseRequestPayloadError>() {
        return payload_problem(&e.reason, sent, &settings.body_schemas);
    }
    // Parse failures describe the caller's input (field names, expected types): safe to show.
    let param = if let Some(e) = err.downcast_ref::<ParseParamError>() {
        Some((e.name.to_string(), &e.reason))
    } else {
        err.downcast_ref::<ParsePathError>().map(|e| {
            // A path parameter that does not parse is named by its position.
            let name = settings.body_schemas.path_param(method, sent.path, e.name);
            (name.unwrap_or_else(|| e.name.to_string()), &e.reason)
        })
    };
    if let Some((name, detail)) = param {
        return ApiError::new(&catalogue::INVALID_REQUEST)
            .arg("reason", format!("parameter `{name}`: {detail}"))
            .field(name, detail.as_str());
    }
    if let Some(e) = err.downcast_ref::<ParseMultipartError>() {
        return ApiError::new(&catalogue::INVALID_REQUEST).arg("reason", &e.reason);
    }
    let status = err.status();
    if status.is_server_error() {
        return ApiError::internal(anyhow::anyhow!("{err}"));
    }
    tracing::debug!(error = %err, "client error without a problem type");
    ApiError::new(&catalogue::HTTP_ERROR).arg("status", status.as_u16())
}

/// A body that did not parse: the parser's reason, and each offending field in `errors[]`.
fn payload_problem(reason: &str, sent: &Sent<'_>, schemas: &BodySchemas) -> ApiError {
    let mut problem = ApiError::new(&catalogue::INVALID_REQUEST).arg("reason", reason);
    let located = match sent.body {
        Some(body) => schemas.locate(sent.method, sent.path, body),
        None => Vec::new(),
    };
    if located.is_empty()
        && let Some(name) = fields::named_in(reason)
    {
        problem = problem.field_text(format!("/{name}"), fields::INVALID, Vec::new());
    }
    for issue in located {
        problem = problem.field_text(issue.pointer, issue.text, issue.args);
    }
    problem
}

fn decorate(response: &mut Response, request_id: &str, path: &str, hsts: bool) {
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert(REQUEST_ID_HEADER, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // The interactive documentation runs inline scripts; everything else is data, not pages.
    if path != "/docs" && !path.starts_with("/docs/") {
        headers
            .entry(header::CONTENT_SECURITY_POLICY)
            .or_insert(HeaderValue::from_static(
                "default-src 'none'; frame-ancestors 'none'",
            ));
    }
    if hsts {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted = nets(&["10.0.0.0/8"]);
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let stranger: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(
            forwarded_client(stranger, Some("1.2.3.4"), &trusted),
            stranger
        );
        assert_eq!(
            forwarded_client(proxy, Some("1.2.3.4"), &trusted),
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
        // A client that forges its own X-Forwarded-For only moves itself one hop to the left.
        assert_eq!(
            forwarded_client(proxy, Some("6.6.6.6, 1.2.3.4, 10.0.0.7"), &trusted),
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
        assert_eq!(forwarded_client(proxy, Some("garbage"), &trusted), proxy);
    }

    #[test]
    fn only_inert_request_ids_are_accepted() {
        assert!(is_acceptable_request_id("abc-123_DEF.4"));
        assert!(!is_acceptable_request_id(""));
        assert!(!is_acceptable_request_id("has space"));
        assert!(!is_acceptable_request_id("line\nbreak"));
        assert!(!is_acceptable_request_id(&"x".repeat(129)));
    }
}

/// Where the rate limiter leaves the `RateLimit-*` headers of its decision; the pipeline adds
/// them to whatever response goes out, errors included. Handlers that authenticate a client
/// before charging it fill it themselves.
#[derive(Debug, Clone, Default)]
pub struct RateSlot(std::sync::Arc<std::sync::Mutex<Option<Headers>>>);

/// Headers to add to a response.
pub type Headers = Vec<(HeaderName, HeaderValue)>;

impl RateSlot {
    pub fn put(&self, headers: Headers) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(headers);
        }
    }

    pub fn is_filled(&self) -> bool {
        self.0.lock().map(|slot| slot.is_some()).unwrap_or(false)
    }

    /// The headers, for the response.
    pub fn take(&self) -> Option<Headers> {
        self.0.lock().ok().and_then(|mut slot| slot.take())
    }
}

/// Counts a request in `motcua_http_requests_in_flight` for as long as it runs (also when it
/// is cancelled), so operators see the drain and tests can wait for a request to be taken in.
struct InFlight;

impl InFlight {
    fn enter() -> Self {
        metrics::gauge!("motcua_http_requests_in_flight").increment(1.0);
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics::gauge!("motcua_http_requests_in_flight").decrement(1.0);
    }
}
