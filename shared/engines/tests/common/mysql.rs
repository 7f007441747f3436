//! MariaDB for tests: uniquely named databases on the shared server (dropped on drop),
//! private `mariadbd` servers on free ports (killed on drop) and fingerprints.

use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::{AssertSqlSafe, ConnectOptions, Executor};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SHARED_PORT: u16 = 3306;

pub async fn try_connect(
    port: u16,
    user: &str,
    password: Option<&str>,
    db: Option<&str>,
) -> Result<MySqlConnection, sqlx::Error> {
    let mut o = MySqlConnectOptions::new()
        .host("127.0.0.1")
        .port(port)
        .username(user);
    if let Some(p) = password {
        o = o.password(p);
    }
    if let Some(d) = db {
        o = o.database(d);
    }
    o.connect().await
}

pub async fn connect(port: u16, db: Option<&str>) -> MySqlConnection {
    try_connect(port, "root", None, db)
        .await
        .unwrap_or_else(|e| panic!("connect {port}: {e}"))
}

/// Runs statements one by one (text protocol).
pub async fn exec(c: &mut MySqlConnection, statements: &[&str]) {
    for sql in statements {
        c.execute(sqlx::raw_sql(AssertSqlSafe(sql.to_string())))
            .await
            .unwrap_or_else(|e| panic!("{e}\nin: {sql}"));
    }
}

pub fn q(ident: &str) -> String {
    format!("`{}`", ident.replace('`', "``"))
}

/// A string literal for MariaDB.
pub fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// A database on the shared server that exists for one test.
pub struct SharedDb {
    pub name: String,
}

impl SharedDb {
    pub async fn create() -> Self {
        let name = super::unique("cairn_t");
        let mut c = connect(SHARED_PORT, None).await;
        exec(
            &mut c,
            &[&format!(
                "CREATE DATABASE {} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
                q(&name)
            )],
        )
        .await;
        Self { name }
    }
    pub fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{SHARED_PORT}/{}", self.name)
    }
    pub async fn connect(&self) -> MySqlConnection {
        connect(SHARED_PORT, Some(&self.name)).await
    }
}

impl Drop for SharedDb {
    fn drop(&mut self) {
        let _ = Command::new("mariadb")
            .args(["-h", "127.0.0.1", "-u", "root", "-e"])
            .arg(format!("DROP DATABASE IF EXISTS {}", q(&self.name)))
            .status();
    }
}

