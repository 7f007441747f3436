//! Which webhook URLs cairn calls.
//!
//! A webhook is called from the server, so a URL could make it reach what only the
//! server can reach: a cloud's instance metadata service (credentials!) sits at a
//! link-local address. Such addresses are refused unless the notifier was added with
//! `--allow-private-endpoint`: in the URL itself here, and again for every address the
//! host name resolves to when a notification is sent.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use url::Url;

/// Why a webhook URL was refused; each message says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("the webhook {0:?} is not a URL: {1}; write it like https://hooks.example.com/cairn")]
    NotAUrl(String, String),
    #[error("the webhook scheme {0:?} is not supported; use https:// (or http://)")]
    Scheme(String),
    #[error("the webhook URL has a user or password in it; put a signing secret in an environment variable and pass --secret-env VAR instead")]
    Credentials,
    #[error("the webhook URL has no host")]
    NoHost,
    #[error("the webhook address {0} is link-local or a cloud metadata address, which could hand the server's cloud credentials to whoever reads the webhook; pass --allow-private-endpoint if this address really is your receiver")]
    Private(IpAddr),
}

/// Parses a webhook URL and checks an address written in it.
pub fn parse_webhook(s: &str, allow_private: bool) -> Result<Url, WebhookError> {
    let url = Url::parse(s).map_err(|e| WebhookError::NotAUrl(s.to_string(), e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(WebhookError::Scheme(url.scheme().to_string()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(WebhookError::Credentials);
    }
    let ip = match url.host() {
        None => return Err(WebhookError::NoHost),
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        Some(url::Host::Domain(_)) => None,
    };
    match ip {
        Some(ip) => check_address(ip, allow_private).map(|()| url),
        None => Ok(url),
    }
}

/// Refuses a link-local or metadata address unless allowed.
pub fn check_address(ip: IpAddr, allow_private: bool) -> Result<(), WebhookError> {
    if is_metadata_or_link_local(ip) && !allow_private {
        return Err(WebhookError::Private(ip));
    }
    Ok(())
}

/// AWS EC2's IPv6 instance metadata address.
const EC2_METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);

/// 169.254.0.0/16 (every cloud's metadata at 169.254.169.254), fe80::/10, the EC2 IPv6
/// metadata address, and any IPv6 form that embeds such an IPv4 address.
pub fn is_metadata_or_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_blocked(v4),
        IpAddr::V6(v6) => {
            if v6 == EC2_METADATA_V6 || (v6.segments()[0] & 0xffc0) == 0xfe80 {
                return true;
            }
            embedded_v4(v6).is_some_and(v4_blocked)
        }
    }
}

fn v4_blocked(ip: Ipv4Addr) -> bool {
    ip.is_link_local()
}

/// The IPv4 address in an IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`)
/// or NAT64 (`64:ff9b::a.b.c.d`) IPv6 address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4() {
        return Some(v4);
    }
    let s = ip.segments();
    let nat64 = s[0] == 0x64 && s[1] == 0xff9b && s[2..6].iter().all(|x| *x == 0);
    nat64.then(|| Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_and_link_local_urls_are_refused_unless_allowed() {
        for url in [
            "http://169.254.169.254/latest/meta-data/",
            "http://169.254.1.1:8080/hook",
            "http://[::ffff:169.254.169.254]/",
            "http://[::ffff:a9fe:a9fe]/",
            "http://[fd00:ec2::254]/",
            "http://[fe80::1]/",
            "http://[64:ff9b::a9fe:a9fe]/",
        ] {
            assert!(
                matches!(parse_webhook(url, false), Err(WebhookError::Private(_))),
                "{url}"
            );
            assert!(parse_webhook(url, true).is_ok(), "{url} with allow");
        }
    }

    #[test]
    fn ordinary_urls_pass() {
        for url in [
            "https://hooks.example.com/cairn",
            "http://127.0.0.1:9000/hook",
            "http://10.0.0.5/hook",
            "http://[::1]:8080/",
        ] {
            assert!(parse_webhook(url, false).is_ok(), "{url}");
        }
    }

    #[test]
    fn bad_urls_name_the_problem() {
        assert!(matches!(
            parse_webhook("ftp://h/x", false),
            Err(WebhookError::Scheme(_))
        ));
        assert!(matches!(
            parse_webhook("https://u:p@h/x", false),
            Err(WebhookError::Credentials)
        ));
        assert!(matches!(
            parse_webhook("not a url", false),
            Err(WebhookError::NotAUrl(..))
        ));
    }
}
