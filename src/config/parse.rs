//! Reading single values: each parser names the variable in its error.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ipnet::IpNet;
use url::Url;

use super::{ConfigError, LogFormat, WebhookSettings, invalid};

/// The configuration's key/value pairs; a blank value counts as unset.
pub(super) struct Values<'a>(pub(super) &'a BTreeMap<String, String>);

impl<'a> Values<'a> {
    pub(super) fn get(&self, key: &str) -> Option<&'a str> {
        self.0.get(key).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    pub(super) fn text(&self, key: &str, default: &str) -> String {
        self.get(key).unwrap_or(default).to_string()
    }

    pub(super) fn number<T: std::str::FromStr>(
        &self,
        var: &'static str,
        default: T,
    ) -> Result<T, ConfigError> {
        parse_number(var, self.get(var), default)
    }

    pub(super) fn positive(&self, var: &'static str, default: u64) -> Result<u64, ConfigError> {
        parse_positive(var, self.get(var), default)
    }

    pub(super) fn secs(&self, var: &'static str, default: u64) -> Result<Duration, ConfigError> {
        self.number(var, default).map(Duration::from_secs)
    }

    pub(super) fn positive_secs(
        &self,
        var: &'static str,
        default: u64,
    ) -> Result<Duration, ConfigError> {
        self.positive(var, default).map(Duration::from_secs)
    }
}

/// PostgreSQL's and Redis's URLs, by their scheme.
pub(super) fn store_urls<'a>(v: &Values<'a>) -> Result<(&'a str, &'a str), ConfigError> {
    let database_url = v
        .get("DATABASE_URL")
        .unwrap_or("postgres://localhost/motcua");
    if !(database_url.starts_with("postgres://") || database_url.starts_with("postgresql://")) {
        return Err(invalid(
            "DATABASE_URL",
            "must be a postgres:// or postgresql:// URL",
        ));
    }
    let redis_url = v.get("REDIS_URL").unwrap_or("redis://127.0.0.1:6379");
    let cluster = parse_bool("MOTCUA_REDIS_CLUSTER", v.get("MOTCUA_REDIS_CLUSTER"))?;
    redis_nodes(redis_url, cluster)?;
    Ok((database_url, redis_url))
}

/// `REDIS_URL`: one server's URL, or with `MOTCUA_REDIS_CLUSTER=1` a comma-separated list of
/// cluster nodes' URLs (one is enough; the others are discovered).
fn redis_nodes(list: &str, cluster: bool) -> Result<(), ConfigError> {
    let nodes: Vec<&str> = list.split(',').map(str::trim).collect();
    if nodes.len() > 1 && !cluster {
        return Err(invalid(
            "REDIS_URL",
            "lists several nodes: set MOTCUA_REDIS_CLUSTER=1 for a Redis Cluster",
        ));
    }
    for node in nodes {
        let scheme_ok = node.starts_with("redis://") || node.starts_with("rediss://");
        if !scheme_ok || Url::parse(node).is_err() {
            return Err(invalid(
                "REDIS_URL",
                if cluster {
                    "must list the cluster's nodes as redis:// or rediss:// URLs, comma-separated"
                } else {
                    "must be a redis:// or rediss:// URL"
                },
            ));
        }
    }
    Ok(())
}

pub(super) fn log_format(v: &Values<'_>) -> Result<LogFormat, ConfigError> {
    match v.get("MOTCUA_LOG_FORMAT").unwrap_or("human") {
        "human" | "text" => Ok(LogFormat::Human),
        "json" => Ok(LogFormat::Json),
        other => Err(invalid(
            "MOTCUA_LOG_FORMAT",
            format!("expected `human` or `json`, got `{other}`"),
        )),
    }
}

/// A new key is published this long before it signs: longer than verifiers cache the JWKS.
pub(super) fn key_rotation_delay(
    v: &Values<'_>,
    jwks_max_age: Duration,
) -> Result<Duration, ConfigError> {
    let delay = v.secs(
        "MOTCUA_KEY_ROTATION_DELAY_SECS",
        jwks_max_age.as_secs() + 60,
    )?;
    if delay <= jwks_max_age && !jwks_max_age.is_zero() {
        return Err(invalid(
            "MOTCUA_KEY_ROTATION_DELAY_SECS",
            "must be longer than MOTCUA_JWKS_MAX_AGE_SECS, or verifiers would meet tokens signed by keys they have not fetched",
        ));
    }
    Ok(delay)
}

