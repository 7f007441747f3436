//! [`Cairn`]: cairn itself in a container (`cairn up` on the `cairn-local/cairn:dev` image,
//! which has the PostgreSQL 17 and MariaDB 11.8 client tools, enough for every supported
//! server version).

use crate::{ensure_engine, free_port, Error};
use std::borrow::Cow;
use std::time::{Duration, Instant};
use testcontainers::core::{CmdWaitFor, ExecCommand, Mount, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, Image, ImageExt};

/// The image `scripts/images --cairn-bin PATH` builds.
pub const CAIRN_IMAGE: &str = "cairn-local/cairn";
pub const CAIRN_TAG: &str = "dev";

/// cairn's data directory inside the container.
const DATA_DIR: &str = "/var/lib/cairn/data";
/// How long `cairn up` may take to answer `/v1/health`.
const HEALTH_LIMIT: Duration = Duration::from_secs(60);

/// A `cairn up` container: builders for the image, its storage and its environment;
/// [`Cairn::start`] runs it.
#[derive(Debug, Clone)]
pub struct Cairn {
    image: String,
    tag: String,
    port: u16,
    env: Vec<(String, String)>,
    mounts: Vec<Mount>,
}

impl Default for Cairn {
    fn default() -> Cairn {
        Cairn {
            image: CAIRN_IMAGE.to_string(),
            tag: CAIRN_TAG.to_string(),
            port: free_port(),
            env: Vec::new(),
            mounts: Vec::new(),
        }
    }
}

impl Cairn {
    /// Another image of cairn (same layout: `start-cairn` entrypoint, data in
    /// `/var/lib/cairn/data`).
    pub fn with_image(mut self, name: &str, tag: &str) -> Cairn {
        self.image = name.to_string();
        self.tag = tag.to_string();
        self
    }

    /// An environment variable of `cairn up`, e.g. the one a target's `--password-env`
    /// names.
    pub fn with_env(mut self, name: &str, value: &str) -> Cairn {
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    /// Keeps the default storage (backups) in a host directory, so the test can look at
    /// artifacts and manifests (files are written as the container's root).
    pub fn with_storage_dir(mut self, host_dir: &std::path::Path) -> Cairn {
        self.mounts.push(Mount::bind_mount(
            host_dir.display().to_string(),
            format!("{DATA_DIR}/storage"),
        ));
        self
    }

    /// Keeps the whole data directory (ledger, storage, admin token) in a host directory.
    pub fn with_data_dir(mut self, host_dir: &std::path::Path) -> Cairn {
        self.mounts
            .push(Mount::bind_mount(host_dir.display().to_string(), DATA_DIR));
        self
    }

    /// Starts the container (host networking, API on 127.0.0.1 and a free port) and waits
    /// until the API answers `GET /v1/health`.
    pub async fn start(self) -> Result<RunningCairn, Error> {
        ensure_engine()?;
        let port = self.port;
        let container = self.with_network("host").start().await?;
        let api = format!("http://127.0.0.1:{port}");
        wait_healthy(&container, port).await?;
        let admin_token = read_admin_token(&container).await?;
        Ok(RunningCairn {
            container,
            api,
            admin_token,
        })
    }
}

impl Image for Cairn {
    fn name(&self) -> &str {
        &self.image
    }

    fn tag(&self) -> &str {
        &self.tag
    }

    fn ready_conditions(&self) -> Vec<WaitFor> {
        // Readiness is the health endpoint, polled by `start`.
        vec![WaitFor::Nothing]
    }

    fn env_vars(
        &self,
    ) -> impl IntoIterator<Item = (impl Into<Cow<'_, str>>, impl Into<Cow<'_, str>>)> {
        std::iter::once(("PORT".to_string(), self.port.to_string())).chain(self.env.iter().cloned())
    }

    fn mounts(&self) -> impl IntoIterator<Item = &Mount> {
        &self.mounts
    }
}

/// A running cairn; the container is removed when this is dropped.
#[derive(Debug)]
pub struct RunningCairn {
    container: ContainerAsync<Cairn>,
    api: String,
    admin_token: Option<String>,
}

impl RunningCairn {
    /// The API's base URL (`http://127.0.0.1:PORT`), for `cairn --server` or HTTP clients.
    pub fn api_url(&self) -> &str {
        &self.api
    }

