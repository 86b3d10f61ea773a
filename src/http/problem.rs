//! RFC 9457 problem details: the one error format of the API.
//!
//! Handlers return [`ApiError`]; the request middleware renders it (and every error poem or
//! poem-openapi raises while parsing a request) into `application/problem+json` in the caller's
//! language, with the request id. Unexpected errors are logged with their cause chain and shown
//! as an opaque 500.

use std::fmt;

use http::{HeaderName, HeaderValue, StatusCode};
use poem::Response;
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::{Example, Type};
use poem_openapi::{ApiResponse, Object};
use serde::Serialize;

use super::catalogue::{self, ProblemType};
use super::lang::{Lang, Text};

pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem details object.
#[derive(Debug, Clone, Serialize, Object)]
#[oai(example)]
pub struct Problem {
    /// URI identifying the problem type; it documents the problem when dereferenced.
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the problem type, in the negotiated language.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// Explanation specific to this occurrence, in the negotiated language.
    pub detail: String,
    /// The request path this problem occurred on.
    pub instance: String,
    /// Id of the request (also in the `X-Request-Id` header); quote it when reporting a problem.
    pub request_id: String,
    /// Field-level problems of a rejected input; present only when there are any.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

impl Example for Problem {
    fn example() -> Self {
        Problem {
            kind: "https://motcua.example.gov.vn/problems/validation-failed".into(),
            title: "Validation failed".into(),
            status: 422,
            detail: "Some fields are invalid; see `errors`.".into(),
            instance: "/v1/dossiers".into(),
            request_id: "0193a5c4-7c1e-7d3a-9f55-3f1b2b7d9e10".into(),
            errors: Some(vec![FieldError {
                pointer: "/procedure_code".into(),
                detail: "must not be empty".into(),
            }]),
        }
    }
}

/// One invalid field of a request.
#[derive(Debug, Clone, Serialize, Object)]
pub struct FieldError {
    /// JSON Pointer (RFC 6901) to the field in the request body, or the parameter name.
    pub pointer: String,
    /// What is wrong with it.
    pub detail: String,
}

/// What is wrong with a field: text of ours in every language, or text as it came (from a
/// parser, say).
#[derive(Debug, Clone)]
enum FieldDetail {
    Plain(String),
    Localised(Text, Vec<(&'static str, String)>),
}

/// An error the API reports to its caller as a problem.
pub struct ApiError {
    kind: &'static ProblemType,
    args: Vec<(&'static str, String)>,
    /// Arguments that are themselves messages, filled in the caller's language.
    texts: Vec<(&'static str, Text)>,
    errors: Vec<(String, FieldDetail)>,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// The cause of an internal error; logged, never shown.
    source: Option<anyhow::Error>,
}

impl ApiError {
    pub fn new(kind: &'static ProblemType) -> Self {
        Self {
            kind,
            args: Vec::new(),
            texts: Vec::new(),
            errors: Vec::new(),
            headers: Vec::new(),
            source: None,
        }
    }

    /// An unexpected failure: the caller sees an opaque 500, the log sees the cause. When the
    /// cause is PostgreSQL out of reach (stopped, restarting, connections killed, no connection
    /// free within the pool's timeout), the caller sees a 503 `service-unavailable` to retry
    /// instead: nothing is wrong with the request, and retrying soon succeeds.
    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        let err = err.into();
        let unreachable = err.chain().any(|cause| {
            cause
                .downcast_ref::<sqlx::Error>()
                .is_some_and(database_unreachable)
        });
        let mut e = match unreachable {
            true => Self::new(&catalogue::SERVICE_UNAVAILABLE)
                .header(http::header::RETRY_AFTER, HeaderValue::from_static("1")),
            false => Self::new(&catalogue::INTERNAL),
        };
        e.source = Some(err);
        e
    }

    /// Fills a `{name}` placeholder of the detail message.
    pub fn arg(mut self, name: &'static str, value: impl fmt::Display) -> Self {
        self.args.push((name, value.to_string()));
        self
    }

    /// Fills a `{name}` placeholder with a message in the caller's language.
    pub fn arg_text(mut self, name: &'static str, text: Text) -> Self {
        self.texts.push((name, text));
        self
    }

    pub fn field(mut self, pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        self.errors
            .push((pointer.into(), FieldDetail::Plain(detail.into())));
        self
    }

    /// A field problem told in the caller's language; `{name}` placeholders come from `args`.
    pub fn field_text(
        mut self,
        pointer: impl Into<String>,
        text: Text,
        args: Vec<(&'static str, String)>,
    ) -> Self {
        self.errors
            .push((pointer.into(), FieldDetail::Localised(text, args)));
        self
    }

    /// The same problem about a part of a larger request: every field pointer gains `prefix`
    /// (`/items/3`, say).
    pub fn within(mut self, prefix: &str) -> Self {
        for (pointer, _) in &mut self.errors {
            pointer.insert_str(0, prefix);
        }
        self
    }

    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn kind(&self) -> &'static ProblemType {
        self.kind
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.kind.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn source(&self) -> Option<&anyhow::Error> {
        self.source.as_ref()
    }

    /// The problem document for this error as seen by one request.
    pub fn to_problem(&self, ctx: &ProblemContext<'_>) -> Problem {
        let mut args = self.args.clone();
        for (name, text) in &self.texts {
            args.push((name, text.get(ctx.lang).to_string()));
        }
        args.push(("request_id", ctx.request_id.to_string()));
        args.push(("path", ctx.path.to_string()));
        Problem {
            kind: format!("{}/problems/{}", ctx.base_url, self.kind.slug),
            title: self.kind.title.get(ctx.lang).to_string(),
            status: self.kind.status,
            detail: self.kind.detail.render(ctx.lang, &args),
            instance: ctx.path.to_string(),
            request_id: ctx.request_id.to_string(),
            // Absent rather than empty, so the field's presence alone means "see the fields".
            errors: (!self.errors.is_empty()).then(|| {
                self.errors
                    .iter()
                    .map(|(pointer, detail)| FieldError {
                        pointer: pointer.clone(),
                        detail: match detail {
                            FieldDetail::Plain(text) => text.clone(),
                            FieldDetail::Localised(text, args) => text.render(ctx.lang, args),
                        },
                    })
                    .collect()
            }),
        }
    }

    /// Renders the error as an `application/problem+json` response.
    pub fn into_response(self, ctx: &ProblemContext<'_>) -> Response {
        let problem = self.to_problem(ctx);
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut builder = Response::builder()
            .status(self.status())
            .content_type(PROBLEM_JSON)
            .header(http::header::CONTENT_LANGUAGE, ctx.lang.tag())
            .header(http::header::CACHE_CONTROL, "no-store");
        for (name, value) in self.headers {
            builder = builder.header(name, value);
        }
        builder.body(body)
    }
}

/// What rendering a problem needs to know about the request.
pub struct ProblemContext<'a> {
    pub base_url: &'a str,
    pub request_id: &'a str,
    pub path: &'a str,
    pub lang: Lang,
}

/// A [`ProblemContext`] of its own, to render problems away from the request (a per-item problem
/// of a bulk request, say).
#[derive(Debug, Clone)]
pub struct OwnedProblemContext {
    base_url: String,
    request_id: String,
    path: String,
    lang: Lang,
}

impl OwnedProblemContext {
    /// The context the request pipeline would render this request's problems with.
    pub fn of(req: &poem::Request, base_url: &str) -> Self {
        Self {
            base_url: base_url.to_string(),
            request_id: req
                .extensions()
                .get::<super::RequestId>()
                .map(|id| id.0.to_string())
                .unwrap_or_default(),
            path: req.uri().path().to_string(),
            lang: req.extensions().get::<Lang>().copied().unwrap_or_default(),
        }
    }

    pub fn borrow(&self) -> ProblemContext<'_> {
        ProblemContext {
            base_url: &self.base_url,
            request_id: &self.request_id,
            path: &self.path,
            lang: self.lang,
        }
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiError")
            .field("kind", &self.kind.slug)
            .field("args", &self.args)
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind.slug)?;
        if let Some(source) = &self.source {
            write!(f, ": {source:#}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

// Failures of the database, Redis or anything else unexpected are internal errors: `?` turns
// them into the opaque 500 (503 when PostgreSQL is out of reach), and the log keeps the cause.
impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        match database_code(&err).as_deref() {
            // PostgreSQL refuses text (22021) or JSON (22P05) it cannot store, a NUL character:
            // the caller's mistake.
            Some("22021" | "22P05") => ApiError::new(&catalogue::INVALID_REQUEST).arg(
                "reason",
                "a text value contains a character that cannot be stored (NUL)",
            ),
            // A deadlock or serialization failure rolled the transaction back whole: retrying
            // succeeds, and the caller did nothing wrong.
            Some("40P01" | "40001") => ApiError::new(&catalogue::CONCURRENT_UPDATE),
            _ => Self::internal(err),
        }
    }
}

/// The SQLSTATE of a database error, if it is one.
pub fn database_code(err: &sqlx::Error) -> Option<String> {
    match err {
        sqlx::Error::Database(db) => db.code().map(|code| code.into_owned()),
        _ => None,
    }
}

/// The database could not be reached, or dropped the connection: the server stopped or
/// restarting (SQLSTATE class 08, 57P01-57P03, 53300 too many connections), the connection cut
/// (an I/O error), or no connection free within the pool's acquire timeout. A retry may succeed;
/// the request itself was fine.
pub fn database_unreachable(err: &sqlx::Error) -> bool {
    match err {
        // A protocol error is what a connection cut while it is being opened looks like (the
        // server's answer to the TLS request never comes).
        sqlx::Error::Io(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

/// Text PostgreSQL cannot store (a NUL character, in text or JSON).
pub fn is_unstorable_text(err: &sqlx::Error) -> bool {
    matches!(database_code(err).as_deref(), Some("22021" | "22P05"))
}

impl From<redis::RedisError> for ApiError {
    fn from(err: redis::RedisError) -> Self {
        Self::internal(err)
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        Self::internal(err)
    }
}

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        ApiError::status(self)
    }

    /// Only reached when no request middleware ran (it renders with the request's context); the
    /// body still has every member the document requires.
    fn as_response(&self) -> Response {
        let problem = self.to_problem(&ProblemContext {
            base_url: "",
            request_id: "",
            path: "",
            lang: Lang::En,
        });
        Response::builder()
            .status(self.status())
            .content_type(PROBLEM_JSON)
            .body(serde_json::to_vec(&problem).unwrap_or_default())
    }
}

/// A problem response an operation can produce, for the OpenAPI document.
pub fn problem_response(status: u16, description: &'static str) -> MetaResponse {
    MetaResponse {
        description,
        status: Some(status),
        status_range: None,
        content: vec![MetaMediaType {
            content_type: PROBLEM_JSON,
            schema: Problem::schema_ref(),
        }],
        headers: vec![],
    }
}

impl ApiResponse for ApiError {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![
                problem_response(400, "The request is malformed."),
                problem_response(
                    401,
                    "Missing, invalid or expired access token (`WWW-Authenticate: Bearer`).",
                ),
                problem_response(403, "The token does not allow this."),
                problem_response(404, "Not found."),
                problem_response(
                    409,
                    "The request conflicts with the current state (operations that change state).",
                ),
                problem_response(
                    412,
                    "`If-Match` names another version than the current one (conditional writes).",
                ),
                problem_response(413, "The request body is too large."),
                problem_response(
                    415,
                    "The request body is missing its `Content-Type` or has another one than the \
                     operation's (operations with a request body).",
                ),
                problem_response(
                    422,
                    "Some fields are invalid; `errors` points at each (operations with a request \
                     body).",
                ),
                problem_response(429, "Too many requests; retry after `Retry-After` seconds."),
                problem_response(500, "Unexpected failure; quote the request id."),
                problem_response(503, "A dependency is unavailable; retry later."),
                problem_response(504, "The request took too long."),
            ],
        }
    }

    fn register(registry: &mut Registry) {
        Problem::register(registry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(lang: Lang) -> ProblemContext<'static> {
        ProblemContext {
            base_url: "https://api.example.vn",
            request_id: "req-1",
            path: "/v1/things",
            lang,
        }
    }

    #[test]
    fn internal_errors_never_show_their_cause() {
        let err = ApiError::internal(anyhow::anyhow!(
            "password authentication failed for user db_admin"
        ));
        let problem = err.to_problem(&ctx(Lang::En));
        assert_eq!(problem.status, 500);
        assert_eq!(
            problem.kind,
            "https://api.example.vn/problems/internal-error"
        );
        let shown = serde_json::to_string(&problem).unwrap();
        assert!(!shown.contains("db_admin"), "{shown}");
        assert!(
            problem.detail.contains("req-1"),
            "the detail quotes the request id"
        );
    }

    #[test]
    fn an_unreachable_database_is_a_503_to_retry_and_other_database_errors_a_500() {
        let cut = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        for err in [
            ApiError::from(sqlx::Error::PoolTimedOut),
            ApiError::from(cut),
            // Wrapped in context, as services report it.
            ApiError::internal(anyhow::Error::from(sqlx::Error::PoolClosed).context("saving")),
        ] {
            assert_eq!(err.status(), 503, "{err}");
            assert_eq!(err.kind().slug, "service-unavailable");
            assert!(err.source().is_some(), "the cause is still logged");
            assert!(
                err.headers
                    .iter()
                    .any(|(name, _)| name == http::header::RETRY_AFTER)
            );
        }
        assert_eq!(ApiError::from(sqlx::Error::RowNotFound).status(), 500);
    }

    #[test]
    fn a_problem_without_field_errors_has_no_errors_member() {
        let problem = ApiError::new(&catalogue::NOT_FOUND).to_problem(&ctx(Lang::En));
        let shown = serde_json::to_value(&problem).unwrap();
        assert!(shown.get("errors").is_none(), "{shown}");
    }

    #[test]
    fn field_errors_and_arguments_are_rendered_in_the_callers_language() {
        let err = ApiError::new(&catalogue::PAYLOAD_TOO_LARGE).arg("limit", 10);
        assert_eq!(
            err.to_problem(&ctx(Lang::Vi)).detail,
            "Nội dung yêu cầu vượt quá giới hạn 10 byte."
        );
        let err = ApiError::new(&catalogue::VALIDATION_FAILED).field("/price", "must be positive");
        let problem = err.to_problem(&ctx(Lang::En));
        let errors = problem.errors.unwrap_or_default();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].pointer, "/price");
    }

    #[test]
    fn localised_field_errors_follow_the_language_and_nest_under_a_prefix() {
        let text = Text {
            en: "at most {max} characters",
            vi: "tối đa {max} ký tự",
        };
        let err = ApiError::new(&catalogue::VALIDATION_FAILED)
            .field_text("/name", text, vec![("max", "200".into())])
            .within("/items/3");
        let errors = err.to_problem(&ctx(Lang::Vi)).errors.unwrap_or_default();
        assert_eq!(errors[0].pointer, "/items/3/name");
        assert_eq!(errors[0].detail, "tối đa 200 ký tự");
        let errors = err.to_problem(&ctx(Lang::En)).errors.unwrap_or_default();
        assert_eq!(errors[0].detail, "at most 200 characters");
    }
}
