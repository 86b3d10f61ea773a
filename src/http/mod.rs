//! HTTP plumbing shared by every capability: problem details, the message catalogue, language
//! negotiation and the request pipeline.

pub mod catalogue;
pub mod lang;
pub mod pipeline;
pub mod problem;

pub use lang::Lang;
pub use pipeline::{ClientIp, RequestId};
pub use problem::{ApiError, Problem};

/// Result of an API handler.
pub type ApiResult<T> = Result<T, ApiError>;

/// Groups of operations in the OpenAPI document, one per capability.
#[derive(poem_openapi::Tags)]
pub enum ApiTag {
    /// Liveness, readiness and metrics, for orchestrators and monitoring.
    Health,
    /// Our OAuth 2.0 / OpenID Connect authorization server: metadata, keys, sign-in, tokens.
    #[oai(rename = "OAuth")]
    OAuth,
    /// Citizens' identity: the national eID callback and the signed-in citizen.
    Identity,
    /// The citizen's signed-in devices and signing out.
    Sessions,
    /// The operator API: identity level 2 and the `operator` role required.
    Operations,
}
