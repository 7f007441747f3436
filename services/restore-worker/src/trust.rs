//! Whether a restore may use a backup: only a manifest signed by this cairn's key is
//! trusted as it is. Unsigned and foreign backups need the operator's `--trust-unsigned`;
//! a manifest that names this cairn's key but whose MAC fails was changed after it was
//! written, and is refused whatever the operator said.

use cairn_domain::manifest::Trust;
use cairn_domain::{BackupId, Failure, Manifest, TargetName};
use cairn_keyring::Keyring;

/// Ok when the restore may go on; the refusal names what is wrong and what overrides it.
/// `source`/`backup` are the folder the manifest was read from: a signed manifest copied
/// into another folder is refused too.
pub fn check(
    manifest: &Manifest,
    source: &TargetName,
    backup: &BackupId,
    keyring: &Keyring,
    trust_unsigned: bool,
) -> Result<(), Failure> {
    if manifest.id != *backup || manifest.target != *source {
        return Err(Failure::permanent(
            "backup_mismatch",
            format!("the manifest in folder {source}/{backup} describes backup {} of {}: it was moved or copied there; restore it from its own folder", manifest.id, manifest.target),
        ));
    }
    let key = keyring.signing_key();
    let trust = key.check(manifest);
    let id = &manifest.id;
    let override_hint = "if you have checked where this backup comes from, restore it with `cairn restore … --trust-unsigned`";
    match trust {
        Trust::Signed => Ok(()),
        Trust::Unsigned | Trust::Foreign if trust_unsigned => {
            tracing::warn!(backup = %id, %trust, "restoring a backup this cairn did not sign (--trust-unsigned)");
            Ok(())
        }
        Trust::Unsigned => Err(Failure::permanent(
            "backup_unsigned",
            format!("backup {id} is unsigned: its manifest carries no signature (written by hand, or by a cairn that did not sign backups), so nothing proves this cairn made it; {override_hint}"),
        )),
        Trust::Foreign => {
            let theirs = manifest
                .signature
                .as_ref()
                .map(|s| s.key_id.as_str())
                .unwrap_or_default();
            Err(Failure::permanent(
                "backup_foreign",
                format!("backup {id} is foreign: it was signed with key {theirs}, not this cairn's key {}; start cairn with the secret key that made it (its data dir's secret.key or CAIRN_SECRET_KEY), or {override_hint}", key.key_id()),
            ))
        }
        Trust::Tampered => Err(Failure::permanent(
            "backup_tampered",
            format!("backup {id} was changed after this cairn signed it (its manifest does not match its signature); it is refused, also with --trust-unsigned: restore another backup"),
        )),
    }
}
