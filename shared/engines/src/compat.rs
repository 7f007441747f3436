//! The checks a restore passes before it touches the target: same engine, same kind of
//! scope, a format this target loads, and no major-version downgrade.

use crate::{version, ServerInfo};
use cairn_domain::{Endpoint, Engine, Failure, Manifest, Scope};

pub(crate) fn check_restore(
    manifest: &Manifest,
    target: &Endpoint,
    server: &ServerInfo,
) -> Result<(), Failure> {
    if manifest.engine != target.engine {
        return Err(Failure::permanent(
            "engine_mismatch",
            format!(
                "backup {} is a {} backup and cannot be restored onto the {} target {target}",
                manifest.id, manifest.engine, target.engine
            ),
        ));
    }
    if std::mem::discriminant(&manifest.scope) != std::mem::discriminant(&target.scope) {
        return Err(Failure::permanent(
            "scope_mismatch",
            format!(
                "backup {} holds {} but the target {target} is {}; restore it onto a target of the same scope",
                manifest.id,
                scope_words(&manifest.scope),
                scope_words(&target.scope),
            ),
        ));
    }
    let expected = crate::dump_format(target);
    let legacy = target.engine == Engine::Redis
        && manifest.format_name == crate::redis::LEGACY_FORMAT.format_name;
    if manifest.format_name != expected.format_name && !legacy {
        return Err(Failure::permanent(
            "unsupported_format",
            format!(
                "backup {} has format {:?}; this target restores {:?}",
                manifest.id, manifest.format_name, expected.format_name
            ),
        ));
    }
    let Some(backup_major) = version::major(manifest.engine, &manifest.server_version) else {
        return Err(Failure::permanent(
            "version_unknown",
            format!(
                "cannot read a major version from the backup's server version {:?}",
                manifest.server_version
            ),
        ));
    };
    let comparable = manifest.engine != Engine::Mysql
        || version::mysql_family(&manifest.server_version)
            == version::mysql_family(&server.version);
    if comparable && backup_major > server.major {
        return Err(Failure::permanent(
            "version_downgrade",
            format!(
                "backup {} was taken from {} {} (major {backup_major}); the target runs {} (major {}): restoring onto an older major version is refused, upgrade the target first",
                manifest.id, manifest.engine, manifest.server_version, server.version, server.major
            ),
        ));
    }
    Ok(())
}

