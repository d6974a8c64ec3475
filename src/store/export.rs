//! Streaming reads for exports: rows arrive one at a time, so memory stays flat however many
//! items a project has. Aggregates over categories are computed by the database.

use std::collections::HashMap;

use futures_util::{Stream, StreamExt, TryStreamExt};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Backend, Store, StoreError};

/// One item as the labels export needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRow {
    pub item_id: i64,
    pub external_id: String,
    pub status: String,
    pub label: Option<String>,
    pub votes: i64,
    pub judgments: i64,
    /// The normalised answer distribution as a JSON object.
    pub answers: String,
    /// Input fields as a JSON object.
    pub fields: String,
}

/// One judgment in the long format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JudgmentExportRow {
    pub item_id: String,
    pub annotator: String,
    pub answer: String,
    pub normalized: String,
    pub created_at: i64,
}

/// Per-annotator counts from which agreement with the consensus is computed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AnnotatorAgreementRow {
    pub annotator: String,
    pub judgments: u64,
    /// Judgments on resolved items.
    pub on_resolved: u64,
    /// Of those, how many equal the item's label.
    pub matches: u64,
    /// Σ over categories c of (their answers c) × (labels c), over their resolved items:
    /// the chance-agreement term of Cohen's kappa.
    pub sum_products: u64,
}

fn export_row(row: AnyRow) -> Result<ExportRow, StoreError> {
    Ok(ExportRow {
        item_id: row.try_get("id")?,
        external_id: row.try_get("external_id")?,
        status: row.try_get("status")?,
        label: row.try_get("label")?,
        votes: row.try_get("votes")?,
        judgments: row.try_get("judgment_count")?,
        answers: row.try_get("answers")?,
        fields: row.try_get("fields")?,
    })
}

fn count(row: &AnyRow, name: &str) -> Result<u64, StoreError> {
    let v: i64 = row.try_get(name)?;
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{name} = {v}")))
}

/// A consistent read view for one export: every query of the export sees the same data even
/// while annotators keep labeling (a read transaction on SQLite's WAL, `REPEATABLE READ` on
/// PostgreSQL), so the labels, the statistics and the judgments always agree.
pub struct ExportSnapshot {
    tx: sqlx::Transaction<'static, sqlx::Any>,
}

impl Store {
    /// Opens a consistent read view for an export.
    pub async fn export_snapshot(&self) -> Result<ExportSnapshot, StoreError> {
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin().await?,
            Backend::Postgres => {
                self.pool
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?
            }
        };
        Ok(ExportSnapshot { tx })
    }
}

impl ExportSnapshot {
    /// Ends the read view.
    pub async fn close(self) -> Result<(), StoreError> {
        self.tx.rollback().await?;
        Ok(())
    }

    /// The project's input field names, in order of first appearance.
    pub async fn project_fields(&mut self, project_id: i64) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT name FROM project_fields WHERE project_id = $1 ORDER BY position",
        )
        .bind(project_id)
        .fetch_all(&mut *self.tx)
        .await?)
    }

    /// The project's items in import order, streamed.
    pub fn stream_items(
        &mut self,
        project_id: i64,
    ) -> impl Stream<Item = Result<ExportRow, StoreError>> + Send + '_ {
        sqlx::query(
            "SELECT id, external_id, status, label, votes, judgment_count, answers, fields \
             FROM items WHERE project_id = $1 ORDER BY id",
        )
        .bind(project_id)
        .fetch(&mut *self.tx)
        .map_err(StoreError::from)
        .and_then(|row| async move { export_row(row) })
    }

    /// The project's judgments, grouped by item in import order, streamed.
    pub fn stream_judgments(
        &mut self,
        project_id: i64,
    ) -> impl Stream<Item = Result<JudgmentExportRow, StoreError>> + Send + '_ {
        sqlx::query(
            "SELECT i.external_id, u.name, j.answer, j.normalized, j.created_at \
             FROM items i JOIN judgments j ON j.item_id = i.id JOIN users u ON u.id = j.annotator_id \
             WHERE i.project_id = $1 ORDER BY i.id, j.id",
        )
        .bind(project_id)
        .fetch(&mut *self.tx)
        .map(|row| -> Result<JudgmentExportRow, StoreError> {
            let row = row?;
            Ok(JudgmentExportRow {
                item_id: row.try_get("external_id")?,
                annotator: row.try_get("name")?,
                answer: row.try_get("answer")?,
                normalized: row.try_get("normalized")?,
                created_at: row.try_get("created_at")?,
            })
        })
    }

    /// For each normalised answer, its count over items with at least two judgments: the
    /// category marginals of Fleiss' kappa and Krippendorff's alpha.
    pub fn stream_category_totals(
        &mut self,
        project_id: i64,
    ) -> impl Stream<Item = Result<u64, StoreError>> + Send + '_ {
        sqlx::query(
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM items i JOIN judgments j ON j.item_id = i.id \
             WHERE i.project_id = $1 AND i.judgment_count >= 2 GROUP BY j.normalized",
        )
        .bind(project_id)
        .fetch(&mut *self.tx)
        .map(|row| count(&row?, "n"))
    }

    /// Per-annotator agreement counts, ordered by annotator name.
    pub async fn annotator_agreement(
        &mut self,
        project_id: i64,
    ) -> Result<Vec<AnnotatorAgreementRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT u.id AS uid, u.name AS annotator, CAST(COUNT(*) AS BIGINT) AS judgments, \
             CAST(SUM(CASE WHEN i.status = 'resolved' THEN 1 ELSE 0 END) AS BIGINT) AS on_resolved, \
             CAST(SUM(CASE WHEN i.status = 'resolved' AND j.normalized = i.label THEN 1 ELSE 0 END) AS BIGINT) AS matches \
             FROM items i JOIN judgments j ON j.item_id = i.id JOIN users u ON u.id = j.annotator_id \
             WHERE i.project_id = $1 GROUP BY u.id, u.name ORDER BY u.name",
        )
        .bind(project_id)
        .fetch_all(&mut *self.tx)
        .await?;
        let products = sqlx::query(
            "SELECT a.annotator_id AS uid, CAST(SUM(a.n * b.n) AS BIGINT) AS s FROM \
             (SELECT j.annotator_id, j.normalized AS c, COUNT(*) AS n FROM items i \
              JOIN judgments j ON j.item_id = i.id WHERE i.project_id = $1 AND i.status = 'resolved' \
              GROUP BY j.annotator_id, j.normalized) a \
             JOIN \
             (SELECT j.annotator_id, i.label AS c, COUNT(*) AS n FROM items i \
              JOIN judgments j ON j.item_id = i.id WHERE i.project_id = $1 AND i.status = 'resolved' \
              GROUP BY j.annotator_id, i.label) b \
             ON a.annotator_id = b.annotator_id AND a.c = b.c GROUP BY a.annotator_id",
        )
        .bind(project_id)
        .fetch_all(&mut *self.tx)
        .await?;
        let mut sums: HashMap<i64, u64> = HashMap::with_capacity(products.len());
        for row in &products {
            sums.insert(row.try_get("uid")?, count(row, "s")?);
        }
        rows.iter()
            .map(|row| {
                let uid: i64 = row.try_get("uid")?;
                Ok(AnnotatorAgreementRow {
                    annotator: row.try_get("annotator")?,
                    judgments: count(row, "judgments")?,
                    on_resolved: count(row, "on_resolved")?,
                    matches: count(row, "matches")?,
                    sum_products: sums.get(&uid).copied().unwrap_or(0),
                })
            })
            .collect()
    }
}
