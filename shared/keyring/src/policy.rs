//! Where a credential reference may point: which files and which environment variables a
//! target may name, so that a reference cannot make cairn read and send anything else it
//! can read (its own key, its tokens, `/etc/shadow`, `CAIRN_SECRET_KEY`).
//!
//! A file reference must resolve (symbolic links and `..` followed) to a regular file
//! inside one of the secrets folders: `/run/secrets`, `<data-dir>/secrets`, and those the
//! operator adds (`cairn up --secrets-dir DIR`). Nothing else of the data directory is ever
//! reachable (its key, its admin token, its ledger), even when an added folder covers it.
//! An environment reference never names one of cairn's own settings (`CAIRN_*`), and when
//! the operator set prefixes (`cairn up --env-prefix P`) it must start with one of them.
//!
//! The same policy is checked when a target is added and again when the worker resolves
//! the reference, so a reference stored before the rule, or resolved on another host,
//! cannot escape.

use std::ffi::OsStr;
use std::fmt;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// The folder every host offers to secrets (Docker and Kubernetes mount them there).
pub const RUN_SECRETS: &str = "/run/secrets";
/// Environment variables with this prefix are cairn's own settings, never a credential.
pub const OWN_ENV_PREFIX: &str = "CAIRN_";
/// A credential file larger than this is not a password or a certificate.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Why a reference was refused or could not be read. No variant holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    #[error(
        "{0} is not an absolute path; name the file by its absolute path, as the worker reads it"
    )]
    NotAbsolute(String),
    #[error("{path} is outside the folders credential files may be read from ({allowed}); put the file in one of them (`cairn up --secrets-dir DIR` adds a folder)")]
    Outside { path: String, allowed: String },
    #[error("{0} is one of cairn's own files (its key, tokens or ledger) and is never read as a credential")]
    OwnFile(String),
    #[error("{0} is not a regular file")]
    NotAFile(String),
    #[error("{0} is larger than {MAX_FILE_BYTES} bytes, too large for a credential")]
    TooLarge(String),
    #[error("{0} cannot be read: {1}")]
    Unreadable(String, String),
    #[error("{0:?} is not an environment variable name (letters, digits and '_', not starting with a digit)")]
    BadVariable(String),
    #[error("{0} is one of cairn's own settings ({OWN_ENV_PREFIX}*) and is never read as a credential; use a variable of another name")]
    OwnVariable(String),
    #[error("{var} does not start with a prefix allowed for credential variables ({prefixes}); name a variable with one of them (`cairn up --env-prefix P` sets them)")]
    Prefix { var: String, prefixes: String },
    #[error("the environment variable {0} is not set on this worker; set it in the environment of the process that runs the jobs")]
    Unset(String),
}

/// The places credential references may point to. Cheap to clone; never holds a secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ReferencePolicy {
    /// Folders a file reference may point into, as given (resolved at each check).
    secrets_dirs: Vec<PathBuf>,
    /// cairn's data directory: nothing in it but its `secrets` folder is reachable.
    data_dir: Option<PathBuf>,
    /// Further files or folders of cairn's own that are never reachable.
    own: Vec<PathBuf>,
    /// When non-empty, an environment reference must start with one of these.
    env_prefixes: Vec<String>,
}

impl fmt::Debug for ReferencePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReferencePolicy")
            .field("secrets_dirs", &self.secrets_dirs)
            .field("env_prefixes", &self.env_prefixes)
            .finish_non_exhaustive()
    }
}

impl Default for ReferencePolicy {
    /// `/run/secrets` only, no data directory, no prefixes.
    fn default() -> Self {
        Self {
            secrets_dirs: vec![PathBuf::from(RUN_SECRETS)],
            data_dir: None,
            own: Vec::new(),
            env_prefixes: Vec::new(),
        }
    }
}

impl ReferencePolicy {
    /// The policy of a server whose data directory is `data_dir`: files under
    /// `/run/secrets` and `<data_dir>/secrets`; nothing else of `data_dir`.
    pub fn new(data_dir: &Path) -> Self {
        let data_dir = resolve(data_dir).unwrap_or_else(|_| lexical(data_dir));
        Self {
            secrets_dirs: vec![PathBuf::from(RUN_SECRETS), data_dir.join("secrets")],
            data_dir: Some(data_dir),
            ..Self::default()
        }
    }

