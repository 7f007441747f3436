//! Server version strings → the numbers restore compatibility is decided on.
//!
//! Preflight and `check_restore` both go through these functions, so a version read from
//! a live server and one stored in a manifest compare the same way.

use cairn_domain::Engine;

/// The "major" of a server version as cairn compares it:
/// PostgreSQL `15.20 (Debian …)` → 15 (`9.6.24` → 9); MySQL/MariaDB `10.11.19-MariaDB` →
/// 1011, `8.0.36` → 800 (major·100 + minor, both numbers matter there); Redis `7.0.15` → 7.
pub fn major(engine: Engine, version: &str) -> Option<u32> {
    let mut nums = leading_numbers(strip_compat_prefix(version.trim()));
    let first = nums.next()?;
    match engine {
        Engine::Postgres | Engine::Redis => Some(first),
        Engine::Mysql => Some(first * 100 + nums.next().unwrap_or(0)),
    }
}

/// PostgreSQL's `server_version_num` (150020) → 15; before 10 (90624) → 9.
pub fn pg_major_from_num(num: u32) -> u32 {
    num / 10_000
}

/// The MySQL family a version string belongs to: `mariadb` or `mysql` (Percona is MySQL).
pub fn mysql_family(version: &str) -> &'static str {
    if version.to_ascii_lowercase().contains("mariadb") {
        "mariadb"
    } else {
        "mysql"
    }
}

/// MariaDB announces itself as `5.5.5-10.11.19-MariaDB` in some places for old clients.
fn strip_compat_prefix(v: &str) -> &str {
    v.strip_prefix("5.5.5-").unwrap_or(v)
}

/// The dot-separated numbers at the start of `v`, stopping at the first non-number.
fn leading_numbers(v: &str) -> impl Iterator<Item = u32> + '_ {
    let end = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    v[..end]
        .split('.')
        .map_while(|part| part.parse::<u32>().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majors() {
        let table: &[(Engine, &str, Option<u32>)] = &[
            (Engine::Postgres, "15.20", Some(15)),
            (Engine::Postgres, "15.20 (Debian 15.20-0+deb12u1)", Some(15)),
            (Engine::Postgres, "16beta2", Some(16)),
            (Engine::Postgres, "9.6.24", Some(9)),
            (Engine::Postgres, "", None),
            (Engine::Postgres, "devel", None),
            (Engine::Mysql, "10.11.19-MariaDB-0+deb12u1", Some(1011)),
            (Engine::Mysql, "5.5.5-10.11.19-MariaDB", Some(1011)),
            (Engine::Mysql, "11.4.2-MariaDB", Some(1104)),
            (Engine::Mysql, "8.0.36", Some(800)),
            (Engine::Mysql, "8.4.0-commercial", Some(804)),
            (Engine::Mysql, "8.0.36-28", Some(800)),
            (Engine::Mysql, "8", Some(800)),
            (Engine::Redis, "7.0.15", Some(7)),
            (Engine::Redis, "7.2.4", Some(7)),
        ];
        for (engine, v, want) in table {
            assert_eq!(major(*engine, v), *want, "{engine} {v:?}");
        }
    }

    #[test]
    fn pg_version_numbers() {
        assert_eq!(pg_major_from_num(150020), 15);
        assert_eq!(pg_major_from_num(170000), 17);
        assert_eq!(pg_major_from_num(90624), 9);
    }

    #[test]
    fn families() {
        assert_eq!(mysql_family("10.11.19-MariaDB-0+deb12u1"), "mariadb");
        assert_eq!(mysql_family("8.0.36-28"), "mysql");
    }
}
