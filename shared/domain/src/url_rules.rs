//! What a target URL may hold beyond its syntax: no secret in the query string, no control
//! character anywhere it could reach a log line or a client tool, a real port, a Redis db
//! number a server could have. And the way an endpoint is written back as a URL, with
//! every component escaped so that what is printed parses to the same endpoint.

use crate::endpoint::EndpointError;
use crate::text::has_control;

/// Query parameter names that carry a password in one client or another (compared without
/// case, after percent-decoding).
const PASSWORD_PARAMS: &[&str] = &[
    "password",
    "pass",
    "passwd",
    "pwd",
    "sslpassword",
    "auth",
    "requirepass",
];

/// Name fragments that mark a parameter as secret wherever they appear (`db_password`).
const SECRET_FRAGMENTS: &[&str] = &["password", "passwd", "secret"];

/// The highest Redis db index a URL may name. A server has `databases` of them (16 by
/// default); preflight checks the index against the real number, this only stops what no
/// server can have (`databases` is a signed 32-bit setting).
pub const REDIS_DB_MAX: u32 = i32::MAX as u32;

/// Query parameters that name a file the client reads (certificates, keys, CA lists):
/// references like a password file, confined where they are resolved.
const FILE_PARAMS: &[&str] = &[
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslcrl",
    "sslcrldir",
    "passfile",
    "ssl-ca",
    "ssl-capath",
    "ssl-cert",
    "ssl-key",
    "ssl-crl",
    "ssl-crlpath",
];

/// The file a query parameter names, if it names one the client reads (libpq's
/// `sslrootcert=system`, the system's CA store, names none).
pub fn file_param<'a>(name: &str, value: &'a str) -> Option<&'a str> {
    let name = name.trim().to_ascii_lowercase();
    let system = name == "sslrootcert" && value == "system";
    (FILE_PARAMS.contains(&name.as_str()) && !system).then_some(value)
}

/// Whether a query parameter name is one that holds a password.
pub fn is_password_param(name: &str) -> bool {
    let name = name.trim().to_ascii_lowercase();
    PASSWORD_PARAMS.contains(&name.as_str()) || SECRET_FRAGMENTS.iter().any(|f| name.contains(f))
}

/// Refuses a password-like parameter and control characters in any parameter.
pub(crate) fn check_params(params: &[(String, String)]) -> Result<(), EndpointError> {
    for (name, value) in params {
        if is_password_param(name) {
            return Err(EndpointError::PasswordParam(crate::text::printable(name)));
        }
        if has_control(name) || has_control(value) {
            return Err(EndpointError::ControlCharacter("a query parameter"));
        }
    }
    Ok(())
}

/// Refuses control characters in a part of the URL (user name, database name).
pub(crate) fn check_text(what: &'static str, value: &str) -> Result<(), EndpointError> {
    if has_control(value) {
        return Err(EndpointError::ControlCharacter(what));
    }
    Ok(())
}

/// Port 0 is no port (the URL syntax already stops anything above 65535).
pub(crate) fn check_port(port: u16, default: u16) -> Result<(), EndpointError> {
    if port == 0 {
        return Err(EndpointError::Port(default));
    }
    Ok(())
}

/// A Redis db index from a URL path: a number no larger than [`REDIS_DB_MAX`].
pub(crate) fn redis_db(path: &str) -> Result<u32, EndpointError> {
    let index: u64 = path
        .parse()
        .map_err(|_| EndpointError::RedisDb(crate::text::printable(path)))?;
    u32::try_from(index)
        .ok()
        .filter(|i| *i <= REDIS_DB_MAX)
        .ok_or(EndpointError::RedisDbRange(index))
}

/// Characters that would change a URL's structure (or be decoded) if written raw.
fn needs_escape(c: char, extra: &str) -> bool {
    c.is_control() || c.is_whitespace() || "%?#/@[]\\".contains(c) || extra.contains(c)
}

