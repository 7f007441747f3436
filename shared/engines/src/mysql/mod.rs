//! MySQL, MariaDB and Percona: preflight over sqlx, dumps with `mariadb-dump` (or
//! `mysqldump`), loads with `mariadb` (or `mysql`).
//!
//! sqlx gets the password in memory; the client tools read host, port, user and password
//! from a private option file given as `--defaults-file` (the first argument, as the
//! tools require). `--defaults-file` rather than `--defaults-extra-file`: the latter is
//! read *before* the user's `~/.my.cnf`, whose `[client] password` would then win.

mod dump;
mod restore;
mod sandbox;
mod swap;

pub(crate) use dump::dump;
pub(crate) use restore::{drop_database, list_databases, restore};

use crate::child::Tool;
use crate::credentials::CredentialFile;
use crate::{version, Connection, DumpFormat, ServerInfo};
use cairn_domain::{Engine, Failure, TlsMode};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlDatabaseError, MySqlSslMode};
use sqlx::{ConnectOptions, Row};
use std::time::Duration;

pub(crate) const FORMAT_DATABASE: DumpFormat = DumpFormat {
    artifact: "dump.sql.zst",
    format_name: "mysqldump-db",
};
pub(crate) const FORMAT_SERVER: DumpFormat = DumpFormat {
    artifact: "dump.sql.zst",
    format_name: "mysqldump-all",
};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Databases a server restore never drops: the server's own.
pub(crate) const SYSTEM_DATABASES: [&str; 4] =
    ["mysql", "information_schema", "performance_schema", "sys"];

/// The user the tools and sqlx connect as when the URL names none.
fn user(conn: &Connection) -> &str {
    conn.endpoint.user.as_deref().unwrap_or("root")
}

fn host_port(conn: &Connection) -> String {
    format!("{}:{}", conn.endpoint.host, conn.endpoint.port)
}

fn secrets(conn: &Connection) -> Vec<String> {
    conn.password
        .iter()
        .map(|p| p.expose().to_string())
        .collect()
}

/// Opens one sqlx connection, to `database` or to none.
pub(crate) async fn connect(
    conn: &Connection,
    database: Option<&str>,
) -> Result<MySqlConnection, Failure> {
    let ep = &conn.endpoint;
    let mut opts = MySqlConnectOptions::new()
        .host(&ep.host)
        .port(ep.port)
        .username(user(conn))
        .charset("utf8mb4")
        .disable_statement_logging();
    if let Some(p) = &conn.password {
        opts = opts.password(p.expose());
    }
    if let Some(db) = database {
        opts = opts.database(db);
    }
    opts = opts.ssl_mode(match conn.tls_mode() {
        TlsMode::Disable => MySqlSslMode::Disabled,
        TlsMode::Prefer => MySqlSslMode::Preferred,
        TlsMode::Require => MySqlSslMode::Required,
        TlsMode::VerifyCa => MySqlSslMode::VerifyCa,
        TlsMode::VerifyFull => MySqlSslMode::VerifyIdentity,
    });
    if let Some(ca) = &conn.ca_file {
        opts = opts.ssl_ca(ca);
    }
    match tokio::time::timeout(CONNECT_TIMEOUT, opts.connect()).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(map_error(&e, conn, database)),
        Err(_) => Err(Failure::retryable(
            "unreachable",
            format!(
                "connecting to mysql at {} timed out after {} s; check the host, port and firewall",
                host_port(conn),
                CONNECT_TIMEOUT.as_secs()
            ),
        )),
    }
}

/// Turns a sqlx error into a failure that says what to do; never includes the password.
pub(crate) fn map_error(e: &sqlx::Error, conn: &Connection, database: Option<&str>) -> Failure {
    let at = host_port(conn);
    let text = crate::child::redact(&e.to_string(), &secrets(conn));
    match e {
        sqlx::Error::Database(db) => {
            let number = db
                .try_downcast_ref::<MySqlDatabaseError>()
                .map(|m| m.number())
                .unwrap_or(0);
            match number {
                1045 | 1698 => Failure::permanent(
                    "auth_failed",
                    format!(
                        "mysql at {at} refused user {:?}: {text}; check the password given at `cairn target add`",
                        user(conn)
                    ),
                ),
                1044 | 1142 | 1227 | 1370 => Failure::permanent(
                    "permission_denied",
                    format!("user {:?} lacks a privilege on mysql at {at}: {text}", user(conn)),
                ),
                1049 => Failure::permanent(
                    "database_missing",
                    format!(
                        "database {:?} does not exist on mysql at {at}; create it or fix the target URL",
                        database.unwrap_or_default()
                    ),
                ),
                1040 | 1053 | 1205 | 1213 | 2006 | 2013 => Failure::retryable(
                    "unreachable",
                    format!("mysql at {at} is not available: {text}"),
                ),
                _ => Failure::permanent("database_error", format!("mysql at {at}: {text}")),
            }
        }
        sqlx::Error::Tls(_) => crate::tls::failure("mysql", &at, &text, conn),
        sqlx::Error::Io(_) if crate::tls::is_tls_text(&text) => {
            crate::tls::failure("mysql", &at, &text, conn)
        }
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Protocol(_) => {
            Failure::retryable(
                "unreachable",
                format!("cannot reach mysql at {at}: {text}; check the host, port and that the server runs"),
            )
        }
        _ => Failure::retryable("database_error", format!("mysql at {at}: {text}")),
    }
}

