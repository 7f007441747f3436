//! The S3 backend: object_store's `AmazonS3` on a bucket (and a folder in it), with keys
//! resolved from the storage's references when the storage is opened, and a DNS resolver
//! that refuses link-local and metadata addresses on every connection (a host name that
//! resolves to 169.254.169.254 after the storage was added is refused too).
//!
//! Nothing about the keys reaches a log or an error: object_store's errors name the
//! bucket and path, and a key reference is shown as `env:VAR` or `file:PATH`.

use crate::StorageError;
use cairn_domain::storage::{check_endpoint, check_endpoint_address, check_region, S3Storage};
use cairn_domain::CredentialRef;
use cairn_keyring::Keyring;
use object_store::aws::AmazonS3Builder;
use object_store::client::{DnsFuture, DnsResolver};
use object_store::prefix::PrefixStore;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};
use std::sync::Arc;
use std::time::Duration;

/// Retries of one request (a part, a listing) before the attempt fails: a short network
/// hiccup is ridden out here, a longer outage fails the attempt and the job retries.
const MAX_RETRIES: usize = 4;
/// No request is retried past this.
const RETRY_TIMEOUT: Duration = Duration::from_secs(60);
/// A connection that does not open in this long fails (and is retried).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// One request (an 8 MiB part at worst) that takes longer than this fails.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Opens the bucket an S3 storage names, with its keys read now.
pub(crate) fn open(
    s3: &S3Storage,
    keyring: Option<&Keyring>,
) -> Result<Arc<dyn ObjectStore>, StorageError> {
    let invalid = |e: String| StorageError::InvalidConfig(e);
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(&s3.bucket)
        .with_region(s3.region.as_deref().unwrap_or("us-east-1"))
        .with_access_key_id(resolve(keyring, "access key", &s3.access_key)?)
        .with_secret_access_key(resolve(keyring, "secret key", &s3.secret_key)?)
        .with_retry(RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: MAX_RETRIES,
            retry_timeout: RETRY_TIMEOUT,
        });
    if let Some(region) = &s3.region {
        check_region(region).map_err(|e| invalid(e.to_string()))?;
    }
    let mut options = ClientOptions::new()
        .with_connect_timeout(CONNECT_TIMEOUT)
        .with_timeout(REQUEST_TIMEOUT)
        .with_dns_resolver(Arc::new(CheckedResolver {
            allow_private: s3.allow_private_endpoint,
        }));
    if let Some(endpoint) = &s3.endpoint {
        let url = check_endpoint(endpoint, s3.allow_private_endpoint)
            .map_err(|e| invalid(e.to_string()))?;
        options = options.with_allow_http(url.scheme() == "http");
        builder = builder.with_endpoint(url.as_str().trim_end_matches('/'));
    }
    let store = builder
        .with_client_options(options)
        .build()
        .map_err(|e| invalid(format!("S3 storage {}: {e}", s3.url())))?;
    if s3.prefix.is_empty() {
        Ok(Arc::new(store))
    } else {
        Ok(Arc::new(PrefixStore::new(store, s3.prefix.as_str())))
    }
}

/// A key from its reference; the error names the reference, never a value.
fn resolve(
    keyring: Option<&Keyring>,
    what: &str,
    reference: &CredentialRef,
) -> Result<String, StorageError> {
    let Some(keyring) = keyring else {
        return Err(StorageError::InvalidConfig(format!(
            "the S3 {what} ({}) cannot be read without cairn's keyring",
            reference.describe()
        )));
    };
    match keyring.resolve(reference) {
        Ok(Some(value)) if !value.is_empty() => Ok(value),
        Ok(_) => Err(StorageError::Credentials(format!(
            "the S3 {what} ({}) is empty; give the storage a reference to the key",
            reference.describe()
        ))),
        Err(e) => Err(StorageError::Credentials(format!("the S3 {what}: {e}"))),
    }
}

/// Resolves host names like the system does, then refuses the lot if any address is
/// link-local or a cloud metadata address (unless the storage allows it).
#[derive(Debug)]
struct CheckedResolver {
    allow_private: bool,
}

impl DnsResolver for CheckedResolver {
    fn resolve(&self, host: &str) -> DnsFuture {
        let host = host.to_string();
        let allow = self.allow_private;
        Box::pin(async move {
            let addrs: Vec<std::net::IpAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .map(|a| a.ip())
                .collect();
            for ip in &addrs {
                check_endpoint_address(*ip, allow)
                    .map_err(|e| format!("{host} resolves to a refused address: {e}"))?;
            }
            Ok(addrs)
        })
    }
}
