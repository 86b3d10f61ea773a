//! Configuration, read once at start-up.
//!
//! Sources, later ones winning: built-in defaults, a TOML file (`MOTCUA_CONFIG`, or `motcua.toml`
//! in the working directory when present), a `.env` file, then the process environment. Every
//! source uses the same keys: the environment variable names of PRODUCT.md. A value that does not
//! parse stops start-up with an error naming the variable.

mod parse;

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use ipnet::IpNet;
use url::Url;

use parse::{
    Values, key_rotation_delay, log_format, parse_base_url, parse_bool, parse_master_key,
    parse_proxies, parse_scopes, revocation_poll, split_list, store_urls, webhook_settings,
};

/// The eID simulator in `dev/eid-sim` listens here.
pub const DEV_EID_ISSUER: &str = "http://127.0.0.1:8090";
pub const DEV_EID_CLIENT_ID: &str = "motcua";
pub const DEV_EID_CLIENT_SECRET: &str = "motcua-dev-secret-change-me";
/// Only ever used when `MOTCUA_MASTER_KEY` is unset; start-up warns loudly about it.
const DEV_MASTER_KEY: [u8; 32] = *b"motcua-development-master-key-00";

/// A value that must not appear in logs or `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// May carry a password, hence secret.
    pub database_url: Secret<String>,
    pub redis_url: Secret<String>,
    pub redis_cluster: bool,
    pub redis_prefix: String,
    /// Serve every cached read from PostgreSQL: for diagnosis and for measuring the uncached path.
    pub cache_disabled: bool,
    pub listen: SocketAddr,
    pub public_url: Url,
    pub eid_issuer: Url,
    pub eid_client_id: String,
    pub eid_client_secret: Secret<String>,
    pub eid_scopes: Vec<String>,
    pub eid_acr_level2: Vec<String>,
    pub eid_id_number_claim: String,
    pub master_key: Secret<[u8; 32]>,
    /// True when no master key was configured and the development key is in use.
    pub master_key_is_dev: bool,
    pub trusted_proxies: Vec<IpNet>,
    pub log_format: LogFormat,
    /// Origins allowed by CORS; empty means no cross-origin browser access.
    pub cors_origins: Vec<String>,
    pub max_body_bytes: usize,
    /// Where uploaded documents live: `file:///dir` or `s3://bucket/prefix`.
    pub object_store: String,
    /// The largest uploaded file...
    pub max_upload_bytes: u64,
    /// ...and the largest total of the files of one dossier.
    pub max_dossier_bytes: u64,
    pub request_timeout: Duration,
    /// How long `serve` waits for in-flight requests after SIGTERM/SIGINT.
    pub shutdown_grace: Duration,
    pub access_token_ttl: Duration,
    /// `Cache-Control: max-age` of the JWKS; key rotation waits longer than this.
    pub jwks_max_age: Duration,
    /// A session ends after this long unused...
    pub session_idle: Duration,
    /// ...and after this long in any case.
    pub session_absolute: Duration,
    /// How long the predecessor of a rotated refresh token still gets the same reply.
    pub refresh_grace: Duration,
    /// How long a new signing key is published before it signs (longer than `jwks_max_age`).
    pub key_rotation_delay: Duration,
    /// Requests per minute per client IP for callers without a client of their own.
    pub rate_limit_anonymous_per_min: u64,
    /// Requests per minute for a client registered without a limit of its own.
    pub rate_limit_client_per_min: u64,
    /// How often the head of the audit chain is signed and published.
    pub audit_checkpoint_interval: Duration,
    /// The operator API wants a sign-in at most this old (RFC 9470 `max_age`).
    pub ops_max_age: Duration,
    /// How often every replica asks PostgreSQL for revocations its Redis subscription may have
    /// missed: the bound on how late a revocation reaches it when Redis fails.
    pub revocation_poll: Duration,
    pub webhooks: WebhookSettings,
}

/// How webhooks are delivered.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Development and tests only: loopback and private targets, and plain http, are allowed.
    pub allow_private: bool,
    /// A delivery attempt (connect, send, answer) taking longer fails.
    pub timeout: Duration,
    /// The first retry's delay; each next one doubles, with jitter.
    pub retry_base: Duration,
    /// How long an event is retried before its endpoint is marked failing.
    pub retry_window: Duration,
    /// How often each replica looks for due deliveries.
    pub poll: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{var}: {reason}")]
    Invalid { var: &'static str, reason: String },
    #[error("configuration file {path}: {reason}")]
    File { path: String, reason: String },
}