    /// Adds a folder file references may point into (`--secrets-dir`).
    pub fn with_secrets_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.secrets_dirs.push(dir.into());
        self
    }

    /// Adds a prefix environment references must start with (`--env-prefix`).
    pub fn with_env_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.env_prefixes.push(prefix.into());
        self
    }

    /// Marks a file or folder of cairn's own (outside the data directory) as never
    /// reachable, even inside a secrets folder.
    pub fn with_own_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.own.push(path.into());
        self
    }

    /// The folders file references may point into, as configured.
    pub fn secrets_dirs(&self) -> &[PathBuf] {
        &self.secrets_dirs
    }

    /// The allowed folders, for messages: `/run/secrets, /data/secrets`.
    pub fn allowed_places(&self) -> String {
        self.secrets_dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Checks a file reference and returns the file's real path (symbolic links and `..`
    /// resolved): inside a secrets folder, not one of cairn's own files, and a regular file
    /// when it exists. A file that does not exist yet passes when the folder it would be in
    /// does (the worker checks again when it reads it).
    pub fn check_file(&self, path: impl AsRef<Path>) -> Result<PathBuf, RefError> {
        let path = path.as_ref();
        let shown = cairn_domain::text::printable(&path.display().to_string());
        if !path.is_absolute() {
            return Err(RefError::NotAbsolute(shown));
        }
        let real = resolve(path).map_err(|e| RefError::Unreadable(shown.clone(), e))?;
        self.check_real(&real, &shown)?;
        match std::fs::metadata(&real) {
            Ok(meta) if !meta.is_file() => Err(RefError::NotAFile(shown)),
            Ok(meta) if meta.len() > MAX_FILE_BYTES => Err(RefError::TooLarge(shown)),
            _ => Ok(real),
        }
    }

    /// Reads a file reference's content, checking the file that was actually opened (so a
    /// link swapped after the check cannot lead elsewhere). Trailing line breaks dropped.
    pub fn read_file(&self, path: impl AsRef<Path>) -> Result<String, RefError> {
        let path = path.as_ref();
        let shown = cairn_domain::text::printable(&path.display().to_string());
        let real = self.check_file(path)?;
        let unreadable = |e: std::io::Error| RefError::Unreadable(shown.clone(), e.to_string());
        let file = std::fs::File::open(&real).map_err(unreadable)?;
        let meta = file.metadata().map_err(unreadable)?;
        if !meta.is_file() {
            return Err(RefError::NotAFile(shown));
        }
        if let Some(opened) = opened_path(&file) {
            self.check_real(&opened, &shown)?;
        }
        let mut bytes = Vec::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(unreadable)?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(RefError::TooLarge(shown));
        }
        let text = String::from_utf8(bytes)
            .map_err(|_| RefError::Unreadable(shown, "it is not UTF-8 text".into()))?;
        Ok(text.trim_end_matches(['\n', '\r']).to_string())
    }

    /// Checks an environment reference: a valid name, not cairn's own, with an allowed prefix.
    pub fn check_env(&self, var: &str) -> Result<(), RefError> {
        let valid = !var.is_empty()
            && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !var.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            return Err(RefError::BadVariable(cairn_domain::text::printable(var)));
        }
        if var.to_ascii_uppercase().starts_with(OWN_ENV_PREFIX) {
            return Err(RefError::OwnVariable(var.to_string()));
        }
        if !self.env_prefixes.is_empty() && !self.env_prefixes.iter().any(|p| var.starts_with(p)) {
            return Err(RefError::Prefix {
                var: var.to_string(),
                prefixes: self.env_prefixes.join(", "),
            });
        }
        Ok(())
    }

    /// Reads an environment reference of this process, after `check_env`.
    pub fn read_env(&self, var: &str) -> Result<String, RefError> {
        self.check_env(var)?;
        std::env::var(var).map_err(|_| RefError::Unset(var.to_string()))
    }

    /// `real` (already resolved) is inside a secrets folder and not cairn's own.
    fn check_real(&self, real: &Path, shown: &str) -> Result<(), RefError> {
        // A secrets folder that resolves to `/` (a link gone wrong) allows nothing.
        let inside = |dir: &Path| {
            let dir = resolve(dir).unwrap_or_else(|_| lexical(dir));
            dir.parent().is_some() && real.starts_with(&dir) && real != dir
        };
        if let Some(data) = &self.data_dir {
            if real.starts_with(data) && !inside(&data.join("secrets")) {
                return Err(RefError::OwnFile(shown.to_string()));
            }
        }
        if self.own.iter().any(|own| {
            let own = resolve(own).unwrap_or_else(|_| lexical(own));
            real.starts_with(own)
        }) {
            return Err(RefError::OwnFile(shown.to_string()));
        }
        if !self.secrets_dirs.iter().any(|d| inside(d)) {
            return Err(RefError::Outside {
                path: shown.to_string(),
                allowed: self.allowed_places(),
            });
        }
        Ok(())
    }
}

/// The real path of an open file, as the kernel knows it (Linux `/proc/self/fd`).
fn opened_path(file: &std::fs::File) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()
}

/// `path` with every symbolic link and `..` resolved. When the path does not exist, its
/// deepest existing ancestor is resolved and the rest appended, which must then hold no
/// `..` (a missing folder cannot be a link, but `..` past it could still climb out).
fn resolve(path: &Path) -> Result<PathBuf, String> {
    match std::fs::canonicalize(path) {
        Ok(p) => return Ok(p),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.to_string()),
        Err(_) => {}
    }
    let mut rest: Vec<&OsStr> = Vec::new();
    let mut base = path;
    loop {
        match base.parent() {
            Some(parent) => {
                if let Some(name) = base.file_name() {
                    rest.push(name);
                } else {
                    return Err("the path climbs out with '..'".into());
                }
                base = parent;
                if let Ok(real) = std::fs::canonicalize(base) {
                    let mut out = real;
                    for part in rest.iter().rev() {
                        out.push(part);
                    }
                    return Ok(out);
                }
            }
            None => return Err("no part of the path exists".into()),
        }
    }
}

/// `path` normalized as text (`.` and `..` applied), for folders that do not exist.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
