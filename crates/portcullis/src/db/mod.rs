//! The database: one pool over SQLite or PostgreSQL.
//!
//! Features write their SQL once, with `$1`-style placeholders that both backends accept, integer
//! unix-millisecond times and text ids. Only the schema differs, so each backend has its own
//! migration directory.

use std::str::FromStr;
use std::time::Duration;

use secrecy::ExposeSecret;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{AnyPool, ConnectOptions, Connection, Executor};

use crate::config::Config;

mod backup;

/// A pooled connection idle this long is checked (pinged) before it is handed out.
const CHECK_WHEN_IDLE_FOR: Duration = Duration::from_secs(1);

/// How fast the database must answer to count as reachable (readiness probes).
pub const REACHABLE_WITHIN: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
}

impl Db {
    pub async fn connect(config: &Config) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if config.is_sqlite() {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let url = match backend {
            Backend::Sqlite => prepare_sqlite(config.database_url.expose_secret()).await?,
            Backend::Postgres => config.database_url.expose_secret().to_owned(),
        };
        let mut options =
            AnyConnectOptions::from_str(&url).map_err(|e| anyhow::anyhow!("database_url: {e}"))?;
        // Statements (their SQL with placeholders, never the values) are logged only when asked
        // for with RUST_LOG=sqlx::query=debug: bench/ counts the statements a request runs.
        if !tracing::enabled!(target: "sqlx::query", tracing::Level::DEBUG) {
            options = options.disable_statement_logging();
        }
        let pool = AnyPoolOptions::new()
            .max_connections(config.database_max_connections)
            .acquire_timeout(config.database_timeout)
            // sqlx pings every connection it hands out and every one given back: two extra round
            // trips (to PostgreSQL, or to the SQLite connection's worker thread) around each
            // statement. The ping on return stays (sqlx's own); the one on checkout is kept only
            // for a connection that sat idle, the one that may have died meanwhile.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= CHECK_WHEN_IDLE_FOR {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // Per-connection settings: wait for the write lock instead of failing,
                        // enforce foreign keys, and fsync at checkpoints only (safe under WAL).
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        // No `mmap_size`: in WAL mode each connection unmaps the whole file
                        // whenever another one has written since its last read, and maps it
                        // again (TLB shootdowns on every core). With writes under way that cost
                        // refresh rotations 16 % of their throughput; the mapping had only sped
                        // up reads of a database nobody was writing (bench/README.md).
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(|e| anyhow::anyhow!("cannot connect to the database: {e}"))?;
        Ok(Self { pool, backend })
    }

    /// Brings the schema up to date and says what it did: each migration it applied, or that
    /// there was nothing to do. Answers the descriptions of the applied migrations.
    pub async fn migrate(&self) -> anyhow::Result<Vec<String>> {
        let migrator = match self.backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("migrations/postgres"),
        };
        let before = self.applied_migrations().await;
        migrator
            .run(&self.pool)
            .await
            .map_err(|e| anyhow::anyhow!("database migration failed: {e}"))?;
        let applied: Vec<String> = migrator
            .iter()
            .filter(|m| !before.contains(&m.version))
            .map(|m| format!("{:04} {}", m.version, m.description))
            .collect();
        for migration in &applied {
            tracing::info!(migration = %migration, "applied database migration");
        }
        if applied.is_empty() {
            tracing::info!(
                migrations = migrator.iter().count(),
                "database schema is up to date; nothing to apply"
            );
        }
        Ok(applied)
    }

    /// Versions already applied (none on a new database, whose bookkeeping table does not exist).
    /// `_sqlx_migrations` is the table `Migrator::run` keeps them in: sqlx's default name, which
    /// only its `sqlx-toml` feature (not enabled) could change.
    async fn applied_migrations(&self) -> Vec<i64> {
        let rows = sqlx::query("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(&self.pool)
            .await
            .unwrap_or_default();
        rows.iter()
            .filter_map(|row| sqlx::Row::try_get::<i64, _>(row, "version").ok())
            .collect()
    }

    /// True when the database answers a trivial query.
    pub async fn is_reachable(&self) -> bool {
        self.answers_within(REACHABLE_WITHIN).await
    }

    /// True when the database answers a trivial query within `limit`.
    pub async fn answers_within(&self, limit: Duration) -> bool {
        let ping = sqlx::query("SELECT 1").execute(&self.pool);
        matches!(tokio::time::timeout(limit, ping).await, Ok(Ok(_)))
    }
}

