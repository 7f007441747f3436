//! Database endpoints: engine, host, port, user and scope, parsed from a target URL.
//!
//! A password is never part of an endpoint: a URL carrying one is refused, so an
//! endpoint can be printed, logged and stored as it is.

use crate::text::Printable;
use crate::tls::TlsMode;
use crate::url_rules;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The database engine behind a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Postgres,
    Mysql,
    Redis,
}

impl Engine {
    pub fn as_str(&self) -> &'static str {
        match self {
            Engine::Postgres => "postgres",
            Engine::Mysql => "mysql",
            Engine::Redis => "redis",
        }
    }
    pub fn default_port(&self) -> u16 {
        match self {
            Engine::Postgres => 5432,
            Engine::Mysql => 3306,
            Engine::Redis => 6379,
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What part of the server a target covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Scope {
    /// The whole server: every database (PostgreSQL: plus roles), every Redis db.
    Server,
    /// One SQL database.
    Database { name: String },
    /// One Redis logical database.
    RedisDb { index: u32 },
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Server => f.write_str("server"),
            Scope::Database { name } => write!(f, "database {}", Printable(name)),
            Scope::RedisDb { index } => write!(f, "db {index}"),
        }
    }
}

/// Why a target URL was refused; each message says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("{0:?} is not a URL: {1}; write it like postgres://user@host:5432/dbname")]
    NotAUrl(String, String),
    #[error("unsupported URL scheme {0:?}; use postgres://, postgresql://, mysql://, mariadb://, redis:// or rediss://")]
    Scheme(String),
    #[error("the URL holds a password; remove it from the URL and pass it with --password-env VAR, --password-file PATH or --password-stdin, so it never lands in process lists or shell history")]
    PasswordInUrl,
    #[error("the URL has no host; write it like {0}://user@host/")]
    NoHost(String),
    #[error("redis database {0:?} is not a number; use redis://host:6379/N with N from 0 to 15 (or no path for every db)")]
    RedisDb(String),
    #[error("redis database {0} does not exist on any server; use redis://host:6379/N with N below the server's `CONFIG GET databases` (16 by default: 0 to 15)")]
    RedisDbRange(u64),
    #[error("the URL's query parameter {0:?} holds a password; remove it from the URL and pass the password with --password-env VAR, --password-file PATH or --password-stdin, so it is never stored or shown in the URL")]
    PasswordParam(String),
    #[error("{0} in the URL holds a control character (such as NUL or a line break); remove it")]
    ControlCharacter(&'static str),
    #[error(
        "port 0 is not a port; use a port from 1 to 65535 (or leave it out for the default {0})"
    )]
    Port(u16),
    #[error("database name {0:?} is not valid: {1}")]
    DatabaseName(String, &'static str),
    #[error("{param}={value:?} is not a TLS mode; use {param}= one of {choices}")]
    TlsMode {
        param: String,
        value: String,
        choices: &'static str,
    },
}

/// A parsed target URL, without any secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Endpoint {
    pub engine: Engine,
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub scope: Scope,
    /// Query parameters kept as given, except the TLS mode (read into `tls`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<(String, String)>,
    /// The TLS mode the URL asks for (`sslmode`, `ssl-mode`, `rediss://`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsMode>,
}

