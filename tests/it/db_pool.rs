//! The connection pool hands connections back without a round trip (vendor/sqlx-core/PATCHED.md):
//! what a dropped transaction or a cancelled query leaves behind must still never reach the
//! next user of the connection.

use std::time::Duration;

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
    TransactionTrait,
};

use crate::helpers::fresh_database_url;
use fenhong::db::execute_together_with_commit as last_write;

/// A pool of one connection on a new database, so every statement gets the same connection.
async fn one_connection() -> (DatabaseConnection, String) {
    let (url, _) = fresh_database_url().await;
    let mut options = ConnectOptions::new(url.clone());
    options
        .max_connections(1)
        .min_connections(1)
        .sqlx_logging(false);
    let db = Database::connect(options).await.expect("connect");
    db.execute_unprepared("CREATE TABLE counters (id INTEGER PRIMARY KEY, value INTEGER NOT NULL)")
        .await
        .expect("create");
    db.execute_unprepared("INSERT INTO counters (id, value) VALUES (1, 0)")
        .await
        .expect("insert");
    (db, url)
}

async fn value(db: &impl ConnectionTrait) -> i64 {
    let row = db
        .query_one(Statement::from_string(
            db.get_database_backend(),
            "SELECT value FROM counters WHERE id = 1",
        ))
        .await
        .expect("select")
        .expect("a row");
    row.try_get_by_index::<i32>(0)
        .map(i64::from)
        .expect("value")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_dropped_part_way_is_rolled_back_and_holds_no_lock() {
    let (db, url) = one_connection().await;
    {
        let tx = db.begin().await.expect("begin");
        tx.execute_unprepared("UPDATE counters SET value = value + 1 WHERE id = 1")
            .await
            .expect("update");
        // Dropped without commit or rollback, as when a request is cancelled.
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    if db.get_database_backend() == DbBackend::Postgres {
        // Another connection sees the row unlocked and unchanged at once: the rollback was
        // sent as the connection went back to the pool, not left for its next user.
        let other = Database::connect(url.as_str()).await.expect("connect");
        let tx = other.begin().await.expect("begin");
        tx.execute_unprepared("SET LOCAL lock_timeout = '2s'")
            .await
            .expect("lock timeout");
        tx.execute_unprepared("UPDATE counters SET value = value + 10 WHERE id = 1")
            .await
            .expect("the row is not locked by the dropped transaction");
        tx.commit().await.expect("commit");
        let idle_in_transaction = other
            .query_one(Statement::from_string(
                DbBackend::Postgres,
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
            ))
            .await
            .expect("activity")
            .expect("a row")
            .try_get_by_index::<i64>(0)
            .expect("count");
        assert_eq!(idle_in_transaction, 0);
        assert_eq!(value(&db).await, 10);
    } else {
        assert_eq!(value(&db).await, 0);
        db.execute_unprepared("UPDATE counters SET value = value + 10 WHERE id = 1")
            .await
            .expect("the database is not locked by the dropped transaction");
        assert_eq!(value(&db).await, 10);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_cancelled_while_running_leaves_nothing_for_the_next_one() {
    let (db, _) = one_connection().await;
    let slow = match db.get_database_backend() {
        DbBackend::Postgres => "SELECT pg_sleep(0.3)",
        // A recursive count that takes a while on SQLite.
        _ => {
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000) \
             SELECT count(*) FROM n"
        }
    };
    let cancelled = tokio::time::timeout(
        Duration::from_millis(30),
        db.query_one(Statement::from_string(db.get_database_backend(), slow)),
    )
    .await;
    assert!(cancelled.is_err(), "the slow query should still be running");
    // The same (only) connection answers the next query with its own rows.
    db.execute_unprepared("UPDATE counters SET value = 7 WHERE id = 1")
        .await
        .expect("update");
    assert_eq!(value(&db).await, 7);
    let tx = db.begin().await.expect("begin");
    tx.execute_unprepared("UPDATE counters SET value = 8 WHERE id = 1")
        .await
        .expect("update");
    tx.commit().await.expect("commit");
    assert_eq!(value(&db).await, 8);
}

/// Statements sent together carry their parameters numbered on through one text; on
/// PostgreSQL rows given as JSON go in one parameter, however many.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_sent_together_keep_their_values_however_many() {
    let (db, _) = one_connection().await;
    let backend = db.get_database_backend();
    let postgres = backend == DbBackend::Postgres;
    for (first_id, rows) in [(100, 3), (1000, 33_000)] {
        if !postgres && rows > 3 {
            // SQLite runs statements one by one; rows as JSON are PostgreSQL's.
            continue;
        }
        let insert = if postgres {
            #[derive(serde::Serialize)]
            struct Row {
                id: i64,
                value: i64,
            }
            let rows: Vec<Row> = (0..rows)
                .map(|i| Row {
                    id: first_id + i,
                    value: i % 7,
                })
                .collect();
            fenhong::db::with_json_rows(
                "INSERT INTO counters (id, value) SELECT id, value \
                 FROM json_to_recordset($1::json) AS r(id bigint, value bigint)",
                &rows,
            )
            .expect("rows as JSON")
        } else {
            let mut sql = String::from("INSERT INTO counters (id, value) VALUES ");
            let mut values: Vec<sea_orm::Value> = Vec::new();
            for i in 0..rows {
                if i > 0 {
                    sql.push_str(", ");
                }
                let n = values.len();
                sql.push_str(&format!("(${}, ${})", n + 1, n + 2));
                values.push((first_id + i).into());
                values.push((i % 7).into());
            }
            Statement::from_sql_and_values(backend, sql, values)
        };
        let update = Statement::from_sql_and_values(
            backend,
            "UPDATE counters SET value = $1 WHERE id = $2",
            [first_id.into(), 1.into()],
        );
        let updated = fenhong::db::execute_together(&db, vec![insert, update])
            .await
            .expect("together");
        assert_eq!(updated, 1);
        assert_eq!(value(&db).await, first_id);
        let sum = db
            .query_one(Statement::from_sql_and_values(
                backend,
                "SELECT CAST(COUNT(*) AS BIGINT), CAST(SUM(value) AS BIGINT) FROM counters WHERE id >= $1",
                [first_id.into()],
            ))
            .await
            .expect("select")
            .expect("a row");
        let expected: i64 = (0..rows).map(|i| i % 7).sum();
        assert_eq!(sum.try_get_by_index::<i64>(0).unwrap(), rows);
        assert_eq!(sum.try_get_by_index::<i64>(1).unwrap(), expected);
    }
}

/// `BEGIN` is sent with the transaction's first statement (vendor/sqlx-postgres/PATCHED.md),
/// and the transaction is still whole: rolled back, its first statement is undone, its
/// rows are hidden from others until it commits; begun and ended with nothing in it,
/// dropped, or failed at its first statement (prepared or not), the connection answers the
/// next query with its own rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_begins_with_its_first_statement_and_is_whole() {
    let (db, url) = one_connection().await;
    let set = |value: i64| {
        Statement::from_sql_and_values(
            db.get_database_backend(),
            "UPDATE counters SET value = $1 WHERE id = 1",
            [value.into()],
        )
    };
    db.execute(set(5)).await.expect("update");

    let tx = db.begin().await.expect("begin");
    tx.execute(set(6)).await.expect("update in the transaction");
    assert_eq!(value(&tx).await, 6);
    tx.rollback().await.expect("rollback");
    assert_eq!(
        value(&db).await,
        5,
        "the first statement was inside the transaction"
    );

    // Another connection does not see the transaction's write before it commits.
    let other = Database::connect(url.as_str()).await.expect("connect");
    let tx = db.begin().await.expect("begin");
    tx.execute(set(7)).await.expect("update in the transaction");
    if db.get_database_backend() == DbBackend::Postgres {
        assert_eq!(value(&other).await, 5, "uncommitted rows are not seen");
    }
    tx.commit().await.expect("commit");
    assert_eq!(value(&other).await, 7);

    db.begin()
        .await
        .expect("begin")
        .commit()
        .await
        .expect("commit with nothing in it");
    drop(db.begin().await.expect("begin"));
    assert_eq!(value(&db).await, 7, "after a dropped empty transaction");

    for failing in [
        // Not prepared (no parameters) and prepared (a new text with one).
        Statement::from_string(db.get_database_backend(), "SELECT * FROM no_such_table"),
        Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT * FROM no_such_table WHERE id = $1",
            [1.into()],
        ),
    ] {
        let tx = db.begin().await.expect("begin");
        assert!(tx.query_one(failing).await.is_err(), "no such table");
        drop(tx);
        assert_eq!(value(&db).await, 7, "after a failed first statement");
    }
    let tx = db.begin().await.expect("begin");
    tx.execute(set(8)).await.expect("update");
    tx.commit().await.expect("commit");
    assert_eq!(value(&db).await, 8);
}

