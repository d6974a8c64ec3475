//! A throwaway PostgreSQL database per run, and the server processes' CPU.

use anyhow::{Context, Result};

use crate::support::cpu_seconds;

/// A fresh PostgreSQL database for one run, dropped afterwards.
pub(crate) struct PgDatabase {
    pub(crate) admin_url: String,
    pub(crate) name: String,
    pub(crate) url: String,
}

impl PgDatabase {
    pub(crate) async fn create(admin_url: &str) -> Result<PgDatabase> {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let name = format!(
            "quorum_bench_api_{}_{}",
            std::process::id(),
            quorum::store::now_ms() % 1_000_000
        );
        let mut admin = sqlx::AnyConnection::connect(admin_url)
            .await
            .with_context(|| {
                format!(
                    "connecting to PostgreSQL at {}",
                    quorum::store::redact(admin_url)
                )
            })?;
        sqlx::Executor::execute(
            &mut admin,
            sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")),
        )
        .await
        .with_context(|| format!("creating database {name}"))?;
        admin.close().await.ok();
        let url = replace_db(admin_url, &name);
        println!("created PostgreSQL database {name}");
        Ok(PgDatabase {
            admin_url: admin_url.to_owned(),
            name,
            url,
        })
    }

    pub(crate) async fn drop_database(self) {
        use sqlx::Connection;
        match sqlx::AnyConnection::connect(&self.admin_url).await {
            Ok(mut conn) => {
                let dropped = sqlx::Executor::execute(
                    &mut conn,
                    sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                        self.name
                    )),
                )
                .await;
                match dropped {
                    Ok(_) => println!("dropped PostgreSQL database {}", self.name),
                    Err(e) => eprintln!("warning: could not drop database {}: {e}", self.name),
                }
            }
            Err(e) => eprintln!("warning: could not drop database {}: {e}", self.name),
        }
    }
}

/// `url` with its database name replaced.
pub(crate) fn replace_db(url: &str, name: &str) -> String {
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

/// CPU seconds of every process named `postgres` (the server's backends), from /proc.
pub(crate) fn postgres_cpu_seconds() -> Option<f64> {
    let mut total = 0.0;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if stat.contains("(postgres)") {
            total += cpu_seconds(pid).unwrap_or(0.0);
        }
    }
    Some(total)
}
