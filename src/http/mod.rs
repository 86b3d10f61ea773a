//! HTTP plumbing shared by every capability: problem details, the message catalogue, language
//! negotiation, the request pipeline (with its metrics) and multipart file uploads.

pub mod catalogue;
pub mod cursor;
pub mod day;
pub mod fields;
pub mod lang;
pub mod paths;
pub mod payload;
pub mod pipeline;
pub mod problem;
mod request_metrics;
pub mod shaped;
pub mod upload;

pub use cursor::{Cursor, Page};
pub use lang::Lang;
pub use pipeline::{ClientIp, RateSlot, RequestId};
pub use problem::{ApiError, Problem};
pub use shaped::Shaped;

/// Text made safe to place inside an HTML element.
pub fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The page a browser sees when a sign-in cannot go on and nothing may be redirected to.
pub fn sign_in_error_page(message: &str) -> poem_openapi::payload::Html<String> {
    let escaped = escape_html(message);
    poem_openapi::payload::Html(format!(
        "<!doctype html><html lang=\"vi\"><meta charset=\"utf-8\"><title>Không thể đăng nhập / Sign-in failed</title>\
         <h1>Không thể đăng nhập / Sign-in failed</h1><p>{escaped}</p></html>"
    ))
}

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
    /// Tamper evidence of the audit log, public for auditors.
    Audit,
    /// Administrative-procedure dossiers: the catalogue, agencies' back offices, citizens'
    /// dossiers and notifications, public lookup and open statistics.
    Dossiers,
    /// Local products: public browse, search, listing and merchant pages; merchants' and
    /// marketplaces' writes.
    Listings,
}
