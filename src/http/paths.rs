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
/// Listing image uploads: their handler reads the body under its own limit.
pub const LISTING_IMAGES: &str = "/v1/listings/{id}/images";
/// Stored images: served as they are, never content-coded again.
pub const IMAGES: &str = "/v1/images/{name}";

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
    LISTING_IMAGES,
    IMAGES,
];

/// Whether `path` is an instance of `template`, whose `{name}` segments stand for any one
/// non-empty segment.
pub fn matches(template: &str, path: &str) -> bool {
    let mut templates = template.split('/');
    let mut segments = path.split('/');
    loop {
        match (templates.next(), segments.next()) {
            (None, None) => return true,
            (Some(t), Some(s)) if t.starts_with('{') && t.ends_with('}') && !s.is_empty() => {}
            (Some(t), Some(s)) if t == s => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_matches_its_instances_only() {
        assert!(matches(UPLOADS, "/v1/me/uploads"));
        assert!(matches(LISTING_IMAGES, "/v1/listings/0193-ab/images"));
        assert!(!matches(LISTING_IMAGES, "/v1/listings//images"));
        assert!(!matches(LISTING_IMAGES, "/v1/listings/x/images/y"));
        assert!(!matches(LISTING_IMAGES, "/v1/listings/x"));
        assert!(!matches(UPLOADS, "/v1/me/uploads/"));
    }
}
