//! Adjudication: an owner's final label for an item the crowd could not settle.

use sqlx::Row;

use super::changes::stamp_changes;
use super::project_lock::check_config_version;
use super::{Project, Store, StoreError};
use crate::domain::Tally;

/// An unresolved item awaiting an owner's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnresolvedItem {
    pub id: i64,
    pub external_id: String,
    pub fields: String,
    pub answers: Tally,
    pub judgments: i64,
}

impl Store {
    /// Unresolved items of a project, oldest first, at most `limit`.
    pub async fn unresolved_items(
        &self,
        project_id: i64,
        limit: i64,
    ) -> Result<Vec<UnresolvedItem>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, external_id, fields, answers, judgment_count FROM items \
             WHERE project_id = $1 AND status = 'unresolved' ORDER BY id LIMIT $2",
        )
        .bind(project_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let answers: String = r.try_get("answers")?;
                Ok(UnresolvedItem {
                    id: r.try_get("id")?,
                    external_id: r.try_get("external_id")?,
                    fields: r.try_get("fields")?,
                    answers: Tally::from_json(&answers)
                        .map_err(|e| StoreError::Corrupt(format!("answers: {e}")))?,
                    judgments: r.try_get("judgment_count")?,
                })
            })
            .collect()
    }

    /// Records `label` as the final answer of an unresolved (or already adjudicated) item, by
    /// `user_id` at `now`. The label goes through the project's normalisers like any answer.
    pub async fn adjudicate(
        &self,
        project: &Project,
        item_id: i64,
        label: &str,
        user_id: i64,
        now: i64,
    ) -> Result<String, StoreError> {
        let label = project
            .answer()
            .normalize(label)
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let mut tx = self.write_tx().await?;
        check_config_version(&mut tx, project).await?;
        let done = sqlx::query(
            "UPDATE items SET status = 'adjudicated', label = $1, adjudicated_by = $2, \
             adjudicated_at = $3, updated_at = $3, change_seq = -1 \
             WHERE id = $4 AND project_id = $5 AND status IN ('unresolved', 'adjudicated')",
        )
        .bind(label.as_str())
        .bind(user_id)
        .bind(now)
        .bind(item_id)
        .bind(project.id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(
                "only items the crowd could not settle (unresolved) can be adjudicated".into(),
            ));
        }
        stamp_changes(&mut tx, project.id).await?;
        tx.commit().await?;
        Ok(label)
    }
}
