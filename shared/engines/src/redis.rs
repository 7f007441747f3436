//! The Redis engine: preflight through `ROLE`/`INFO`, dumps as SCAN + pipelined
//! `DUMP`/`PTTL`, restores as `FLUSHALL`/`FLUSHDB` + pipelined `RESTORE … REPLACE`.
//!
//! New artifacts are `redis-resp-v1` ([`resp`]): the RESP commands `redis-cli --pipe`
//! loads. Artifacts of the earlier `cairn-redis-v1` record stream ([`format`]) still
//! restore. Every
//! connection authenticates through the client's connection settings, built from the
//! endpoint's fields: the password never travels inside a URL string or an error.

mod dump;
pub mod format;
pub mod resp;
mod restore;

use crate::{Connection, DumpFormat, ServerInfo};
use ::redis::aio::MultiplexedConnection;
use ::redis::{
    AsyncConnectionConfig, Client, ConnectionAddr, ErrorKind, IntoConnectionInfo,
    RedisConnectionInfo, RedisError, Value,
};
use cairn_domain::Failure;
use std::time::Duration;

pub use dump::dump;
pub use restore::restore;

/// What a Redis dump produces.
pub const FORMAT: DumpFormat = DumpFormat {
    artifact: "dump.resp.zst",
    format_name: "redis-resp-v1",
};

/// What Redis dumps produced before `redis-resp-v1`; still restored.
pub const LEGACY_FORMAT: DumpFormat = DumpFormat {
    artifact: "dump.redis.zst",
    format_name: "cairn-redis-v1",
};

/// How long establishing a connection (TCP + AUTH + SELECT) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long preflight's queries may take once connected.
const PREFLIGHT_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one reply may take: generous, since FLUSHALL of a large server or a big
/// pipeline can legitimately take a while.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(600);

/// Checks the server: credentials, version, and that it is a primary.
pub async fn preflight(conn: &Connection) -> Result<ServerInfo, Failure> {
    let deadline = CONNECT_TIMEOUT + PREFLIGHT_TIMEOUT;
    match tokio::time::timeout(deadline, check(conn)).await {
        Ok(result) => result,
        Err(_) => Err(Failure::retryable(
            "unreachable",
            format!(
                "redis at {} did not answer preflight within {}s",
                addr(conn),
                deadline.as_secs()
            ),
        )),
    }
}

async fn check(conn: &Connection) -> Result<ServerInfo, Failure> {
    let mut con = connect(conn, 0).await?;
    check_db_in_range(conn, &mut con).await?;
    let role: Vec<Value> = ::redis::cmd("ROLE")
        .query_async(&mut con)
        .await
        .map_err(|e| failure(conn, &e))?;
    let role = match role.first() {
        Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
        Some(Value::SimpleString(s)) => s.clone(),
        other => {
            return Err(Failure::permanent(
                "redis_error",
                format!("{}: unexpected ROLE reply {other:?}", addr(conn)),
            ))
        }
    };
    if role != "master" {
        return Err(Failure::permanent(
            "replica",
            format!(
                "redis at {} is a {role}, not a primary; point the target at the primary",
                addr(conn)
            ),
        ));
    }
    let info: String = ::redis::cmd("INFO")
        .arg("server")
        .query_async(&mut con)
        .await
        .map_err(|e| failure(conn, &e))?;
    let version = info_field(&info, "redis_version").ok_or_else(|| {
        Failure::permanent(
            "redis_error",
            format!("redis at {} did not report redis_version", addr(conn)),
        )
    })?;
    Ok(ServerInfo {
        major: major_of(&version),
        version,
        flavor: "redis".to_string(),
    })
}

/// A target's `/N` must be one of the server's databases (`CONFIG GET databases`, 16 by
/// default). Where CONFIG is not allowed, selecting the db tells.
async fn check_db_in_range(
    conn: &Connection,
    con: &mut MultiplexedConnection,
) -> Result<(), Failure> {
    let cairn_domain::Scope::RedisDb { index } = conn.endpoint.scope else {
        return Ok(());
    };
    let out_of_range = |range: String| {
        Failure::permanent(
            "no_such_db",
            format!(
                "redis at {} has no database {index}: {range}; point the target at redis://{}/N with N in that range",
                addr(conn),
                addr(conn)
            ),
        )
    };
    let reply: Result<Vec<String>, _> = ::redis::cmd("CONFIG")
        .arg("GET")
        .arg("databases")
        .query_async(con)
        .await;
    let count = reply
        .ok()
        .and_then(|pair| pair.get(1).and_then(|n| n.parse::<u64>().ok()));
    match count {
        Some(0) => Err(out_of_range("it has no databases".into())),
        Some(n) if u64::from(index) >= n => Err(out_of_range(format!(
            "its `databases` setting is {n}, so valid dbs are 0 to {}",
            n - 1
        ))),
        Some(_) => Ok(()),
        None => {
            let selected: Result<(), _> = ::redis::cmd("SELECT").arg(index).query_async(con).await;
            let back: Result<(), _> = ::redis::cmd("SELECT").arg(0).query_async(con).await;
            match (selected, back) {
                (Err(_), _) => Err(out_of_range(
                    "it refused to select it (see its `databases` setting)".into(),
                )),
                (Ok(()), Err(e)) => Err(failure(conn, &e)),
                (Ok(()), Ok(())) => Ok(()),
            }
        }
    }
}

