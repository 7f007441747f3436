//! Short-lived credential files for the client tools.
//!
//! A password never goes into argv or a child's environment: the tools read it from a
//! file that only this process's user can read (a 0700 directory holding a 0600 file),
//! and the child gets nothing but the file's path. The directory is deleted when the
//! value is dropped, which is after the child has exited.
//!
//! Where the directories go is set once per process with [`use_credentials_dir`] (`cairn
//! up` uses `<data-dir>/run/creds` and empties it on start, so a file left by a killed
//! process does not outlive the next start). Unset, they go to the system temp directory.

use crate::Secret;
use cairn_domain::Failure;
use std::fs::Permissions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use tempfile::TempDir;

/// The private folder credential directories are made in, once set.
static CREDENTIALS_DIR: OnceLock<PathBuf> = OnceLock::new();

/// Makes `dir` (created 0700, its mode enforced) the folder this process's credential
/// files live in, after removing everything in it: nothing runs yet, so whatever is there
/// was left by a process that died. Returns how many leftovers were removed. Only the
/// first call of a process sets the folder; later ones only clean.
pub fn use_credentials_dir(dir: &Path) -> std::io::Result<usize> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::set_permissions(dir, Permissions::from_mode(0o700))?;
    let mut removed = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
        removed += 1;
    }
    let _ = CREDENTIALS_DIR.set(dir.to_path_buf());
    Ok(removed)
}

/// A private directory holding one credential file.
#[derive(Debug)]
pub(crate) struct CredentialFile {
    // Kept for its Drop, which removes the directory and the file in it.
    _dir: TempDir,
    path: PathBuf,
}

impl CredentialFile {
    /// Writes `contents` to a fresh 0600 file inside a fresh 0700 directory.
    fn write(name: &str, contents: &str) -> Result<Self, Failure> {
        let io = |e: std::io::Error| {
            Failure::retryable(
                "local_io",
                format!("cannot write a private credentials file: {e}"),
            )
        };
        let mut builder = tempfile::Builder::new();
        builder
            .prefix("cairn-cred-")
            .permissions(Permissions::from_mode(0o700));
        let dir = match CREDENTIALS_DIR.get() {
            Some(private) => builder.tempdir_in(private),
            None => builder.tempdir(),
        }
        .map_err(io)?;
        let path = dir.path().join(name);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(io)?;
        file.write_all(contents.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(Self { _dir: dir, path })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// A libpq password file (`PGPASSFILE`) matching any host, port, database and user:
    /// it is used for exactly one child process that connects where we tell it to.
    pub(crate) fn pgpass(password: Option<&Secret>) -> Result<Self, Failure> {
        let line = match password {
            Some(p) => format!("*:*:*:*:{}\n", pgpass_escape(p.expose())),
            None => String::new(),
        };
        Self::write("pgpass", &line)
    }

    /// A MySQL option file for `--defaults-file`, `[client]` group (read by every client tool).
    pub(crate) fn mycnf(
        host: &str,
        port: u16,
        user: Option<&str>,
        password: Option<&Secret>,
    ) -> Result<Self, Failure> {
        let mut text = String::from("[client]\nprotocol=tcp\n");
        text.push_str(&format!("host={}\n", option_value(host)));
        text.push_str(&format!("port={port}\n"));
        if let Some(u) = user {
            text.push_str(&format!("user={}\n", option_value(u)));
        }
        if let Some(p) = password {
            text.push_str(&format!("password={}\n", option_value(p.expose())));
        }
        Self::write("client.cnf", &text)
    }
}

/// libpq's `.pgpass` escaping: `\` and `:` are preceded by a backslash.
fn pgpass_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '\\' || c == ':' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A value for a MySQL option file: double-quoted (so `#`, `;` and spaces are kept) with
/// the escapes the option-file parser understands (checked with `--print-defaults`):
/// backslash, double quote and line breaks.
fn option_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn files_are_private_and_escaped() {
        let f = CredentialFile::pgpass(Some(&Secret::new("a:b\\c"))).unwrap();
        let meta = std::fs::metadata(f.path()).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o600);
        let dir_meta = std::fs::metadata(f.path().parent().unwrap()).unwrap();
        assert_eq!(dir_meta.mode() & 0o777, 0o700);
        assert_eq!(
            std::fs::read_to_string(f.path()).unwrap(),
            "*:*:*:*:a\\:b\\\\c\n"
        );
        let dir = f.path().parent().unwrap().to_path_buf();
        drop(f);
        assert!(!dir.exists(), "the directory is removed on drop");
    }

    #[test]
    fn a_private_folder_is_emptied_and_then_used() {
        // Kept for the whole test binary: the folder is process-wide once set.
        let root = tempfile::tempdir().unwrap().keep();
        let dir = root.join("run/creds");
        std::fs::create_dir_all(dir.join("cairn-cred-old")).unwrap();
        std::fs::write(dir.join("cairn-cred-old/pgpass"), "*:*:*:*:old").unwrap();
        std::fs::write(dir.join("stray"), "x").unwrap();
        std::fs::set_permissions(&dir, Permissions::from_mode(0o755)).unwrap();
        assert_eq!(use_credentials_dir(&dir).unwrap(), 2);
        // (Other tests of this binary may write their own files here from now on.)
        assert!(!dir.join("stray").exists() && !dir.join("cairn-cred-old").exists());
        let mode = std::fs::metadata(&dir).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let f = CredentialFile::pgpass(Some(&Secret::new("pw"))).unwrap();
        assert!(f.path().starts_with(&dir), "{}", f.path().display());
        let own = f.path().parent().unwrap().to_path_buf();
        drop(f);
        assert!(!own.exists(), "removed on drop");
    }

    #[test]
    fn option_values_are_quoted() {
        assert_eq!(option_value(r#"p"a#s;s\'"#), r#""p\"a#s;s\\'""#);
        let f = CredentialFile::mycnf("db", 3306, Some("root"), None).unwrap();
        let text = std::fs::read_to_string(f.path()).unwrap();
        assert!(text.contains("user=\"root\"") && !text.contains("password"));
    }
}
