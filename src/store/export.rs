//! Streaming reads for exports: rows arrive one at a time, so memory stays flat however many
//! items a project has. Aggregates over categories are computed by the database.

use std::collections::HashMap;

use futures_util::{Stream, StreamExt, TryStreamExt};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Backend, Store, StoreError};
use crate::domain::Status;

/// Which items an export covers: all, those with one status, those changed after a cursor
/// (see [`ExportSnapshot::change_cursor`]), or both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ItemFilter {
    pub status: Option<Status>,
    /// Only items whose exported row changed after this cursor.
    pub since: Option<i64>,
}

/// The four `WHERE` variants of a filtered export query, chosen at run time: static SQL, no
/// string building.
macro_rules! filtered {
    ($select:expr, $order:expr) => {
        [
            concat!($select, " WHERE i.project_id = $1 ", $order),
            concat!(
                $select,
                " WHERE i.project_id = $1 AND i.status = $2 ",
                $order
            ),
            concat!(
                $select,
                " WHERE i.project_id = $1 AND i.change_seq > $2 ",
                $order
            ),
            concat!(
                $select,
                " WHERE i.project_id = $1 AND i.status = $2 AND i.change_seq > $3 ",
                $order
            ),
        ]
    };
}

const ITEMS_SQL: [&str; 4] = filtered!(
    "SELECT i.id, i.external_id, i.status, i.label, i.votes, i.judgment_count, i.answers, i.fields \
     FROM items i",
    "ORDER BY i.id"
);

const JUDGMENTS_SQL: [&str; 4] = filtered!(
    "SELECT i.external_id, u.name, j.answer, j.normalized, j.created_at \
     FROM items i JOIN judgments j ON j.item_id = i.id JOIN users u ON u.id = j.annotator_id",
    "ORDER BY i.id, j.id"
);

impl ItemFilter {
    /// The query for this filter with its parameters bound.
    fn query(
        self,
        variants: &'static [&'static str; 4],
        project_id: i64,
    ) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
        match (self.status, self.since) {
            (None, None) => sqlx::query(variants[0]).bind(project_id),
            (Some(s), None) => sqlx::query(variants[1]).bind(project_id).bind(s.as_str()),
            (None, Some(c)) => sqlx::query(variants[2]).bind(project_id).bind(c),
            (Some(s), Some(c)) => sqlx::query(variants[3])
                .bind(project_id)
                .bind(s.as_str())
                .bind(c),
        }
    }
}

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

/// One item's judgments with its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemJudgments {
    /// The item's label when it is resolved.
    pub label: Option<String>,
    pub item_judgments: u64,
    /// (annotator id, normalised answer) of each judgment.
    pub judgments: Vec<(i64, String)>,
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

    /// The last change number of the project visible in this read view: the cursor a pipeline
    /// passes back as `since` to get only what changed after this export. 0 before any change.
    pub async fn change_cursor(&mut self, project_id: i64) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT seq FROM project_changes WHERE project_id = $1")
                .bind(project_id)
                .fetch_optional(&mut *self.tx)
                .await?
                .unwrap_or(0),
        )
    }

    /// The project's configuration version in this read view.
    pub async fn config_version(&mut self, project_id: i64) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT config_version FROM projects WHERE id = $1")
            .bind(project_id)
            .fetch_optional(&mut *self.tx)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("project {project_id}")))
    }

    /// The project's items (those `filter` selects) in import order, streamed.
    pub fn stream_items(
        &mut self,
        project_id: i64,
        filter: ItemFilter,
    ) -> impl Stream<Item = Result<ExportRow, StoreError>> + Send + '_ {
        filter
            .query(&ITEMS_SQL, project_id)
            .fetch(&mut *self.tx)
            .map_err(StoreError::from)
            .and_then(|row| async move { export_row(row) })
    }

    /// The judgments of the project's items (those `filter` selects), grouped by item in
    /// import order, streamed.
    pub fn stream_judgments(
        &mut self,
        project_id: i64,
        filter: ItemFilter,
    ) -> impl Stream<Item = Result<JudgmentExportRow, StoreError>> + Send + '_ {
        filter
            .query(&JUDGMENTS_SQL, project_id)
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

    /// Every judged item's outcome with its judgments, one row per item in no particular
    /// order: the one pass from which per-annotator agreement and per-answer totals are
    /// computed. Judgments come packed as JSON by the database, which is an order of magnitude
    /// faster than one row per judgment.
    pub fn stream_judgment_outcomes(
        &mut self,
        project_id: i64,
    ) -> impl Stream<Item = Result<ItemJudgments, StoreError>> + Send + '_ {
        let sql = match Backend::of(&self.tx) {
            Backend::Sqlite => {
                "SELECT i.status, i.label, i.judgment_count, \
                 json_group_array(json_array(j.annotator_id, j.normalized)) AS js \
                 FROM items i JOIN judgments j ON j.item_id = i.id WHERE i.project_id = $1 GROUP BY i.id"
            }
            Backend::Postgres => {
                "SELECT i.status, i.label, i.judgment_count, \
                 CAST(json_agg(json_build_array(j.annotator_id, j.normalized)) AS TEXT) AS js \
                 FROM items i JOIN judgments j ON j.item_id = i.id WHERE i.project_id = $1 \
                 GROUP BY i.id, i.status, i.label, i.judgment_count"
            }
        };
        sqlx::query(sql).bind(project_id).fetch(&mut *self.tx).map(
            |row| -> Result<ItemJudgments, StoreError> {
                let row = row?;
                let status: String = row.try_get("status")?;
                let js: String = row.try_get("js")?;
                let judgments: Vec<(i64, String)> = serde_json::from_str(&js)
                    .map_err(|e| StoreError::Corrupt(format!("packed judgments: {e}")))?;
                Ok(ItemJudgments {
                    label: if status == "resolved" {
                        row.try_get("label")?
                    } else {
                        None
                    },
                    item_judgments: count(&row, "judgment_count")?,
                    judgments,
                })
            },
        )
    }

    /// Annotator names by id.
    pub async fn annotator_names(
        &mut self,
        ids: &[i64],
    ) -> Result<HashMap<i64, String>, StoreError> {
        let mut out = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(5000) {
            let mut sql = String::from("SELECT id, name FROM users WHERE id IN (");
            super::push_list(&mut sql, Backend::of(&self.tx), 1, chunk.len());
            sql.push(')');
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(*id);
            }
            for row in q.fetch_all(&mut *self.tx).await? {
                out.insert(row.try_get("id")?, row.try_get("name")?);
            }
        }
        Ok(out)
    }
}
