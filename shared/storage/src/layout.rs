//! Where things live: `<target>/<backup id>/<artifact>` and `<target>/<backup id>/manifest.json`.

use crate::StorageError;
use cairn_domain::{BackupId, TargetName};
use object_store::path::Path;

/// The manifest's file name inside a backup folder.
pub const MANIFEST_FILE: &str = "manifest.json";

/// The object prefix of one backup folder (`orders-db/20261126T030000Z-1a2b3c4d`).
pub fn backup_prefix(target: &TargetName, folder: &str) -> String {
    format!("{}/{}", target.as_str(), folder)
}

/// Refuses anything that is not one plain path segment. Besides traversal (`..`, `/`), this
/// keeps out names ending in `#<digits>`, which the local backend reserves for staging files.
pub(crate) fn check_segment(name: &str) -> Result<(), StorageError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
    if name.is_empty() || name.len() > 255 || name.starts_with('.') || !name.chars().all(ok_char) {
        return Err(StorageError::InvalidName(name.to_string()));
    }
    Ok(())
}

pub(crate) fn target_path(target: &TargetName) -> Path {
    Path::from(target.as_str())
}

pub(crate) fn folder_path(target: &TargetName, folder: &str) -> Result<Path, StorageError> {
    check_segment(folder)?;
    Ok(Path::from(backup_prefix(target, folder)))
}

pub(crate) fn file_path(
    target: &TargetName,
    backup: &BackupId,
    file: &str,
) -> Result<Path, StorageError> {
    check_segment(file)?;
    Ok(folder_path(target, backup.as_str())?.join(file))
}

pub(crate) fn manifest_path(target: &TargetName, backup: &BackupId) -> Result<Path, StorageError> {
    file_path(target, backup, MANIFEST_FILE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_plain_names() {
        for good in [
            "dump.sql.zst",
            "20261126T030000Z-1a2b3c4d",
            "manifest.json",
            "a_b-c",
        ] {
            assert!(check_segment(good).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", ".hidden", "a/b", "x#1", "dump zst", "é"] {
            assert!(check_segment(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn paths_follow_the_layout() {
        let target = TargetName::parse("orders-db").unwrap();
        let id = BackupId::parse("20261126T030000Z-1a2b3c4d").unwrap();
        assert_eq!(
            backup_prefix(&target, id.as_str()),
            "orders-db/20261126T030000Z-1a2b3c4d"
        );
        assert_eq!(
            manifest_path(&target, &id).unwrap().as_ref(),
            "orders-db/20261126T030000Z-1a2b3c4d/manifest.json"
        );
        assert_eq!(
            file_path(&target, &id, "dump.sql.zst").unwrap().as_ref(),
            "orders-db/20261126T030000Z-1a2b3c4d/dump.sql.zst"
        );
    }
}
