//! Remote and encrypted storages: an S3 bucket (with the endpoint it is reached at and
//! references to its keys) and age encryption of artifacts (with the public recipients
//! and references to what decrypts them).
//!
//! Like a database password, an S3 key or an age passphrase is never stored in clear:
//! a storage holds a [`CredentialRef`] that the worker resolves when it opens the storage.
//! The endpoint is reached from the server, so an address a cloud keeps for its instance
//! metadata is refused unless the operator said `--allow-private-endpoint` (the same rule
//! as webhooks: [`crate::notify::endpoint::is_metadata_or_link_local`]).

use crate::notify::endpoint::is_metadata_or_link_local;
use crate::target::CredentialRef;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// An S3 (or S3-compatible) bucket, and a folder in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct S3Storage {
    pub bucket: String,
    /// Folder inside the bucket (no leading or trailing `/`), empty for the bucket's root.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prefix: String,
    /// `http(s)://host[:port]` of an S3-compatible server; AWS when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The access key id: an environment variable or a file of the worker.
    pub access_key: CredentialRef,
    /// The secret access key: an environment variable or a file of the worker.
    pub secret_key: CredentialRef,
    /// Whether a link-local or cloud metadata endpoint address is accepted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_private_endpoint: bool,
}

impl S3Storage {
    /// `s3://bucket/prefix`.
    pub fn url(&self) -> String {
        match self.prefix.as_str() {
            "" => format!("s3://{}", self.bucket),
            p => format!("s3://{}/{}", self.bucket, p),
        }
    }
}

/// How a storage encrypts the artifacts it receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StorageEncryption {
    /// age (age-encryption.org/v1) after compression: to X25519 recipients, or with a
    /// passphrase (scrypt).
    Age {
        /// Public keys (`age1…`) every artifact is encrypted to. Empty with a passphrase.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        recipients: Vec<String>,
        /// An age identity file on the worker (a confined reference, like a password file)
        /// that decrypts on restore.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        identity_file: Option<String>,
        /// The passphrase (env or file reference) when no recipients are given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        passphrase: Option<CredentialRef>,
    },
}

impl StorageEncryption {
    /// The name a manifest records (`age`).
    pub fn scheme(&self) -> &'static str {
        match self {
            StorageEncryption::Age { .. } => "age",
        }
    }

    /// How it is shown to operators: never a key or passphrase.
    pub fn describe(&self) -> String {
        match self {
            StorageEncryption::Age {
                recipients,
                identity_file,
                passphrase,
            } => {
                let mut parts = Vec::new();
                if !recipients.is_empty() {
                    parts.push(format!("{} recipient(s)", recipients.len()));
                }
                if let Some(path) = identity_file {
                    parts.push(format!("identity file:{path}"));
                }
                if let Some(p) = passphrase {
                    parts.push(format!("passphrase {}", p.describe()));
                }
                format!("age ({})", parts.join(", "))
            }
        }
    }
}

/// Why an S3 URL or endpoint was refused; each message says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum S3UrlError {
    #[error("bucket name {0:?} is not valid: use 3 to 63 lowercase letters, digits, '.' and '-', starting and ending with a letter or digit")]
    Bucket(String),
    #[error("the folder {0:?} in the S3 URL is not valid: use '/'-separated names of letters, digits, '.', '-' and '_' (no '.' or '..' names)")]
    Prefix(String),
    #[error("the S3 URL holds a user, password, port, query or fragment; write it as s3://bucket/folder and pass keys with --access-key-env/--secret-key-env")]
    Extra,
    #[error("the endpoint {0:?} is not a URL: {1}; write it like https://s3.example.com or http://127.0.0.1:9000")]
    EndpointNotAUrl(String, String),
    #[error("the endpoint must be http(s)://host[:port] without a user, password, path or query; got {0:?}")]
    EndpointShape(String),
    #[error("the endpoint address {0} is link-local or a cloud metadata address, which could hand the server's cloud credentials to whoever controls that address; pass --allow-private-endpoint if your S3 server really is there")]
    Private(IpAddr),
    #[error("region {0:?} is not valid: use letters, digits and '-' (like eu-west-1)")]
    Region(String),
}

