//! Where a labels export's time goes, measured in this process on the same database.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use futures_util::StreamExt;
use quorum::store::{NoProgress, Store, StoreOptions};
use sqlx::Row;

use crate::export::*;
use crate::support::{cpu_seconds, machine_busy_seconds};
use crate::wait_quiet;

pub(crate) struct Probe {
    pub(crate) what: &'static str,
    pub(crate) rows: u64,
    pub(crate) secs: f64,
    /// CPU seconds other processes used meanwhile (anything else running skews the figure).
    pub(crate) other_cpu: Option<f64>,
}

/// Wall clock plus this process's and the machine's CPU, for an in-process measurement.
pub(crate) struct Clock {
    start: Instant,
    own: Option<f64>,
    machine: Option<f64>,
}

impl Clock {
    pub(crate) fn start() -> Clock {
        Clock {
            start: Instant::now(),
            own: cpu_seconds("self"),
            machine: machine_busy_seconds(),
        }
    }

    pub(crate) fn probe(&self, what: &'static str, rows: u64) -> Probe {
        let secs = self.start.elapsed().as_secs_f64();
        let other = match (
            self.own,
            cpu_seconds("self"),
            self.machine,
            machine_busy_seconds(),
        ) {
            (Some(o0), Some(o1), Some(m0), Some(m1)) => Some(((m1 - m0) - (o1 - o0)).max(0.0)),
            _ => None,
        };
        Probe {
            what,
            rows,
            secs,
            other_cpu: other,
        }
    }
}

/// Where the time of a labels export goes, measured in this process on the same database
/// (page cache warm): reading the items row by row through sqlx as the export does, reading
/// them packed a thousand to a row, and the whole export core (`write_labels`) into a sink.
pub(crate) async fn probe(url: &str, labels_bytes: u64, quiet: Duration) -> Result<Vec<Probe>> {
    let store = Store::connect(&StoreOptions::new(url)).await?;
    let project = store.project_by_slug(EXPORT_SLUG).await?;
    let mut out = Vec::new();

    // 1. The export's query, one row per item: sqlx hands each row from its SQLite worker
    //    thread to this one through a channel. SQLite plans it as a search of the
    //    (project_id, change_seq) index plus a temporary B-tree to sort by id.
    // 1b. The same rows in rowid order (`+project_id` keeps SQLite off that index): no sort.
    let mut n = 0;
    let mut chars = 0;
    for (what, sql) in [
        (
            "read items one row each (sqlx, the export's query)",
            "SELECT i.id, i.external_id, i.status, i.label, i.votes, i.judgment_count, \
             i.answers, i.fields FROM items i WHERE i.project_id = $1 ORDER BY i.id",
        ),
        (
            "read items one row each, rowid order (no sort)",
            "SELECT i.id, i.external_id, i.status, i.label, i.votes, i.judgment_count, \
             i.answers, i.fields FROM items i WHERE +i.project_id = $1 ORDER BY i.id",
        ),
    ] {
        wait_quiet(quiet).await;
        let t = Clock::start();
        let mut rows = sqlx::query(sql).bind(project.id).fetch(store.pool());
        (n, chars) = (0u64, 0usize);
        while let Some(row) = rows.next().await {
            let row = row?;
            let _: i64 = row.try_get(0)?;
            let external_id: String = row.try_get(1)?;
            let status: String = row.try_get(2)?;
            let label: Option<String> = row.try_get(3)?;
            let _: i64 = row.try_get(4)?;
            let _: i64 = row.try_get(5)?;
            let answers: String = row.try_get(6)?;
            let fields: String = row.try_get(7)?;
            chars += external_id.len()
                + status.len()
                + label.map_or(0, |l| l.len())
                + answers.len()
                + fields.len();
            n += 1;
        }
        drop(rows);
        out.push(t.probe(what, n));
    }

    // 2. The same columns packed by SQLite, 1000 items to a row (keyset pages in rowid order).
    type Packed = (
        i64,
        String,
        String,
        Option<String>,
        i64,
        i64,
        String,
        String,
    );
    wait_quiet(quiet).await;
    let t = Clock::start();
    let (mut n2, mut chars2, mut last) = (0u64, 0usize, i64::MIN);
    loop {
        let page: Option<String> = sqlx::query_scalar(
            "SELECT json_group_array(json_array(id, external_id, status, label, votes, \
             judgment_count, answers, fields)) FROM (SELECT * FROM items \
             WHERE +project_id = $1 AND id > $2 ORDER BY id LIMIT 1000) HAVING COUNT(*) > 0",
        )
        .bind(project.id)
        .bind(last)
        .fetch_optional(store.pool())
        .await?;
        let Some(page) = page else { break };
        let items: Vec<Packed> = serde_json::from_str(&page).context("packed page")?;
        for (id, external_id, status, label, _, _, answers, fields) in &items {
            chars2 += external_id.len()
                + status.len()
                + label.as_ref().map_or(0, |l| l.len())
                + answers.len()
                + fields.len();
            last = *id;
            n2 += 1;
        }
    }
    ensure!(
        n2 == n && chars2 == chars,
        "packed read differs: {n2} rows / {chars2} chars vs {n} / {chars}"
    );
    out.push(t.probe(
        "read items packed 1000 to a row (json_group_array), rowid order",
        n2,
    ));

    // 3. The export core as the CLI and the server run it, into a byte counter.
    wait_quiet(quiet).await;
    let t = Clock::start();
    let mut sink = CountingSink(0);
    let mut snapshot = store.export_snapshot().await?;
    let pass = quorum::interfaces::formats::export::write_labels(
        &mut snapshot,
        &project,
        &mut quorum::interfaces::formats::export::ExportOut::writer(&mut sink),
        quorum::interfaces::formats::export::Shape::CSV,
        &NoProgress,
    )
    .await?;
    snapshot.close().await?;
    ensure!(
        sink.0 == labels_bytes,
        "write_labels wrote {} bytes, the CLI {labels_bytes}",
        sink.0
    );
    out.push(t.probe(
        "write_labels into a sink (read + CSV + stats pass)",
        pass.items,
    ));
    store.close().await;
    Ok(out)
}

/// Counts bytes and drops them.
pub(crate) struct CountingSink(u64);

impl std::io::Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
