//! Every setting's default, as the README's configuration table states it.

use std::collections::BTreeMap;
use std::time::Duration;

use motcua::config::{Config, LogFormat};

fn secs(d: Duration) -> String {
    d.as_secs().to_string()
}

/// A setting missing from `KEYS` is ignored in the environment and refused in `motcua.toml`:
/// `MOTCUA_OBJECT_STORE=s3://…` left every upload on the replica's own disk.
#[test]
fn every_documented_setting_is_read_from_the_environment_and_the_file() {
    let readme = include_str!("../../README.md");
    let documented: Vec<&str> = readme
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once('`').map(|(key, _)| key))
        .filter(|key| key.starts_with("MOTCUA_") || key.ends_with("_URL"))
        .filter(|key| {
            key.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .collect();
    assert!(
        documented.contains(&"MOTCUA_OBJECT_STORE"),
        "{documented:?}"
    );
    for key in documented {
        assert!(
            motcua::config::KEYS.contains(&key),
            "{key} is not in config::KEYS"
        );
    }
}

#[test]
fn every_default_is_the_documented_one() {
    let c = Config::from_map(&BTreeMap::new()).expect("defaults are valid");
    const DAY: u64 = 24 * 3600;
    let cases: Vec<(&str, String, String)> = vec![
        (
            "DATABASE_URL",
            c.database_url.expose().clone(),
            "postgres://localhost/motcua".into(),
        ),
        (
            "REDIS_URL",
            c.redis_url.expose().clone(),
            "redis://127.0.0.1:6379".into(),
        ),
        (
            "MOTCUA_REDIS_CLUSTER",
            c.redis_cluster.to_string(),
            "false".into(),
        ),
        (
            "MOTCUA_CACHE_DISABLED",
            c.cache_disabled.to_string(),
            "false".into(),
        ),
        (
            "MOTCUA_REDIS_PREFIX",
            c.redis_prefix.clone(),
            "motcua:".into(),
        ),
        (
            "MOTCUA_LISTEN",
            c.listen.to_string(),
            "127.0.0.1:8080".into(),
        ),
        (
            "MOTCUA_PUBLIC_URL",
            c.issuer().to_string(),
            "http://127.0.0.1:8080".into(),
        ),
        (
            "MOTCUA_EID_ISSUER",
            c.eid_issuer.as_str().trim_end_matches('/').into(),
            "http://127.0.0.1:8090".into(),
        ),
        (
            "MOTCUA_EID_SCOPES",
            c.eid_scopes.join(" "),
            "openid profile".into(),
        ),
        (
            "MOTCUA_EID_ACR_LEVEL2",
            c.eid_acr_level2.join(","),
            "2".into(),
        ),
        (
            "MOTCUA_EID_ID_NUMBER_CLAIM",
            c.eid_id_number_claim.clone(),
            "identification_number".into(),
        ),
        (
            "MOTCUA_MASTER_KEY (development key)",
            c.master_key_is_dev.to_string(),
            "true".into(),
        ),
        (
            "MOTCUA_TRUSTED_PROXIES",
            format!("{:?}", c.trusted_proxies),
            "[]".into(),
        ),
        (
            "MOTCUA_LOG_FORMAT",
            (c.log_format == LogFormat::Human).to_string(),
            "true".into(),
        ),
        (
            "MOTCUA_CORS_ORIGINS",
            format!("{:?}", c.cors_origins),
            "[]".into(),
        ),
        (
            "MOTCUA_MAX_BODY_BYTES",
            c.max_body_bytes.to_string(),
            "1048576".into(),
        ),
        (
            "MOTCUA_REQUEST_TIMEOUT_SECS",
            secs(c.request_timeout),
            "30".into(),
        ),
        (
            "MOTCUA_SHUTDOWN_GRACE_SECS",
            secs(c.shutdown_grace),
            "30".into(),
        ),
        (
            "MOTCUA_ACCESS_TOKEN_TTL_SECS",
            secs(c.access_token_ttl),
            "600".into(),
        ),
        (
            "MOTCUA_JWKS_MAX_AGE_SECS",
            secs(c.jwks_max_age),
            "300".into(),
        ),
        (
            "MOTCUA_KEY_ROTATION_DELAY_SECS",
            secs(c.key_rotation_delay),
            secs(c.jwks_max_age + Duration::from_secs(60)),
        ),
        (
            "MOTCUA_SESSION_IDLE_SECS",
            secs(c.session_idle),
            (30 * DAY).to_string(),
        ),
        (
            "MOTCUA_SESSION_ABSOLUTE_SECS",
            secs(c.session_absolute),
            (90 * DAY).to_string(),
        ),
        (
            "MOTCUA_REFRESH_GRACE_SECS",
            secs(c.refresh_grace),
            "30".into(),
        ),
        (
            "MOTCUA_RATE_LIMIT_ANONYMOUS_PER_MIN",
            c.rate_limit_anonymous_per_min.to_string(),
            "1200".into(),
        ),
        (
            "MOTCUA_RATE_LIMIT_CLIENT_PER_MIN",
            c.rate_limit_client_per_min.to_string(),
            "6000".into(),
        ),
        (
            "MOTCUA_AUDIT_CHECKPOINT_SECS",
            secs(c.audit_checkpoint_interval),
            "300".into(),
        ),
        (
            "MOTCUA_OPS_MAX_AGE_SECS",
            secs(c.ops_max_age),
            "28800".into(),
        ),
        (
            "MOTCUA_REVOCATION_POLL_MS",
            c.revocation_poll.as_millis().to_string(),
            "1000".into(),
        ),
        (
            "MOTCUA_WEBHOOK_ALLOW_PRIVATE",
            c.webhooks.allow_private.to_string(),
            "false".into(),
        ),
        (
            "MOTCUA_WEBHOOK_TIMEOUT_SECS",
            secs(c.webhooks.timeout),
            "10".into(),
        ),
        (
            "MOTCUA_WEBHOOK_RETRY_BASE_MS",
            c.webhooks.retry_base.as_millis().to_string(),
            "5000".into(),
        ),
        (
            "MOTCUA_WEBHOOK_RETRY_WINDOW_SECS",
            secs(c.webhooks.retry_window),
            DAY.to_string(),
        ),
        (
            "MOTCUA_WEBHOOK_POLL_MS",
            c.webhooks.poll.as_millis().to_string(),
            "1000".into(),
        ),
    ];
    let wrong: Vec<String> = cases
        .iter()
        .filter(|(_, got, want)| got != want)
        .map(|(var, got, want)| format!("{var}: {got}, documented {want}"))
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
}
