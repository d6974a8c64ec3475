//! Change tracking for incremental pulls.
//!
//! A writer marks every item whose exported row it changes with `change_seq = -1` and, as the
//! last statement before commit, calls [`stamp_changes`]: it takes the project's next change
//! number and puts it on the marked rows. The counter row stays locked until commit, so
//! change numbers commit in order and every read view sees all changes up to its cursor and
//! none after: "items changed after cursor C" misses nothing and repeats nothing.

use sqlx::{Any, Transaction};

use super::StoreError;

/// The project's change number as `tx` sees it (0 before any change): the cursor of
/// incremental pulls, and the date of a fit's stored model cells.
pub(crate) async fn change_seq(
    tx: &mut Transaction<'static, Any>,
    project_id: i64,
) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT seq FROM project_changes WHERE project_id = $1")
            .bind(project_id)
            .fetch_optional(&mut **tx)
            .await?
            .unwrap_or(0),
    )
}

/// Marks the rows this transaction changed with the project's next change number; returns it.
pub(crate) async fn stamp_changes(
    tx: &mut Transaction<'static, Any>,
    project_id: i64,
) -> Result<i64, StoreError> {
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO project_changes (project_id, seq) VALUES ($1, 1) \
         ON CONFLICT (project_id) DO UPDATE SET seq = project_changes.seq + 1 RETURNING seq",
    )
    .bind(project_id)
    .fetch_one(&mut **tx)
    .await?;
    sqlx::query("UPDATE items SET change_seq = $1 WHERE project_id = $2 AND change_seq = -1")
        .bind(seq)
        .bind(project_id)
        .execute(&mut **tx)
        .await?;
    Ok(seq)
}
