//! Redirect URI rules for native apps (RFC 8252) and servers.

use url::{Host, Url};

use super::ClientKind;

pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    }
}

/// Checks a redirect URI at registration. Apps may use a private-use scheme (RFC 8252 §7.1,
/// reverse domain name), a claimed https URL (§7.2) or a loopback IP literal (§7.3); servers
/// https (or http on loopback for development). Never a fragment (RFC 6749 §3.1.2).
pub fn validate(uri: &str, kind: ClientKind) -> Result<(), &'static str> {
    let url = Url::parse(uri).map_err(|_| "not an absolute URI")?;
    if url.fragment().is_some() {
        return Err("must not contain a fragment");
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&url) => Ok(()),
        "http" => Err("http is allowed only on a loopback IP literal (127.0.0.1 or [::1])"),
        scheme if kind == ClientKind::Public => {
            // Private-use schemes are reverse domain names with at least one dot (§7.1).
            if scheme.contains('.') {
                Ok(())
            } else {
                Err(
                    "a private-use scheme must be a reverse domain name, such as vn.gov.example.app",
                )
            }
        }
        _ => Err("must be https"),
    }
}

/// Builds the app's redirect with an RFC 6749 §4.1.2.1 error, its `state` and our `iss`
/// (RFC 9207).
pub fn error_redirect(
    redirect_uri: &str,
    error: &str,
    description: &str,
    state: Option<&str>,
    issuer: &str,
) -> String {
    redirect_with(
        redirect_uri,
        &[
            ("error", Some(error)),
            ("error_description", Some(description)),
            ("state", state),
            ("iss", Some(issuer)),
        ],
    )
}

/// Appends parameters to a redirect URI, keeping its own query.
pub fn redirect_with(redirect_uri: &str, params: &[(&str, Option<&str>)]) -> String {
    match Url::parse(redirect_uri) {
        Ok(mut url) => {
            {
                let mut query = url.query_pairs_mut();
                for (name, value) in params {
                    if let Some(value) = value {
                        query.append_pair(name, value);
                    }
                }
            }
            url.to_string()
        }
        // Registered URIs are validated, so this is unreachable in practice.
        Err(_) => redirect_uri.to_string(),
    }
}

/// Exact match, except that a loopback IP redirect URI matches on any port (RFC 8252 §7.3).
pub fn matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    let (Ok(mut registered), Ok(mut requested)) = (Url::parse(registered), Url::parse(requested))
    else {
        return false;
    };
    if registered.scheme() != "http" || !is_loopback(&registered) || !is_loopback(&requested) {
        return false;
    }
    if registered.set_port(None).is_err() || requested.set_port(None).is_err() {
        return false;
    }
    registered == requested
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_redirects_keep_the_apps_query_and_carry_state_and_iss() {
        let url = error_redirect(
            "vn.gov.app:/cb?x=1",
            "access_denied",
            "no",
            Some("s 1"),
            "https://api.example.vn",
        );
        assert_eq!(
            url,
            "vn.gov.app:/cb?x=1&error=access_denied&error_description=no&state=s+1&iss=https%3A%2F%2Fapi.example.vn"
        );
    }

    #[test]
    fn loopback_redirects_match_on_any_port_and_nothing_else_does() {
        let loopback = "http://127.0.0.1/callback";
        assert!(matches(loopback, "http://127.0.0.1:51004/callback"));
        assert!(matches("http://[::1]:8000/cb", "http://[::1]:9/cb"));
        assert!(!matches(loopback, "http://127.0.0.1:51004/other"));
        assert!(!matches(loopback, "http://localhost:51004/callback"));
        assert!(!matches(loopback, "http://127.0.0.1:51004/callback?x=1"));
        assert!(!matches(
            "https://app.example.vn/cb",
            "https://app.example.vn:444/cb"
        ));
        assert!(!matches(
            "https://app.example.vn/cb",
            "https://app.example.vn/cb/"
        ));
        assert!(matches(
            "vn.gov.camau.app:/oauth",
            "vn.gov.camau.app:/oauth"
        ));
        assert!(!matches(
            "vn.gov.camau.app:/oauth",
            "vn.gov.camau.app:/oauth2"
        ));
    }

    #[test]
    fn registration_follows_rfc_8252() {
        assert!(validate("vn.gov.camau.app:/oauth", ClientKind::Public).is_ok());
        assert!(validate("myapp:/oauth", ClientKind::Public).is_err());
        assert!(validate("https://app.example.vn/cb", ClientKind::Public).is_ok());
        assert!(validate("http://127.0.0.1/cb", ClientKind::Public).is_ok());
        assert!(validate("http://example.vn/cb", ClientKind::Public).is_err());
        assert!(validate("https://app.example.vn/cb#x", ClientKind::Public).is_err());
        assert!(validate("vn.gov.camau.app:/oauth", ClientKind::Confidential).is_err());
        assert!(validate("not a uri", ClientKind::Public).is_err());
    }
}
