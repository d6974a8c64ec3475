//! An item's derived columns: its tally and outcome (`status`, `label`, `votes`, `answers`,
//! `judgment_count`) and its count of open leases. Every path that adds, removes or
//! re-normalises judgments or leases (the labeling loop, imports, reconfiguration) writes them
//! through here, so they are recomputed one way.

use std::collections::BTreeMap;

use sqlx::{Any, AssertSqlSafe, Transaction};

use super::progress::Progress;
use super::projects::Project;
use super::{Backend, MAX_BINDS, StoreError};
use crate::domain::{Outcome, Tally};

/// Recomputes and stores one item's tally and outcome from all its judgments.
pub(crate) async fn redecide(
    tx: &mut Transaction<'static, Any>,
    project: &Project,
    item_id: i64,
    now: i64,
) -> Result<Outcome, StoreError> {
    let answers: Vec<String> =
        sqlx::query_scalar("SELECT normalized FROM judgments WHERE item_id = $1")
            .bind(item_id)
            .fetch_all(&mut **tx)
            .await?;
    let tally = Tally::from_answers(answers.iter().map(String::as_str));
    let outcome = project.rule().decide(&tally);
    sqlx::query(
        "UPDATE items SET \
         status = CASE WHEN status = 'adjudicated' THEN status ELSE $1 END, \
         label = CASE WHEN status = 'adjudicated' THEN label ELSE $2 END, \
         votes = $3, answers = $4, judgment_count = $5, updated_at = $6, change_seq = -1 \
         WHERE id = $7",
    )
    .bind(outcome.status().as_str())
    .bind(outcome.label().map(str::to_owned))
    .bind(i64::from(tally.top().map_or(0, |(_, v)| v)))
    .bind(tally.to_json())
    .bind(i64::from(tally.total()))
    .bind(now)
    .bind(item_id)
    .execute(&mut **tx)
    .await?;
    Ok(outcome)
}

/// Gives the items back the slots of leases just deleted (`items` has an item's id once per
/// deleted lease).
pub(crate) async fn return_slots(
    tx: &mut sqlx::AnyConnection,
    items: &[i64],
) -> Result<(), StoreError> {
    // In id order, so that transactions returning overlapping slots lock items in one order.
    let mut per_item: BTreeMap<i64, i64> = BTreeMap::new();
    for id in items {
        *per_item.entry(*id).or_default() += 1;
    }
    for (id, n) in per_item {
        sqlx::query("UPDATE items SET lease_count = lease_count - $1 WHERE id = $2")
            .bind(n)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// Writes each item's tally and outcome in multi-row `UPDATE … FROM (VALUES …)` statements.
pub(crate) async fn update_outcomes(
    tx: &mut Transaction<'static, Any>,
    project: &Project,
    updates: &[(i64, Tally)],
    now: i64,
    progress: &dyn Progress,
) -> Result<(), StoreError> {
    const COLS: usize = 6;
    let backend = Backend::of(tx);
    for chunk in updates.chunks((MAX_BINDS / COLS).min(2000)) {
        let mut sql = String::from(
            "UPDATE items SET \
             status = CASE WHEN items.status = 'adjudicated' THEN items.status ELSE v.column2 END, \
             label = CASE WHEN items.status = 'adjudicated' THEN items.label ELSE v.column3 END, \
             votes = v.column4, answers = v.column5, judgment_count = v.column6, change_seq = -1, \
             updated_at = ",
        );
        backend.push_param(&mut sql, 1);
        sql.push_str(" FROM (VALUES ");
        for r in 0..chunk.len() {
            if r > 0 {
                sql.push_str(", ");
            }
            let b = 2 + r * COLS;
            // PostgreSQL types untyped VALUES parameters as text: cast the numbers.
            for (c, cast) in [true, false, false, true, false, true]
                .into_iter()
                .enumerate()
            {
                sql.push_str(match (c, cast) {
                    (0, true) => "(CAST(",
                    (0, false) => "(",
                    (_, true) => ", CAST(",
                    (_, false) => ", ",
                });
                backend.push_param(&mut sql, b + c);
                if cast {
                    sql.push_str(" AS BIGINT)");
                }
            }
            sql.push(')');
        }
        sql.push_str(") AS v WHERE items.id = v.column1");
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(now);
        for (id, tally) in chunk {
            let outcome = project.rule().decide(tally);
            q = q
                .bind(*id)
                .bind(outcome.status().as_str())
                .bind(outcome.label().map(str::to_owned))
                .bind(i64::from(tally.top().map_or(0, |(_, v)| v)))
                .bind(tally.to_json())
                .bind(i64::from(tally.total()));
        }
        q.execute(&mut **tx).await?;
        progress.advance(chunk.len() as u64);
    }
    Ok(())
}
