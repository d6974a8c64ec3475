//! Test harness: every integration test runs twice, on a fresh SQLite file and on its own
//! PostgreSQL database, as two tests the runner schedules in parallel (`NAME::sqlite`,
//! `NAME::postgres`; see [`on_both_backends!`]). PostgreSQL needs `QUORUM_TEST_POSTGRES_URL`
//! (an admin URL; each test creates and drops a database of its own); without it the
//! PostgreSQL half prints `SKIPPED on PostgreSQL` and passes, unless `QUORUM_REQUIRE_POSTGRES=1`
//! (as CI sets) turns the skip into a failure.
#![allow(dead_code)]

pub mod browser;

use std::sync::atomic::{AtomicU64, Ordering};

use quorum::domain::ProjectConfig;
use quorum::interfaces::formats::import_csv;
use quorum::store::{NoProgress, Project, Store, StoreOptions};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Makes each named test two tests, one per backend: for `async fn NAME(db: TestDb)`, the
/// module `NAME` holds `sqlite` and `postgres`, each run under the given test attribute (for
/// example `#[tokio::test]`, `#[actix_web::test]` or a multi-threaded tokio runtime).
#[allow(unused_macros)]
macro_rules! on_both_backends {
    (#[$attr:meta] $($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[$attr]
                async fn sqlite() {
                    super::$name($crate::common::TestDb::sqlite().await).await
                }

                #[$attr]
                async fn postgres() {
                    if let Some(db) = $crate::common::TestDb::postgres().await {
                        super::$name(db).await
                    }
                }
            }
        )+
    };
}

/// The two stores every test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A database of its own on the configured PostgreSQL server, dropped by [`PgDatabase::drop`].
pub struct PgDatabase {
    pub url: String,
    admin_url: String,
    name: String,
}

impl PgDatabase {
    /// A new, empty database, or `None` (with the `SKIPPED` note) when no server is configured.
    pub async fn create() -> Option<PgDatabase> {
        let Ok(admin_url) = std::env::var("QUORUM_TEST_POSTGRES_URL") else {
            if std::env::var("QUORUM_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                panic!("QUORUM_REQUIRE_POSTGRES=1 but QUORUM_TEST_POSTGRES_URL is not set");
            }
            eprintln!("SKIPPED on PostgreSQL: set QUORUM_TEST_POSTGRES_URL to run this test there");
            return None;
        };
        sqlx::any::install_default_drivers();
        let name = format!(
            "quorum_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            chrono::Utc::now().timestamp_micros() % 1_000_000
        );
        let mut admin = sqlx::AnyConnection::connect_any(&admin_url).await;
        let conn = admin
            .as_mut()
            .expect("connect to PostgreSQL admin database");
        sqlx::Executor::execute(
            &mut *conn,
            sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")),
        )
        .await
        .expect("create test database");
        Some(PgDatabase {
            url: replace_db(&admin_url, &name),
            admin_url,
            name,
        })
    }

    /// Drops the database, closing whatever connections are still open to it.
    pub async fn drop(&self) {
        if let Ok(mut conn) = sqlx::AnyConnection::connect_any(&self.admin_url).await {
            let _ = sqlx::Executor::execute(
                &mut conn,
                sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                )),
            )
            .await;
        }
    }
}

/// A fresh, migrated database that [`TestDb::finish`] removes.
pub struct TestDb {
    pub store: Store,
    pub url: String,
    pub backend: Backend,
    postgres: Option<PgDatabase>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        let store = Store::open(&StoreOptions::new(&url))
            .await
            .expect("open sqlite");
        TestDb {
            store,
            url,
            backend: Backend::Sqlite,
            postgres: None,
            _dir: Some(dir),
        }
    }

    /// A new database on the PostgreSQL server, or `None` (with a note) when none is configured.
    pub async fn postgres() -> Option<TestDb> {
        let database = PgDatabase::create().await?;
        let store = Store::open(&StoreOptions::new(&database.url))
            .await
            .expect("open postgres");
        Some(TestDb {
            store,
            url: database.url.clone(),
            backend: Backend::Postgres,
            postgres: Some(database),
            _dir: None,
        })
    }

    /// Names the backend in assertion messages.
    pub fn backend(&self) -> &'static str {
        self.backend.name()
    }

    pub async fn finish(self) {
        self.store.close().await;
        if let Some(database) = &self.postgres {
            database.drop().await;
        }
    }

    pub async fn project(&self, toml: &str) -> Project {
        let config = ProjectConfig::from_toml(toml).expect("valid config");
        self.store
            .create_project(&config, None)
            .await
            .expect("create project")
    }

    pub async fn import_items(&self, project: &Project, csv: &str) -> quorum::store::ImportSummary {
        let parsed = import_csv::parse_items("items.csv", csv.as_bytes()).expect("parse items");
        self.store
            .import_items(project, &parsed.field_names, parsed.records, &NoProgress)
            .await
            .expect("import items")
    }

    pub async fn import_judgments(
        &self,
        project: &Project,
        csv: &str,
    ) -> Result<quorum::store::ImportSummary, quorum::store::StoreError> {
        let parsed = import_csv::parse_judgments("judgments.csv", csv.as_bytes(), None)
            .expect("parse judgments");
        self.store
            .import_judgments(project, &parsed.batch, &NoProgress)
            .await
    }
}