fn scope_words(scope: &Scope) -> String {
    match scope {
        Scope::Server => "a whole server".to_string(),
        Scope::Database { name } => format!("one database ({name})"),
        Scope::RedisDb { index } => format!("one redis db ({index})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(url: &str, version: &str) -> Manifest {
        let endpoint = Endpoint::parse(url).unwrap();
        let format = crate::dump_format(&endpoint);
        serde_json::from_value(serde_json::json!({
            "format": 1, "id": "20260101T000000Z-0a1b2c3d", "target": "t",
            "engine": endpoint.engine, "server_version": version, "scope": endpoint.scope,
            "artifact": format.artifact, "size_bytes": 1, "stored_bytes": 1,
            "sha256": "00", "compression": "zstd", "format_name": format.format_name,
            "job_id": "0a1b2c3d-0000-7000-8000-000000000000",
            "created_at": "2026-01-01T00:00:00Z", "duration_seconds": 1.0,
        }))
        .unwrap()
    }

    fn server(version: &str, major: u32, flavor: &str) -> ServerInfo {
        ServerInfo {
            version: version.into(),
            major,
            flavor: flavor.into(),
        }
    }

    #[test]
    fn refusals_and_acceptances() {
        let pg15 = server("15.20", 15, "postgres");
        let pg14 = server("14.3", 14, "postgres");
        let maria1011 = server("10.11.19-MariaDB", 1011, "mariadb");
        let maria106 = server("10.6.1-MariaDB", 1006, "mariadb");
        let mysql80 = server("8.0.36", 800, "mysql");
        let redis7 = server("7.0.15", 7, "redis");
        let table: &[(&str, &str, &str, &ServerInfo, Option<&str>)] = &[
            // backup URL, backup version, target URL, target server, refusal code
            ("postgres://h/a", "15.20", "postgres://h/b", &pg15, None),
            ("postgres://h/a", "14.9", "postgres://h/a", &pg15, None),
            (
                "postgres://h/a",
                "15.20 (Debian 15.20-0+deb12u1)",
                "postgres://h/a",
                &pg14,
                Some("version_downgrade"),
            ),
            ("postgres://h/", "15.20", "postgres://h/", &pg15, None),
            (
                "postgres://h/",
                "15.20",
                "postgres://h/a",
                &pg15,
                Some("scope_mismatch"),
            ),
            (
                "postgres://h/a",
                "15.20",
                "postgres://h/",
                &pg15,
                Some("scope_mismatch"),
            ),
            (
                "postgres://h/a",
                "15.20",
                "mysql://h/a",
                &maria1011,
                Some("engine_mismatch"),
            ),
            (
                "mysql://h/a",
                "10.11.19-MariaDB",
                "postgres://h/a",
                &pg15,
                Some("engine_mismatch"),
            ),
            (
                "mysql://h/a",
                "10.11.19-MariaDB",
                "mysql://h/b",
                &maria1011,
                None,
            ),
            (
                "mysql://h/a",
                "10.6.1-MariaDB",
                "mysql://h/a",
                &maria1011,
                None,
            ),
            (
                "mysql://h/a",
                "10.11.19-MariaDB",
                "mysql://h/a",
                &maria106,
                Some("version_downgrade"),
            ),
            (
                "mysql://h/",
                "10.11.19-MariaDB",
                "mysql://h/a",
                &maria1011,
                Some("scope_mismatch"),
            ),
            // MariaDB and MySQL numbers are not comparable; the load itself decides.
            (
                "mysql://h/a",
                "10.11.19-MariaDB",
                "mysql://h/a",
                &mysql80,
                None,
            ),
            (
                "mysql://h/a",
                "garbage",
                "mysql://h/a",
                &mysql80,
                Some("version_unknown"),
            ),
            ("redis://h/1", "7.2.4", "redis://h/2", &redis7, None),
            (
                "redis://h/",
                "8.0.0",
                "redis://h/",
                &redis7,
                Some("version_downgrade"),
            ),
            (
                "redis://h/",
                "7.0.15",
                "redis://h/0",
                &redis7,
                Some("scope_mismatch"),
            ),
        ];
        for (from, version, to, info, want) in table {
            let m = manifest(from, version);
            let target = Endpoint::parse(to).unwrap();
            let got = check_restore(&m, &target, info).err();
            assert_eq!(
                got.as_ref().map(|f| f.code.as_str()),
                *want,
                "{from} {version} -> {to}"
            );
            if let Some(f) = got {
                assert!(!f.retryable, "{f:?}");
            }
        }
    }

    #[test]
    fn messages_name_both_sides() {
        let m = manifest("postgres://h/a", "16.1");
        let f = check_restore(
            &m,
            &Endpoint::parse("postgres://h/a").unwrap(),
            &server("15.20", 15, "postgres"),
        )
        .unwrap_err();
        assert!(
            f.message.contains("16.1") && f.message.contains("15.20"),
            "{}",
            f.message
        );
        let f = check_restore(
            &m,
            &Endpoint::parse("mysql://h/a").unwrap(),
            &server("8.0.36", 800, "mysql"),
        )
        .unwrap_err();
        assert!(
            f.message.contains("postgres") && f.message.contains("mysql"),
            "{}",
            f.message
        );
    }

    #[test]
    fn a_foreign_format_is_refused() {
        let mut m = manifest("postgres://h/a", "15.20");
        m.format_name = "pg_dump-custom".into();
        let f = check_restore(
            &m,
            &Endpoint::parse("postgres://h/a").unwrap(),
            &server("15.20", 15, "postgres"),
        )
        .unwrap_err();
        assert_eq!(f.code, "unsupported_format");
    }
}
