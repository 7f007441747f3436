//! PostgreSQL: preflight over sqlx, dumps with `pg_dump`/`pg_dumpall`, loads with `psql`.
//!
//! Every connection is built from the endpoint's fields (never a URL holding a password):
//! sqlx gets the password in memory, the client tools read it from a private `PGPASSFILE`.

mod client;
mod dump;
mod guard;
mod restore;
mod rewrite;

pub(crate) use client::for_server as dump_client;
pub(crate) use dump::dump;
pub(crate) use restore::{
    drop_database as drop_logged, drop_now as drop_database, list_databases, restore,
};

use crate::child::Tool;
use crate::credentials::CredentialFile;
use crate::{version, Connection, DumpFormat, ServerInfo};
use cairn_domain::{Failure, Scope, TlsMode};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use sqlx::ConnectOptions;
use std::time::Duration;

pub(crate) const FORMAT_DATABASE: DumpFormat = DumpFormat {
    artifact: "dump.sql.zst",
    format_name: "pg_dump-plain",
};
pub(crate) const FORMAT_SERVER: DumpFormat = DumpFormat {
    artifact: "dump.sql.zst",
    format_name: "pg_dumpall-plain",
};

/// How long a connection attempt may take, for sqlx and for the client tools.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The database used to reach a server when the target is the whole server.
const MAINTENANCE_DB: &str = "postgres";

/// The database a connection for this endpoint opens.
fn scope_database(conn: &Connection) -> &str {
    match &conn.endpoint.scope {
        Scope::Database { name } => name,
        _ => MAINTENANCE_DB,
    }
}

fn user_label(conn: &Connection) -> String {
    conn.endpoint
        .user
        .clone()
        .unwrap_or_else(|| "(default user)".to_string())
}

fn host_port(conn: &Connection) -> String {
    format!("{}:{}", conn.endpoint.host, conn.endpoint.port)
}

fn param<'a>(conn: &'a Connection, key: &str) -> Option<&'a str> {
    conn.endpoint
        .params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Opens one sqlx connection to `database`.
pub(crate) async fn connect(conn: &Connection, database: &str) -> Result<PgConnection, Failure> {
    let ep = &conn.endpoint;
    let mut opts = PgConnectOptions::new_without_pgpass()
        .host(&ep.host)
        .port(ep.port)
        .database(database)
        .application_name("cairn");
    if let Some(u) = &ep.user {
        opts = opts.username(u);
    }
    if let Some(p) = &conn.password {
        opts = opts.password(p.expose());
    }
    opts = opts.ssl_mode(match conn.tls_mode() {
        TlsMode::Disable => PgSslMode::Disable,
        TlsMode::Prefer => PgSslMode::Prefer,
        TlsMode::Require => PgSslMode::Require,
        TlsMode::VerifyCa => PgSslMode::VerifyCa,
        TlsMode::VerifyFull => PgSslMode::VerifyFull,
    });
    if let Some(ca) = &conn.ca_file {
        opts = opts.ssl_root_cert(ca);
    }
    opts = opts.disable_statement_logging();
    match tokio::time::timeout(CONNECT_TIMEOUT, opts.connect()).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(map_error(&e, conn, database)),
        Err(_) => Err(Failure::retryable(
            "unreachable",
            format!(
                "connecting to postgres at {} timed out after {} s; check the host, port and firewall",
                host_port(conn),
                CONNECT_TIMEOUT.as_secs()
            ),
        )),
    }
}

/// Turns a sqlx error into a failure that says what to do; never includes the password.
pub(crate) fn map_error(e: &sqlx::Error, conn: &Connection, database: &str) -> Failure {
    let at = host_port(conn);
    let text = crate::child::redact(&e.to_string(), &secrets(conn));
    match e {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            match code.as_str() {
                "28P01" | "28000" => Failure::permanent(
                    "auth_failed",
                    format!(
                        "postgres at {at} refused user {}: {text}; check the password given at `cairn target add` and the server's pg_hba.conf",
                        user_label(conn)
                    ),
                ),
                "3D000" => Failure::permanent(
                    "database_missing",
                    format!("database {database:?} does not exist on postgres at {at}; create it or fix the target URL"),
                ),
                c if c.starts_with("08") || c.starts_with("53") || c.starts_with("57P") => {
                    Failure::retryable("unreachable", format!("postgres at {at} is not available: {text}"))
                }
                "42501" => Failure::permanent(
                    "permission_denied",
                    format!("user {} lacks a privilege on postgres at {at}: {text}", user_label(conn)),
                ),
                _ => Failure::permanent("database_error", format!("postgres at {at}: {text}")),
            }
        }
        sqlx::Error::Tls(_) => crate::tls::failure("postgres", &at, &text, conn),
        sqlx::Error::Io(_) if crate::tls::is_tls_text(&text) => {
            crate::tls::failure("postgres", &at, &text, conn)
        }
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Protocol(_) => {
            Failure::retryable(
                "unreachable",
                format!("cannot reach postgres at {at}: {text}; check the host, port and that the server runs"),
            )
        }
        _ => Failure::retryable("database_error", format!("postgres at {at}: {text}")),
    }
}

fn secrets(conn: &Connection) -> Vec<String> {
    conn.password
        .iter()
        .map(|p| p.expose().to_string())
        .collect()
}

