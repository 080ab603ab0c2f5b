//! Connecting to the database and bringing its schema up to date.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr};
use serde::Serialize;

/// Opens the database named by `url`.
///
/// SQLite runs in WAL mode with one pooled connection: it has a single writer anyway, and
/// queueing writers inside the pool (instead of letting them race for the file lock) makes
/// concurrent completions wait their turn rather than fail with "database is locked". The
/// busy timeout covers other processes (a second instance, `fenhong migrate`) on the same file.
///
/// PostgreSQL: a connection taken from the pool is pinged first only when it has sat idle
/// for [`PING_AFTER_IDLE`] (one that was just used is known to work; pinging it cost a
/// round trip before every statement, a third of a simple lookup's time), so a server that
/// went away and came back is noticed before a request uses a dead connection. None is kept
/// past half an hour.
pub async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    if url.starts_with("sqlite:") {
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .sqlx_logging(false)
            .acquire_timeout(Duration::from_secs(30))
            .test_before_acquire(false)
            .max_connections(1)
            .min_connections(1)
            .map_sqlx_sqlite_opts(|opts| {
                opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(30))
                    .foreign_keys(true)
            });
        return Ok(Database::connect(options).await?);
    }
    use sea_orm::sqlx::{
        postgres::{PgConnectOptions, PgPoolOptions},
        ConnectOptions as _, Connection as _,
    };
    let connect = url.parse::<PgConnectOptions>()?.disable_statement_logging();
    let pool = PgPoolOptions::new()
        .max_connections(20)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .max_lifetime(Duration::from_secs(30 * 60))
        .test_before_acquire(false)
        .before_acquire(|connection, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_AFTER_IDLE {
                    connection.ping().await?;
                }
                Ok(true)
            })
        })
        .connect_with(connect)
        .await?;
    Ok(sea_orm::SqlxPostgresConnector::from_sqlx_postgres_pool(
        pool,
    ))
}

/// How long a pooled PostgreSQL connection may sit unused before it is pinged when taken.
pub const PING_AFTER_IDLE: Duration = Duration::from_millis(500);

pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None).await?;
    Ok(())
}

pub fn is_postgres(db: &DatabaseConnection) -> bool {
    db.get_database_backend() == DbBackend::Postgres
}

/// Starts a write transaction as a writer. SQLite's transactions begin deferred: one that
/// reads first and writes later cannot upgrade once another connection (a second instance on
/// the same file) has written, and fails at once with "database is locked" instead of
/// waiting. A write as the first statement takes the write lock up front, so concurrent
/// writers queue behind the busy timeout. PostgreSQL needs nothing.
pub async fn claim_writer(tx: &impl ConnectionTrait) -> Result<(), DbErr> {
    if tx.get_database_backend() == DbBackend::Sqlite {
        tx.execute_unprepared("UPDATE platform_settings SET value = value WHERE 0 = 1")
            .await?;
    }
    Ok(())
}

/// Runs `statements` in order and gives the last one's row count. PostgreSQL gets them as
/// one statement, one round trip: the others become data-modifying `WITH` clauses of the
/// last (each runs exactly once, all see the same snapshot, so none may read or change a row
/// another changes; foreign keys are checked at the statement's end). Their parameters are
/// numbered on through the whole text, so statements of fixed texts (rows as JSON,
/// [`with_json_rows`]) make one fixed text, which the connection prepares once. Other
/// backends run them one by one.
pub async fn execute_together(
    tx: &impl ConnectionTrait,
    statements: Vec<sea_orm::Statement>,
) -> Result<u64, DbErr> {
    let backend = tx.get_database_backend();
    if backend != DbBackend::Postgres {
        let mut rows = 0;
        for statement in statements {
            rows = tx.execute(statement).await?.rows_affected();
        }
        return Ok(rows);
    }
    Ok(tx.execute(one_statement(statements)).await?.rows_affected())
}

