//! TLS to databases: how strictly a connection checks the server it talks to.
//!
//! One scale for every engine, spelled the engine's own way in target URLs: PostgreSQL's
//! `sslmode` (`disable|prefer|require|verify-ca|verify-full`), MySQL/MariaDB's `ssl-mode`
//! (`DISABLED|PREFERRED|REQUIRED|VERIFY_CA|VERIFY_IDENTITY`), and Redis's `rediss://`
//! scheme (TLS, certificate and host name verified).

use crate::endpoint::Engine;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How a connection uses TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    /// Plain connection.
    Disable,
    /// TLS if the server offers it, certificate not checked.
    Prefer,
    /// TLS always, certificate not checked.
    Require,
    /// TLS, the certificate must chain to a trusted CA.
    VerifyCa,
    /// TLS, trusted CA and the certificate names the host.
    VerifyFull,
}

impl TlsMode {
    /// The URL query parameter that sets the mode for `engine` (Redis uses its scheme).
    pub fn param(engine: Engine) -> Option<&'static str> {
        match engine {
            Engine::Postgres => Some("sslmode"),
            Engine::Mysql => Some("ssl-mode"),
            Engine::Redis => None,
        }
    }

    /// Whether `key` is a query parameter that sets the mode for `engine`.
    pub fn is_param(engine: Engine, key: &str) -> bool {
        match engine {
            Engine::Postgres => key == "sslmode",
            Engine::Mysql => matches!(key, "ssl-mode" | "ssl_mode" | "sslmode"),
            Engine::Redis => false,
        }
    }

    /// Reads a mode in either engine's spelling, any case.
    pub fn parse(value: &str) -> Option<Self> {
        let v = value.to_ascii_lowercase().replace('_', "-");
        Some(match v.as_str() {
            "disable" | "disabled" => TlsMode::Disable,
            "prefer" | "preferred" => TlsMode::Prefer,
            "require" | "required" => TlsMode::Require,
            "verify-ca" => TlsMode::VerifyCa,
            "verify-full" | "verify-identity" => TlsMode::VerifyFull,
            _ => return None,
        })
    }

    /// The values `engine` accepts, for error messages.
    pub fn choices(engine: Engine) -> &'static str {
        match engine {
            Engine::Mysql => "DISABLED, PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY",
            _ => "disable, prefer, require, verify-ca or verify-full",
        }
    }

    /// The mode in `engine`'s spelling.
    pub fn spelled_for(self, engine: Engine) -> &'static str {
        match (engine, self) {
            (Engine::Mysql, TlsMode::Disable) => "DISABLED",
            (Engine::Mysql, TlsMode::Prefer) => "PREFERRED",
            (Engine::Mysql, TlsMode::Require) => "REQUIRED",
            (Engine::Mysql, TlsMode::VerifyCa) => "VERIFY_CA",
            (Engine::Mysql, TlsMode::VerifyFull) => "VERIFY_IDENTITY",
            (_, TlsMode::Disable) => "disable",
            (_, TlsMode::Prefer) => "prefer",
            (_, TlsMode::Require) => "require",
            (_, TlsMode::VerifyCa) => "verify-ca",
            (_, TlsMode::VerifyFull) => "verify-full",
        }
    }

    /// The mode a connection uses when the URL sets none: verify-full when a CA file is
    /// given (why else give one), otherwise the engine's client default (PostgreSQL and
    /// MySQL prefer TLS; Redis is plain unless `rediss://`).
    pub fn effective(explicit: Option<TlsMode>, engine: Engine, has_ca: bool) -> TlsMode {
        match (explicit, engine) {
            (Some(mode), _) => mode,
            (None, _) if has_ca => TlsMode::VerifyFull,
            (None, Engine::Redis) => TlsMode::Disable,
            (None, _) => TlsMode::Prefer,
        }
    }

    /// Whether the server's certificate is checked.
    pub fn verifies(self) -> bool {
        matches!(self, TlsMode::VerifyCa | TlsMode::VerifyFull)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_parse_and_print_back() {
        let table = [
            ("disable", "DISABLED", TlsMode::Disable),
            ("prefer", "PREFERRED", TlsMode::Prefer),
            ("require", "REQUIRED", TlsMode::Require),
            ("verify-ca", "VERIFY_CA", TlsMode::VerifyCa),
            ("verify-full", "VERIFY_IDENTITY", TlsMode::VerifyFull),
        ];
        for (pg, my, mode) in table {
            assert_eq!(TlsMode::parse(pg), Some(mode));
            assert_eq!(TlsMode::parse(my), Some(mode));
            assert_eq!(mode.spelled_for(Engine::Postgres), pg);
            assert_eq!(mode.spelled_for(Engine::Mysql), my);
        }
        assert_eq!(TlsMode::parse("allow"), None);
        assert_eq!(TlsMode::parse("yes"), None);
    }

    #[test]
    fn a_ca_file_alone_means_verify_full() {
        use TlsMode::*;
        assert_eq!(TlsMode::effective(None, Engine::Postgres, true), VerifyFull);
        assert_eq!(TlsMode::effective(None, Engine::Postgres, false), Prefer);
        assert_eq!(TlsMode::effective(None, Engine::Redis, false), Disable);
        assert_eq!(
            TlsMode::effective(Some(Require), Engine::Mysql, true),
            Require
        );
    }
}