/// A transaction's last write goes with its `COMMIT` on PostgreSQL (vendor/sqlx-postgres,
/// `sent_with_next`) and the transaction is still whole: the write reaches the server only
/// with the commit; if it fails there, the commit fails and nothing of the transaction is
/// kept; after a rollback or a drop nothing of it is kept either; in a savepoint it runs at
/// once. The connection answers the next query with its own rows each time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transactions_last_write_goes_with_its_commit_and_is_whole() {
    let (db, url) = one_connection().await;
    let backend = db.get_database_backend();
    let postgres = backend == DbBackend::Postgres;
    let set = |value: i64| {
        Statement::from_sql_and_values(
            backend,
            "UPDATE counters SET value = $1 WHERE id = 1",
            [value.into()],
        )
    };
    let insert = |id: i64| {
        Statement::from_sql_and_values(
            backend,
            "INSERT INTO counters (id, value) VALUES ($1, 0)",
            [id.into()],
        )
    };
    db.execute(set(5)).await.expect("update");

    let tx = db.begin().await.expect("begin");
    tx.execute(set(6)).await.expect("update");
    let rows = last_write(&tx, vec![set(9)]).await.expect("last write");
    assert_eq!(rows, if postgres { None } else { Some(1) });
    tx.commit().await.expect("commit");
    assert_eq!(value(&db).await, 9);

    if postgres {
        // Not sent before the commit: another connection inserts the same key meanwhile
        // without waiting for this transaction, and the commit then fails on it whole.
        let other = Database::connect(url.as_str()).await.expect("connect");
        let tx = db.begin().await.expect("begin");
        tx.execute(set(10)).await.expect("update");
        assert_eq!(
            last_write(&tx, vec![insert(2)]).await.expect("queued"),
            None
        );
        tokio::time::timeout(Duration::from_secs(5), other.execute(insert(2)))
            .await
            .expect("the other insert does not wait for this transaction")
            .expect("inserted");
        let err = tx
            .commit()
            .await
            .expect_err("the write fails at the commit");
        assert!(err.to_string().contains("duplicate key"), "{err}");
        assert_eq!(value(&db).await, 9, "nothing of a failed commit is kept");
        assert_eq!(value(&other).await, 9);
        db.execute(set(9))
            .await
            .expect("the connection is out of the transaction");

        // A failed last write, then a rollback: the rollback succeeds.
        let tx = db.begin().await.expect("begin");
        tx.execute(set(11)).await.expect("update");
        last_write(&tx, vec![insert(2)]).await.expect("queued");
        tx.rollback().await.expect("rollback");
        assert_eq!(value(&db).await, 9);
    }

    // A last write, then a rollback or a drop: nothing is kept.
    let tx = db.begin().await.expect("begin");
    last_write(&tx, vec![set(12)]).await.expect("last write");
    tx.rollback().await.expect("rollback");
    assert_eq!(value(&db).await, 9);
    let tx = db.begin().await.expect("begin");
    last_write(&tx, vec![set(13)]).await.expect("last write");
    drop(tx);
    assert_eq!(value(&db).await, 9);

    // In a savepoint it runs at once, and its count is known.
    let tx = db.begin().await.expect("begin");
    let savepoint = tx.begin().await.expect("savepoint");
    assert_eq!(
        last_write(&savepoint, vec![set(14)]).await.expect("write"),
        Some(1)
    );
    savepoint.commit().await.expect("release");
    tx.commit().await.expect("commit");
    assert_eq!(value(&db).await, 14);
}