/// Opens a multiplexed connection to logical database `db`, authenticated.
pub(crate) async fn connect(conn: &Connection, db: u32) -> Result<MultiplexedConnection, Failure> {
    let mut settings = RedisConnectionInfo::default().set_db(i64::from(db));
    if let Some(user) = &conn.endpoint.user {
        settings = settings.set_username(user);
    }
    if let Some(password) = conn.password.as_ref().filter(|p| !p.is_empty()) {
        settings = settings.set_password(password.expose());
    }
    let (host, port) = (conn.endpoint.host.clone(), conn.endpoint.port);
    let tls = conn.tls_mode() != cairn_domain::TlsMode::Disable;
    let address = if tls {
        ConnectionAddr::TcpTls {
            host,
            port,
            insecure: false,
            tls_params: None,
        }
    } else {
        ConnectionAddr::Tcp(host, port)
    };
    let info = address
        .into_connection_info()
        .map_err(|e| failure(conn, &e))?
        .set_redis_settings(settings);
    if tls {
        // Two rustls providers are linked (ring, and aws-lc-rs through object_store): name
        // one, or rustls panics when redis asks for the default. Already set is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let client = match (&conn.ca_file, tls) {
        (Some(ca), true) => {
            let root_cert = std::fs::read(ca).map_err(|e| {
                Failure::permanent(
                    "tls",
                    format!(
                        "cannot read the CA file {} for redis at {}: {e}; give a readable PEM file with `--ca-file`",
                        ca.display(),
                        addr(conn)
                    ),
                )
            })?;
            let certs = redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(root_cert),
            };
            Client::build_with_tls(info, certs)
        }
        _ => Client::open(info),
    }
    .map_err(|e| failure(conn, &e))?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT));
    let attempt = client.get_multiplexed_async_connection_with_config(&config);
    match tokio::time::timeout(CONNECT_TIMEOUT + Duration::from_secs(1), attempt).await {
        Ok(Ok(con)) => Ok(con),
        Ok(Err(e)) if is_select_refused(&e) => Err(Failure::permanent(
            "no_such_db",
            format!(
                "redis at {} has no database {db} (see its `databases` setting)",
                addr(conn)
            ),
        )),
        Ok(Err(e)) => Err(failure(conn, &e)),
        Err(_) => Err(Failure::retryable(
            "unreachable",
            format!(
                "redis at {} did not answer within {}s",
                addr(conn),
                CONNECT_TIMEOUT.as_secs()
            ),
        )),
    }
}

/// Turns a client error into a failure that says what to do and holds no secret.
pub(crate) fn failure(conn: &Connection, e: &RedisError) -> Failure {
    let at = addr(conn);
    let code = e.code().unwrap_or_default();
    if e.kind() == ErrorKind::AuthenticationFailed || code == "WRONGPASS" || code == "NOAUTH" {
        return Failure::permanent(
            "auth_failed",
            format!(
                "redis at {at} refused the credentials; check the user and the password given at `cairn target add`"
            ),
        );
    }
    if code == "NOPERM" {
        return Failure::permanent(
            "permission_denied",
            format!("redis at {at}: the user lacks a permission cairn needs: {e}"),
        );
    }
    if code == "READONLY" {
        return Failure::permanent(
            "replica",
            format!("redis at {at} is read-only (a replica); point the target at the primary"),
        );
    }
    if code == "LOADING" || code == "BUSY" || code == "MASTERDOWN" || code == "TRYAGAIN" {
        return Failure::retryable("busy", format!("redis at {at} is busy: {e}"));
    }
    if conn.tls_mode() != cairn_domain::TlsMode::Disable && crate::tls::is_tls_text(&e.to_string())
    {
        return crate::tls::failure("redis", &at, &e.to_string(), conn);
    }
    if e.is_io_error() || e.is_timeout() || e.is_connection_refusal() || e.is_connection_dropped() {
        return Failure::retryable("unreachable", format!("cannot reach redis at {at}: {e}"));
    }
    Failure::permanent("redis_error", format!("redis at {at}: {e}"))
}

fn is_select_refused(e: &RedisError) -> bool {
    e.to_string().contains("refused to switch database")
}

fn addr(conn: &Connection) -> String {
    let host = &conn.endpoint.host;
    match host.contains(':') {
        true => format!("[{host}]:{}", conn.endpoint.port),
        false => format!("{host}:{}", conn.endpoint.port),
    }
}

/// A `field:value` line of an `INFO` reply.
fn info_field(info: &str, field: &str) -> Option<String> {
    info.lines().find_map(|line| {
        let (k, v) = line.trim_end().split_once(':')?;
        (k == field).then(|| v.to_string())
    })
}

/// The first number of a version string (`7.0.15` → 7).
fn major_of(version: &str) -> u32 {
    version
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The server clock in unix milliseconds, from `TIME`'s `[seconds, microseconds]`.
pub(crate) fn time_ms(reply: &Value) -> Option<i64> {
    let Value::Array(parts) = reply else {
        return None;
    };
    let num = |v: &Value| -> Option<i64> {
        match v {
            Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
            Value::Int(i) => Some(*i),
            _ => None,
        }
    };
    let secs = num(parts.first()?)?;
    let micros = num(parts.get(1)?)?;
    Some(secs * 1000 + micros / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_versions_and_info_fields() {
        assert_eq!(major_of("7.0.15"), 7);
        assert_eq!(major_of("6.2"), 6);
        assert_eq!(major_of("garbage"), 0);
        let info = "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n";
        assert_eq!(info_field(info, "redis_version").as_deref(), Some("7.0.15"));
        assert_eq!(info_field(info, "redis_git_sha1"), None);
    }

    #[test]
    fn reads_server_time() {
        let reply = Value::Array(vec![
            Value::BulkString(b"1700000000".to_vec()),
            Value::BulkString(b"123456".to_vec()),
        ]);
        assert_eq!(time_ms(&reply), Some(1_700_000_000_123));
        assert_eq!(time_ms(&Value::Nil), None);
    }
}
