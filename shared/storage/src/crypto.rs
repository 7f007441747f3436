//! age encryption of artifacts: the stream after zstd goes through age's STREAM writer
//! before it is hashed and uploaded, and back through age's reader before zstd decodes
//! it. Nothing is written to a temporary file; memory stays one age chunk (64 KiB).
//!
//! What a storage holds is public (recipients) or a reference (identity file, passphrase
//! env or file), resolved under the keyring's policy when a backup or restore needs it.
//! Error text names the reference, never its content.

use age::secrecy::SecretString;
use cairn_domain::storage::StorageEncryption;
use cairn_domain::{CredentialRef, Failure, Manifest};
use cairn_keyring::Keyring;
use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

/// The scheme name manifests record.
pub const AGE: &str = "age";

/// Why encryption or decryption cannot be set up. No variant holds a secret.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("age recipient {0:?} is not an X25519 public key (age1…); generate a key pair with `age-keygen -o key.txt` and pass the public key it prints")]
    BadRecipient(String),
    #[error("give either --age-recipient (one or more) or a passphrase (--age-passphrase-env/--age-passphrase-file), not both")]
    RecipientsAndPassphrase,
    #[error("--encrypt age needs --age-recipient KEY (repeatable) or --age-passphrase-env VAR / --age-passphrase-file PATH")]
    NothingToEncryptTo,
    #[error("backup {backup} is encrypted with age, but storage {storage} has no way to decrypt it: add the storage's private key with --age-identity-file PATH (or its passphrase with --age-passphrase-env/--age-passphrase-file) on a storage of the same place, and restore from that")]
    NoIdentity { backup: String, storage: String },
    #[error("backup {0} is encrypted with {1:?}, which this cairn does not know")]
    UnknownScheme(String, String),
    #[error("the age {what} {reference} cannot be used: {error}")]
    Reference {
        what: &'static str,
        reference: String,
        error: String,
    },
    #[error("the age identity file {0} holds no usable identity (expected lines like AGE-SECRET-KEY-1…)")]
    BadIdentityFile(String),
    #[error("backup {0} cannot be decrypted with the storage's identity or passphrase: {1}; check that --age-identity-file names the key the backup was encrypted to")]
    WrongIdentity(String, String),
    #[error("the keyring is needed to resolve the storage's age passphrase")]
    NoKeyring,
}

impl CryptoError {
    pub fn to_failure(&self) -> Failure {
        Failure::permanent("encryption", self.to_string())
    }
}

/// Checks what `cairn storage add --encrypt age …` gave (recipients parse; recipients and
/// passphrase not both; something to encrypt to).
pub fn check_config(encryption: &StorageEncryption) -> Result<(), CryptoError> {
    let StorageEncryption::Age {
        recipients,
        passphrase,
        ..
    } = encryption;
    match (recipients.is_empty(), passphrase.is_some()) {
        (false, true) => return Err(CryptoError::RecipientsAndPassphrase),
        (true, false) => return Err(CryptoError::NothingToEncryptTo),
        _ => {}
    }
    for r in recipients {
        parse_recipient(r)?;
    }
    Ok(())
}

fn parse_recipient(r: &str) -> Result<age::x25519::Recipient, CryptoError> {
    age::x25519::Recipient::from_str(r.trim())
        .map_err(|_| CryptoError::BadRecipient(cairn_domain::text::printable(r)))
}

fn resolve(
    keyring: Option<&Keyring>,
    what: &'static str,
    reference: &CredentialRef,
) -> Result<String, CryptoError> {
    let keyring = keyring.ok_or(CryptoError::NoKeyring)?;
    match keyring.resolve(reference) {
        Ok(Some(value)) => Ok(value),
        Ok(None) => Err(CryptoError::Reference {
            what,
            reference: reference.describe(),
            error: "it is empty".into(),
        }),
        Err(e) => Err(CryptoError::Reference {
            what,
            reference: reference.describe(),
            error: e.to_string(),
        }),
    }
}

/// The encryptor for one artifact.
pub(crate) fn encryptor(
    encryption: &StorageEncryption,
    keyring: Option<&Keyring>,
) -> Result<age::Encryptor, CryptoError> {
    check_config(encryption)?;
    let StorageEncryption::Age {
        recipients,
        passphrase,
        ..
    } = encryption;
    if let Some(reference) = passphrase {
        let secret = resolve(keyring, "passphrase", reference)?;
        return Ok(age::Encryptor::with_user_passphrase(SecretString::from(
            secret,
        )));
    }
    let parsed = recipients
        .iter()
        .map(|r| parse_recipient(r))
        .collect::<Result<Vec<_>, _>>()?;
    age::Encryptor::with_recipients(parsed.iter().map(|r| r as &dyn age::Recipient))
        .map_err(|_| CryptoError::NothingToEncryptTo)
}

