//! Swapping a loaded staging database into the target, so that a database restore is
//! all or nothing for the tables.
//!
//! MySQL cannot rename a database, but `RENAME TABLE` moves tables between databases,
//! atomically for the whole list. So: the target's tables move into a trash database
//! and the staging tables into the target in ONE statement; then the target's old
//! views, routines and events are dropped and the backup's recreated from the staging
//! definitions (`SHOW CREATE …`), and the trash and staging databases are dropped.
//! A table with triggers cannot change database (error 1435), so triggers are taken off
//! both sides before the rename (their definitions kept) and recreated on the new
//! tables after it; should the rename fail, the target's own triggers are put back.
//! Foreign keys follow their tables.

use super::restore::{drop_quietly, exec};
use super::{connect, map_error, quote_ident};
use crate::leftovers::{staging_name, OLD};
use crate::Connection;
use cairn_domain::Failure;
use sqlx::mysql::MySqlConnection;
use sqlx::Row;

/// One schema object and the statement that recreates it.
#[derive(Debug, Clone)]
struct Definition {
    /// `VIEW`, `PROCEDURE`, `FUNCTION`, `EVENT`, `TRIGGER`.
    kind: &'static str,
    name: String,
    /// The `sql_mode` it was created under (views have none).
    sql_mode: Option<String>,
    create: String,
}

/// What a database holds besides table data.
#[derive(Debug, Default)]
struct Objects {
    tables: Vec<String>,
    views: Vec<Definition>,
    /// Procedures, functions and events.
    routines: Vec<Definition>,
    triggers: Vec<Definition>,
}

pub(super) async fn swap_in(
    conn: &Connection,
    staging: &str,
    target: &str,
    job: &str,
    defaults: &str,
) -> Result<(), Failure> {
    let trash = staging_name(target, job, OLD);
    let result = swap(conn, staging, target, &trash, defaults).await;
    drop_quietly(conn, &trash).await;
    drop_quietly(conn, staging).await;
    result
}