/// Creates the SQLite file and its directory if needed and switches it to WAL mode (a property of
/// the file, so it is set once here rather than on every pooled connection).
async fn prepare_sqlite(url: &str) -> anyhow::Result<String> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| anyhow::anyhow!("database_url: {e}"))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal);
    if let Some(dir) = options.get_filename().parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        }
    }
    let path = options.get_filename().to_path_buf();
    let conn = options
        .connect()
        .await
        .map_err(|e| anyhow::anyhow!("cannot open SQLite database {}: {e}", path.display()))?;
    drop(conn);
    Ok(format!("sqlite://{}", path.display()))
}

/// A database failure, and the step that failed ("sessions: insert"), so a log line says which
/// query it was.
#[derive(Debug, thiserror::Error)]
#[error("{operation}: {error}")]
pub struct DbError {
    pub operation: &'static str,
    pub error: sqlx::Error,
}

impl DbError {
    /// True when the database cannot do its work right now (unreachable, connections exhausted,
    /// shutting down, disk full), as opposed to a query that is wrong: such a request deserves a
    /// 503 and a retry, not a 500.
    pub fn is_unavailable(&self) -> bool {
        match &self.error {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed
            // The wire conversation broke off (a connection cut mid-answer, or a BEGIN on one):
            // the link is down, not the query wrong.
            | sqlx::Error::Protocol(_)
            | sqlx::Error::BeginFailed => true,
            // The Any driver may wrap a driver's I/O failure.
            sqlx::Error::AnyDriverError(e) => {
                let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e.as_ref());
                while let Some(error) = source {
                    if error.is::<std::io::Error>() {
                        return true;
                    }
                    source = error.source();
                }
                false
            }
            sqlx::Error::Database(e) => {
                let code = e.code().unwrap_or_default();
                // PostgreSQL: connection exceptions (08…), shutdown (57P01-03), too many
                // connections (53300), out of disk (53100), and a transaction rolled back as a
                // deadlock's victim (40P01) or for a serialization failure (40001): the same
                // request succeeds when retried. SQLite: full (13), busy (5), locked (6), cannot
                // open (14), I/O error (10).
                code.starts_with("08")
                    || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300" | "53100")
                    || matches!(&*code, "40P01" | "40001")
                    || matches!(&*code, "13" | "5" | "6" | "14" | "10")
            }
            _ => false,
        }
    }

    /// True for a unique-constraint violation (for example, a duplicate email).
    pub fn is_unique_violation(&self) -> bool {
        self.error
            .as_database_error()
            .is_some_and(|e| e.is_unique_violation())
    }
}

/// Names the step a database call was for: `query.await.context("sessions: insert")?`.
pub trait Context<T> {
    fn context(self, operation: &'static str) -> Result<T, DbError>;
}

impl<T> Context<T> for Result<T, sqlx::Error> {
    fn context(self, operation: &'static str) -> Result<T, DbError> {
        self.map_err(|error| DbError { operation, error })
    }
}

impl Db {
    /// A transaction for the step `operation` names.
    pub async fn begin(
        &self,
        operation: &'static str,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, DbError> {
        self.pool.begin().await.context(operation)
    }
}

pub fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// The inverse of `millis`, for a span between two stored times: zero if it is negative (past).
pub fn duration_of(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// Reads a 0/1 flag column. Flags are integers on both backends because sqlx's Any driver cannot
/// carry SQLite booleans.
pub fn flag(row: &sqlx::any::AnyRow, column: &str) -> Result<bool, sqlx::Error> {
    use sqlx::Row;
    Ok(row.try_get::<i64, _>(column)? != 0)
}