/// What decrypts a storage's artifacts: identities from its identity file, or its
/// passphrase. Never printed.
pub struct Decryption {
    identities: Vec<Box<dyn age::Identity + Send + Sync>>,
}

impl fmt::Debug for Decryption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Decryption({} identities, ***)", self.identities.len())
    }
}

impl Decryption {
    /// What the storage has to decrypt `manifest`'s artifact: `None` when it is not
    /// encrypted; an error that says what is missing when nothing to decrypt is configured.
    pub(crate) fn for_manifest(
        manifest: &Manifest,
        storage: &str,
        encryption: Option<&StorageEncryption>,
        keyring: Option<&Keyring>,
    ) -> Result<Option<Self>, CryptoError> {
        match manifest.encryption.as_deref() {
            None => return Ok(None),
            Some(AGE) => {}
            Some(other) => {
                return Err(CryptoError::UnknownScheme(
                    manifest.id.to_string(),
                    cairn_domain::text::printable(other),
                ))
            }
        }
        let no_identity = || CryptoError::NoIdentity {
            backup: manifest.id.to_string(),
            storage: storage.to_string(),
        };
        let Some(StorageEncryption::Age {
            identity_file,
            passphrase,
            ..
        }) = encryption
        else {
            return Err(no_identity());
        };
        let mut identities: Vec<Box<dyn age::Identity + Send + Sync>> = Vec::new();
        if let Some(path) = identity_file {
            let reference = CredentialRef::File { path: path.clone() };
            let text = resolve(keyring, "identity file", &reference)?;
            let file = age::IdentityFile::from_buffer(text.as_bytes())
                .map_err(|_| CryptoError::BadIdentityFile(path.clone()))?;
            let found = file
                .into_identities()
                .map_err(|_| CryptoError::BadIdentityFile(path.clone()))?;
            if found.is_empty() {
                return Err(CryptoError::BadIdentityFile(path.clone()));
            }
            identities.extend(found);
        }
        if let Some(reference) = passphrase {
            let secret = resolve(keyring, "passphrase", reference)?;
            identities.push(Box::new(age::scrypt::Identity::new(SecretString::from(
                secret,
            ))));
        }
        if identities.is_empty() {
            return Err(no_identity());
        }
        Ok(Some(Self { identities }))
    }

    /// Checks that these identities open `header` (the artifact's first bytes, holding
    /// the whole age header), without reading further.
    pub(crate) fn check_header(&self, backup: &str, header: &[u8]) -> Result<(), CryptoError> {
        self.reader(header)
            .map(|_| ())
            .map_err(|e| CryptoError::WrongIdentity(backup.to_string(), e.to_string()))
    }

    /// A reader of the plaintext of `input`.
    pub(crate) fn reader<R: Read>(&self, input: R) -> io::Result<impl Read> {
        let decryptor = age::Decryptor::new(input).map_err(io::Error::other)?;
        decryptor
            .decrypt(
                self.identities
                    .iter()
                    .map(|i| i.as_ref() as &dyn age::Identity),
            )
            .map_err(io::Error::other)
    }
}

/// The writer under the zstd encoder: the chunk sender as it is, or age around it.
pub(crate) enum Sealer<W: Write> {
    Plain(W),
    Age(age::stream::StreamWriter<W>),
}

impl<W: Write> Sealer<W> {
    pub(crate) fn new(inner: W, encryptor: Option<age::Encryptor>) -> io::Result<Self> {
        Ok(match encryptor {
            None => Sealer::Plain(inner),
            Some(e) => Sealer::Age(e.wrap_output(inner)?),
        })
    }

    /// Writes age's last chunk (if any) and gives the inner writer back.
    pub(crate) fn finish(self) -> io::Result<W> {
        match self {
            Sealer::Plain(w) => Ok(w),
            Sealer::Age(w) => w.finish(),
        }
    }
}

impl<W: Write> Write for Sealer<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sealer::Plain(w) => w.write(buf),
            Sealer::Age(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sealer::Plain(w) => w.flush(),
            Sealer::Age(w) => w.flush(),
        }
    }
}
