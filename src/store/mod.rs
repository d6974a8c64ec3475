//! Storage: the only place with SQL. One code path on sqlx's `AnyPool` runs on SQLite (the
//! embedded default) and PostgreSQL (the scale-out store); the few statements that must differ
//! branch on [`Backend`] here and nowhere else.

mod adjudication;
mod assignment;
mod changes;
mod crowd_model;
mod dashboard;
mod error;
mod export;
mod import;
mod judged_pages;
mod logins;
mod members;
mod outcomes;
mod progress;
mod project_lock;
mod projects;
mod reconfigure;
mod sessions;
mod snapshots;
mod tokens;
mod users;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Executor};

pub use adjudication::UnresolvedItem;
pub use assignment::{Lease, SubmitReceipt};
pub use crowd_model::{
    ModelInfo, ModelReview, PreparedRefit, REFIT_GROWTH, REFIT_MIN_NEW, RefitSummary,
};
pub use error::StoreError;
pub use export::{ExportRow, ExportSnapshot, ItemFilter, JudgmentExportRow};
pub use import::{
    BatchItem, ImportSummary, ItemRecord, JudgmentBatch, JudgmentRecord, derived_item_id,
};
pub use judged_pages::{JudgedItem, JudgedPage};
pub use members::MemberProject;
pub use progress::{NoProgress, Progress};
pub use projects::{Project, ProjectCounts};
pub use reconfigure::ReconfigureSummary;
pub use sessions::SessionRecord;
pub use snapshots::{SnapshotRecord, valid_snapshot_name};
pub use tokens::{ApiToken, NewToken, Scopes};
pub use users::{NewUser, Role, User};

/// Which database the pool talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// How to open the store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub url: String,
    pub max_connections: u32,
    /// How long a SQLite writer waits for the write lock before failing.
    pub busy_timeout: Duration,
}

impl StoreOptions {
    pub fn new(url: impl Into<String>) -> StoreOptions {
        StoreOptions {
            url: url.into(),
            max_connections: 8,
            busy_timeout: Duration::from_secs(30),
        }
    }
}

/// A handle on the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// How long a SQLite writer waits for the write lock (see [`StoreOptions::busy_timeout`]).
    busy_timeout: Duration,
    /// The queue for SQLite's write lock that the labeling transactions wait in (see
    /// `assignment::sqlite_turn`); one per database handle, shared by its clones.
    write_turn: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// When this process last reclaimed each project's expired leases (PostgreSQL; see
    /// [`Store::next_item`]).
    reclaims: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<i64, i64>>>,
    /// Budget for exports streaming at once (see [`Store::try_export_slot`]).
    export_slots: std::sync::Arc<tokio::sync::Semaphore>,
    /// Budget for snapshots written at once (see [`Store::try_snapshot_slot`]).
    snapshot_slots: std::sync::Arc<tokio::sync::Semaphore>,
    /// The crowd models confidence stopping decides with (see `crowd_model`).
    models: crowd_model::ModelCache,
}

/// Exports streaming at once from one database handle. Each holds a pooled connection (its read
/// view) for as long as its client reads, so without a bound a few slow downloads could take
/// every connection and stall labeling.
pub const CONCURRENT_EXPORTS: usize = 3;

/// Snapshots written at once from one database handle: each holds two pooled connections (its
/// read view and the one storing chunks) for its whole run.
pub const CONCURRENT_SNAPSHOTS: usize = 1;

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// An optional float as a bind parameter: `-1` for `None`, read back in SQL with
/// `NULLIF(CAST($n AS DOUBLE PRECISION), -1)`. sqlx 0.9's Any driver binds a `None` f64 as a
/// PostgreSQL `float4`, and the statement it prepares then refuses the 8-byte values that
/// follow ("incorrect binary data format"); a plain f64 is always a `float8`. Every value
/// stored this way (posteriors, targets) is a probability, never negative.
pub(crate) fn opt_f64(value: Option<f64>) -> f64 {
    value.unwrap_or(-1.0)
}

/// Bind-parameter budget per statement: under SQLite's 32766 and PostgreSQL's 65535.
pub(crate) const MAX_BINDS: usize = 30_000;

