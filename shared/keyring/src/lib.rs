//! Sealed credentials: the key that encrypts passwords at rest, and the resolution of a
//! target's `CredentialRef` into the password a worker needs at job time.
//!
//! The key comes from `CAIRN_SECRET_KEY` (64 hex digits) or from `secret.key` in the data
//! directory (created 0600 on first start). Sealed values are ChaCha20-Poly1305 with a
//! random nonce, stored as base64(nonce ++ ciphertext); the ledger never sees a password.
//! The same key also derives the key that signs backup manifests (`signing`).
//! Env and file references resolve only where the keyring's [`ReferencePolicy`] allows.

use base64::Engine as _;
use cairn_domain::CredentialRef;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;
use std::fmt;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

mod policy;
pub use policy::{RefError, ReferencePolicy, OWN_ENV_PREFIX, RUN_SECRETS};

pub mod signing;

pub use signing::SigningKey;

/// The environment variable that, when set, holds the key (64 hex digits).
pub const KEY_ENV: &str = "CAIRN_SECRET_KEY";

/// The key's file in the data directory.
pub const KEY_FILE: &str = "secret.key";

#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error(
        "{KEY_ENV} must be 64 hex digits (32 bytes); generate one with `openssl rand -hex 32`"
    )]
    BadEnvKey,
    #[error("secret key file {0} is unreadable or malformed: {1}; restore it from your copy (sealed passwords cannot be opened without it)")]
    BadKeyFile(String, String),
    #[error("a sealed password could not be opened: the secret key differs from the one that sealed it (set {KEY_ENV} or the data dir's secret.key to the original), or the sealed value is damaged")]
    Unseal,
    #[error("the password reference cannot be used: {0}; add the target again with an allowed reference or with --password-stdin")]
    Reference(#[from] RefError),
}

/// The symmetric key. Never printed.
#[derive(Clone)]
pub struct Keyring {
    key: [u8; 32],
    policy: Arc<ReferencePolicy>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Keyring(***)")
    }
}