    /// The first admin token (`<data-dir>/admin.token` in the container), when this cairn
    /// has API tokens.
    pub fn admin_token(&self) -> Option<&str> {
        self.admin_token.as_deref()
    }

    /// The container, e.g. for `exec` or its logs.
    pub fn container(&self) -> &ContainerAsync<Cairn> {
        &self.container
    }

    /// Runs `cairn <args>` inside the container against this server (with the admin
    /// token), so a test needs no cairn binary of its own. Its exit code and output:
    /// 0 ok, 1 job failed, 2 bad input (see `cairn --help`).
    pub async fn cli(&self, args: &[&str]) -> Result<CliOutput, Error> {
        let mut argv = vec!["cairn", "--server", self.api.as_str()];
        argv.extend_from_slice(args);
        let mut env = Vec::new();
        if let Some(token) = &self.admin_token {
            env.push(("CAIRN_TOKEN".to_string(), token.clone()));
        }
        self.run(ExecCommand::new(argv).with_env_vars(env)).await
    }

    /// Runs a command in the container and waits for it to exit.
    pub async fn exec(&self, argv: &[&str]) -> Result<CliOutput, Error> {
        self.run(ExecCommand::new(argv.to_vec())).await
    }

    async fn run(&self, cmd: ExecCommand) -> Result<CliOutput, Error> {
        let mut result = self
            .container
            .exec(cmd.with_cmd_ready_condition(CmdWaitFor::exit()))
            .await?;
        let stdout = result.stdout_to_vec().await?;
        let stderr = result.stderr_to_vec().await?;
        Ok(CliOutput {
            code: result.exit_code().await?.unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        })
    }
}

/// What a command run in the container printed, and how it ended.
#[derive(Debug, Clone)]
pub struct CliOutput {
    pub code: i64,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    /// stdout, or an error with both streams unless the exit code was 0.
    pub fn ok(self) -> Result<String, Error> {
        if self.code == 0 {
            Ok(self.stdout)
        } else {
            Err(Error::Failed(format!(
                "exit code {}\nstdout:\n{}\nstderr:\n{}",
                self.code, self.stdout, self.stderr
            )))
        }
    }
}

async fn wait_healthy(container: &ContainerAsync<Cairn>, port: u16) -> Result<(), Error> {
    let start = Instant::now();
    loop {
        if health_ok(port).await {
            return Ok(());
        }
        if !container.is_running().await? || start.elapsed() > HEALTH_LIMIT {
            let logs = container.stderr_to_vec().await.unwrap_or_default();
            return Err(Error::NotReady(format!(
                "cairn in {}:{} did not answer GET /v1/health on 127.0.0.1:{port} within \
                 {HEALTH_LIMIT:?}; its log:\n{}",
                container.image().image,
                container.image().tag,
                String::from_utf8_lossy(&logs)
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One HTTP/1.0 `GET /v1/health`; true on a 200 answer.
async fn health_ok(port: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let request = "GET /v1/health HTTP/1.0\r\nHost: cairn\r\n\r\n";
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer));
    matches!(read.await, Ok(Ok(_)))
        && (answer.starts_with(b"HTTP/1.0 200") || answer.starts_with(b"HTTP/1.1 200"))
}

async fn read_admin_token(container: &ContainerAsync<Cairn>) -> Result<Option<String>, Error> {
    let path = format!("{DATA_DIR}/admin.token");
    let mut result = container
        .exec(ExecCommand::new(["cat", path.as_str()]).with_cmd_ready_condition(CmdWaitFor::exit()))
        .await?;
    let stdout = result.stdout_to_vec().await?;
    let token = String::from_utf8_lossy(&stdout).trim().to_string();
    Ok(match result.exit_code().await? {
        Some(0) if !token.is_empty() => Some(token),
        _ => None,
    })
}
