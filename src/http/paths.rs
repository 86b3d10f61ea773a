//! Paths that code other than their own handler needs (discovery documents, the rate limiter,
//! the eID registration). One table, so that a moved route cannot leave a stale copy behind;
//! a test checks each against the served OpenAPI document.

pub const AUTHORIZE: &str = "/v1/auth/authorize";
pub const TOKEN: &str = "/v1/auth/token";
pub const INTROSPECT: &str = "/v1/auth/introspect";
pub const REVOKE: &str = "/v1/auth/revoke";
pub const JWKS: &str = "/.well-known/jwks.json";
/// Our callback at the eID provider: `{MOTCUA_PUBLIC_URL}/v1/auth/eid/callback`.
pub const EID_CALLBACK: &str = "/v1/auth/eid/callback";
pub const HEALTHZ: &str = "/healthz";
pub const READYZ: &str = "/readyz";
/// Document uploads: their handler streams the body under its own limits.
pub const UPLOADS: &str = "/v1/me/uploads";

/// Every path above, for the test against the OpenAPI document.
pub const ALL: &[&str] = &[
    AUTHORIZE,
    TOKEN,
    INTROSPECT,
    REVOKE,
    JWKS,
    EID_CALLBACK,
    HEALTHZ,
    READYZ,
    UPLOADS,
];
