use cairn_testcontainers::testcontainers::core::{CmdWaitFor, ExecCommand};
use cairn_testcontainers::testcontainers::ContainerAsync;
use cairn_testcontainers::{Cairn, Database};

/// Runs SQL with the psql of the PostgreSQL container; its output, trimmed.
async fn psql(pg: &ContainerAsync<Database>, sql: &str) -> String {
    let port = pg.image().port().to_string();
    let argv = [
        "psql",
        "-h",
        "127.0.0.1",
        "-p",
        &port,
        "-U",
        "postgres",
        "-Atc",
        sql,
    ];
    let cmd = ExecCommand::new(argv).with_cmd_ready_condition(CmdWaitFor::exit_code(0));
    let mut run = pg.exec(cmd).await.expect("psql");
    let out = run.stdout_to_vec().await.expect("psql output");
    String::from_utf8_lossy(&out).trim().to_string()
}

#[tokio::test]
async fn a_restore_brings_the_orders_back() {
    // A PostgreSQL 17 server and a cairn, each in a container on 127.0.0.1.
    let pg = Database::postgres("17").start().await.unwrap();
    psql(&pg, "CREATE TABLE orders (id int PRIMARY KEY, item text)").await;
    psql(&pg, "INSERT INTO orders VALUES (1, 'tea'), (2, 'cake')").await;
    let cairn = Cairn::default().start().await.unwrap();

    // Protect the database and back it up.
    let url = pg.image().url(Some("postgres"));
    cairn
        .cli(&["target", "add", "shop", "--url", &url])
        .await
        .unwrap()
        .ok()
        .unwrap();
    cairn
        .cli(&["backup", "shop", "--wait"])
        .await
        .unwrap()
        .ok()
        .unwrap();

    // Break the data.
    psql(&pg, "DELETE FROM orders WHERE item = 'cake'").await;
    psql(&pg, "INSERT INTO orders VALUES (3, 'oops')").await;

    // Restore the latest backup: the orders are what they were at backup time.
    let restore = ["restore", "shop", "--backup", "latest", "--yes", "--wait"];
    cairn.cli(&restore).await.unwrap().ok().unwrap();
    let items = psql(&pg, "SELECT string_agg(item, ',' ORDER BY id) FROM orders").await;
    assert_eq!(items, "tea,cake");
}