fn invalid(var: &'static str, reason: impl fmt::Display) -> ConfigError {
    ConfigError::Invalid {
        var,
        reason: reason.to_string(),
    }
}

/// Every key the configuration understands, so that a typo in a file is reported, not ignored.
pub const KEYS: &[&str] = &[
    "DATABASE_URL",
    "REDIS_URL",
    "MOTCUA_REDIS_CLUSTER",
    "MOTCUA_REDIS_PREFIX",
    "MOTCUA_LISTEN",
    "MOTCUA_PUBLIC_URL",
    "MOTCUA_EID_ISSUER",
    "MOTCUA_EID_CLIENT_ID",
    "MOTCUA_EID_CLIENT_SECRET",
    "MOTCUA_EID_SCOPES",
    "MOTCUA_EID_ACR_LEVEL2",
    "MOTCUA_EID_ID_NUMBER_CLAIM",
    "MOTCUA_MASTER_KEY",
    "MOTCUA_TRUSTED_PROXIES",
    "MOTCUA_LOG_FORMAT",
    "MOTCUA_CORS_ORIGINS",
    "MOTCUA_MAX_BODY_BYTES",
    "MOTCUA_REQUEST_TIMEOUT_SECS",
    "MOTCUA_SHUTDOWN_GRACE_SECS",
    "MOTCUA_ACCESS_TOKEN_TTL_SECS",
    "MOTCUA_JWKS_MAX_AGE_SECS",
    "MOTCUA_SESSION_IDLE_SECS",
    "MOTCUA_SESSION_ABSOLUTE_SECS",
    "MOTCUA_REFRESH_GRACE_SECS",
    "MOTCUA_KEY_ROTATION_DELAY_SECS",
    "MOTCUA_RATE_LIMIT_ANONYMOUS_PER_MIN",
    "MOTCUA_RATE_LIMIT_CLIENT_PER_MIN",
    "MOTCUA_AUDIT_CHECKPOINT_SECS",
    "MOTCUA_OPS_MAX_AGE_SECS",
    "MOTCUA_REVOCATION_POLL_MS",
    "MOTCUA_CACHE_DISABLED",
    "MOTCUA_WEBHOOK_ALLOW_PRIVATE",
    "MOTCUA_WEBHOOK_TIMEOUT_SECS",
    "MOTCUA_WEBHOOK_RETRY_BASE_MS",
    "MOTCUA_WEBHOOK_RETRY_WINDOW_SECS",
    "MOTCUA_WEBHOOK_POLL_MS",
    "MOTCUA_OBJECT_STORE",
    "MOTCUA_MAX_UPLOAD_BYTES",
    "MOTCUA_MAX_DOSSIER_BYTES",
];

impl Config {
    /// Reads the configuration from the files and the process environment.
    pub fn load() -> Result<Self, ConfigError> {
        let mut values = BTreeMap::new();
        let file = std::env::var("MOTCUA_CONFIG").ok();
        let path = file.as_deref().unwrap_or("motcua.toml");
        if file.is_some() || Path::new(path).exists() {
            values.extend(read_toml(path)?);
        }
        if let Ok(iter) = dotenvy::from_path_iter(".env") {
            for item in iter {
                let (key, value) = item.map_err(|e| ConfigError::File {
                    path: ".env".into(),
                    reason: e.to_string(),
                })?;
                values.insert(key, value);
            }
        }
        for key in KEYS {
            if let Ok(value) = std::env::var(key) {
                values.insert((*key).to_string(), value);
            }
        }
        Self::from_map(&values)
    }