async fn swap(
    conn: &Connection,
    staging: &str,
    target: &str,
    trash: &str,
    defaults: &str,
) -> Result<(), Failure> {
    let untouched = |f: Failure| Failure {
        message: format!("{}; database {target:?} was not changed", f.message),
        ..f
    };
    let mut new_side = connect(conn, Some(staging)).await.map_err(untouched)?;
    let new = read_objects(&mut new_side, conn, staging)
        .await
        .map_err(untouched)?;
    let _ = sqlx::Connection::close(new_side).await;

    let mut c = connect(conn, None).await.map_err(untouched)?;
    let prepared = async {
        let create = format!(
            "CREATE DATABASE IF NOT EXISTS {}{defaults}",
            quote_ident(target)
        );
        exec(&mut c, conn, create).await?;
        exec(&mut c, conn, format!("USE {}", quote_ident(target))).await?;
        let old = read_objects(&mut c, conn, target).await?;
        exec(
            &mut c,
            conn,
            format!("DROP DATABASE IF EXISTS {}", quote_ident(trash)),
        )
        .await?;
        exec(
            &mut c,
            conn,
            format!("CREATE DATABASE {}", quote_ident(trash)),
        )
        .await?;
        for t in &new.triggers {
            let sql = format!(
                "DROP TRIGGER {}.{}",
                quote_ident(staging),
                quote_ident(&t.name)
            );
            exec(&mut c, conn, sql).await?;
        }
        Ok::<_, Failure>(old)
    }
    .await;
    let old = prepared.map_err(untouched)?;

    // Triggers cannot change database with their table, and a view could stand where a
    // table of the backup goes: both come off the target first, and go back should the
    // rename fail.
    let mut taken_off = Vec::new();
    let mut failure = None;
    for d in old.triggers.iter().chain(&old.views) {
        let sql = format!("DROP {} {}", d.kind, quote_ident(&d.name));
        match exec(&mut c, conn, sql).await {
            Ok(()) => taken_off.push(d.clone()),
            Err(f) => {
                failure = Some(f);
                break;
            }
        }
    }
    if failure.is_none() {
        let moves: Vec<String> = old
            .tables
            .iter()
            .map(|t| (target, t, trash))
            .chain(new.tables.iter().map(|t| (staging, t, target)))
            .map(|(from, t, to)| {
                let (from, t, to) = (quote_ident(from), quote_ident(t), quote_ident(to));
                format!("{from}.{t} TO {to}.{t}")
            })
            .collect();
        if !moves.is_empty() {
            let sql = format!("RENAME TABLE {}", moves.join(", "));
            failure = exec(&mut c, conn, sql).await.err();
        }
    }
    if let Some(f) = failure {
        let (views, triggers): (Vec<_>, Vec<_>) =
            taken_off.into_iter().partition(|d| d.kind == "VIEW");
        let put_back = async {
            create_views(&mut c, conn, &views).await?;
            recreate(&mut c, conn, &triggers).await
        }
        .await;
        return Err(match put_back {
            Ok(()) => untouched(f),
            Err(p) => Failure {
                message: format!(
                    "{}; database {target:?} keeps its tables and data, but putting its views and triggers back failed: {}",
                    f.message, p.message
                ),
                ..f
            },
        });
    }
    tracing::info!(database = %target, tables = new.tables.len(), "tables swapped in");

    // The tables are the backup's from here on; what follows completes the schema.
    let partly = |f: Failure, what: &str| Failure {
        message: format!(
            "{}; database {target:?} holds the backup's tables and data, but {what}",
            f.message
        ),
        ..f
    };
    for d in &old.routines {
        let sql = format!("DROP {} IF EXISTS {}", d.kind, quote_ident(&d.name));
        exec(&mut c, conn, sql).await.map_err(|f| {
            partly(f, "its old routines and events could not all be dropped, and the backup's views, routines, events and triggers were not created")
        })?;
    }
    recreate(&mut c, conn, &new.routines).await.map_err(|f| {
        partly(f, "not all of the backup's routines and events could be created, nor its views and triggers")
    })?;
    create_views(&mut c, conn, &new.views).await.map_err(|f| {
        partly(
            f,
            "not all of the backup's views could be created, nor its triggers",
        )
    })?;
    recreate(&mut c, conn, &new.triggers)
        .await
        .map_err(|f| partly(f, "not all of the backup's triggers could be created"))?;
    let _ = sqlx::Connection::close(c).await;
    Ok(())
}

/// Creates `definitions` in the session's current database, each under its `sql_mode`.
async fn recreate(
    c: &mut MySqlConnection,
    conn: &Connection,
    definitions: &[Definition],
) -> Result<(), Failure> {
    for d in definitions {
        if let Some(mode) = &d.sql_mode {
            sqlx::query("SET SESSION sql_mode = ?")
                .bind(mode)
                .execute(&mut *c)
                .await
                .map_err(|e| map_error(&e, conn, None))?;
        }
        exec(c, conn, d.create.clone()).await?;
    }
    exec(c, conn, "SET SESSION sql_mode = DEFAULT".into()).await
}

/// Views may select from each other: each round creates those whose dependencies exist.
async fn create_views(
    c: &mut MySqlConnection,
    conn: &Connection,
    views: &[Definition],
) -> Result<(), Failure> {
    let mut pending: Vec<&Definition> = views.iter().collect();
    while !pending.is_empty() {
        let mut failed = Vec::new();
        let mut last = None;
        for v in &pending {
            if let Err(f) = exec(c, conn, v.create.clone()).await {
                last = Some(f);
                failed.push(*v);
            }
        }
        if failed.len() == pending.len() {
            return Err(last.expect("a view failed"));
        }
        pending = failed;
    }
    Ok(())
}