trait ConnectAny {
    async fn connect_any(url: &str) -> Result<sqlx::AnyConnection, sqlx::Error>;
}

impl ConnectAny for sqlx::AnyConnection {
    async fn connect_any(url: &str) -> Result<sqlx::AnyConnection, sqlx::Error> {
        use sqlx::Connection;
        sqlx::AnyConnection::connect(url).await
    }
}

fn replace_db(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let base = match base.rfind('/') {
        Some(i) if i > "postgres://".len() => &base[..i],
        _ => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// The whole app (pages and API) as an actix test service over `$store`, with a fresh session
/// key; for `#[macro_use] mod common;` in the HTTP tests.
#[allow(unused_macros)]
macro_rules! test_app {
    ($store:expr) => {
        test_app!($store, false)
    };
    ($store:expr, $secure_cookies:expr) => {
        test_app!(
            $store,
            $secure_cookies,
            quorum::auth::SessionPolicy::default()
        )
    };
    ($store:expr, $secure_cookies:expr, $sessions:expr) => {
        test_app!(
            $store,
            $secure_cookies,
            $sessions,
            actix_web::cookie::Key::generate()
        )
    };
    // With a given session key: several apps on one key and one database are several
    // instances behind one load balancer.
    ($store:expr, $secure_cookies:expr, $sessions:expr, $key:expr) => {{
        let config = quorum::interfaces::http::WebConfig {
            session_key: $key,
            secure_cookies: $secure_cookies,
            demo: false,
            sessions: $sessions,
        };
        let state = quorum::interfaces::http::AppState {
            store: $store.clone(),
            demo: false,
            sessions: config.sessions,
        };
        actix_web::test::init_service(quorum::interfaces::server::app(state, &config)).await
    }};
}

/// A [`browser::Browser`] on a fresh app over `$store`.
#[allow(unused_macros)]
macro_rules! browser {
    ($store:expr) => {
        $crate::common::browser::new(test_app!($store))
    };
}

/// A login annotator `annotator{n}@example.com`; its id.
pub async fn annotator(store: &Store, n: usize) -> i64 {
    store
        .create_user(&quorum::store::NewUser {
            email: format!("annotator{n}@example.com"),
            role: quorum::store::Role::Annotator,
            password_hash: "not-used".into(),
        })
        .await
        .expect("user")
        .id
}

pub const HANDLES_7_OF_9: &str = r#"
name = "Athlete handles"
slug = "athlete-handles"
instructions = "Find the athlete's official Twitter handle."
[answer]
kind = "text"
normalize = ["trim", "nfkc", "casefold", "handle"]
[quorum]
agree = 7
max = 9
stop = "early"
"#;

pub fn config(agree: u32, max: u32, stop: &str) -> String {
    HANDLES_7_OF_9
        .replace("agree = 7", &format!("agree = {agree}"))
        .replace("max = 9", &format!("max = {max}"))
        .replace("stop = \"early\"", &format!("stop = \"{stop}\""))
}

pub const LEAGUES: &str = r#"
name = "Leagues"
slug = "leagues"
instructions = "Which league does this player play in?"
[answer]
kind = "choice"
options = ["nba", "nfl", "mlb", "nhl"]
[quorum]
agree = 2
max = 3
stop = "early"
"#;

/// Every item of a project as the labels export reads them, in import order.
pub async fn export_rows(
    snap: &mut quorum::store::ExportSnapshot,
    project_id: i64,
) -> Vec<quorum::store::ExportRow> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(1);
    let collect = async move {
        let mut rows = Vec::new();
        while let Some(page) = rx.recv().await {
            rows.extend(page);
        }
        rows
    };
    let (sent, rows) = tokio::join!(
        snap.send_item_pages(project_id, Default::default(), tx),
        collect
    );
    sent.expect("items");
    rows
}
