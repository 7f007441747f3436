//! age encryption in the pipeline: what a storage that encrypts stores is an age file that
//! decrypts (with the storage's identity) and decompresses to the input; the manifest is
//! told so; a storage without an identity, or with another one, refuses to decrypt.

mod common;

use age::secrecy::ExposeSecret;
use bytes::Bytes;
use cairn_domain::storage::StorageEncryption;
use cairn_domain::{StorageConfig, StorageKind, StorageName};
use cairn_keyring::{Keyring, ReferencePolicy};
use cairn_storage::crypto::CryptoError;
use cairn_storage::{pipeline, ArtifactStore, StorageError};
use common::*;
use std::sync::Arc;

struct Setup {
    _dir: tempfile::TempDir,
    keyring: Keyring,
    root: std::path::PathBuf,
    secrets: std::path::PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    let keyring = Keyring::from_hex(&"33".repeat(32))
        .unwrap()
        .with_policy(ReferencePolicy::default().with_secrets_dir(&secrets));
    Setup {
        root: dir.path().join("storage"),
        _dir: dir,
        keyring,
        secrets,
    }
}

/// A key pair: identity file written into the secrets folder, public key returned.
fn key(s: &Setup, name: &str) -> (String, String) {
    let identity = age::x25519::Identity::generate();
    let path = s.secrets.join(name);
    std::fs::write(&path, identity.to_string().expose_secret()).unwrap();
    (path.display().to_string(), identity.to_public().to_string())
}

fn store(s: &Setup, name: &str, encryption: StorageEncryption) -> ArtifactStore {
    let config = StorageConfig {
        name: StorageName::parse(name).unwrap(),
        kind: StorageKind::Local {
            path: s.root.display().to_string(),
        },
        created_at: chrono::Utc::now(),
        encryption: Some(encryption),
    };
    ArtifactStore::open(&config, &s.keyring).unwrap()
}

#[tokio::test]
async fn encrypted_artifacts_round_trip_and_need_the_right_identity() {
    let s = setup();
    let (identity, public) = key(&s, "mine.key");
    let (other_identity, _) = key(&s, "other.key");
    let full = store(
        &s,
        "enc",
        StorageEncryption::Age {
            recipients: vec![public.clone()],
            identity_file: Some(identity),
            passphrase: None,
        },
    );
    let target = target("orders");
    let data = Bytes::from(compressible(3 * 1024 * 1024, 7));
    let mut manifest = manifest_for(
        &target,
        chrono::Utc::now(),
        &pipeline::Stored {
            size_bytes: 0,
            stored_bytes: 0,
            sha256: String::new(),
            encryption: None,
        },
    );
    let upload = compress_into(
        &full,
        &target,
        &manifest.id,
        chunks_of(&data),
        Arc::new(pipeline::NoProgress),
    )
    .await;
    let stored = upload.finish().await.unwrap();
    assert_eq!(stored.encryption.as_deref(), Some("age"));
    manifest.size_bytes = stored.size_bytes;
    manifest.stored_bytes = stored.stored_bytes;
    manifest.sha256 = stored.sha256;
    manifest.encryption = stored.encryption;
    full.write_manifest(&manifest).await.unwrap();
    full.verify(&manifest).await.unwrap();

    let raw = std::fs::read(artifact_file(&s.root, &manifest)).unwrap();
    assert!(raw.starts_with(b"age-encryption.org/v1\n"));

    let decryption = full.decryption(&manifest).await.unwrap();
    assert!(decryption.is_some());
    let stream = full.read_verified(&manifest).await.unwrap();
    let mut rx =
        pipeline::decrypt_and_decompress(stream, decryption, Arc::new(pipeline::NoProgress));
    let mut out = Vec::new();
    while let Some(item) = rx.recv().await {
        out.extend_from_slice(&item.unwrap());
    }
    assert!(out == data[..], "decrypted bytes differ from the input");

    // Recipients only: can write, cannot read, and says what is missing.
    let write_only = store(
        &s,
        "enc",
        StorageEncryption::Age {
            recipients: vec![public.clone()],
            identity_file: None,
            passphrase: None,
        },
    );
    let err = write_only.decryption(&manifest).await.unwrap_err();
    assert!(
        matches!(err, StorageError::Crypto(CryptoError::NoIdentity { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("--age-identity-file"), "{err}");

    // Another key: refused on the header, before any restore would start.
    let wrong = store(
        &s,
        "enc",
        StorageEncryption::Age {
            recipients: vec![public],
            identity_file: Some(other_identity),
            passphrase: None,
        },
    );
    let err = wrong.decryption(&manifest).await.unwrap_err();
    assert!(
        matches!(err, StorageError::Crypto(CryptoError::WrongIdentity(..))),
        "{err}"
    );
    assert!(!err.to_string().contains("AGE-SECRET-KEY"), "{err}");

    // An identity file outside the secrets folders is not read.
    let outside = store(
        &s,
        "enc",
        StorageEncryption::Age {
            recipients: vec![],
            identity_file: Some("/etc/hostname".into()),
            passphrase: None,
        },
    );
    let err = outside.decryption(&manifest).await.unwrap_err();
    assert!(err.to_string().contains("outside"), "{err}");
}
