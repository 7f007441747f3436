//! MariaDB/MySQL fixtures: a server handle, throw-away databases and users (dropped on
//! drop), the awkward data set and the fingerprint, all through the `mariadb` client.

use crate::env::{host_port, servers};
use crate::fingerprint::Fingerprint;
use crate::util::{run, run_ok, unique};
use std::process::Command;
use std::time::Duration;

const CLIENT_LIMIT: Duration = Duration::from_secs(300);

/// Unicode names, blobs with every byte, generated columns, JSON, triggers, routines,
/// an event, a view, InnoDB and MyISAM tables.
pub const AWKWARD_SQL: &str = include_str!("../fixtures/mysql_awkward.sql");

/// Databases every server has and no test owns.
const SYSTEM_DBS: &[&str] = &["information_schema", "mysql", "performance_schema", "sys"];

/// One MariaDB server reachable over TCP as a user without a password.
#[derive(Debug, Clone)]
pub struct My {
    pub host: String,
    pub port: u16,
    pub user: String,
}

impl My {
    /// The shared server (`CAIRN_TEST_MYSQL`).
    pub fn shared() -> My {
        let hp = host_port(&servers().mysql, 3306, "root");
        My {
            host: hp.host,
            port: hp.port,
            user: hp.user,
        }
    }

    /// `mysql://user@host:port/db`, or the whole-server URL for `None`.
    pub fn url(&self, db: Option<&str>) -> String {
        self.url_as(&self.user, db)
    }

    pub fn url_as(&self, user: &str, db: Option<&str>) -> String {
        format!(
            "mysql://{user}@{}:{}/{}",
            self.host,
            self.port,
            db.unwrap_or("")
        )
    }

    fn command(&self, db: Option<&str>) -> Command {
        let mut cmd = Command::new("mariadb");
        cmd.args([
            "--no-defaults",
            "--protocol=TCP",
            "--default-character-set=utf8mb4",
        ])
        .args(["-N", "-B"])
        .arg("-h")
        .arg(&self.host)
        .arg("-P")
        .arg(self.port.to_string())
        .arg("-u")
        .arg(&self.user)
        .env_remove("MYSQL_PWD");
        if let Some(db) = db {
            cmd.arg(db);
        }
        cmd
    }

    /// Runs a script in `db` (or without a default database); returns its output.
    pub fn sql(&self, db: Option<&str>, sql: &str) -> String {
        run_ok(self.command(db), Some(sql.as_bytes()), CLIENT_LIMIT)
            .trim_end()
            .to_string()
    }

    pub fn try_sql(&self, db: Option<&str>, sql: &str) -> (i32, String) {
        let out = run(self.command(db), Some(sql.as_bytes()), CLIENT_LIMIT);
        (out.code, out.stderr)
    }

    /// A new empty database `cairn_it_<random>`, dropped when the guard drops.
    pub fn create_db(&self) -> MyDb {
        let name = unique("cairn_it_");
        self.sql(
            None,
            &format!("CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"),
        );
        MyDb {
            my: self.clone(),
            name,
        }
    }

    /// A user `cairn_it_<random>` with `password`, allowed everything a dump and a restore
    /// of `db` need; dropped when the guard drops.
    pub fn create_user(&self, db: &str, password: &str) -> MyUser {
        let name = unique("cairn_it_");
        let pw = password.replace('\\', "\\\\").replace('\'', "\\'");
        // A restore loads into staging databases `<db>_cairn_restore_…` first.
        let staging = format!("{}\\_cairn\\_restore\\_%", db.replace('_', "\\_"));
        let mut sql = String::new();
        for host in ["%", "localhost", "127.0.0.1"] {
            sql.push_str(&format!(
                "CREATE USER '{name}'@'{host}' IDENTIFIED BY '{pw}';\n\
                 GRANT ALL ON `{db}`.* TO '{name}'@'{host}';\n\
                 GRANT ALL ON `{staging}`.* TO '{name}'@'{host}';\n\
                 GRANT PROCESS, RELOAD, SLAVE MONITOR, BINLOG MONITOR ON *.* TO '{name}'@'{host}';\n"
            ));
        }
        self.sql(None, &sql);
        MyUser {
            my: self.clone(),
            name,
        }
    }

    /// User databases (not the system ones).
    pub fn databases(&self) -> Vec<String> {
        self.sql(None, "SHOW DATABASES")
            .lines()
            .filter(|d| !SYSTEM_DBS.contains(d))
            .map(str::to_string)
            .collect()
    }

    /// Users and databases of a whole server, and every user database's fingerprint.
    pub fn server_fingerprint(&self) -> Fingerprint {
        let mut fp = Fingerprint::default();
        fp.insert(
            "users",
            self.sql(None, "SELECT User, Host FROM mysql.user ORDER BY 1, 2"),
        );
        fp.insert("databases", self.databases().join("\n"));
        for db in self.databases() {
            for (k, v) in fingerprint(self, &db).0 {
                fp.insert(format!("{db}/{k}"), v);
            }
        }
        fp
    }
}

/// A database this test created; dropped on drop.
#[derive(Debug)]
pub struct MyDb {
    pub my: My,
    pub name: String,
}

