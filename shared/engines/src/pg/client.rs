//! The right `pg_dump` for the server: it must be at least the server's major version
//! (`pg_dump` 15 aborts on a PostgreSQL 17 server with "server version mismatch"), and a
//! newer one dumps older servers fine. Debian keeps every installed major's tools under
//! `/usr/lib/postgresql/<N>/bin`; cairn runs the newest of them, records its version in the
//! manifest, and refuses a server newer than every installed client before dumping,
//! naming the package that brings the right one. Without that layout (another
//! distribution), the tools found in `PATH` are used and their version is asked.

use cairn_domain::Failure;
use std::path::{Path, PathBuf};

/// Where Debian installs each major version's client tools.
const DEBIAN_ROOT: &str = "/usr/lib/postgresql";

/// One installed set of client tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Client {
    /// Directory holding `pg_dump`, `pg_dumpall`, `psql`; `None` = look them up in `PATH`.
    pub dir: Option<PathBuf>,
    /// Major version (from the directory name, or from `pg_dump --version`).
    pub major: u32,
}

impl Client {
    /// The program to run for `tool` (`pg_dump`, `pg_dumpall`).
    pub(crate) fn program(&self, tool: &str) -> String {
        match &self.dir {
            Some(dir) => dir.join(tool).display().to_string(),
            None => tool.to_string(),
        }
    }
}

/// The client tools a dump uses: the newest major under Debian's layout, else `PATH`'s.
pub(crate) fn newest() -> Option<Client> {
    newest_in(Path::new(DEBIAN_ROOT))
}

fn newest_in(root: &Path) -> Option<Client> {
    std::fs::read_dir(root)
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let dir = entry.path().join("bin");
            dir.join("pg_dump").is_file().then_some(Client {
                dir: Some(dir),
                major,
            })
        })
        .max_by_key(|c| c.major)
}

/// The full version of `pg_dump` (`15.19`) as it reports it, which the manifest records.
pub(crate) async fn version(client: &Client) -> Result<String, Failure> {
    let program = client.program("pg_dump");
    let out = tokio::process::Command::new(&program)
        .arg("--version")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("LC_MESSAGES", "C")
        .output()
        .await
        .map_err(|e| {
            Failure::permanent(
                "tool_missing",
                format!("cannot run {program} --version ({e}); install the PostgreSQL client tools (Debian: postgresql-client)"),
            )
        })?;
    parse_version(&String::from_utf8_lossy(&out.stdout)).ok_or_else(|| {
        Failure::permanent(
            "tool_missing",
            format!(
                "{program} --version printed no version ({:?})",
                String::from_utf8_lossy(&out.stdout)
            ),
        )
    })
}

/// `pg_dump (PostgreSQL) 15.19 (Debian 15.19-0+deb12u1)` → `15.19`.
fn parse_version(text: &str) -> Option<String> {
    text.split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))
        .map(str::to_string)
}

/// The client to dump a server of major `server_major`, refused when it is older.
pub(crate) async fn for_server(
    server_major: u32,
    server_version: &str,
) -> Result<(Client, String), Failure> {
    let client = match newest() {
        Some(client) => client,
        None => {
            let path_client = Client {
                dir: None,
                major: 0,
            };
            let v = version(&path_client).await?;
            let major = v
                .split('.')
                .next()
                .and_then(|m| m.parse().ok())
                .unwrap_or(0);
            Client { dir: None, major }
        }
    };
    check(&client, server_major, server_version)?;
    let v = version(&client).await?;
    Ok((client, v))
}

/// Refuses a server newer than the client, before anything runs.
fn check(client: &Client, server_major: u32, server_version: &str) -> Result<(), Failure> {
    if client.major >= server_major {
        return Ok(());
    }
    Err(Failure::permanent(
        "client_too_old",
        format!(
            "the server runs PostgreSQL {server_version} but the newest pg_dump here is major {}; \
             pg_dump must be at least the server's major version: install postgresql-client-{server_major} \
             (on Debian releases that lack it, from the PostgreSQL project's apt repository), or run \
             cairn's container image, which has it",
            client.major
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_newest_major_that_has_pg_dump() {
        let root = tempfile::tempdir().unwrap();
        for (major, has_dump) in [("13", true), ("17", false), ("15", true), ("x", true)] {
            let bin = root.path().join(major).join("bin");
            std::fs::create_dir_all(&bin).unwrap();
            if has_dump {
                std::fs::write(bin.join("pg_dump"), "").unwrap();
            }
        }
        let client = newest_in(root.path()).unwrap();
        assert_eq!(client.major, 15);
        assert_eq!(
            client.program("pg_dumpall"),
            root.path().join("15/bin/pg_dumpall").display().to_string()
        );
        assert_eq!(newest_in(&root.path().join("missing")), None);
    }

    #[test]
    fn refuses_a_server_newer_than_the_client_naming_the_package() {
        let client = Client {
            dir: None,
            major: 15,
        };
        assert!(check(&client, 13, "13.22").is_ok());
        assert!(check(&client, 15, "15.19").is_ok());
        let refused = check(&client, 17, "17.6").unwrap_err();
        assert_eq!(refused.code, "client_too_old");
        assert!(!refused.retryable);
        for needle in ["17.6", "postgresql-client-17", "major 15"] {
            assert!(
                refused.message.contains(needle),
                "{needle}: {}",
                refused.message
            );
        }
    }

    #[test]
    fn reads_the_version_pg_dump_prints() {
        let table = [
            (
                "pg_dump (PostgreSQL) 15.19 (Debian 15.19-0+deb12u1)\n",
                Some("15.19"),
            ),
            ("pg_dump (PostgreSQL) 17.6\n", Some("17.6")),
            ("", None),
        ];
        for (text, want) in table {
            assert_eq!(parse_version(text).as_deref(), want, "{text}");
        }
    }
}
