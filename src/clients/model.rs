use std::fmt;

use serde::Serialize;

use crate::tokens::Scopes;

/// Scopes a client can be registered for.
pub const KNOWN_SCOPES: &[&str] = &[
    "openid",
    "profile",
    "offline_access",
    "account",
    "dossiers:read",
    "dossiers:write",
    "listings:write",
    "stats:read",
    "introspect",
    "ops",
];

/// Scopes a service provider may hold; the others belong to citizens' sign-ins.
pub const SERVICE_SCOPES: &[&str] = &[
    "dossiers:read",
    "dossiers:write",
    "listings:write",
    "stats:read",
    "introspect",
];

/// Grants a client can be registered for (RFC 7591 `grant_types`).
pub const KNOWN_GRANTS: &[&str] = &["authorization_code", "refresh_token", "client_credentials"];

/// What a public client (an app) may use when registered without `--grant-type`.
pub const DEFAULT_PUBLIC_GRANTS: &[&str] = &["authorization_code", "refresh_token"];

/// What a confidential client (a service provider) may use when registered without
/// `--grant-type`.
pub const DEFAULT_CONFIDENTIAL_GRANTS: &[&str] = &["client_credentials"];

/// What a public client gets when registered without `--scope`.
pub const DEFAULT_PUBLIC_SCOPES: &[&str] = &["openid", "profile", "offline_access"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientKind {
    /// Cannot keep a secret (the mobile app): PKCE, no client authentication.
    Public,
    /// A server: authenticates with a secret or a private key.
    Confidential,
}

impl ClientKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::Public => "public",
            ClientKind::Confidential => "confidential",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "public" => Some(ClientKind::Public),
            "confidential" => Some(ClientKind::Confidential),
            _ => None,
        }
    }
}

impl fmt::Display for ClientKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a client stands. Deleted clients are never loaded: they do not exist any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientStatus {
    Active,
    /// It gets no tokens until resumed.
    Suspended,
}

impl ClientStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientStatus::Active => "active",
            ClientStatus::Suspended => "suspended",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(ClientStatus::Active),
            "suspended" => Some(ClientStatus::Suspended),
            _ => None,
        }
    }
}

impl fmt::Display for ClientStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    pub kind: ClientKind,
    pub redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub rate_limit_per_min: Option<i32>,
    pub jwks_uri: Option<String>,
    /// Agency codes the client acts for (an agency's back office); empty when unbound.
    pub agencies: Vec<String>,
    /// The merchant the client acts for (a marketplace integration).
    pub merchant_id: Option<String>,
    /// Grants it may use at the token endpoint (RFC 7591 `grant_types`).
    pub grant_types: Vec<String>,
    #[serde(skip)]
    pub secret_sha256: Option<Vec<u8>>,
    pub status: ClientStatus,
    /// Tokens it obtained up to this instant (unix milliseconds) are dead: a suspension,
    /// deletion, narrowed registration or rotated secret.
    #[serde(skip)]
    pub cut_off_ms: Option<i64>,
}

impl Client {
    pub fn is_active(&self) -> bool {
        self.status == ClientStatus::Active
    }

    /// How it authenticates at the token endpoint (RFC 7591 `token_endpoint_auth_method`):
    /// apps `none`, service providers with a `jwks_uri` `private_key_jwt` (and never a secret),
    /// others a secret (`client_secret_basic`; `client_secret_post` is accepted too).
    pub fn token_endpoint_auth_method(&self) -> &'static str {
        match (self.kind, &self.jwks_uri) {
            (ClientKind::Public, _) => "none",
            (ClientKind::Confidential, Some(_)) => "private_key_jwt",
            (ClientKind::Confidential, None) => "client_secret_basic",
        }
    }

    /// The scopes it is registered for.
    pub fn registered_scopes(&self) -> Scopes {
        Scopes::from_list(&self.scopes)
    }

    /// Whether it is registered for `grant` (`authorization_code`, `refresh_token`,
    /// `client_credentials`).
    pub fn may_use_grant(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
    }

    /// Whether the client may act for agency `code`: an agency-bound client only for its own
    /// agencies, a merchant-bound one for none.
    pub fn may_act_for_agency(&self, code: &str) -> bool {
        self.agencies.iter().any(|a| a == code)
    }

    /// Whether the client may act for merchant `id`.
    pub fn may_act_for_merchant(&self, id: &str) -> bool {
        self.merchant_id.as_deref() == Some(id)
    }

    /// The registration as it would be submitted again (for updates).
    pub fn to_new(&self) -> NewClient {
        NewClient {
            name: self.name.clone(),
            kind: self.kind,
            redirect_uris: self.redirect_uris.clone(),
            scopes: self.scopes.clone(),
            rate_limit_per_min: self.rate_limit_per_min,
            jwks_uri: self.jwks_uri.clone(),
            agencies: self.agencies.clone(),
            merchant_id: self.merchant_id.clone(),
            grant_types: self.grant_types.clone(),
        }
    }

    /// Whether `uri` is one of this client's redirect URIs (RFC 8252 §7.3 loopback rule).
    pub fn allows_redirect(&self, uri: &str) -> bool {
        self.redirect_uris
            .iter()
            .any(|registered| super::redirect::matches(registered, uri))
    }
}

