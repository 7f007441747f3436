//! Database servers in containers: PostgreSQL, MariaDB, Redis and Valkey of the versions
//! Debian ships (`scripts/images` builds `cairn-local/<kind>:<version>`).

use crate::{ensure_engine, free_port, Error};
use std::borrow::Cow;
use std::time::Duration;
use testcontainers::core::WaitFor;
use testcontainers::runners::{AsyncRunner, SyncRunner};
use testcontainers::{Container, ContainerAsync, Image, ImageExt};

/// How long a server may take to say it is ready (first start creates its data files).
const STARTUP_LIMIT: Duration = Duration::from_secs(180);

/// The servers `scripts/images` builds images for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Postgres,
    MariaDb,
    Redis,
    Valkey,
}

impl Kind {
    fn image(self) -> &'static str {
        match self {
            Kind::Postgres => "cairn-local/postgres",
            Kind::MariaDb => "cairn-local/mariadb",
            Kind::Redis => "cairn-local/redis",
            Kind::Valkey => "cairn-local/valkey",
        }
    }

    /// The line the server logs once it accepts connections.
    fn ready(self) -> WaitFor {
        match self {
            Kind::Postgres => {
                WaitFor::message_on_stderr("database system is ready to accept connections")
            }
            Kind::MariaDb => WaitFor::message_on_stderr("ready for connections"),
            Kind::Redis | Kind::Valkey => WaitFor::message_on_stdout("Ready to accept connections"),
        }
    }
}

/// One database server image of a given version, listening on 127.0.0.1:[`port`] only.
/// PostgreSQL trusts connections from 127.0.0.1 as `postgres`, MariaDB lets `root` in from
/// 127.0.0.1 without a password, unless [`with_password`] is used.
///
/// [`port`]: Database::port
/// [`with_password`]: Database::with_password
#[derive(Debug, Clone)]
pub struct Database {
    kind: Kind,
    version: String,
    port: u16,
    env: Vec<(String, String)>,
}

impl Database {
    /// `cairn-local/postgres:<version>`: 13 (bullseye), 15 (bookworm), 17 (trixie).
    pub fn postgres(version: &str) -> Database {
        Database::new(Kind::Postgres, version)
    }
    /// `cairn-local/mariadb:<version>`: 10.5, 10.11, 11.8.
    pub fn mariadb(version: &str) -> Database {
        Database::new(Kind::MariaDb, version)
    }
    /// `cairn-local/redis:<version>`: 6.0, 7.0, 8.0.
    pub fn redis(version: &str) -> Database {
        Database::new(Kind::Redis, version)
    }
    /// `cairn-local/valkey:<version>`: 8.1.
    pub fn valkey(version: &str) -> Database {
        Database::new(Kind::Valkey, version)
    }

    fn new(kind: Kind, version: &str) -> Database {
        Database {
            kind,
            version: version.to_string(),
            port: free_port(),
            env: Vec::new(),
        }
    }

    /// The superuser's password (`postgres` with scram-sha-256, or MariaDB's `root`).
    /// Redis and Valkey take none.
    pub fn with_password(mut self, password: &str) -> Database {
        let var = match self.kind {
            Kind::Postgres => "POSTGRES_PASSWORD",
            Kind::MariaDb => "MARIADB_ROOT_PASSWORD",
            Kind::Redis | Kind::Valkey => return self,
        };
        self.env.push((var.to_string(), password.to_string()));
        self
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }
    pub fn version(&self) -> &str {
        &self.version
    }
    /// The port of 127.0.0.1 the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's URL for cairn, without a password: `postgres://postgres@127.0.0.1:P/db`,
    /// `mysql://root@127.0.0.1:P/db`, `redis://127.0.0.1:P/db`; `None` = the whole server.
    pub fn url(&self, database: Option<&str>) -> String {
        let db = database.unwrap_or("");
        match self.kind {
            Kind::Postgres => format!("postgres://postgres@127.0.0.1:{}/{db}", self.port),
            Kind::MariaDb => format!("mysql://root@127.0.0.1:{}/{db}", self.port),
            Kind::Redis | Kind::Valkey => match database {
                Some(n) => format!("redis://127.0.0.1:{}/{n}", self.port),
                None => format!("redis://127.0.0.1:{}", self.port),
            },
        }
    }

    /// Starts the container (host networking) and waits until the server is ready.
    pub async fn start(self) -> Result<ContainerAsync<Database>, Error> {
        ensure_engine()?;
        let request = self
            .with_network("host")
            .with_startup_timeout(STARTUP_LIMIT);
        Ok(AsyncRunner::start(request).await?)
    }

    /// `start` for synchronous tests (runs testcontainers' own runtime).
    pub fn start_blocking(self) -> Result<Container<Database>, Error> {
        ensure_engine()?;
        Ok(SyncRunner::start(
            self.with_network("host")
                .with_startup_timeout(STARTUP_LIMIT),
        )?)
    }
}

impl Image for Database {
    fn name(&self) -> &str {
        self.kind.image()
    }

    fn tag(&self) -> &str {
        &self.version
    }

    fn ready_conditions(&self) -> Vec<WaitFor> {
        vec![self.kind.ready()]
    }

    fn env_vars(
        &self,
    ) -> impl IntoIterator<Item = (impl Into<Cow<'_, str>>, impl Into<Cow<'_, str>>)> {
        std::iter::once(("PORT".to_string(), self.port.to_string())).chain(self.env.iter().cloned())
    }
}