impl Endpoint {
    pub fn parse(input: &str) -> Result<Self, EndpointError> {
        let url = url::Url::parse(input)
            .map_err(|e| EndpointError::NotAUrl(redact_url_text(input), e.to_string()))?;
        let (engine, mut tls) = match url.scheme() {
            "postgres" | "postgresql" => (Engine::Postgres, None),
            "mysql" | "mariadb" => (Engine::Mysql, None),
            "redis" => (Engine::Redis, None),
            "rediss" => (Engine::Redis, Some(TlsMode::VerifyFull)),
            other => return Err(EndpointError::Scheme(other.to_string())),
        };
        if url.password().is_some() {
            return Err(EndpointError::PasswordInUrl);
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| EndpointError::NoHost(url.scheme().to_string()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = url.port().unwrap_or(engine.default_port());
        url_rules::check_port(port, engine.default_port())?;
        let user = match url.username() {
            "" => None,
            u => Some(percent_decode(u)),
        };
        if let Some(u) = &user {
            url_rules::check_text("the user name", u)?;
        }
        let params: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        url_rules::check_params(&params)?;
        let path = percent_decode(url.path().trim_start_matches('/'));
        url_rules::check_text("the database name", &path)?;
        let scope = match (engine, path.as_str()) {
            (_, "") => Scope::Server,
            (Engine::Redis, p) => Scope::RedisDb {
                index: url_rules::redis_db(p)?,
            },
            (_, p) => {
                if p.contains('/') {
                    return Err(EndpointError::DatabaseName(
                        p.to_string(),
                        "it contains '/'",
                    ));
                }
                if p.len() > 63 {
                    return Err(EndpointError::DatabaseName(
                        p.to_string(),
                        "longer than 63 bytes",
                    ));
                }
                Scope::Database {
                    name: p.to_string(),
                }
            }
        };
        let mut rest = Vec::new();
        for (k, v) in params {
            if TlsMode::is_param(engine, &k) {
                tls = Some(TlsMode::parse(&v).ok_or_else(|| EndpointError::TlsMode {
                    param: k.clone(),
                    value: v.clone(),
                    choices: TlsMode::choices(engine),
                })?);
            } else {
                rest.push((k, v));
            }
        }
        let params = rest;
        Ok(Self {
            engine,
            host,
            port,
            user,
            scope,
            params,
            tls,
        })
    }

    /// The database name when the scope is one SQL database.
    pub fn database(&self) -> Option<&str> {
        match &self.scope {
            Scope::Database { name } => Some(name),
            _ => None,
        }
    }
}

impl fmt::Display for Endpoint {
    /// The URL again, never with a password (an endpoint has none).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match (self.engine, self.tls) {
            (Engine::Redis, Some(mode)) if mode != TlsMode::Disable => "rediss",
            (engine, _) => engine.as_str(),
        };
        write!(f, "{scheme}://")?;
        if let Some(u) = &self.user {
            write!(f, "{}@", url_rules::encode_component(u, ":"))?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)?;
        } else {
            write!(f, "{}:{}", self.host, self.port)?;
        }
        match &self.scope {
            Scope::Server => f.write_str("/")?,
            Scope::Database { name } => write!(f, "/{}", url_rules::encode_component(name, ""))?,
            Scope::RedisDb { index } => write!(f, "/{index}")?,
        }
        let tls = match (TlsMode::param(self.engine), self.tls) {
            (Some(param), Some(mode)) => {
                Some((param.to_string(), mode.spelled_for(self.engine).to_string()))
            }
            _ => None,
        };
        let params = self.params.iter().map(|(k, v)| {
            // A password-like parameter stored before such URLs were refused is never shown.
            let v = match url_rules::is_password_param(k) {
                true => "***".to_string(),
                false => url_rules::encode_component(v, "&=+"),
            };
            (url_rules::encode_component(k, "&=+"), v)
        });
        for (i, (k, v)) in params.chain(tls).enumerate() {
            write!(f, "{}{k}={v}", if i == 0 { '?' } else { '&' })?;
        }
        Ok(())
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Masks anything between `://` and `@`, and the whole query string, in text that failed
/// to parse as a URL, so an error message cannot echo a password; control characters are
/// escaped.
pub fn redact_url_text(s: &str) -> String {
    let (s, query) = match s.find('?') {
        Some(q) => (&s[..q], "?***"),
        None => (s, ""),
    };
    let shown = match (s.find("://"), s.rfind('@')) {
        (Some(a), Some(b)) if b > a + 3 => format!("{}://***@{}", &s[..a], &s[b + 1..]),
        _ => s.to_string(),
    };
    crate::text::printable(&format!("{shown}{query}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_engines_and_scopes() {
        let table: &[(&str, Engine, Scope, u16, Option<&str>)] = &[
            (
                "postgres://postgres@127.0.0.1:5432/orders",
                Engine::Postgres,
                Scope::Database {
                    name: "orders".into(),
                },
                5432,
                Some("postgres"),
            ),
            (
                "postgresql://h/",
                Engine::Postgres,
                Scope::Server,
                5432,
                None,
            ),
            ("postgres://h", Engine::Postgres, Scope::Server, 5432, None),
            (
                "mysql://root@h:3307/shop",
                Engine::Mysql,
                Scope::Database {
                    name: "shop".into(),
                },
                3307,
                Some("root"),
            ),
            (
                "mariadb://root@h/",
                Engine::Mysql,
                Scope::Server,
                3306,
                Some("root"),
            ),
            (
                "redis://h:6380/3",
                Engine::Redis,
                Scope::RedisDb { index: 3 },
                6380,
                None,
            ),
            ("redis://h", Engine::Redis, Scope::Server, 6379, None),
            (
                "postgres://u@h/caf%C3%A9",
                Engine::Postgres,
                Scope::Database {
                    name: "café".into(),
                },
                5432,
                Some("u"),
            ),
        ];
        for (url, engine, scope, port, user) in table {
            let e = Endpoint::parse(url).unwrap_or_else(|err| panic!("{url}: {err}"));
            assert_eq!(e.engine, *engine, "{url}");
            assert_eq!(&e.scope, scope, "{url}");
            assert_eq!(e.port, *port, "{url}");
            assert_eq!(e.user.as_deref(), *user, "{url}");
        }
    }

    #[test]
    fn refuses_bad_urls_with_a_fix() {
        assert_eq!(
            Endpoint::parse("postgres://u:hunter2@h/db"),
            Err(EndpointError::PasswordInUrl)
        );
        assert!(matches!(
            Endpoint::parse("mongodb://h/db"),
            Err(EndpointError::Scheme(_))
        ));
        assert!(matches!(
            Endpoint::parse("redis://h/x"),
            Err(EndpointError::RedisDb(_))
        ));
        assert!(matches!(
            Endpoint::parse("not a url"),
            Err(EndpointError::NotAUrl(..))
        ));
        let msg = Endpoint::parse("postgres://u:hunter2@h/db")
            .unwrap_err()
            .to_string();
        assert!(!msg.contains("hunter2") && msg.contains("--password-env"));
    }

    #[test]
    fn display_round_trips_without_secrets() {
        for url in [
            "postgres://postgres@127.0.0.1:5432/orders",
            "redis://127.0.0.1:6379/2",
            "mysql://root@[::1]:3306/",
            "postgres://u@h:5432/db?sslmode=verify-full",
            "mysql://u@h:3306/db?ssl-mode=VERIFY_IDENTITY",
            "rediss://h:6380/1",
        ] {
            let e = Endpoint::parse(url).unwrap();
            assert_eq!(Endpoint::parse(&e.to_string()).unwrap(), e, "{url}");
        }
        assert_eq!(redact_url_text("x://u:pw@h"), "x://***@h");
        assert_eq!(
            redact_url_text("x://h:99999/d?password=pw"),
            "x://h:99999/d?***"
        );
    }

    #[test]
    fn tls_modes_are_read_in_each_engines_spelling() {
        let table = [
            (
                "postgres://h/db?sslmode=verify-full",
                Some(TlsMode::VerifyFull),
            ),
            (
                "postgres://h/db?sslmode=require&application_name=x",
                Some(TlsMode::Require),
            ),
            ("mysql://h/db?ssl-mode=VERIFY_CA", Some(TlsMode::VerifyCa)),
            ("mariadb://h/db?ssl_mode=required", Some(TlsMode::Require)),
            ("rediss://h:6380/0", Some(TlsMode::VerifyFull)),
            ("redis://h:6380/0", None),
            ("postgres://h/db", None),
        ];
        for (url, mode) in table {
            let e = Endpoint::parse(url).unwrap_or_else(|err| panic!("{url}: {err}"));
            assert_eq!(e.tls, mode, "{url}");
            assert!(!e.params.iter().any(|(k, _)| k.contains("ssl")), "{url}");
        }
        let err = Endpoint::parse("postgres://h/db?sslmode=bogus").unwrap_err();
        assert!(err.to_string().contains("verify-full"), "{err}");
        let err = Endpoint::parse("mysql://h/db?ssl-mode=bogus").unwrap_err();
        assert!(err.to_string().contains("VERIFY_IDENTITY"), "{err}");
    }
}