/// [`execute_together`] as a transaction's last statement: on PostgreSQL, when `tx` is a
/// transaction (not a savepoint), it goes in one write with the transaction's `COMMIT`, one
/// round trip fewer (vendored sqlx-postgres, `sent_with_next`). Then no row count is known
/// before the commit (`None`) and a failure is the commit's error: the commit rolls back.
/// Nothing may run on `tx` after it but the commit or a rollback.
pub async fn execute_together_with_commit(
    tx: &impl ConnectionTrait,
    statements: Vec<sea_orm::Statement>,
) -> Result<Option<u64>, DbErr> {
    if tx.get_database_backend() != DbBackend::Postgres {
        return execute_together(tx, statements).await.map(Some);
    }
    let (executed, with_commit) =
        sea_orm::sqlx::postgres::sent_with_next(tx.execute(one_statement(statements))).await;
    let rows = executed?.rows_affected();
    Ok((!with_commit).then_some(rows))
}

/// PostgreSQL statements as one: `WITH w0 AS (first), … last`, parameters renumbered.
fn one_statement(statements: Vec<sea_orm::Statement>) -> sea_orm::Statement {
    let mut values = Vec::new();
    let mut texts = Vec::with_capacity(statements.len());
    for statement in statements {
        texts.push(renumbered(&statement.sql, values.len()));
        values.extend(statement.values.map(|v| v.0).unwrap_or_default());
    }
    sea_orm::Statement::from_sql_and_values(DbBackend::Postgres, together(&texts), values)
}

/// A PostgreSQL statement whose rows come as one parameter: `sql` reads `$1`, a JSON array
/// of objects, with `json_to_recordset($1::json) AS r(column type, …)`. Its text is the
/// same for any number of rows (none too); written as multi-row `VALUES`, each count of
/// rows was a new text to build, parse and plan.
pub fn with_json_rows<T: Serialize>(sql: &str, rows: &[T]) -> Result<sea_orm::Statement, DbErr> {
    let rows = serde_json::to_string(rows).map_err(|e| DbErr::Json(e.to_string()))?;
    Ok(sea_orm::Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        [rows.into()],
    ))
}

/// `WITH w0 AS (first), w1 AS (second), … last`.
fn together(texts: &[String]) -> String {
    let Some((last, before)) = texts.split_last() else {
        return String::new();
    };
    let mut sql = String::new();
    for (n, text) in before.iter().enumerate() {
        sql.push_str(if n == 0 { "WITH " } else { ", " });
        sql.push_str(&format!("w{n} AS ({text})"));
    }
    if !before.is_empty() {
        sql.push(' ');
    }
    sql.push_str(last);
    sql
}

/// `sql` with each parameter `$n` outside quotes renumbered `$(n + offset)`.
fn renumbered(sql: &str, offset: usize) -> String {
    if offset == 0 {
        return sql.to_owned();
    }
    let mut out = String::with_capacity(sql.len() + sql.len() / 8);
    let mut chars = sql.char_indices().peekable();
    // The quote that opened the literal or identifier we are in, and whether `\` escapes
    // in it (an `E'…'` string).
    let mut quoted: Option<(char, bool)> = None;
    // The two characters before this one (an `E` starts an escape string only as a word).
    let (mut before, mut previous) = (' ', ' ');
    while let Some((_, c)) = chars.next() {
        match quoted {
            Some((quote, escapes)) => {
                out.push(c);
                if escapes && c == '\\' {
                    if let Some((_, next)) = chars.next() {
                        out.push(next);
                    }
                } else if c == quote {
                    // A doubled quote stays inside.
                    if chars.peek().is_some_and(|(_, next)| *next == quote) {
                        let (_, next) = chars.next().expect("peeked");
                        out.push(next);
                    } else {
                        quoted = None;
                    }
                }
            }
            None if c == '\'' || c == '"' => {
                let escapes = c == '\''
                    && matches!(previous, 'E' | 'e')
                    && !(before.is_alphanumeric() || before == '_');
                quoted = Some((c, escapes));
                out.push(c);
            }
            None if c == '$' && chars.peek().is_some_and(|(_, d)| d.is_ascii_digit()) => {
                let mut number = 0usize;
                while let Some((_, d)) = chars.peek().copied().filter(|(_, d)| d.is_ascii_digit()) {
                    number = number * 10 + (d as usize - '0' as usize);
                    chars.next();
                }
                out.push('$');
                out.push_str(&(number + offset).to_string());
            }
            None => out.push(c),
        }
        (before, previous) = (previous, c);
    }
    out
}