    /// Builds the configuration from key/value pairs; unset keys take their defaults. Values are
    /// checked in the order of the fields, so the first invalid one is the one reported.
    pub fn from_map(values: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let v = Values(values);
        let (database_url, redis_url) = store_urls(&v)?;
        let jwks_max_age = v.secs("MOTCUA_JWKS_MAX_AGE_SECS", 300)?;
        let master_key = match v.get("MOTCUA_MASTER_KEY") {
            Some(encoded) => Some(parse_master_key(encoded)?),
            None => None,
        };
        let config = Self {
            database_url: Secret::new(database_url.to_string()),
            redis_url: Secret::new(redis_url.to_string()),
            redis_cluster: parse_bool("MOTCUA_REDIS_CLUSTER", v.get("MOTCUA_REDIS_CLUSTER"))?,
            redis_prefix: v
                .get("MOTCUA_REDIS_PREFIX")
                .unwrap_or("motcua:")
                .to_string(),
            cache_disabled: parse_bool("MOTCUA_CACHE_DISABLED", v.get("MOTCUA_CACHE_DISABLED"))?,
            listen: v
                .get("MOTCUA_LISTEN")
                .unwrap_or("127.0.0.1:8080")
                .parse()
                .map_err(|e| invalid("MOTCUA_LISTEN", format!("not a socket address: {e}")))?,
            public_url: parse_base_url(
                "MOTCUA_PUBLIC_URL",
                v.get("MOTCUA_PUBLIC_URL")
                    .unwrap_or("http://127.0.0.1:8080"),
            )?,
            eid_issuer: parse_base_url(
                "MOTCUA_EID_ISSUER",
                v.get("MOTCUA_EID_ISSUER").unwrap_or(DEV_EID_ISSUER),
            )?,
            eid_client_id: v.text("MOTCUA_EID_CLIENT_ID", DEV_EID_CLIENT_ID),
            eid_client_secret: Secret::new(
                v.text("MOTCUA_EID_CLIENT_SECRET", DEV_EID_CLIENT_SECRET),
            ),
            eid_scopes: parse_scopes(v.get("MOTCUA_EID_SCOPES").unwrap_or("openid profile"))?,
            eid_acr_level2: split_list(v.get("MOTCUA_EID_ACR_LEVEL2").unwrap_or("2")),
            eid_id_number_claim: v.text("MOTCUA_EID_ID_NUMBER_CLAIM", "identification_number"),
            master_key_is_dev: master_key.is_none(),
            master_key: Secret::new(master_key.unwrap_or(DEV_MASTER_KEY)),
            trusted_proxies: parse_proxies(v.get("MOTCUA_TRUSTED_PROXIES").unwrap_or(""))?,
            log_format: log_format(&v)?,
            cors_origins: split_list(v.get("MOTCUA_CORS_ORIGINS").unwrap_or("")),
            max_body_bytes: v.number("MOTCUA_MAX_BODY_BYTES", 1024 * 1024)?,
            object_store: v.text("MOTCUA_OBJECT_STORE", crate::storage::DEFAULT_LOCATION),
            max_upload_bytes: v.positive("MOTCUA_MAX_UPLOAD_BYTES", 10 * 1000 * 1000)?,
            max_dossier_bytes: v.positive("MOTCUA_MAX_DOSSIER_BYTES", 50 * 1000 * 1000)?,
            request_timeout: v.secs("MOTCUA_REQUEST_TIMEOUT_SECS", 30)?,
            shutdown_grace: v.secs("MOTCUA_SHUTDOWN_GRACE_SECS", 30)?,
            access_token_ttl: v.positive_secs("MOTCUA_ACCESS_TOKEN_TTL_SECS", 600)?,
            jwks_max_age,
            session_idle: v.positive_secs("MOTCUA_SESSION_IDLE_SECS", 30 * 24 * 3600)?,
            session_absolute: v.positive_secs("MOTCUA_SESSION_ABSOLUTE_SECS", 90 * 24 * 3600)?,
            refresh_grace: v.secs("MOTCUA_REFRESH_GRACE_SECS", 30)?,
            key_rotation_delay: key_rotation_delay(&v, jwks_max_age)?,
            rate_limit_anonymous_per_min: v
                .positive("MOTCUA_RATE_LIMIT_ANONYMOUS_PER_MIN", 1200)?,
            rate_limit_client_per_min: v.positive("MOTCUA_RATE_LIMIT_CLIENT_PER_MIN", 6000)?,
            audit_checkpoint_interval: v.positive_secs("MOTCUA_AUDIT_CHECKPOINT_SECS", 300)?,
            ops_max_age: v.positive_secs("MOTCUA_OPS_MAX_AGE_SECS", 8 * 3600)?,
            revocation_poll: revocation_poll(&v)?,
            webhooks: webhook_settings(&v)?,
        };
        config.refuse_development_secrets()?;
        Ok(config)
    }

