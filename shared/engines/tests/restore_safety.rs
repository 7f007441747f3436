//! A restore that cannot finish does not start, and one that fails leaves the target as
//! it was: privileges are checked (or fail in the staging copy) before the target is
//! touched, and the messages name the grant that is missing.

mod common;

use common::mysql::{self, lit, q};
use common::pg;
use common::{assert_same, conn, dump_to_vec, manifest, restore_from};
use std::process::Command;

/// Staging databases (`<db>_cairn_restore_<job>[_old]`) left on the shared MariaDB.
async fn mysql_staging(db: &str) -> Vec<String> {
    let mut root = mysql::connect(mysql::SHARED_PORT, None).await;
    sqlx::query_scalar("SELECT CAST(SCHEMA_NAME AS CHAR) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE CONCAT(REPLACE(?, '_', '\\_'), '\\_cairn\\_restore\\_%')")
        .bind(db)
        .fetch_all(&mut root)
        .await
        .unwrap()
}

#[tokio::test]
async fn mysql_a_definer_the_user_may_not_set_fails_before_the_target_is_touched() {
    let db = mysql::SharedDb::create().await;
    let user = common::unique("cairn_t_own");
    let password = "own-pw-1";
    let _cleanup = DropMyUser(user.clone());
    let mut root = mysql::connect(mysql::SHARED_PORT, None).await;
    let d = q(&db.name);
    // Objects created by root carry root as their DEFINER.
    mysql::exec(
        &mut db.connect().await,
        &[
            "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))",
            "CREATE TABLE log (id INT)",
            "INSERT INTO t VALUES (1, 'one'), (2, 'two')",
            "CREATE VIEW v AS SELECT id FROM t",
            "CREATE TRIGGER trg AFTER INSERT ON t FOR EACH ROW INSERT INTO log VALUES (NEW.id)",
        ],
    )
    .await;
    let as_root = conn(&db.url(), None);
    let info = cairn_engines::preflight(&as_root).await.unwrap();
    let data = dump_to_vec(&as_root).await.unwrap();
    let m = manifest(&as_root.endpoint, &info, data.len());

    // The owner: everything on its database and on the staging databases, not SET USER.
    let staging_pattern = format!("{}\\_cairn\\_restore\\_%", db.name.replace('_', "\\_"));
    mysql::exec(
        &mut root,
        &[
            &format!(
                "CREATE USER {}@'%' IDENTIFIED BY {}",
                lit(&user),
                lit(password)
            ),
            &format!("GRANT ALL ON {d}.* TO {}@'%'", lit(&user)),
            &format!(
                "GRANT ALL ON {}.* TO {}@'%'",
                q(&staging_pattern),
                lit(&user)
            ),
            &format!("INSERT INTO {d}.t VALUES (3, 'after the backup')"),
            &format!("CREATE TABLE {d}.newer (x INT)"),
        ],
    )
    .await;
    let before = mysql::fingerprint(&mut root, &db.name).await;
    let owner = conn(
        &format!(
            "mysql://{user}@127.0.0.1:{}/{}",
            mysql::SHARED_PORT,
            db.name
        ),
        Some(password),
    );
    let err = restore_from(&owner, &m, &data, None).await.unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.retryable),
        ("permission_denied", false),
        "{err:?}"
    );
    for needle in [
        format!("GRANT SET USER ON *.* TO '{user}'@'%'"),
        "DEFINER".to_string(),
        "was not changed".to_string(),
    ] {
        assert!(
            err.message.contains(&needle),
            "{needle:?} in {}",
            err.message
        );
    }
    assert!(!err.message.contains(password));
    assert_same(
        &before,
        &mysql::fingerprint(&mut root, &db.name).await,
        "the target after the refused restore",
    );
    assert_eq!(mysql_staging(&db.name).await, Vec::<String>::new());

    // With the grant, the same user restores it, atomically swapped in.
    mysql::exec(
        &mut root,
        &[&format!("GRANT SET USER ON *.* TO {}@'%'", lit(&user))],
    )
    .await;
    restore_from(&owner, &m, &data, None).await.unwrap();
    let ids: Vec<i32> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT id FROM {d}.v ORDER BY id"
    )))
    .fetch_all(&mut root)
    .await
    .unwrap();
    assert_eq!(ids, vec![1, 2]);
    let newer: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'newer'",
    )
    .bind(&db.name)
    .fetch_one(&mut root)
    .await
    .unwrap();
    assert_eq!(newer, 0, "a table created after the backup is gone");
    mysql::exec(&mut root, &[&format!("INSERT INTO {d}.t VALUES (9, 'x')")]).await;
    let logged: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM {d}.log WHERE id = 9"
    )))
    .fetch_one(&mut root)
    .await
    .unwrap();
    assert_eq!(logged, 1, "the trigger came back with its table");
    assert_eq!(mysql_staging(&db.name).await, Vec::<String>::new());
}