/// A MariaDB server of this test's own.
pub struct PrivateServer {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl PrivateServer {
    pub async fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("cairn-maria-")
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        // A private tmpdir: concurrent bootstraps sharing /tmp have failed on each
        // other's temporary tables.
        let out = Command::new("mariadb-install-db")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--tmpdir={}", dir.path().display()))
            .args([
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = super::free_port();
        let child = Command::new("mariadbd")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            // Its own tmpdir: at startup mariadbd deletes every `#sql*` file in its
            // tmpdir, which would pull live temporary tables from under other servers.
            .arg(format!("--tmpdir={}", dir.path().display()))
            .arg(format!("--socket={}", dir.path().join("sock").display()))
            .arg(format!("--pid-file={}", dir.path().join("pid").display()))
            .arg(format!(
                "--log-error={}",
                dir.path().join("err.log").display()
            ))
            .arg(format!("--port={port}"))
            .args(["--bind-address=127.0.0.1", "--user=root", "--skip-log-bin"])
            .args([
                "--innodb-buffer-pool-size=32M",
                "--innodb-log-file-size=16M",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = Self {
            port,
            child,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while try_connect(port, "root", None, None).await.is_err() {
            assert!(Instant::now() < deadline, "private mariadbd did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server
    }

    pub fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}/", self.port)
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn lines(c: &mut MySqlConnection, sql: &str) -> Vec<String> {
    sqlx::query_scalar::<_, String>(AssertSqlSafe(sql.to_string()))
        .fetch_all(&mut *c)
        .await
        .unwrap_or_else(|e| panic!("{e}\nin: {sql}"))
}

/// Everything a restore must bring back in database `db`, as sorted text lines, with the
/// database's name replaced by `<db>` (so a copy under another name compares equal).
pub async fn fingerprint(c: &mut MySqlConnection, db: &str) -> Vec<String> {
    let d = lit(db);
    let sqls = [
        format!("SELECT CONCAT_WS(' ', 'schema', DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = {d}"),
        format!("SELECT CONCAT_WS(' ', 'table', TABLE_NAME, TABLE_TYPE, IFNULL(ENGINE, '-'), IFNULL(AUTO_INCREMENT, '-'), IFNULL(TABLE_COLLATION, '-')) FROM information_schema.TABLES WHERE TABLE_SCHEMA = {d}"),
        format!("SELECT CONCAT_WS(' ', 'column', TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IFNULL(COLLATION_NAME, '-'), EXTRA, IFNULL(GENERATION_EXPRESSION, '-'), IFNULL(COLUMN_DEFAULT, '-')) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = {d}"),
        format!("SELECT CONCAT_WS(' ', 'routine', ROUTINE_TYPE, ROUTINE_NAME, MD5(ROUTINE_DEFINITION), DEFINER) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = {d}"),
        format!("SELECT CONCAT_WS(' ', 'trigger', TRIGGER_NAME, EVENT_MANIPULATION, EVENT_OBJECT_TABLE, ACTION_TIMING, MD5(ACTION_STATEMENT)) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = {d}"),
        format!("SELECT CONCAT_WS(' ', 'event', EVENT_NAME, MD5(EVENT_DEFINITION), INTERVAL_VALUE, INTERVAL_FIELD, STARTS, STATUS) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = {d}"),
        format!("SELECT CONCAT_WS(' ', 'view', TABLE_NAME, MD5(REPLACE(VIEW_DEFINITION, {d}, '<db>'))) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = {d}"),
        format!("SELECT CONCAT_WS(' ', 'index', TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME, NON_UNIQUE) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = {d}"),
    ];
    let mut out = Vec::new();
    for sql in &sqls {
        out.extend(lines(c, sql).await);
    }
    let tables = lines(c, &format!("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = {d} AND TABLE_TYPE = 'BASE TABLE'")).await;
    for table in tables {
        let cols = lines(c, &format!("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = {d} AND TABLE_NAME = {} ORDER BY ORDINAL_POSITION", lit(&table))).await;
        let row = cols
            .iter()
            .map(|col| format!("IFNULL(HEX({}), 'NULL')", q(col)))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT CONCAT(COUNT(*), ' ', IFNULL(MD5(GROUP_CONCAT(MD5(CONCAT_WS('|', {row})) ORDER BY MD5(CONCAT_WS('|', {row})) SEPARATOR ',')), '-')) FROM {}.{}",
            q(db),
            q(&table)
        );
        exec(c, &["SET SESSION group_concat_max_len = 1073741824"]).await;
        out.push(format!("rows {table} {}", lines(c, &sql).await.join("")));
    }
    let mut out: Vec<String> = out.into_iter().map(|l| l.replace(db, "<db>")).collect();
    out.sort();
    out
}

/// Awkward contents: utf8mb4 names, binary and blobs, generated columns, JSON, an
/// advanced AUTO_INCREMENT, a trigger, a procedure, a function, an event and a view.
pub const AWKWARD: &[&str] = &[
    "CREATE TABLE `log ✓` (id INT AUTO_INCREMENT PRIMARY KEY, msg VARCHAR(200)) DEFAULT CHARSET=utf8mb4",
    "CREATE TABLE `tâble 表` (
        id INT AUTO_INCREMENT PRIMARY KEY,
        `cölumn ✓` VARCHAR(100),
        bin VARBINARY(64),
        blb LONGBLOB,
        emoji TEXT COLLATE utf8mb4_bin,
        doubled INT AS (CHAR_LENGTH(`cölumn ✓`) * 2) STORED,
        virt VARCHAR(120) AS (CONCAT('v', `cölumn ✓`)) VIRTUAL,
        js JSON
    ) DEFAULT CHARSET=utf8mb4",
    "CREATE TRIGGER `trg ✓` AFTER INSERT ON `tâble 表` FOR EACH ROW INSERT INTO `log ✓`(msg) VALUES (CONCAT('ins ', NEW.id))",
    "INSERT INTO `tâble 表` (`cölumn ✓`, bin, blb, emoji, js)
     WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 300)
     SELECT CONCAT('row ', n, ' tab\\t nl\\n quote\\' bs\\\\ ✓'),
            CONCAT(UNHEX(MD5(n)), 0x005C270A),
            REPEAT(UNHEX('00FF5C270D0A'), 500 + n),
            CONCAT('😀 ', n),
            JSON_OBJECT('n', n, 'ü', '✓', 'arr', JSON_ARRAY(1, 'two', NULL))
     FROM s",
    "INSERT INTO `tâble 表` (`cölumn ✓`) VALUES (NULL), ('')",
    "DELETE FROM `tâble 表` WHERE id > 295",
    "CREATE PROCEDURE `proc ✓`(IN n INT) BEGIN INSERT INTO `log ✓`(msg) VALUES (CONCAT('proc ', n)); SELECT n; END",
    "CREATE FUNCTION `twice ✓`(n INT) RETURNS INT DETERMINISTIC RETURN n * 2",
    "CREATE EVENT `ev ✓` ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' DO DELETE FROM `log ✓` WHERE id < 0",
    "CREATE VIEW `view ✓` AS SELECT id, `cölumn ✓` FROM `tâble 表` WHERE id % 2 = 0",
];

/// Changes made after a backup that the restore must undo.
pub const CHANGES: &[&str] = &[
    "INSERT INTO `tâble 表` (`cölumn ✓`) VALUES ('added after the backup')",
    "DELETE FROM `tâble 表` WHERE id < 10",
    "DROP TABLE `log ✓`",
    "CREATE TABLE extra (x INT)",
    "DROP VIEW `view ✓`",
    "DROP EVENT `ev ✓`",
    "DROP PROCEDURE `proc ✓`",
];