/// Credentials valid, version read, writable primary (not read-only, not a replica).
pub(crate) async fn preflight(conn: &Connection) -> Result<ServerInfo, Failure> {
    let database = conn.endpoint.database();
    let mut c = connect(conn, database).await?;
    let row = sqlx::query("SELECT VERSION(), @@version_comment, @@read_only + 0")
        .fetch_one(&mut c)
        .await
        .map_err(|e| map_error(&e, conn, database))?;
    let version: String = row.try_get(0).map_err(|e| map_error(&e, conn, database))?;
    let comment: String = row.try_get(1).unwrap_or_default();
    let read_only: i64 = row.try_get(2).unwrap_or(0);
    let replica = is_replica(&mut c, conn).await?;
    let _ = sqlx::Connection::close(c).await;
    if read_only != 0 || replica {
        let why = if replica {
            "a replica"
        } else {
            "read-only (@@read_only = 1)"
        };
        return Err(Failure::permanent(
            "replica",
            format!(
                "mysql at {} is {why}; point cairn at the primary",
                host_port(conn)
            ),
        ));
    }
    let major = version::major(Engine::Mysql, &version).ok_or_else(|| {
        Failure::permanent(
            "version_unknown",
            format!("cannot read the major version from {version:?}"),
        )
    })?;
    let flavor = if version::mysql_family(&version) == "mariadb" {
        "mariadb"
    } else if comment.to_ascii_lowercase().contains("percona") {
        "percona"
    } else {
        "mysql"
    };
    Ok(ServerInfo {
        version,
        major,
        flavor: flavor.to_string(),
    })
}

/// Whether the server replicates from another (`SHOW REPLICA STATUS` has a row; older
/// servers only know `SHOW SLAVE STATUS`). Without the privilege to ask, `@@read_only`
/// is the only signal and this answers false.
async fn is_replica(c: &mut MySqlConnection, conn: &Connection) -> Result<bool, Failure> {
    for stmt in ["SHOW REPLICA STATUS", "SHOW SLAVE STATUS"] {
        match sqlx::raw_sql(stmt).fetch_all(&mut *c).await {
            Ok(rows) => return Ok(!rows.is_empty()),
            Err(sqlx::Error::Database(db)) => {
                let number = db
                    .try_downcast_ref::<MySqlDatabaseError>()
                    .map(|m| m.number())
                    .unwrap_or(0);
                if matches!(number, 1227 | 1044 | 1142) {
                    tracing::warn!(target = %conn.endpoint, "no privilege to read replica status; relying on @@read_only");
                    return Ok(false);
                }
                // 1064: syntax unknown to this server version, try the older spelling.
            }
            Err(e) => return Err(map_error(&e, conn, None)),
        }
    }
    Ok(false)
}

/// The first of `candidates` found in `PATH` (the MariaDB name first, then MySQL's).
fn program(candidates: &[&'static str]) -> &'static str {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in candidates {
        if std::env::split_paths(&path).any(|dir| dir.join(name).is_file()) {
            return name;
        }
    }
    candidates[0]
}

/// A MySQL client tool with its option file as the first argument. Keep the returned file
/// alive until the tool has exited.
pub(crate) fn tool(
    candidates: &[&'static str],
    conn: &Connection,
) -> Result<(Tool, CredentialFile), Failure> {
    let ep = &conn.endpoint;
    let cred = CredentialFile::mycnf(&ep.host, ep.port, Some(user(conn)), conn.password.as_ref())?;
    let mut tool = Tool::new(program(candidates), is_error_line);
    let mut arg = std::ffi::OsString::from("--defaults-file=");
    arg.push(cred.path());
    tool.cmd.arg(arg);
    tool.cmd.args(tls_args(conn));
    tool.redact = secrets(conn);
    Ok((tool, cred))
}

/// The MariaDB 10.11 client's TLS options for the connection's mode. Its TLS is on by
/// default (`ssl TRUE`) but checks nothing; `--ssl-verify-server-cert` checks the chain
/// *and* the host name, the only verification the client offers, so VERIFY_CA gets it
/// too (sqlx's preflight checks the chain alone first).
fn tls_args(conn: &Connection) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = match conn.tls_mode() {
        TlsMode::Disable => vec!["--skip-ssl".into()],
        TlsMode::Prefer => Vec::new(),
        TlsMode::Require => vec!["--ssl".into()],
        TlsMode::VerifyCa | TlsMode::VerifyFull => {
            vec!["--ssl".into(), "--ssl-verify-server-cert".into()]
        }
    };
    if let Some(ca) = &conn.ca_file {
        let mut arg = std::ffi::OsString::from("--ssl-ca=");
        arg.push(ca);
        args.push(arg);
    }
    args
}

/// mariadb-dump/mariadb stderr lines that report an error (warnings do not).
fn is_error_line(line: &str) -> bool {
    let l = line.trim_start();
    l.starts_with("ERROR ")
        || l.starts_with("ERROR:")
        || l.contains(": Got error")
        || l.contains(": Couldn't ")
        || l.contains(": Error ")
        || l.contains(": Error:")
        || l.contains(": unknown option")
        || l.contains(": unknown variable")
}

/// An identifier quoted for MySQL.
pub(crate) fn quote_ident(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_lines() {
        let table = [
            ("ERROR 1064 (42000) at line 3: You have an error", true),
            ("mariadb-dump: Got error: 1049: \"Unknown database 'x'\" when selecting the database", true),
            ("mariadb-dump: Couldn't execute 'SHOW TRIGGERS': Lost connection", true),
            ("mysqldump: Error: 'Access denied; you need the PROCESS privilege'", true),
            ("mariadb-dump: unknown option '--bogus'", true),
            ("Warning: column statistics not supported by the server.", false),
            ("-- Warning: Skipping the data of table mysql.event.", false),
        ];
        for (line, want) in table {
            assert_eq!(is_error_line(line), want, "{line}");
        }
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("a`b"), "`a``b`");
    }
}