/// Credentials valid, version read, primary (not in recovery).
pub(crate) async fn preflight(conn: &Connection) -> Result<ServerInfo, Failure> {
    let database = scope_database(conn);
    let mut c = connect(conn, database).await?;
    let (version, num, in_recovery): (String, String, bool) = sqlx::query_as(
        "SELECT current_setting('server_version'), current_setting('server_version_num'), pg_is_in_recovery()",
    )
    .fetch_one(&mut c)
    .await
    .map_err(|e| map_error(&e, conn, database))?;
    let _ = sqlx::Connection::close(c).await;
    if in_recovery {
        return Err(Failure::permanent(
            "replica",
            format!(
                "postgres at {} is a replica (in recovery); point cairn at the primary",
                host_port(conn)
            ),
        ));
    }
    let major = num
        .parse::<u32>()
        .map(version::pg_major_from_num)
        .ok()
        .or_else(|| version::major(cairn_domain::Engine::Postgres, &version))
        .ok_or_else(|| {
            Failure::permanent(
                "version_unknown",
                format!("cannot read the major version from {version:?}"),
            )
        })?;
    Ok(ServerInfo {
        version,
        major,
        flavor: "postgres".to_string(),
    })
}

/// A libpq connection string for the client tools: host, port, user, database and TLS
/// settings, values quoted. It holds no password (that comes from `PGPASSFILE`).
pub(crate) fn conninfo(conn: &Connection, database: Option<&str>) -> String {
    let ep = &conn.endpoint;
    let mut parts = vec![
        format!("host={}", conninfo_value(&ep.host)),
        format!("port={}", ep.port),
        format!("connect_timeout={}", CONNECT_TIMEOUT.as_secs()),
        "application_name=cairn".to_string(),
    ];
    if let Some(u) = &ep.user {
        parts.push(format!("user={}", conninfo_value(u)));
    }
    if let Some(db) = database {
        parts.push(format!("dbname={}", conninfo_value(db)));
    }
    parts.push(format!(
        "sslmode={}",
        conn.tls_mode().spelled_for(cairn_domain::Engine::Postgres)
    ));
    if let Some(ca) = &conn.ca_file {
        parts.push(format!(
            "sslrootcert={}",
            conninfo_value(&ca.display().to_string())
        ));
    }
    for key in ["sslrootcert", "sslcert", "sslkey"] {
        if key == "sslrootcert" && conn.ca_file.is_some() {
            continue;
        }
        if let Some(v) = param(conn, key) {
            parts.push(format!("{key}={}", conninfo_value(v)));
        }
    }
    parts.join(" ")
}

fn conninfo_value(v: &str) -> String {
    format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// A PostgreSQL client tool with the password file in place. Keep the returned file alive
/// until the tool has exited.
pub(crate) fn tool(program: &str, conn: &Connection) -> Result<(Tool, CredentialFile), Failure> {
    let cred = CredentialFile::pgpass(conn.password.as_ref())?;
    let mut tool = Tool::new(program, is_error_line);
    tool.cmd
        .env("PGPASSFILE", cred.path())
        .env("PGCONNECT_TIMEOUT", CONNECT_TIMEOUT.as_secs().to_string());
    tool.redact = secrets(conn);
    Ok((tool, cred))
}

/// psql/pg_dump stderr lines that report an error (notices and warnings do not).
fn is_error_line(line: &str) -> bool {
    let l = line.trim_start();
    ["ERROR:", "FATAL:", "PANIC:"]
        .iter()
        .any(|sev| l.starts_with(sev) || l.contains(&format!(": {sev}")))
        || l.contains(": error:")
}

/// An identifier quoted for SQL, always (so case and unicode are kept).
pub(crate) fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// A string literal for SQL.
pub(crate) fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_lines() {
        let table = [
            (
                "psql:<stdin>:12: ERROR:  relation \"x\" does not exist",
                true,
            ),
            ("pg_dump: error: query failed: server closed", true),
            ("psql: error: connection to server failed: FATAL:  no", true),
            ("FATAL:  terminating connection", true),
            (
                "NOTICE:  database \"ERROR_LOG\" does not exist, skipping",
                false,
            ),
            (
                "pg_dump: warning: there are circular foreign-key constraints",
                false,
            ),
            ("pg_dump: detail: Query was: SELECT 1", false),
        ];
        for (line, want) in table {
            assert_eq!(is_error_line(line), want, "{line}");
        }
    }

    #[test]
    fn conninfo_quotes_values() {
        let conn = Connection {
            endpoint: cairn_domain::Endpoint::parse("postgres://o'k@h:5433/a%20b").unwrap(),
            password: Some(crate::Secret::new("pw")),
            ca_file: None,
        };
        let s = conninfo(&conn, Some("a b"));
        assert!(
            s.contains("user='o\\'k'") && s.contains("dbname='a b'") && s.contains("port=5433")
        );
        assert!(!s.contains("pw"));
    }

    #[test]
    fn conninfo_carries_the_tls_mode_and_ca_file() {
        let conn = Connection {
            endpoint: cairn_domain::Endpoint::parse("postgres://u@h/db?sslmode=verify-ca").unwrap(),
            password: None,
            ca_file: Some("/etc/cairn/ca.pem".into()),
        };
        let s = conninfo(&conn, Some("db"));
        assert!(s.contains("sslmode=verify-ca"), "{s}");
        assert!(s.contains("sslrootcert='/etc/cairn/ca.pem'"), "{s}");
        let conn = Connection {
            endpoint: cairn_domain::Endpoint::parse("postgres://u@h/db").unwrap(),
            ..conn
        };
        assert!(conninfo(&conn, None).contains("sslmode=verify-full"));
    }
}
