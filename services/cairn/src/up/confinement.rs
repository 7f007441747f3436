//! What `cairn up` lets a target's credential reference reach, and where it keeps the
//! short-lived credential files of client tools.
//!
//! File references may point into `/run/secrets`, `<data-dir>/secrets` and the folders given
//! with `--secrets-dir`; env references never to `CAIRN_*`, and, once `--env-prefix` is
//! given, only to variables with one of those prefixes (see `cairn_keyring::ReferencePolicy`).
//! Credential files of client tools live in `<data-dir>/run/creds` (0700), emptied at start.

use anyhow::Context;
use cairn_keyring::ReferencePolicy;
use clap::Args;
use std::path::{Path, PathBuf};

/// Flags of `cairn up` that confine credential references.
#[derive(Debug, Args)]
pub struct ConfinementArgs {
    /// A folder password files may be read from, besides /run/secrets and
    /// <data-dir>/secrets (repeatable; the variable takes a ':'-separated list).
    #[arg(
        long = "secrets-dir",
        value_name = "DIR",
        env = "CAIRN_SECRETS_DIRS",
        value_delimiter = ':',
        value_parser = secrets_dir
    )]
    pub secrets_dirs: Vec<PathBuf>,
    /// Password environment variables must start with one of these prefixes (repeatable;
    /// the variable takes a ','-separated list). Unset: any variable but CAIRN_*.
    #[arg(
        long = "env-prefix",
        value_name = "PREFIX",
        env = "CAIRN_ENV_PREFIXES",
        value_delimiter = ',',
        value_parser = env_prefix
    )]
    pub env_prefixes: Vec<String>,
}

impl ConfinementArgs {
    /// The policy for a server on `data_dir`, whose `secrets` folder is created (0700).
    pub fn policy(&self, data_dir: &Path) -> anyhow::Result<ReferencePolicy> {
        let secrets = data_dir.join("secrets");
        private_dir(&secrets)?;
        let mut policy = ReferencePolicy::new(data_dir);
        for dir in &self.secrets_dirs {
            policy = policy.with_secrets_dir(dir);
        }
        for prefix in &self.env_prefixes {
            policy = policy.with_env_prefix(prefix);
        }
        Ok(policy)
    }
}

/// Makes `<data_dir>/run/creds` this process's folder for credential files, removing
/// what a killed earlier run left there.
pub fn prepare_credentials_dir(data_dir: &Path) -> anyhow::Result<()> {
    let run = data_dir.join("run");
    private_dir(&run)?;
    let creds = run.join("creds");
    let removed = cairn_engines::use_credentials_dir(&creds).with_context(|| {
        format!(
            "cannot prepare the private credentials folder {}",
            creds.display()
        )
    })?;
    if removed > 0 {
        tracing::warn!(
            removed,
            folder = %creds.display(),
            "removed credential files left by an earlier run that did not stop cleanly"
        );
    }
    Ok(())
}

fn private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot make {} private (0700)", dir.display()))
}

fn secrets_dir(s: &str) -> Result<PathBuf, String> {
    let path = std::path::absolute(s).map_err(|e| format!("{s}: {e}"))?;
    let shown = path.display().to_string();
    let normalized = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
    let text = normalized.display().to_string();
    if let Some(why) = cairn_domain::target::forbidden_storage_root(&text) {
        return Err(format!(
            "{shown} is {why}; name a folder that holds only secrets, such as /etc/cairn/secrets"
        ));
    }
    if ["/etc", "/home", "/root", "/usr", "/var"].contains(&text.as_str()) {
        return Err(format!(
            "{shown} holds far more than secrets; name a folder that holds only secrets, such as /etc/cairn/secrets"
        ));
    }
    Ok(path)
}

fn env_prefix(s: &str) -> Result<String, String> {
    let valid = !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit());
    if !valid {
        return Err(format!(
            "{s:?} is not the start of a variable name (letters, digits and '_')"
        ));
    }
    let own = cairn_keyring::OWN_ENV_PREFIX.trim_end_matches('_');
    if s.to_ascii_uppercase().starts_with(own) {
        return Err(format!(
            "{s} would name cairn's own settings (CAIRN_*), which are never credentials; choose another prefix"
        ));
    }
    Ok(s.to_string())
}