/// For the rest of the transaction, reads a "rows still waiting" partial index in its order
/// (PostgreSQL). Its planner otherwise often takes a bitmap scan and a sort, which visits
/// every dead entry a busy outbox leaves until vacuum; an index scan in order marks them
/// dead the first time and skips them after. SQLite needs nothing.
pub async fn scan_waiting_in_order(tx: &impl ConnectionTrait) -> Result<(), DbErr> {
    if tx.get_database_backend() == DbBackend::Postgres {
        // Sent with the statement that reads the index, in one write.
        let (set, _) = sea_orm::sqlx::postgres::sent_with_next(
            tx.execute_unprepared("SET LOCAL enable_bitmapscan = off"),
        )
        .await;
        set?;
    }
    Ok(())
}

/// A database of its own on a PostgreSQL server, for benchmarks and tests.
pub struct ScratchDatabase {
    pub url: String,
    name: String,
    admin: DatabaseConnection,
}

impl ScratchDatabase {
    /// The PostgreSQL server of `DATABASE_URL` (default: the local one), for benchmarks.
    pub fn server_from_env() -> anyhow::Result<String> {
        let server = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        anyhow::ensure!(
            server.starts_with("postgres"),
            "DATABASE_URL must name a PostgreSQL server"
        );
        Ok(server)
    }

    /// Creates `<prefix><unique suffix>` on the server `server_url` connects to.
    pub async fn create(server_url: &str, prefix: &str) -> anyhow::Result<Self> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("{prefix}{}x{n}", std::process::id());
        let admin = Database::connect(server_url).await?;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await?;
        let base = match server_url.rfind('/') {
            Some(i) if i > "postgres://".len() => &server_url[..i],
            _ => server_url,
        };
        Ok(Self {
            url: format!("{base}/{name}"),
            name,
            admin,
        })
    }

    /// Drops the database (closing whatever still connects to it).
    pub async fn drop_now(self) -> anyhow::Result<()> {
        self.admin
            .execute_unprepared(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_numbered_on_outside_quotes() {
        assert_eq!(
            renumbered(
                r#"UPDATE "t$1" SET a = $1, b = '$2 it''s $3', c = E'\\' || $2 WHERE d = $10"#,
                4
            ),
            r#"UPDATE "t$1" SET a = $5, b = '$2 it''s $3', c = E'\\' || $6 WHERE d = $14"#
        );
        assert_eq!(renumbered("SELECT $1", 0), "SELECT $1");
        // `ELSE'…'` is a plain string: a backslash in it escapes nothing.
        assert_eq!(
            renumbered(r"CASE WHEN $1 THEN 'a' ELSE'b\' END = $2", 1),
            r"CASE WHEN $2 THEN 'a' ELSE'b\' END = $3"
        );
    }

    #[test]
    fn statements_become_clauses_of_the_last() {
        let texts = vec![
            "INSERT a".to_owned(),
            "INSERT b".to_owned(),
            "UPDATE c".to_owned(),
        ];
        assert_eq!(
            together(&texts),
            "WITH w0 AS (INSERT a), w1 AS (INSERT b) UPDATE c"
        );
        assert_eq!(together(&["UPDATE c".to_owned()]), "UPDATE c");
    }
}