/// The bucket and folder of `s3://bucket/folder/…`.
pub fn parse_s3_url(url: &str) -> Result<(String, String), S3UrlError> {
    let rest = url.strip_prefix("s3://").ok_or(S3UrlError::Extra)?;
    if rest.contains(['?', '#', '@', ':']) {
        return Err(S3UrlError::Extra);
    }
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !bucket_ok {
        return Err(S3UrlError::Bucket(crate::text::printable(bucket)));
    }
    let prefix = prefix.trim_end_matches('/');
    let segment_ok = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.len() <= 255
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    };
    if !prefix.is_empty() && (prefix.len() > 512 || !prefix.split('/').all(segment_ok)) {
        return Err(S3UrlError::Prefix(crate::text::printable(prefix)));
    }
    Ok((bucket.to_string(), prefix.to_string()))
}

/// Checks an endpoint: `http(s)://host[:port]` and, when the host is an address, not a
/// link-local or metadata one unless allowed. Host names are checked again for every
/// address they resolve to, each time a connection is made.
pub fn check_endpoint(endpoint: &str, allow_private: bool) -> Result<url::Url, S3UrlError> {
    let url = url::Url::parse(endpoint).map_err(|e| {
        S3UrlError::EndpointNotAUrl(crate::endpoint::redact_url_text(endpoint), e.to_string())
    })?;
    let plain = matches!(url.scheme(), "http" | "https")
        && url.username().is_empty()
        && url.password().is_none()
        && matches!(url.path(), "" | "/")
        && url.query().is_none()
        && url.fragment().is_none();
    if !plain {
        return Err(S3UrlError::EndpointShape(crate::endpoint::redact_url_text(
            endpoint,
        )));
    }
    let ip = match url.host() {
        None => {
            return Err(S3UrlError::EndpointShape(crate::endpoint::redact_url_text(
                endpoint,
            )))
        }
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        Some(url::Host::Domain(_)) => None,
    };
    if let Some(ip) = ip {
        check_endpoint_address(ip, allow_private)?;
    }
    Ok(url)
}

/// Refuses a link-local or metadata address (the webhooks' rule) unless allowed.
pub fn check_endpoint_address(ip: IpAddr, allow_private: bool) -> Result<(), S3UrlError> {
    if !allow_private && is_metadata_or_link_local(ip) {
        return Err(S3UrlError::Private(ip));
    }
    Ok(())
}

/// Checks a region name (it becomes part of signed requests and host names).
pub fn check_region(region: &str) -> Result<(), S3UrlError> {
    let ok = !region.is_empty()
        && region.len() <= 64
        && region
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !ok {
        return Err(S3UrlError::Region(crate::text::printable(region)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls() {
        let table: &[(&str, Option<(&str, &str)>)] = &[
            ("s3://backups", Some(("backups", ""))),
            ("s3://backups/", Some(("backups", ""))),
            ("s3://backups/cairn/prod", Some(("backups", "cairn/prod"))),
            ("s3://my.bucket-1/x_y/", Some(("my.bucket-1", "x_y"))),
            ("s3://ab", None),
            ("s3://Backups", None),
            ("s3://-bucket", None),
            ("s3://bucket/../x", None),
            ("s3://bucket/a//b", None),
            ("s3://bucket/a b", None),
            ("s3://key:secret@bucket/x", None),
            ("s3://bucket/x?acl", None),
            ("file:///x", None),
        ];
        for (url, want) in table {
            match (parse_s3_url(url), want) {
                (Ok((b, p)), Some((wb, wp))) => assert_eq!((b.as_str(), p.as_str()), (*wb, *wp)),
                (Err(_), None) => {}
                (got, _) => panic!("{url}: {got:?}"),
            }
        }
    }

    #[test]
    fn metadata_endpoints_are_refused_unless_allowed() {
        for endpoint in [
            "http://169.254.169.254",
            "http://169.254.10.1:9000",
            "http://[::ffff:169.254.169.254]",
            "http://[fd00:ec2::254]/",
            "http://[fe80::1]:9000",
        ] {
            let err = check_endpoint(endpoint, false).unwrap_err();
            assert!(matches!(err, S3UrlError::Private(_)), "{endpoint}: {err}");
            assert!(err.to_string().contains("--allow-private-endpoint"));
            assert!(check_endpoint(endpoint, true).is_ok(), "{endpoint} allowed");
        }
        for endpoint in [
            "http://127.0.0.1:9000",
            "http://[::1]:9000/",
            "https://s3.eu-west-1.amazonaws.com",
            "http://10.1.2.3",
        ] {
            assert!(check_endpoint(endpoint, false).is_ok(), "{endpoint}");
        }
        for bad in [
            "ftp://h",
            "http://u:p@h",
            "http://h/path",
            "http://h?x=1",
            "not a url",
        ] {
            let err = check_endpoint(bad, true).unwrap_err();
            assert!(!err.to_string().contains("u:p"), "{err}");
        }
    }
}