    /// The development master key and the simulator's eID secret are public: anyone could
    /// decrypt our signing keys or sign in as us. They are tolerated only for a local
    /// deployment, plain http on a loopback address.
    fn refuse_development_secrets(&self) -> Result<(), ConfigError> {
        let local = self.public_url.scheme() == "http"
            && match self.public_url.host() {
                Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
        if local {
            return Ok(());
        }
        let only_local = format!(
            "is public, so it serves only plain http on a loopback address, not MOTCUA_PUBLIC_URL={}",
            self.public_url
        );
        if self.master_key_is_dev || self.master_key.expose() == &DEV_MASTER_KEY {
            return Err(invalid(
                "MOTCUA_MASTER_KEY",
                format!(
                    "unset or the development key, which {only_local}; set 32 random bytes, base64"
                ),
            ));
        }
        if self.webhooks.allow_private {
            return Err(invalid(
                "MOTCUA_WEBHOOK_ALLOW_PRIVATE",
                format!("lets webhooks reach internal addresses, so it {only_local}"),
            ));
        }
        if self.eid_client_secret.expose() == DEV_EID_CLIENT_SECRET {
            return Err(invalid(
                "MOTCUA_EID_CLIENT_SECRET",
                format!(
                    "unset or the eID simulator's secret, which {only_local}; set the secret of our registration at the provider"
                ),
            ));
        }
        Ok(())
    }

    /// Our issuer identifier: the public URL without a trailing slash.
    pub fn issuer(&self) -> &str {
        self.public_url.as_str().trim_end_matches('/')
    }

    /// Whether an address may set `X-Forwarded-For`.
    pub fn is_trusted_proxy(&self, addr: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(&addr))
    }
}