pub(super) fn revocation_poll(v: &Values<'_>) -> Result<Duration, ConfigError> {
    let ms = v.positive("MOTCUA_REVOCATION_POLL_MS", 1000)?;
    // The README promises every replica refuses a revoked token within 5 s.
    if !(100..=4000).contains(&ms) {
        return Err(invalid(
            "MOTCUA_REVOCATION_POLL_MS",
            "must be between 100 and 4000",
        ));
    }
    Ok(Duration::from_millis(ms))
}

pub(super) fn webhook_settings(v: &Values<'_>) -> Result<WebhookSettings, ConfigError> {
    let settings = WebhookSettings {
        allow_private: parse_bool(
            "MOTCUA_WEBHOOK_ALLOW_PRIVATE",
            v.get("MOTCUA_WEBHOOK_ALLOW_PRIVATE"),
        )?,
        timeout: v.positive_secs("MOTCUA_WEBHOOK_TIMEOUT_SECS", 10)?,
        retry_base: Duration::from_millis(v.positive("MOTCUA_WEBHOOK_RETRY_BASE_MS", 5000)?),
        retry_window: v.positive_secs("MOTCUA_WEBHOOK_RETRY_WINDOW_SECS", 24 * 3600)?,
        poll: Duration::from_millis(v.positive("MOTCUA_WEBHOOK_POLL_MS", 1000)?),
    };
    // A slow receiver must not hold a worker (and its claim on a delivery) for long.
    if settings.timeout > Duration::from_secs(60) {
        return Err(invalid("MOTCUA_WEBHOOK_TIMEOUT_SECS", "must be at most 60"));
    }
    Ok(settings)
}

pub(super) fn parse_master_key(encoded: &str) -> Result<[u8; 32], ConfigError> {
    let bytes = STANDARD
        .decode(encoded)
        .map_err(|_| invalid("MOTCUA_MASTER_KEY", "not valid base64"))?;
    bytes.try_into().map_err(|bytes: Vec<u8>| {
        invalid(
            "MOTCUA_MASTER_KEY",
            format!("must decode to 32 bytes, got {}", bytes.len()),
        )
    })
}

pub(super) fn parse_base_url(var: &'static str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value).map_err(|e| invalid(var, format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(var, "must be an http:// or https:// URL"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(var, "must not have a query or fragment"));
    }
    Ok(url)
}

pub(super) fn parse_bool(var: &'static str, value: Option<&str>) -> Result<bool, ConfigError> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None | Some("0" | "false" | "no" | "off") => Ok(false),
        Some("1" | "true" | "yes" | "on") => Ok(true),
        Some(other) => Err(invalid(var, format!("expected 1 or 0, got `{other}`"))),
    }
}

pub(super) fn parse_number<T: std::str::FromStr>(
    var: &'static str,
    value: Option<&str>,
    default: T,
) -> Result<T, ConfigError> {
    match value {
        None => Ok(default),
        Some(text) => text.parse().map_err(|_| {
            invalid(
                var,
                format!("expected a non-negative integer, got `{text}`"),
            )
        }),
    }
}

pub(super) fn parse_positive(
    var: &'static str,
    value: Option<&str>,
    default: u64,
) -> Result<u64, ConfigError> {
    match parse_number(var, value, default)? {
        0 => Err(invalid(var, "must be greater than zero")),
        n => Ok(n),
    }
}

pub(super) fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_string)
        .collect()
}

pub(super) fn parse_scopes(value: &str) -> Result<Vec<String>, ConfigError> {
    let scopes: Vec<String> = value
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if !scopes.iter().any(|s| s == "openid") {
        return Err(invalid("MOTCUA_EID_SCOPES", "must include `openid`"));
    }
    Ok(scopes)
}

pub(super) fn parse_proxies(value: &str) -> Result<Vec<IpNet>, ConfigError> {
    split_list(value)
        .into_iter()
        .map(|item| {
            item.parse::<IpNet>()
                .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    invalid(
                        "MOTCUA_TRUSTED_PROXIES",
                        format!("`{item}` is neither an IP address nor a CIDR range"),
                    )
                })
        })
        .collect()
}