impl MyDb {
    pub fn url(&self) -> String {
        self.my.url(Some(&self.name))
    }
    pub fn sql(&self, sql: &str) -> String {
        self.my.sql(Some(&self.name), sql)
    }
    pub fn load_awkward(&self) {
        self.sql(AWKWARD_SQL);
    }
    pub fn fingerprint(&self) -> Fingerprint {
        fingerprint(&self.my, &self.name)
    }
    /// Changes made after a backup that a restore must undo.
    pub fn mutate(&self) {
        self.sql(
            "DROP TABLE `child ☃`;\n\
             INSERT INTO `tâble ☃` (`naïve column`) VALUES ('added after the backup');\n\
             DELETE FROM plain_parent WHERE id > 40;\n\
             DROP PROCEDURE `pröc`;\n\
             CREATE TABLE added_after_backup (id INT PRIMARY KEY);\n\
             INSERT INTO added_after_backup VALUES (1), (2);",
        );
    }
}

impl Drop for MyDb {
    fn drop(&mut self) {
        let _ = self
            .my
            .try_sql(None, &format!("DROP DATABASE IF EXISTS `{}`", self.name));
    }
}

/// A user this test created; dropped on drop.
#[derive(Debug)]
pub struct MyUser {
    pub my: My,
    pub name: String,
}

impl Drop for MyUser {
    fn drop(&mut self) {
        let sql: String = ["%", "localhost", "127.0.0.1"]
            .iter()
            .map(|h| format!("DROP USER IF EXISTS '{}'@'{h}';\n", self.name))
            .collect();
        let _ = self.my.try_sql(None, &sql);
    }
}

/// Schema objects (information_schema) and contents (ordered row md5s) of one database.
pub fn fingerprint(my: &My, db: &str) -> Fingerprint {
    let q = |sql: &str| my.sql(Some(db), sql);
    let mut fp = Fingerprint::default();
    fp.insert("tables", q(
        "SELECT TABLE_NAME, TABLE_TYPE, ENGINE, TABLE_COLLATION FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1"));
    fp.insert("columns", q(
        "SELECT TABLE_NAME, ORDINAL_POSITION, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, \
         EXTRA, GENERATION_EXPRESSION, CHARACTER_SET_NAME, COLLATION_NAME, COLUMN_KEY \
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1, 2"));
    fp.insert(
        "indexes",
        q(
            "SELECT TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME, NON_UNIQUE \
         FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1, 2, 3",
        ),
    );
    fp.insert(
        "foreign_keys",
        q(
            "SELECT CONSTRAINT_NAME, TABLE_NAME, REFERENCED_TABLE_NAME, UPDATE_RULE, DELETE_RULE \
         FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() \
         ORDER BY 1",
        ),
    );
    fp.insert(
        "routines",
        q(
            "SELECT ROUTINE_NAME, ROUTINE_TYPE, DTD_IDENTIFIER, MD5(ROUTINE_DEFINITION), \
         IS_DETERMINISTIC, SECURITY_TYPE, DEFINER FROM information_schema.ROUTINES \
         WHERE ROUTINE_SCHEMA = DATABASE() ORDER BY 1, 2",
        ),
    );
    fp.insert(
        "triggers",
        q(
            "SELECT TRIGGER_NAME, EVENT_MANIPULATION, EVENT_OBJECT_TABLE, ACTION_TIMING, \
         MD5(ACTION_STATEMENT), DEFINER FROM information_schema.TRIGGERS \
         WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY 1",
        ),
    );
    fp.insert("events", q(
        "SELECT EVENT_NAME, MD5(EVENT_DEFINITION), INTERVAL_VALUE, INTERVAL_FIELD, STARTS, STATUS, \
         DEFINER FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE() ORDER BY 1"));
    fp.insert(
        "views",
        q(
            // Definitions qualify tables with the database's name; a copy in another
            // database is the same view.
            "SELECT TABLE_NAME, MD5(REPLACE(VIEW_DEFINITION, CONCAT('`', DATABASE(), '`.'), '')), \
             CHECK_OPTION, SECURITY_TYPE, DEFINER \
             FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1",
        ),
    );
    let tables = q("SELECT TABLE_NAME FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1");
    for table in tables.lines().filter(|l| !l.is_empty()) {
        let create = q(&format!("SHOW CREATE TABLE `{table}`"));
        fp.insert(format!("create {table}"), create);
        let columns = q(&format!(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{table}' ORDER BY ORDINAL_POSITION"
        ));
        let parts: Vec<String> = columns
            .lines()
            .map(|c| format!("IFNULL(HEX(CAST(`{c}` AS BINARY)), 'NULL')"))
            .collect();
        let rows = q(&format!(
            "SET SESSION group_concat_max_len = 1073741824;\n\
             SELECT CONCAT(COUNT(*), ' ', IFNULL(MD5(GROUP_CONCAT(h ORDER BY h SEPARATOR ',')), '-')) \
             FROM (SELECT MD5(CONCAT_WS('|', {})) AS h FROM `{table}`) x",
            parts.join(", ")));
        fp.insert(format!("rows {table}"), rows);
    }
    fp
}
