//! Reading one backup's manifest: the folder's `manifest.json` is untrusted (anyone who can
//! write to the storage can place one), so a manifest that names another backup or another
//! target, or that does not parse, is refused as `BadManifest` naming the folder.

mod common;

use bytes::Bytes;
use cairn_domain::BackupId;
use cairn_storage::StorageError;
use chrono::Utc;
use common::*;

#[tokio::test]
async fn a_manifest_must_describe_the_folder_it_is_in() {
    let t = test_store();
    let orders = target("orders-db");
    let real = store_backup(&t.store, &orders, Utc::now(), Bytes::from_static(b"data")).await;
    assert_eq!(t.store.manifest(&orders, &real.id).await.unwrap(), real);

    let folder_of = |target: &str, id: &BackupId| t.root.join(target).join(id.as_str());
    let copy_into = |target: &str, id: &BackupId| {
        let dir = folder_of(target, id);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(
            folder_of("orders-db", &real.id).join("manifest.json"),
            dir.join("manifest.json"),
        )
        .unwrap();
    };

    // The same manifest copied into another backup's folder of the same target…
    let other_id = BackupId::parse("20261126T030000Z-0badf00d").unwrap();
    copy_into("orders-db", &other_id);
    // …and into a folder of another target.
    let users = target("users-db");
    copy_into("users-db", &real.id);
    for (t_name, id) in [(&orders, &other_id), (&users, &real.id)] {
        let err = t.store.manifest(t_name, id).await.unwrap_err();
        match &err {
            StorageError::BadManifest(folder, why) => {
                assert_eq!(folder, &format!("{t_name}/{id}"));
                assert!(why.contains(real.id.as_str()), "{why}");
            }
            other => panic!("{t_name}/{id}: {other:?}"),
        }
    }
    assert!(t.store.list_backups(&users).await.unwrap().is_empty());
    assert_eq!(t.store.list_backups(&orders).await.unwrap(), vec![real]);
}
