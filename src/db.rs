//! Connecting to the database and bringing its schema up to date.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};

/// Opens the database named by `url`.
///
/// SQLite runs in WAL mode with one pooled connection: it has a single writer anyway, and
/// queueing writers inside the pool (instead of letting them race for the file lock) makes
/// concurrent completions wait their turn rather than fail with "database is locked". The
/// busy timeout covers other processes (a second instance, `fenhong migrate`) on the same file.
pub async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30));
    if url.starts_with("sqlite:") {
        options
            .max_connections(1)
            .min_connections(1)
            .map_sqlx_sqlite_opts(|opts| {
                opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(30))
                    .foreign_keys(true)
            });
    } else {
        options.max_connections(20).min_connections(1);
    }
    let db = Database::connect(options).await?;
    Ok(db)
}

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
pub async fn claim_writer(tx: &impl ConnectionTrait) -> Result<(), sea_orm::DbErr> {
    if tx.get_database_backend() == DbBackend::Sqlite {
        tx.execute_unprepared("UPDATE platform_settings SET value = value WHERE 0 = 1")
            .await?;
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
