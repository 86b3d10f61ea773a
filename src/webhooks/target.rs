//! Where a webhook may be sent: the guard against server-side request forgery. A receiver's URL
//! must be https and its host must resolve only to public addresses; the addresses checked are
//! the ones the request then connects to, so a name cannot resolve to a public address at the
//! check and to an internal one at the connection. The check runs at registration and again
//! before every attempt, because DNS answers change.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::LazyLock;
use std::time::Duration;

use ipnet::IpNet;
use url::{Host, Url};

/// Why a target is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("not an absolute http(s) URL")]
    Malformed,
    #[error("must use https")]
    NotHttps,
    #[error("must not carry a user name, password or fragment")]
    Credentials,
    #[error("the host does not resolve")]
    Unresolved,
    #[error("the host resolves to {0}, a loopback, private or otherwise internal address")]
    Internal(IpAddr),
}

/// Internal, special-purpose and non-unicast ranges (RFC 6890 and its updates). Addresses that
/// embed an IPv4 address (mapped, NAT64, 6to4) are judged by the embedded one as well.
static FORBIDDEN: LazyLock<Vec<IpNet>> = LazyLock::new(|| {
    [
        "0.0.0.0/8",       // this network, unspecified
        "10.0.0.0/8",      // private
        "100.64.0.0/10",   // carrier-grade NAT
        "127.0.0.0/8",     // loopback
        "169.254.0.0/16",  // link-local (cloud metadata services live here)
        "172.16.0.0/12",   // private
        "192.0.0.0/24",    // IETF protocol assignments
        "192.0.2.0/24",    // documentation
        "192.88.99.0/24",  // 6to4 relay anycast
        "192.168.0.0/16",  // private
        "198.18.0.0/15",   // benchmarking
        "198.51.100.0/24", // documentation
        "203.0.113.0/24",  // documentation
        "224.0.0.0/4",     // multicast
        "240.0.0.0/4",     // reserved, broadcast
        "::/96",           // unspecified, loopback, IPv4-compatible (deprecated)
        "100::/64",        // discard
        "2001::/32",       // Teredo tunnels
        "2001:db8::/32",   // documentation
        "fc00::/7",        // unique local
        "fe80::/10",       // link-local
        "fec0::/10",       // site-local (deprecated)
        "ff00::/8",        // multicast
    ]
    .iter()
    .filter_map(|net| net.parse().ok())
    .collect()
});

/// Whether an address is internal: loopback, private, link-local, unique-local, CGNAT,
/// multicast, unspecified, reserved, or an IPv6 address carrying such an IPv4 address.
pub fn is_internal(ip: IpAddr) -> bool {
    if FORBIDDEN.iter().any(|net| net.contains(&ip)) {
        return true;
    }
    match ip {
        IpAddr::V4(_) => false,
        IpAddr::V6(v6) => embedded_v4(v6).is_some_and(|v4| is_internal(IpAddr::V4(v4))),
    }
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`), NAT64 (`64:ff9b::/96`) or 6to4
/// (`2002::/16`) address.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let from = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match s {
        [0, 0, 0, 0, 0, 0xffff, hi, lo] => Some(from(hi, lo)),
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(from(hi, lo)),
        [0x2002, hi, lo, ..] => Some(from(hi, lo)),
        _ => None,
    }
}

/// Checks a URL's form: absolute, https (http too when private targets are allowed, for
/// development), no credentials or fragment.
pub fn check_url(raw: &str, allow_private: bool) -> Result<Url, TargetError> {
    let url = Url::parse(raw.trim()).map_err(|_| TargetError::Malformed)?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        "http" => return Err(TargetError::NotHttps),
        _ => return Err(TargetError::Malformed),
    }
    if url.host().is_none() || raw.len() > 2000 {
        return Err(TargetError::Malformed);
    }
    if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
        return Err(TargetError::Credentials);
    }
    Ok(url)
}

/// The addresses to connect to for `url`, every one of them public (unless private targets are
/// allowed). Refused if any is internal: a name answering with both is not to be trusted.
pub async fn resolve(url: &Url, allow_private: bool) -> Result<Vec<SocketAddr>, TargetError> {
    let port = url.port_or_known_default().ok_or(TargetError::Malformed)?;
    let addrs: Vec<SocketAddr> = match url.host() {
        Some(Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
        Some(Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
        Some(Host::Domain(name)) => {
            let lookup = tokio::net::lookup_host((name, port));
            tokio::time::timeout(Duration::from_secs(5), lookup)
                .await
                .map_err(|_| TargetError::Unresolved)?
                .map_err(|_| TargetError::Unresolved)?
                .collect()
        }
        None => return Err(TargetError::Malformed),
    };
    if addrs.is_empty() {
        return Err(TargetError::Unresolved);
    }
    if !allow_private && let Some(bad) = addrs.iter().find(|a| is_internal(a.ip())) {
        return Err(TargetError::Internal(bad.ip()));
    }
    Ok(addrs)
}

/// Checks a URL's form and where it resolves to now.
pub async fn check(raw: &str, allow_private: bool) -> Result<Url, TargetError> {
    let url = check_url(raw, allow_private)?;
    resolve(&url, allow_private).await?;
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_recognised_in_both_families() {
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:a00:1::1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "203.113.131.1",
            "2001:4860:4860::8888",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn urls_must_be_https_without_credentials() {
        assert_eq!(
            check_url("http://example.com/hook", false),
            Err(TargetError::NotHttps)
        );
        assert!(check_url("http://example.com/hook", true).is_ok());
        assert_eq!(
            check_url("https://user:pw@example.com/", false),
            Err(TargetError::Credentials)
        );
        assert_eq!(
            check_url("ftp://example.com/", true),
            Err(TargetError::Malformed)
        );
        assert_eq!(check_url("/relative", true), Err(TargetError::Malformed));
    }

    #[tokio::test]
    async fn literal_and_named_internal_targets_are_refused() {
        for url in [
            "https://127.0.0.1/hook",
            "https://10.0.0.1/hook",
            "https://[::ffff:127.0.0.1]/hook",
            "https://localhost:8443/hook",
        ] {
            let parsed = check_url(url, false).unwrap();
            assert!(
                matches!(resolve(&parsed, false).await, Err(TargetError::Internal(_))),
                "{url}"
            );
            assert!(resolve(&parsed, true).await.is_ok(), "{url}");
        }
    }
}
