//! Authenticated manifests: the key that signs them and the check a restore makes.
//!
//! The signing key is not the secret key itself but derived from it:
//! `signing_key = HMAC-SHA256(secret_key, "cairn manifest signing v1")`, so a MAC never
//! exposes material of the key that seals passwords. A manifest's MAC is
//! `HMAC-SHA256(signing_key, manifest.signed_bytes())` (see `Manifest::signed_bytes` for
//! the exact bytes), and its key id is the first 8 bytes of `sha256(signing_key)` in hex:
//! public, and enough to tell "signed by another cairn" from "changed after signing".

use crate::Keyring;
use cairn_domain::manifest::{ManifestSignature, Trust, SIGNATURE_ALG};
use cairn_domain::Manifest;
use hmac::{KeyInit, Mac};
use sha2_mac::{Digest, Sha256};

type HmacSha256 = hmac::Hmac<Sha256>;

/// The label the signing key is derived with; a new label means new keys.
const SIGNING_LABEL: &[u8] = b"cairn manifest signing v1";

/// The key manifests are signed with. Never printed.
#[derive(Clone)]
pub struct SigningKey {
    key: [u8; 32],
    id: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({}, ***)", self.id)
    }
}

fn mac_with(key: &[u8]) -> HmacSha256 {
    <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length")
}

impl SigningKey {
    fn derive(secret: &[u8; 32]) -> Self {
        let mut mac = mac_with(secret);
        mac.update(SIGNING_LABEL);
        let key: [u8; 32] = mac.finalize().into_bytes().into();
        let digest = Sha256::digest(key);
        Self {
            key,
            id: hex::encode(&digest[..8]),
        }
    }

    /// 16 hex digits naming this key (public).
    pub fn key_id(&self) -> &str {
        &self.id
    }

    fn mac(&self, manifest: &Manifest) -> HmacSha256 {
        let mut mac = mac_with(&self.key);
        mac.update(&manifest.signed_bytes());
        mac
    }

    /// The manifest with its signature set (any earlier one is replaced).
    pub fn sign(&self, mut manifest: Manifest) -> Manifest {
        let tag = self.mac(&manifest).finalize().into_bytes();
        manifest.signature = Some(ManifestSignature {
            alg: SIGNATURE_ALG.to_string(),
            key_id: self.id.clone(),
            mac: hex::encode(tag),
        });
        manifest
    }

    /// Whether this key signed the manifest as it is now.
    pub fn check(&self, manifest: &Manifest) -> Trust {
        let Some(sig) = &manifest.signature else {
            return Trust::Unsigned;
        };
        if sig.key_id != self.id {
            return Trust::Foreign;
        }
        let valid = sig.alg == SIGNATURE_ALG
            && hex::decode(&sig.mac)
                .ok()
                .is_some_and(|tag| self.mac(manifest).verify_slice(&tag).is_ok());
        if valid {
            Trust::Signed
        } else {
            Trust::Tampered
        }
    }
}

impl Keyring {
    /// The manifest signing key derived from this keyring's secret key.
    pub fn signing_key(&self) -> SigningKey {
        SigningKey::derive(&self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        serde_json::from_value(serde_json::json!({
            "format": 1,
            "id": "20260101T000000Z-0a1b2c3d",
            "target": "orders",
            "engine": "postgres",
            "server_version": "15.20",
            "scope": {"kind": "database", "name": "orders"},
            "artifact": "dump.sql.zst",
            "size_bytes": 1234,
            "stored_bytes": 321,
            "sha256": "ab".repeat(32),
            "compression": "zstd",
            "format_name": "pg_dump-plain",
            "job_id": "0a1b2c3d-0000-7000-8000-000000000000",
            "created_at": "2026-01-01T00:00:00Z",
            "duration_seconds": 1.5,
        }))
        .unwrap()
    }

    #[test]
    fn signed_unsigned_foreign_and_tampered() {
        let ours = Keyring::from_hex(&"11".repeat(32)).unwrap().signing_key();
        let theirs = Keyring::from_hex(&"22".repeat(32)).unwrap().signing_key();
        assert_ne!(ours.key_id(), theirs.key_id());
        assert_eq!(ours.key_id().len(), 16);
        assert!(!format!("{ours:?}").contains(&hex::encode(ours.key)));

        let plain = manifest();
        assert_eq!(ours.check(&plain), Trust::Unsigned);
        let signed = ours.sign(plain.clone());
        assert_eq!(ours.check(&signed), Trust::Signed);
        assert_eq!(theirs.check(&signed), Trust::Foreign);
        // Survives being written as JSON and read back.
        let back: Manifest =
            serde_json::from_str(&serde_json::to_string_pretty(&signed).unwrap()).unwrap();
        assert_eq!(ours.check(&back), Trust::Signed);

        let mut changed = signed.clone();
        changed.sha256 = "cd".repeat(32);
        assert_eq!(ours.check(&changed), Trust::Tampered);
        let mut changed = signed.clone();
        changed.size_bytes += 1;
        assert_eq!(ours.check(&changed), Trust::Tampered);
        let mut bad_hex = signed.clone();
        bad_hex.signature.as_mut().unwrap().mac = "zz".into();
        assert_eq!(ours.check(&bad_hex), Trust::Tampered);
        // Re-signing with a foreign key moves it to "foreign", never to "signed".
        assert_eq!(ours.check(&theirs.sign(changed)), Trust::Foreign);
    }

    #[test]
    fn the_signing_key_is_derived_not_the_secret_key() {
        let k = Keyring::from_hex(&"11".repeat(32)).unwrap();
        assert_ne!(k.signing_key().key, k.key);
        assert_eq!(
            k.signing_key().key_id(),
            Keyring::from_hex(&"11".repeat(32))
                .unwrap()
                .signing_key()
                .key_id(),
            "the same secret key always signs the same way"
        );
    }
}
