//! The HTTP client of the cairn API: one method per verb, errors mapped to `CliError`.
//! Every request carries the bearer token, if one was found; https:// servers are checked
//! against the system's roots and the certificates of `--ca-file`.

use super::credentials::Token;
use super::error::CliError;
use cairn_domain::api::JobView;
use cairn_domain::JobId;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Plain requests should answer quickly; only the long poll is allowed to hang.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Slack on top of a long poll's own `timeout_ms` before we call the server unreachable.
const LONG_POLL_SLACK: Duration = Duration::from_secs(15);

#[derive(Debug, Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    /// The server URL without a trailing slash.
    base: String,
    /// Where the token came from, for the message of a 401 (never the token).
    token_source: Option<String>,
}

impl ApiClient {
    pub fn new(
        server: &str,
        token: Option<Token>,
        ca_file: Option<&std::path::Path>,
    ) -> Result<Self, CliError> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("cairn/", env!("CARGO_PKG_VERSION")));
        let token_source = token.as_ref().map(|t| t.source.clone());
        if let Some(token) = token {
            let mut value =
                HeaderValue::from_str(&format!("Bearer {}", token.value)).map_err(|_| {
                    CliError::usage(format!(
                        "the token from {} is not valid in a header",
                        token.source
                    ))
                })?;
            value.set_sensitive(true);
            let mut headers = HeaderMap::new();
            headers.insert(AUTHORIZATION, value);
            builder = builder.default_headers(headers);
        }
        if let Some(path) = ca_file {
            for cert in ca_certificates(path)? {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder
            .build()
            .map_err(|e| CliError::Other(anyhow::anyhow!("cannot build HTTP client: {e}")))?;
        Ok(Self {
            http,
            base: server.trim_end_matches('/').to_string(),
            token_source,
        })
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, CliError> {
        self.send(self.http.get(self.url(path)))
            .await?
            .json_body()
            .await
    }

    pub async fn get_query<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, CliError> {
        let request = self.http.get(self.url(path)).query(query);
        self.send(request).await?.json_body().await
    }

    pub async fn patch<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, CliError> {
        let request = self.http.patch(self.url(path)).json(body);
        self.send(request).await?.json_body().await
    }

    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, CliError> {
        let request = self.http.post(self.url(path)).json(body);
        self.send(request).await?.json_body().await
    }

    pub async fn put<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, CliError> {
        let request = self.http.put(self.url(path)).json(body);
        self.send(request).await?.json_body().await
    }

    pub async fn delete(&self, path: &str) -> Result<(), CliError> {
        self.send(self.http.delete(self.url(path))).await.map(drop)
    }

    /// Long poll: the job as soon as it has an event after `after_seq` or has ended,
    /// or as it is after `timeout`.
    pub async fn wait_job(
        &self,
        job: JobId,
        after_seq: u64,
        timeout: Duration,
    ) -> Result<JobView, CliError> {
        let request = self
            .http
            .get(self.url(&format!("/v1/jobs/{job}/wait")))
            .query(&[
                ("after_seq", after_seq.to_string()),
                ("timeout_ms", timeout.as_millis().to_string()),
            ])
            .timeout(timeout + LONG_POLL_SLACK);
        self.send(request).await?.json_body().await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(&self, request: RequestBuilder) -> Result<Checked, CliError> {
        let response = request.send().await.map_err(|e| self.transport_error(e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(Checked(response, self.base.clone()));
        }
        let error = api_error(status, response).await;
        Err(match (status, error) {
            (StatusCode::UNAUTHORIZED, CliError::Api { status, message }) => CliError::Api {
                status,
                message: match &self.token_source {
                    Some(source) => format!("{message} (this CLI sent the token from {source})"),
                    None => format!("{message} (this CLI found no token to send)"),
                },
            },
            (_, error) => error,
        })
    }

    fn transport_error(&self, e: reqwest::Error) -> CliError {
        let detail = root_cause(&e);
        if detail.to_ascii_lowercase().contains("certificate") {
            return CliError::usage(format!(
                "the cairn server at {} presented a certificate this CLI does not trust \
                 ({detail}); pass its CA or self-signed certificate with --ca-file PEM \
                 (or CAIRN_CA_FILE)",
                self.base
            ));
        }
        if e.is_connect() || e.is_timeout() || e.is_request() {
            CliError::Unreachable {
                server: self.base.clone(),
                detail: root_cause(&e),
            }
        } else {
            CliError::Other(anyhow::anyhow!(
                "talking to the cairn server at {} failed: {}",
                self.base,
                root_cause(&e)
            ))
        }
    }
}

/// A successful response, still to be decoded.
struct Checked(Response, String);

impl Checked {
    async fn json_body<T: DeserializeOwned>(self) -> Result<T, CliError> {
        let Checked(response, base) = self;
        let bytes = response.bytes().await.map_err(|e| CliError::Unreachable {
            server: base.clone(),
            detail: root_cause(&e),
        })?;
        serde_json::from_slice(&bytes).map_err(|e| {
            CliError::Other(anyhow::anyhow!(
                "the server at {base} sent a response this cairn does not understand ({e}); \
                 are the CLI and server the same version?"
            ))
        })
    }
}

/// The part of `ErrorBody` the CLI shows. `job_id` is set when the server recorded the
/// refused request as a job.
#[derive(Debug, Deserialize)]
struct ErrorReply {
    message: String,
    #[serde(default)]
    job_id: Option<String>,
}

async fn api_error(status: StatusCode, response: Response) -> CliError {
    let text = response.text().await.unwrap_or_default();
    let message = match serde_json::from_str::<ErrorReply>(&text) {
        Ok(ErrorReply {
            message,
            job_id: Some(job),
        }) => format!("{message} (recorded as job {job}: `cairn job {job}`)"),
        Ok(reply) => reply.message,
        Err(_) => {
            let snippet: String = text.trim().chars().take(200).collect();
            if snippet.is_empty() {
                format!("server answered {status}")
            } else {
                format!("server answered {status}: {snippet}")
            }
        }
    };
    CliError::Api {
        status: status.as_u16(),
        message,
    }
}

/// The certificates of a PEM file (one or a bundle).
fn ca_certificates(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>, CliError> {
    let pem = std::fs::read(path)
        .map_err(|e| CliError::usage(format!("cannot read --ca-file {}: {e}", path.display())))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
        CliError::usage(format!(
            "--ca-file {} holds no PEM certificate: {e}",
            path.display()
        ))
    })?;
    if certs.is_empty() {
        return Err(CliError::usage(format!(
            "--ca-file {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        )));
    }
    Ok(certs)
}

/// The innermost error message (`Connection refused (os error 111)`), which is the
/// informative one; reqwest's outer layers only repeat the URL.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut current = e;
    while let Some(next) = current.source() {
        current = next;
    }
    let text = current.to_string();
    if text.is_empty() {
        e.to_string()
    } else {
        text
    }
}