/// Tables, views, routines, events and triggers of `database`, read over `c` whose
/// current database must be `database` (so definitions name its objects unqualified).
async fn read_objects(
    c: &mut MySqlConnection,
    conn: &Connection,
    database: &str,
) -> Result<Objects, Failure> {
    let err = |e: sqlx::Error| map_error(&e, conn, Some(database));
    let names = |sql: &'static str| {
        sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql)).bind(database.to_string())
    };
    let mut objects = Objects {
        tables: names("SELECT CAST(TABLE_NAME AS CHAR) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE <> 'VIEW'")
            .fetch_all(&mut *c)
            .await
            .map_err(err)?,
        ..Objects::default()
    };
    let views = names(
        "SELECT CAST(TABLE_NAME AS CHAR) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ?",
    )
    .fetch_all(&mut *c)
    .await
    .map_err(err)?;
    for v in views {
        let row = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "SHOW CREATE VIEW {}",
            quote_ident(&v)
        )))
        .fetch_one(&mut *c)
        .await
        .map_err(err)?;
        objects.views.push(Definition {
            kind: "VIEW",
            name: v,
            sql_mode: None,
            create: text(&row, 1).map_err(err)?,
        });
    }
    let routines: Vec<(String, String)> = sqlx::query_as(
        "SELECT CAST(ROUTINE_TYPE AS CHAR), CAST(ROUTINE_NAME AS CHAR) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? \
         UNION ALL SELECT 'EVENT', CAST(EVENT_NAME AS CHAR) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?",
    )
    .bind(database)
    .bind(database)
    .fetch_all(&mut *c)
    .await
    .map_err(err)?;
    for (kind, name) in routines {
        let kind = match kind.as_str() {
            "FUNCTION" => "FUNCTION",
            "EVENT" => "EVENT",
            // MariaDB also has packages; cairn's dumps carry procedures and functions.
            "PROCEDURE" => "PROCEDURE",
            _ => continue,
        };
        // SHOW CREATE EVENT has the time zone before the statement.
        let at = if kind == "EVENT" { 3 } else { 2 };
        objects
            .routines
            .push(show_create(c, conn, database, kind, &name, at).await?);
    }
    let triggers = names("SELECT CAST(TRIGGER_NAME AS CHAR) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY EVENT_OBJECT_TABLE, ACTION_ORDER")
        .fetch_all(&mut *c)
        .await
        .map_err(err)?;
    for t in triggers {
        objects
            .triggers
            .push(show_create(c, conn, database, "TRIGGER", &t, 2).await?);
    }
    Ok(objects)
}

/// `SHOW CREATE <kind>`: its `sql_mode` (column 1) and the statement (column `at`).
async fn show_create(
    c: &mut MySqlConnection,
    conn: &Connection,
    database: &str,
    kind: &'static str,
    name: &str,
    at: usize,
) -> Result<Definition, Failure> {
    let err = |e: sqlx::Error| map_error(&e, conn, Some(database));
    let row = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "SHOW CREATE {kind} {}",
        quote_ident(name)
    )))
    .fetch_one(&mut *c)
    .await
    .map_err(err)?;
    // The statement is NULL for a user who may not read another definer's routine.
    let create = text(&row, at).map_err(|_| {
        Failure::permanent("permission_denied", format!(
            "cannot read the definition of {kind} {name} in {database:?}: the restoring user needs to be its definer or have SELECT ON mysql.proc (SHOW CREATE ROUTINE on MariaDB 11.3 and later)"
        ))
    })?;
    Ok(Definition {
        kind,
        name: name.to_string(),
        sql_mode: Some(text(&row, 1).map_err(err)?),
        create,
    })
}

/// A text column that may come back as bytes (binary collations).
fn text(row: &sqlx::mysql::MySqlRow, i: usize) -> Result<String, sqlx::Error> {
    row.try_get::<String, _>(i).or_else(|_| {
        row.try_get::<Vec<u8>, _>(i)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    })
}