/// Percent-encodes the characters of one URL component that `needs_escape`; `extra` adds
/// the component's own delimiters (`:` in a user name, `&=+` in a query).
pub(crate) fn encode_component(s: &str, extra: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if needs_escape(c, extra) {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::endpoint::{Endpoint, EndpointError, Scope};

    fn refused(url: &str) -> EndpointError {
        match Endpoint::parse(url) {
            Ok(e) => panic!("{url:?} was accepted as {e:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn password_like_query_parameters_are_refused_without_echoing_the_value() {
        for url in [
            "postgres://u@h/db?password=hunter2",
            "postgres://u@h/db?PASSWORD=hunter2",
            "postgres://u@h/db?sslmode=require&Password=hunter2",
            "postgres://u@h/db?pass%77ord=hunter2",
            "postgres://u@h/db?%70assword=hunter2",
            "postgres://u@h/db?sslpassword=hunter2",
            "postgres://u@h/db?pwd=hunter2",
            "mysql://u@h/db?passwd=hunter2",
            "mysql://u@h/db?pass=hunter2",
            "mysql://u@h/db?db_password=hunter2",
            "redis://h/0?auth=hunter2",
            "redis://h/?requirepass=hunter2",
            "redis://h?Auth=hunter2",
            "postgres://u@h/db?password",
            "postgres://u@h/db?client_secret=hunter2",
        ] {
            let err = refused(url);
            assert!(
                matches!(err, EndpointError::PasswordParam(_)),
                "{url}: {err:?}"
            );
            let msg = err.to_string();
            assert!(!msg.contains("hunter2"), "{url}: {msg}");
            assert!(msg.contains("--password-stdin"), "{url}: {msg}");
        }
        // Parameters that only look alike stay accepted.
        for url in [
            "postgres://u@h/db?sslmode=require",
            "postgres://u@h/db?application_name=passenger",
            "mysql://u@h/db?ssl-mode=REQUIRED",
        ] {
            Endpoint::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        }
    }

    #[test]
    fn control_characters_are_refused_everywhere() {
        for url in [
            "postgres://u@h/a%00b",
            "postgres://u@h/a%0Ab",
            "postgres://u@h/a%0D%0AINFO%20forged",
            "mysql://u@h/x%1B%5B31m",
            "postgres://u@h/del%7F",
            "postgres://u%0A@h/db",
            "postgres://u@h/db?application_name=a%0Ab",
            "postgres://u@h/db?a%00=b",
        ] {
            let err = refused(url);
            assert!(
                matches!(err, EndpointError::ControlCharacter(_)),
                "{url}: {err:?}"
            );
            assert!(!err.to_string().chars().any(char::is_control), "{url}");
        }
    }

    #[test]
    fn parameters_that_name_files() {
        use super::file_param;
        assert_eq!(file_param("sslrootcert", "/x/ca.pem"), Some("/x/ca.pem"));
        assert_eq!(file_param("SSLKey", "/x/k"), Some("/x/k"));
        assert_eq!(file_param("ssl-ca", "/x/ca.pem"), Some("/x/ca.pem"));
        assert_eq!(file_param("sslrootcert", "system"), None);
        assert_eq!(file_param("sslmode", "/x"), None);
    }

    #[test]
    fn ports_are_1_to_65535() {
        let err = refused("postgres://u@h:0/db");
        assert_eq!(err, EndpointError::Port(5432));
        assert!(err.to_string().contains("1 to 65535"), "{err}");
        assert!(matches!(
            refused("postgres://u@h:65536/db"),
            EndpointError::NotAUrl(..)
        ));
        assert_eq!(Endpoint::parse("redis://h:1").unwrap().port, 1);
        assert_eq!(Endpoint::parse("redis://h:65535").unwrap().port, 65535);
    }

    #[test]
    fn redis_db_numbers_are_bounded() {
        let table: &[(&str, Option<u32>)] = &[
            ("redis://h/0", Some(0)),
            ("redis://h/15", Some(15)),
            ("redis://h/16", Some(16)),
            ("redis://h/2147483647", Some(2_147_483_647)),
            ("redis://h/2147483648", None),
            ("redis://h/4294967295", None),
            ("redis://h/99999999999999999999", None),
            ("redis://h/-1", None),
            ("redis://h/x", None),
        ];
        for (url, want) in table {
            match (Endpoint::parse(url), want) {
                (Ok(e), Some(i)) => assert_eq!(e.scope, Scope::RedisDb { index: *i }, "{url}"),
                (Err(e), None) => assert!(
                    matches!(
                        e,
                        EndpointError::RedisDb(_) | EndpointError::RedisDbRange(_)
                    ),
                    "{url}: {e:?}"
                ),
                (got, _) => panic!("{url}: {got:?}"),
            }
        }
        assert!(refused("redis://h/4294967295")
            .to_string()
            .contains("CONFIG GET databases"));
    }

    #[test]
    fn an_endpoint_stored_with_a_password_parameter_never_shows_it() {
        let mut e = Endpoint::parse("postgres://u@h/db?sslmode=require").unwrap();
        e.params.push(("Password".into(), "hunter2".into()));
        let shown = e.to_string();
        assert!(
            !shown.contains("hunter2") && shown.contains("Password=***"),
            "{shown}"
        );
    }

    #[test]
    fn display_escapes_and_round_trips() {
        for url in [
            "postgres://u@h/caf%C3%A9",
            "postgres://u@h/with%20space",
            "postgres://u@h/per%25cent",
            "postgres://u@h/q%3Fmark",
            "postgres://us%40er@h/db",
            "postgres://us%3Aer@h/db",
            "postgres://u@h/db?options=-c%20search_path%3Da%26b",
            "postgres://u@h/db?application_name=x%23y",
        ] {
            let e = Endpoint::parse(url).unwrap_or_else(|err| panic!("{url}: {err}"));
            let shown = e.to_string();
            assert!(!shown.chars().any(char::is_control), "{shown}");
            assert_eq!(
                Endpoint::parse(&shown).unwrap_or_else(|err| panic!("{shown}: {err}")),
                e,
                "{url} shown as {shown}"
            );
        }
    }
}