impl Store {
    /// Opens the database named by `url` (`sqlite://…` or `postgres://…`). A missing SQLite file
    /// is created. Does not migrate: call [`Store::migrate`].
    pub async fn connect(options: &StoreOptions) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = backend_of(&options.url)?;
        let url = match backend {
            Backend::Sqlite => sqlite_url_creating(&options.url),
            Backend::Postgres => options.url.clone(),
        };
        let connect = AnyConnectOptions::from_str(&url)
            .map_err(|source| StoreError::Connect {
                url: redact(&options.url),
                source,
            })?
            // Bulk statements carry thousands of placeholders: log them only when asked for.
            .log_statements(log::LevelFilter::Trace)
            .log_slow_statements(log::LevelFilter::Debug, Duration::from_secs(1));
        let busy_ms = options.busy_timeout.as_millis();
        let pool = AnyPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(Duration::from_secs(60))
            // A SQLite connection is a local file handle that cannot drop away; pinging it at
            // every checkout cost a round trip to its worker thread (~15% of the labeling loop).
            // PostgreSQL connections can die with the server, so they are still checked.
            .test_before_acquire(backend == Backend::Postgres)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if conn.backend_name() == "SQLite" {
                        // WAL lets readers run beside the single writer; NORMAL sync in WAL mode
                        // keeps every committed transaction across a process crash.
                        let pragmas = format!(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {busy_ms}; \
                             PRAGMA cache_size = -16384;"
                        );
                        conn.execute(sqlx::AssertSqlSafe(pragmas)).await?;
                    }
                    Ok(())
                })
            })
            .connect_with(connect)
            .await
            .map_err(|source| StoreError::Connect {
                url: redact(&options.url),
                source,
            })?;
        if backend == Backend::Postgres {
            // Exports measure text in bytes on the server and read it as UTF-8 here.
            let encoding: String = sqlx::query_scalar("SELECT current_setting('server_encoding')")
                .fetch_one(&pool)
                .await?;
            if encoding != "UTF8" {
                return Err(StoreError::Invalid(format!(
                    "database {} uses the {encoding} encoding; Quorum needs a UTF8 database \
                     (CREATE DATABASE … ENCODING 'UTF8')",
                    redact(&options.url)
                )));
            }
        }
        Ok(Store {
            pool,
            backend,
            busy_timeout: options.busy_timeout,
            write_turn: Default::default(),
            reclaims: Default::default(),
            models: Default::default(),
            export_slots: std::sync::Arc::new(tokio::sync::Semaphore::new(CONCURRENT_EXPORTS)),
            snapshot_slots: std::sync::Arc::new(tokio::sync::Semaphore::new(CONCURRENT_SNAPSHOTS)),
        })
    }

    /// Applies pending migrations. Safe to run from several processes at once.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATOR,
            Backend::Postgres => &POSTGRES_MIGRATOR,
        };
        migrator.run(&self.pool).await?;
        Ok(())
    }

    /// Opens and migrates in one go: what every command does first.
    pub async fn open(options: &StoreOptions) -> Result<Store, StoreError> {
        let store = Store::connect(options).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// One of the [`CONCURRENT_EXPORTS`] slots, held while an export streams; `None` when all
    /// are taken (the client is told to retry). Per handle rather than per process, so the
    /// budget follows the pool it protects.
    pub fn try_export_slot(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.export_slots.clone().try_acquire_owned().ok()
    }

    /// The snapshot writer's slot (see [`CONCURRENT_SNAPSHOTS`]); `None` while another runs.
    pub fn try_snapshot_slot(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.snapshot_slots.clone().try_acquire_owned().ok()
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts a transaction that will write. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`): a deferred transaction that reads first cannot upgrade once another
    /// connection has committed, and fails with SQLITE_BUSY whatever the busy timeout.
    pub(crate) async fn write_tx(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }
}

fn backend_of(url: &str) -> Result<Backend, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else {
        Err(StoreError::UnsupportedUrl(redact(url)))
    }
}

/// Adds `mode=rwc` so a missing database file is created, unless the URL sets a mode.
fn sqlite_url_creating(url: &str) -> String {
    if url.contains("mode=") || url.contains(":memory:") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// The URL without its password, for error messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            match creds.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &creds[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// The current time as stored: unix milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Backend {
    /// The backend behind a connection.
    pub(crate) fn of(conn: &sqlx::AnyConnection) -> Backend {
        if conn.backend_name() == "PostgreSQL" {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    /// Appends the placeholder for the `n`th bound value (1-based) of a bulk statement.
    ///
    /// PostgreSQL needs `$n`. SQLite gets anonymous `?` (values bind in order): it looks up
    /// named parameters like `$n` by a linear scan, which makes binding the thousands of values of
    /// one bulk statement quadratic — over a second per 4,000-row insert.
    pub(crate) fn push_param(self, out: &mut String, n: usize) {
        use std::fmt::Write;
        match self {
            Backend::Sqlite => out.push('?'),
            Backend::Postgres => {
                let _ = write!(out, "${n}");
            }
        }
    }
}

/// Placeholders `start..start+count` separated by commas.
pub(crate) fn push_list(out: &mut String, backend: Backend, start: usize, count: usize) {
    for i in 0..count {
        if i > 0 {
            out.push_str(", ");
        }
        backend.push_param(out, start + i);
    }
}

/// SQL for inserting `rows` rows of `cols` columns. The placeholders are written by hand
/// because `QueryBuilder<Any>` emits `?`, which PostgreSQL rejects.
pub(crate) fn multi_row_sql(
    backend: Backend,
    prefix: &str,
    cols: usize,
    rows: usize,
    suffix: &str,
) -> String {
    let mut sql = String::with_capacity(prefix.len() + rows * cols * 6 + suffix.len());
    sql.push_str(prefix);
    sql.push_str(" VALUES ");
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        push_list(&mut sql, backend, r * cols + 1, cols);
        sql.push(')');
    }
    sql.push(' ');
    sql.push_str(suffix);
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://quorum.db"), "sqlite://quorum.db");
    }

    #[test]
    fn numbers_placeholders() {
        assert_eq!(
            multi_row_sql(
                Backend::Postgres,
                "INSERT INTO t (a, b)",
                2,
                2,
                "RETURNING id"
            ),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4) RETURNING id"
        );
        assert_eq!(
            multi_row_sql(Backend::Sqlite, "INSERT INTO t (a, b)", 2, 2, ""),
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?) "
        );
    }

    #[test]
    fn sqlite_urls_create_missing_files() {
        assert_eq!(
            sqlite_url_creating("sqlite://q.db"),
            "sqlite://q.db?mode=rwc"
        );
        assert_eq!(
            sqlite_url_creating("sqlite://q.db?x=1"),
            "sqlite://q.db?x=1&mode=rwc"
        );
        assert_eq!(
            sqlite_url_creating("sqlite://q.db?mode=ro"),
            "sqlite://q.db?mode=ro"
        );
    }
}