impl Keyring {
    /// From `CAIRN_SECRET_KEY` when set, else from (or newly into) `<data_dir>/secret.key`;
    /// references resolve under `ReferencePolicy::new(data_dir)` until `with_policy`.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, KeyringError> {
        let keyring = Self::load_key(data_dir)?;
        Ok(keyring.with_policy(ReferencePolicy::new(data_dir)))
    }

    fn load_key(data_dir: &Path) -> Result<Self, KeyringError> {
        if let Ok(hexkey) = std::env::var(KEY_ENV) {
            return Self::from_hex(hexkey.trim()).ok_or(KeyringError::BadEnvKey);
        }
        let path = data_dir.join(KEY_FILE);
        let shown = path.display().to_string();
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::from_hex(text.trim())
                .ok_or_else(|| KeyringError::BadKeyFile(shown, "not 64 hex digits".into())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                rand::thread_rng().fill_bytes(&mut key);
                write_private(&path, hex::encode(key).as_bytes())
                    .map_err(|e| KeyringError::BadKeyFile(shown, e.to_string()))?;
                Ok(Self::from_key(key))
            }
            Err(e) => Err(KeyringError::BadKeyFile(shown, e.to_string())),
        }
    }

    /// The key `load_or_create` would use, without creating one: `None` when neither
    /// `CAIRN_SECRET_KEY` nor `<data_dir>/secret.key` exists.
    pub fn load(data_dir: &Path) -> Result<Option<Self>, KeyringError> {
        if std::env::var_os(KEY_ENV).is_some() || data_dir.join(KEY_FILE).exists() {
            Self::load_or_create(data_dir).map(Some)
        } else {
            Ok(None)
        }
    }

    /// The key in `<data_dir>/secret.key` alone (ignoring `CAIRN_SECRET_KEY`), if any.
    pub fn load_file_only(data_dir: &Path) -> Result<Option<Self>, KeyringError> {
        let path = data_dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::from_hex(text.trim()).map(Some).ok_or_else(|| {
                KeyringError::BadKeyFile(path.display().to_string(), "not 64 hex digits".into())
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(KeyringError::BadKeyFile(
                path.display().to_string(),
                e.to_string(),
            )),
        }
    }

    /// The key as 64 hex digits, for an operator's offline copy (`cairn key export`).
    pub fn export_hex(&self) -> String {
        hex::encode(self.key)
    }

    /// Writes this key as `<data_dir>/secret.key` (0600, atomically).
    pub fn install(&self, data_dir: &Path) -> std::io::Result<()> {
        write_private(&data_dir.join(KEY_FILE), self.export_hex().as_bytes())
    }

    /// A key given as 64 hex digits; references resolve under `ReferencePolicy::default()`
    /// (`/run/secrets` only) until `with_policy`.
    pub fn from_hex(s: &str) -> Option<Self> {
        let bytes = hex::decode(s).ok()?;
        Some(Self::from_key(bytes.try_into().ok()?))
    }

    fn from_key(key: [u8; 32]) -> Self {
        Self {
            key,
            policy: Arc::new(ReferencePolicy::default()),
        }
    }

    /// The same key, resolving references under `policy`.
    pub fn with_policy(mut self, policy: ReferencePolicy) -> Self {
        self.policy = Arc::new(policy);
        self
    }

    /// Where env and file references may point.
    pub fn policy(&self) -> &ReferencePolicy {
        &self.policy
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(Key::from_slice(&self.key))
    }

    /// Encrypts a password for storage.
    pub fn seal(&self, plaintext: &str) -> String {
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let ct = self
            .cipher()
            .encrypt(Nonce::from_slice(&nonce), plaintext.as_bytes())
            .expect("ChaCha20-Poly1305 encryption cannot fail for in-memory input");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        base64::engine::general_purpose::STANDARD.encode(out)
    }

    /// Decrypts a sealed password.
    pub fn open(&self, sealed: &str) -> Result<String, KeyringError> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .map_err(|_| KeyringError::Unseal)?;
        if raw.len() < 12 {
            return Err(KeyringError::Unseal);
        }
        let (nonce, ct) = raw.split_at(12);
        let pt = self
            .cipher()
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| KeyringError::Unseal)?;
        String::from_utf8(pt).map_err(|_| KeyringError::Unseal)
    }

    /// The password a credential reference stands for, read now (on the worker), as far
    /// as the policy allows: a reference stored before a rule, or added on another host,
    /// is checked again here.
    pub fn resolve(&self, cred: &CredentialRef) -> Result<Option<String>, KeyringError> {
        match cred {
            CredentialRef::None => Ok(None),
            CredentialRef::Sealed { sealed } => self.open(sealed).map(Some),
            CredentialRef::Env { var } => Ok(Some(self.policy.read_env(var)?)),
            CredentialRef::File { path } => Ok(Some(self.policy.read_file(path)?)),
        }
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_and_never_stores_cleartext() {
        let dir = tempfile::tempdir().unwrap();
        let k = Keyring::load_or_create(dir.path()).unwrap();
        let sealed = k.seal("hunter2-ü");
        assert!(!sealed.contains("hunter2"));
        assert_eq!(k.open(&sealed).unwrap(), "hunter2-ü");
        assert_ne!(k.seal("x"), k.seal("x"), "nonces are random");
        // The same data dir yields the same key.
        let again = Keyring::load_or_create(dir.path()).unwrap();
        assert_eq!(again.open(&sealed).unwrap(), "hunter2-ü");
        let mode = std::fs::metadata(dir.path().join("secret.key"))
            .unwrap()
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        let other = Keyring::from_hex(&"11".repeat(32)).unwrap();
        assert!(matches!(other.open(&sealed), Err(KeyringError::Unseal)));
        assert!(format!("{k:?}").contains("***"));
    }

    #[test]
    fn resolves_references_within_the_policy() {
        let dir = tempfile::tempdir().unwrap();
        let k = Keyring::from_hex(&"22".repeat(32)).unwrap().with_policy(
            ReferencePolicy::new(&dir.path().join("data")).with_secrets_dir(dir.path()),
        );
        let file = dir.path().join("pw");
        std::fs::write(&file, "from-file\n").unwrap();
        let got = k
            .resolve(&CredentialRef::File {
                path: file.display().to_string(),
            })
            .unwrap();
        assert_eq!(got.as_deref(), Some("from-file"));
        assert!(matches!(
            k.resolve(&CredentialRef::Env {
                var: "SURELY_UNSET_VAR_OF_CAIRN_TESTS".into()
            }),
            Err(KeyringError::Reference(RefError::Unset(_)))
        ));
        assert_eq!(k.resolve(&CredentialRef::None).unwrap(), None);
        // A stored reference to something the policy refuses does not resolve.
        for refused in [
            CredentialRef::Env {
                var: KEY_ENV.into(),
            },
            CredentialRef::File {
                path: "/etc/passwd".into(),
            },
        ] {
            let err = k.resolve(&refused).unwrap_err().to_string();
            assert!(err.contains("--password-stdin"), "{err}");
        }
        let plain = Keyring::from_hex(&"22".repeat(32)).unwrap();
        assert!(plain
            .resolve(&CredentialRef::File {
                path: file.display().to_string()
            })
            .is_err());
    }
}