#[tokio::test]
async fn mysql_an_unreadable_artifact_leaves_the_target_as_it_was() {
    let db = mysql::SharedDb::create().await;
    let mut c = db.connect().await;
    mysql::exec(&mut c, mysql::AWKWARD).await;
    let target = conn(&db.url(), None);
    let info = cairn_engines::preflight(&target).await.unwrap();
    let data = dump_to_vec(&target).await.unwrap();
    mysql::exec(&mut c, mysql::CHANGES).await;
    let before = mysql::fingerprint(&mut c, &db.name).await;
    let m = manifest(&target.endpoint, &info, data.len());
    // Everything but a checksum error at the very end.
    let err = restore_from(&target, &m, &data, Some(data.len()))
        .await
        .unwrap_err();
    assert_eq!(err.code, "checksum_mismatch");
    assert!(err.message.contains("was not changed"), "{}", err.message);
    assert_same(
        &before,
        &mysql::fingerprint(&mut c, &db.name).await,
        "after a restore whose artifact failed its checksum",
    );
    assert_eq!(mysql_staging(&db.name).await, Vec::<String>::new());
}

#[tokio::test]
async fn pg_a_role_without_createdb_is_refused_with_the_grant_to_give() {
    let db = pg::SharedDb::create().await;
    let role = common::unique("cairn_t_role");
    let _cleanup = DropPgRole(role.clone(), db.name.clone());
    let mut c = db.connect().await;
    pg::exec(
        &mut c,
        &format!(
            "CREATE TABLE t (x int); INSERT INTO t VALUES (1); CREATE ROLE {r} LOGIN; \
             ALTER DATABASE {d} OWNER TO {r}; ALTER TABLE t OWNER TO {r};",
            r = pg::q(&role),
            d = pg::q(&db.name)
        ),
    )
    .await;
    let as_role = conn(
        &format!(
            "postgres://{role}@127.0.0.1:{}/{}",
            pg::SHARED_PORT,
            db.name
        ),
        None,
    );
    let info = cairn_engines::preflight(&as_role).await.unwrap();
    let data = dump_to_vec(&as_role).await.unwrap();
    let m = manifest(&as_role.endpoint, &info, data.len());
    pg::exec(&mut c, "INSERT INTO t VALUES (2)").await;
    let before = pg::fingerprint(&mut c).await;

    let err = restore_from(&as_role, &m, &data, None).await.unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.retryable),
        ("permission_denied", false),
        "{err:?}"
    );
    assert!(
        err.message
            .contains(&format!("ALTER ROLE {} CREATEDB", pg::q(&role)))
            && err.message.contains("fresh database"),
        "{}",
        err.message
    );
    assert!(!err.message.contains("line"), "{}", err.message);
    assert_same(&before, &pg::fingerprint(&mut c).await, "after the refusal");
    drop(c);

    // With CREATEDB, the owner restores its database.
    let mut admin = pg::connect(pg::SHARED_PORT, None, "postgres").await;
    pg::exec(&mut admin, &format!("ALTER ROLE {} CREATEDB", pg::q(&role))).await;
    restore_from(&as_role, &m, &data, None).await.unwrap();
    let mut c = db.connect().await;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM t")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn pg_a_role_that_cannot_drop_the_target_is_refused_before_loading() {
    let db = pg::SharedDb::create().await;
    let role = common::unique("cairn_t_role");
    let _cleanup = DropPgRole(role.clone(), db.name.clone());
    let mut c = db.connect().await;
    pg::exec(
        &mut c,
        &format!(
            "CREATE TABLE t (x int); INSERT INTO t VALUES (1); CREATE ROLE {} LOGIN CREATEDB;",
            pg::q(&role)
        ),
    )
    .await;
    let target = conn(&db.url(), None);
    let info = cairn_engines::preflight(&target).await.unwrap();
    let data = dump_to_vec(&target).await.unwrap();
    let m = manifest(&target.endpoint, &info, data.len());
    let before = pg::fingerprint(&mut c).await;
    let as_role = conn(
        &format!(
            "postgres://{role}@127.0.0.1:{}/{}",
            pg::SHARED_PORT,
            db.name
        ),
        None,
    );
    let err = restore_from(&as_role, &m, &data, None).await.unwrap_err();
    assert_eq!(err.code, "permission_denied", "{err:?}");
    assert!(
        err.message.contains("OWNER TO") && err.message.contains("nothing was changed"),
        "{}",
        err.message
    );
    assert_same(&before, &pg::fingerprint(&mut c).await, "after the refusal");
}

struct DropMyUser(String);

impl Drop for DropMyUser {
    fn drop(&mut self) {
        let _ = Command::new("mariadb")
            .args(["-h", "127.0.0.1", "-u", "root", "-e"])
            .arg(format!("DROP USER IF EXISTS {}@'%'", lit(&self.0)))
            .status();
    }
}

/// Drops the role after the test database (which it may own) is gone.
struct DropPgRole(String, String);

impl Drop for DropPgRole {
    fn drop(&mut self) {
        pg::drop_shared_database(&self.1);
        let _ = Command::new("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-c"])
            .arg(format!("DROP ROLE IF EXISTS {}", pg::q(&self.0)))
            .status();
    }
}