fn read_toml(path: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    let file_error = |reason: String| ConfigError::File {
        path: path.to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| file_error(e.to_string()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| file_error(e.to_string()))?;
    let mut values = BTreeMap::new();
    for (key, value) in table {
        let key_upper = key.to_ascii_uppercase();
        if !KEYS.contains(&key_upper.as_str()) {
            return Err(file_error(format!("unknown key `{key}`")));
        }
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(items) => items
                .iter()
                .map(|item| match item {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(","),
            other => {
                return Err(file_error(format!(
                    "`{key}` has an unsupported value {other}"
                )));
            }
        };
        values.insert(key_upper, text);
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_map(&map)
    }

    #[test]
    fn defaults_match_the_product_contract() {
        let c = config(&[]).unwrap();
        assert_eq!(c.database_url.expose(), "postgres://localhost/motcua");
        assert_eq!(c.redis_url.expose(), "redis://127.0.0.1:6379");
        assert_eq!(c.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(c.issuer(), "http://127.0.0.1:8080");
        assert_eq!(c.eid_scopes, ["openid", "profile"]);
        assert_eq!(c.eid_acr_level2, ["2"]);
        assert_eq!(c.eid_id_number_claim, "identification_number");
        assert_eq!(c.redis_prefix, "motcua:");
        assert!(c.master_key_is_dev);
        assert!(!c.redis_cluster);
        assert!(!c.cache_disabled);
        assert!(c.trusted_proxies.is_empty());
        assert_eq!(c.revocation_poll, Duration::from_secs(1));
    }

    #[test]
    fn an_invalid_value_names_its_variable() {
        for (var, value) in [
            ("MOTCUA_LISTEN", "not-an-address"),
            ("MOTCUA_PUBLIC_URL", "ftp://x"),
            ("MOTCUA_MASTER_KEY", "c2hvcnQ="),
            ("MOTCUA_TRUSTED_PROXIES", "10.0.0.0/8, bogus"),
            ("DATABASE_URL", "mysql://x"),
            ("REDIS_URL", "http://x"),
            ("MOTCUA_REDIS_CLUSTER", "maybe"),
            ("MOTCUA_EID_SCOPES", "profile"),
            ("MOTCUA_MAX_BODY_BYTES", "-1"),
            ("MOTCUA_REVOCATION_POLL_MS", "10000"),
            ("MOTCUA_WEBHOOK_ALLOW_PRIVATE", "maybe"),
            ("MOTCUA_WEBHOOK_TIMEOUT_SECS", "61"),
            ("MOTCUA_WEBHOOK_RETRY_BASE_MS", "0"),
        ] {
            let err = config(&[(var, value)]).unwrap_err().to_string();
            assert!(err.starts_with(var), "{var}={value} gave `{err}`");
        }
    }

    #[test]
    fn a_redis_cluster_is_a_list_of_node_urls() {
        let nodes = "redis://10.0.0.1:7001, redis://10.0.0.2:7002";
        let c = config(&[("MOTCUA_REDIS_CLUSTER", "1"), ("REDIS_URL", nodes)]).unwrap();
        assert!(c.redis_cluster);
        assert_eq!(c.redis_url.expose(), nodes);
        for (cluster, list) in [
            ("0", nodes),
            ("1", "redis://10.0.0.1:7001,10.0.0.2:7002"),
            ("1", "redis://10.0.0.1:7001,,redis://10.0.0.2:7002"),
            ("1", "redis://[bad"),
        ] {
            let err = config(&[("MOTCUA_REDIS_CLUSTER", cluster), ("REDIS_URL", list)])
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("REDIS_URL"), "{list} gave `{err}`");
        }
    }

    #[test]
    fn master_key_and_proxies_parse() {
        let key = STANDARD.encode([7u8; 32]);
        let c = config(&[
            ("MOTCUA_MASTER_KEY", &key),
            ("MOTCUA_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.5"),
        ])
        .unwrap();
        assert_eq!(c.master_key.expose(), &[7u8; 32]);
        assert!(!c.master_key_is_dev);
        assert!(c.is_trusted_proxy("10.1.2.3".parse().unwrap()));
        assert!(c.is_trusted_proxy("192.168.1.5".parse().unwrap()));
        assert!(!c.is_trusted_proxy("192.168.1.6".parse().unwrap()));
    }

    #[test]
    fn development_secrets_are_refused_unless_served_on_loopback_http() {
        let key = STANDARD.encode([7u8; 32]);
        let dev_key = STANDARD.encode(DEV_MASTER_KEY);
        for url in [
            "http://127.0.0.1:8080",
            "http://localhost:8080",
            "http://[::1]:8080",
            "http://127.0.0.2/gw",
        ] {
            let c = config(&[("MOTCUA_PUBLIC_URL", url)]).unwrap();
            assert!(c.master_key_is_dev, "{url}");
        }
        for url in [
            "https://motcua.camau.gov.vn",
            "https://127.0.0.1:8443",
            "http://10.0.0.5:8080",
            "http://motcua.internal",
        ] {
            for master in [None, Some(dev_key.as_str())] {
                let mut pairs = vec![
                    ("MOTCUA_PUBLIC_URL", url),
                    ("MOTCUA_EID_CLIENT_SECRET", "registered-secret"),
                ];
                pairs.extend(master.map(|m| ("MOTCUA_MASTER_KEY", m)));
                let err = config(&pairs).unwrap_err().to_string();
                assert!(err.starts_with("MOTCUA_MASTER_KEY"), "{url}: {err}");
            }
            let err = config(&[("MOTCUA_PUBLIC_URL", url), ("MOTCUA_MASTER_KEY", &key)])
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("MOTCUA_EID_CLIENT_SECRET"), "{url}: {err}");
            assert!(!err.contains(DEV_EID_CLIENT_SECRET), "{err}");
            let c = config(&[
                ("MOTCUA_PUBLIC_URL", url),
                ("MOTCUA_MASTER_KEY", &key),
                ("MOTCUA_EID_CLIENT_SECRET", "registered-secret"),
            ])
            .unwrap();
            assert!(!c.master_key_is_dev);
        }
    }

    #[test]
    fn private_webhook_targets_are_allowed_only_when_served_on_loopback_http() {
        let allow = ("MOTCUA_WEBHOOK_ALLOW_PRIVATE", "1");
        assert!(config(&[allow]).unwrap().webhooks.allow_private);
        let key = STANDARD.encode([7u8; 32]);
        let err = config(&[
            allow,
            ("MOTCUA_PUBLIC_URL", "https://motcua.camau.gov.vn"),
            ("MOTCUA_MASTER_KEY", &key),
            ("MOTCUA_EID_CLIENT_SECRET", "registered-secret"),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("MOTCUA_WEBHOOK_ALLOW_PRIVATE"), "{err}");
    }

    #[test]
    fn secrets_do_not_leak_through_debug() {
        let c = config(&[("DATABASE_URL", "postgres://user:hunter2@db/motcua")]).unwrap();
        let printed = format!("{c:?}");
        assert!(!printed.contains("hunter2"));
        assert!(!printed.contains(DEV_EID_CLIENT_SECRET));
    }
}