/// A client to register, as submitted: [`NewClient::validate`] turns it into a [`ValidClient`],
/// the only form the store accepts.
#[derive(Debug, Clone)]
pub struct NewClient {
    pub name: String,
    pub kind: ClientKind,
    pub redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub rate_limit_per_min: Option<i32>,
    pub jwks_uri: Option<String>,
    pub agencies: Vec<String>,
    pub merchant_id: Option<String>,
    /// Empty: the defaults of its kind.
    pub grant_types: Vec<String>,
}

/// A registration that passed [`NewClient::validate`]: normalized (sorted, deduplicated,
/// defaults filled in) and consistent. It can only be made by validating, so nothing unchecked
/// reaches the clients table.
#[derive(Debug, Clone)]
pub struct ValidClient(NewClient);

impl std::ops::Deref for ValidClient {
    type Target = NewClient;

    fn deref(&self) -> &NewClient {
        &self.0
    }
}

impl ValidClient {
    pub fn into_inner(self) -> NewClient {
        self.0
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidClient {
    #[error("name must be 1 to 200 characters")]
    Name,
    #[error("redirect URI `{0}`: {1}")]
    RedirectUri(String, &'static str),
    #[error("a public client needs at least one redirect URI")]
    NoRedirectUri,
    #[error("unknown scope `{0}` (known: {known})", known = KNOWN_SCOPES.join(", "))]
    Scope(String),
    #[error("rate limit must be a positive number of requests per minute")]
    RateLimit,
    #[error("jwks_uri must be an https URL (or http on a loopback address)")]
    JwksUri,
    #[error("only confidential clients can register a jwks_uri")]
    JwksUriOnPublic,
    #[error("binding `{0}`: codes are 1 to 40 letters, digits, `.`, `-` or `_`")]
    Binding(String),
    #[error("a client is bound to agencies or to a merchant, not both")]
    TwoBindings,
    #[error("only confidential clients (service providers) can be bound to agencies or a merchant")]
    BindingOnPublic,
    #[error("unknown grant type `{0}` (known: {known})", known = KNOWN_GRANTS.join(", "))]
    GrantType(String),
    #[error("public clients cannot use client_credentials: they hold no credentials")]
    ClientCredentialsOnPublic,
    #[error("authorization_code needs at least one redirect URI")]
    CodeWithoutRedirect,
    #[error("refresh_token comes with authorization_code")]
    RefreshWithoutCode,
    #[error("too many {0}: at most {1}")]
    TooMany(&'static str, usize),
}

/// Longest URI we register (redirect URIs, `jwks_uri`): they are stored, compared on every
/// sign-in and echoed into redirects.
pub const MAX_URI_LEN: usize = 2000;
/// Most redirect URIs, agency bindings or scopes one client may have.
pub const MAX_LIST_LEN: usize = 50;

/// Agency codes (`000.00.12.H12`) and merchant ids: short, inert identifiers.
fn is_binding_code(code: &str) -> bool {
    (1..=40).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

impl Default for NewClient {
    /// A confidential client with no scopes: fill in what it needs.
    fn default() -> Self {
        NewClient {
            name: String::new(),
            kind: ClientKind::Confidential,
            redirect_uris: Vec::new(),
            scopes: Vec::new(),
            rate_limit_per_min: None,
            jwks_uri: None,
            agencies: Vec::new(),
            merchant_id: None,
            grant_types: Vec::new(),
        }
    }
}

impl NewClient {
    /// Checks a registration and normalizes it (lists sorted without repeats, defaults of its
    /// kind filled in); the first fault found is the error.
    pub fn validate(mut self) -> Result<ValidClient, InvalidClient> {
        self.name = self.name.trim().to_string();
        if self.name.is_empty() || self.name.chars().count() > 200 {
            return Err(InvalidClient::Name);
        }
        for (name, len) in [
            ("redirect URIs", self.redirect_uris.len()),
            ("agencies", self.agencies.len()),
            ("scopes", self.scopes.len()),
            ("grant types", self.grant_types.len()),
        ] {
            if len > MAX_LIST_LEN {
                return Err(InvalidClient::TooMany(name, MAX_LIST_LEN));
            }
        }
        self.check_redirect_uris()?;
        self.normalize_scopes()?;
        if self.rate_limit_per_min.is_some_and(|n| n <= 0) {
            return Err(InvalidClient::RateLimit);
        }
        self.normalize_bindings()?;
        self.check_jwks_uri()?;
        self.normalize_grants()?;
        Ok(ValidClient(self))
    }

    fn check_redirect_uris(&self) -> Result<(), InvalidClient> {
        for uri in &self.redirect_uris {
            if uri.len() > MAX_URI_LEN {
                return Err(InvalidClient::RedirectUri(
                    uri.chars().take(64).collect(),
                    "longer than 2000 characters",
                ));
            }
            super::redirect::validate(uri, self.kind)
                .map_err(|why| InvalidClient::RedirectUri(uri.clone(), why))?;
        }
        if self.kind == ClientKind::Public && self.redirect_uris.is_empty() {
            return Err(InvalidClient::NoRedirectUri);
        }
        Ok(())
    }

    /// Known scopes, each once; a public client without any gets the default ones.
    fn normalize_scopes(&mut self) -> Result<(), InvalidClient> {
        if self.scopes.is_empty() && self.kind == ClientKind::Public {
            self.scopes = DEFAULT_PUBLIC_SCOPES
                .iter()
                .map(|s| s.to_string())
                .collect();
        }
        for scope in &self.scopes {
            if !KNOWN_SCOPES.contains(&scope.as_str()) {
                return Err(InvalidClient::Scope(scope.clone()));
            }
        }
        self.scopes.sort();
        self.scopes.dedup();
        Ok(())
    }

    /// Agencies or a merchant, well formed, for confidential clients only.
    fn normalize_bindings(&mut self) -> Result<(), InvalidClient> {
        self.agencies.sort();
        self.agencies.dedup();
        for code in self.agencies.iter().chain(self.merchant_id.iter()) {
            if !is_binding_code(code) {
                return Err(InvalidClient::Binding(code.clone()));
            }
        }
        if !self.agencies.is_empty() && self.merchant_id.is_some() {
            return Err(InvalidClient::TwoBindings);
        }
        if self.kind == ClientKind::Public
            && (!self.agencies.is_empty() || self.merchant_id.is_some())
        {
            return Err(InvalidClient::BindingOnPublic);
        }
        Ok(())
    }

    fn check_jwks_uri(&self) -> Result<(), InvalidClient> {
        let Some(uri) = &self.jwks_uri else {
            return Ok(());
        };
        if self.kind == ClientKind::Public {
            return Err(InvalidClient::JwksUriOnPublic);
        }
        let ok = uri.len() <= MAX_URI_LEN
            && url::Url::parse(uri).is_ok_and(|u| {
                u.scheme() == "https" || (u.scheme() == "http" && super::redirect::is_loopback(&u))
            });
        if !ok {
            return Err(InvalidClient::JwksUri);
        }
        Ok(())
    }

    /// Known grant types, each once (the kind's defaults when none are given), that make sense
    /// together and for the kind of client.
    fn normalize_grants(&mut self) -> Result<(), InvalidClient> {
        if self.grant_types.is_empty() {
            let defaults = match self.kind {
                ClientKind::Public => DEFAULT_PUBLIC_GRANTS,
                ClientKind::Confidential => DEFAULT_CONFIDENTIAL_GRANTS,
            };
            self.grant_types = defaults.iter().map(|g| g.to_string()).collect();
        }
        self.grant_types.sort();
        self.grant_types.dedup();
        let has = |grant: &str| self.grant_types.iter().any(|g| g == grant);
        if let Some(unknown) = self
            .grant_types
            .iter()
            .find(|g| !KNOWN_GRANTS.contains(&g.as_str()))
        {
            return Err(InvalidClient::GrantType(unknown.clone()));
        }
        if self.kind == ClientKind::Public && has("client_credentials") {
            return Err(InvalidClient::ClientCredentialsOnPublic);
        }
        if has("authorization_code") && self.redirect_uris.is_empty() {
            return Err(InvalidClient::CodeWithoutRedirect);
        }
        if has("refresh_token") && !has("authorization_code") {
            return Err(InvalidClient::RefreshWithoutCode);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> NewClient {
        NewClient {
            name: "Sở Tư pháp back office".into(),
            scopes: vec!["dossiers:write".into()],
            ..NewClient::default()
        }
    }

    #[test]
    fn an_agency_bound_client_acts_for_its_agencies_only() {
        let new = NewClient {
            agencies: vec!["000.00.13.H12".into(), "000.00.12.H12".into()],
            ..provider()
        }
        .validate()
        .unwrap();
        assert_eq!(new.agencies, ["000.00.12.H12", "000.00.13.H12"]);
        let client = Client {
            client_id: "mc_x".into(),
            name: new.name.clone(),
            kind: new.kind,
            redirect_uris: vec![],
            scopes: new.scopes.clone(),
            rate_limit_per_min: None,
            jwks_uri: None,
            agencies: new.agencies.clone(),
            merchant_id: None,
            grant_types: new.grant_types.clone(),
            secret_sha256: None,
            status: ClientStatus::Active,
            cut_off_ms: None,
        };
        assert!(client.may_act_for_agency("000.00.12.H12"));
        assert!(!client.may_act_for_agency("000.00.14.H12"));
        assert!(!client.may_act_for_merchant("000.00.12.H12"));
        let unbound = Client {
            agencies: vec![],
            ..client
        };
        assert!(!unbound.may_act_for_agency("000.00.12.H12"));
    }

    #[test]
    fn bindings_are_validated() {
        let both = NewClient {
            agencies: vec!["A1".into()],
            merchant_id: Some("htx-ca-phe".into()),
            ..provider()
        };
        assert_eq!(both.validate().unwrap_err(), InvalidClient::TwoBindings);
        let odd = NewClient {
            agencies: vec!["Sở <script>".into()],
            ..provider()
        };
        assert!(matches!(odd.validate(), Err(InvalidClient::Binding(_))));
        let app = NewClient {
            kind: ClientKind::Public,
            redirect_uris: vec!["http://127.0.0.1/cb".into()],
            merchant_id: Some("htx-ca-phe".into()),
            ..provider()
        };
        assert_eq!(app.validate().unwrap_err(), InvalidClient::BindingOnPublic);
        let many = NewClient {
            agencies: (0..51).map(|i| format!("A{i}")).collect(),
            ..provider()
        };
        assert_eq!(
            many.validate().unwrap_err(),
            InvalidClient::TooMany("agencies", 50)
        );
        let long = NewClient {
            redirect_uris: vec![format!("https://x.vn/{}", "a".repeat(2000))],
            ..provider()
        };
        assert!(matches!(
            long.validate(),
            Err(InvalidClient::RedirectUri(..))
        ));
    }

    #[test]
    fn grant_types_default_by_kind_and_are_validated() {
        let validated = provider().validate().unwrap();
        assert_eq!(validated.grant_types, ["client_credentials"]);
        let app = || NewClient {
            name: "Cà Mau một cửa".into(),
            kind: ClientKind::Public,
            redirect_uris: vec!["vn.gov.app:/cb".into()],
            ..NewClient::default()
        };
        let validated = app().validate().unwrap();
        assert_eq!(
            validated.grant_types,
            ["authorization_code", "refresh_token"]
        );
        let narrowed = NewClient {
            grant_types: vec!["authorization_code".into()],
            ..app()
        };
        assert_eq!(
            narrowed.validate().unwrap().grant_types,
            ["authorization_code"]
        );
        let cases = [
            (
                NewClient {
                    grant_types: vec!["password".into()],
                    ..app()
                },
                InvalidClient::GrantType("password".into()),
            ),
            (
                NewClient {
                    grant_types: vec!["client_credentials".into()],
                    ..app()
                },
                InvalidClient::ClientCredentialsOnPublic,
            ),
            (
                NewClient {
                    grant_types: vec!["refresh_token".into()],
                    ..app()
                },
                InvalidClient::RefreshWithoutCode,
            ),
            (
                NewClient {
                    grant_types: vec!["authorization_code".into()],
                    ..provider()
                },
                InvalidClient::CodeWithoutRedirect,
            ),
        ];
        for (new, expected) in cases {
            assert_eq!(new.validate().unwrap_err(), expected);
        }
    }
}
