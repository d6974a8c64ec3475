//! An item's derived columns: its tally and outcome (`status`, `label`, `votes`, `answers`,
//! `judgment_count`) and its count of open leases. Every path that adds, removes or
//! re-normalises judgments or leases (the labeling loop, imports, reconfiguration) writes them
//! through here, so they are recomputed one way.

use std::collections::BTreeMap;

use sqlx::{Any, AssertSqlSafe, Row, Transaction};

use super::progress::Progress;
use super::projects::Project;
use super::{Backend, MAX_BINDS, StoreError, opt_f64};
use crate::domain::crowd::annotator_model::AnnotatorModel;
use crate::domain::{Outcome, Tally};

/// The annotator estimates a confidence-stopping decision is made with, and their version
/// (`projects.model_version`), recorded with each item it resolves.
#[derive(Clone, Copy)]
pub(crate) struct ModelRef<'a> {
    pub model: &'a AnnotatorModel,
    pub version: i64,
}

/// One item's new tally and, under confidence stopping, the model's most probable answer.
pub(crate) struct Decision {
    pub item_id: i64,
    pub tally: Tally,
    pub best: Option<(String, f64)>,
}

impl Decision {
    /// A decision by vote count alone (K-of-N rules).
    pub fn counted(item_id: i64, tally: Tally) -> Decision {
        Decision {
            item_id,
            tally,
            best: None,
        }
    }

    pub fn outcome(&self, project: &Project) -> Outcome {
        project.rule().decide_with(
            &self.tally,
            self.best.as_ref().map(|(a, p)| (a.as_str(), *p)),
        )
    }

    /// The posterior behind a confidence-stopping resolution, stored with it.
    fn decided_confidence(&self, outcome: &Outcome) -> Option<f64> {
        match (outcome, &self.best) {
            (Outcome::Resolved { .. }, Some((_, p))) => Some(*p),
            _ => None,
        }
    }
}

/// The decisions for the project's items with judgments (all of them, or those in `only`,
/// sorted), each with the model's belief when the rule stops on confidence.
pub(crate) async fn decisions(
    tx: &mut Transaction<'static, Any>,
    project: &Project,
    model: Option<ModelRef<'_>>,
    only: Option<&[i64]>,
) -> Result<Vec<Decision>, StoreError> {
    Ok(judgments_by_item(tx, project, only)
        .await?
        .into_iter()
        .map(|(item_id, judgments)| decide_item(project, model, item_id, &judgments))
        .collect())
}

/// The project's judgments as (annotator id, normalised answer), grouped by item in id order
/// (all items with judgments, or those in `only`, sorted: then only their judgments are read).
pub(crate) async fn judgments_by_item(
    tx: &mut Transaction<'static, Any>,
    project: &Project,
    only: Option<&[i64]>,
) -> Result<Vec<(i64, Vec<(i64, String)>)>, StoreError> {
    let rows = match only {
        None => {
            sqlx::query(
                "SELECT item_id, annotator_id, normalized FROM judgments WHERE project_id = $1 \
                 ORDER BY item_id, id",
            )
            .bind(project.id)
            .fetch_all(&mut **tx)
            .await?
        }
        Some(ids) => {
            let backend = Backend::of(tx);
            let mut rows = Vec::new();
            for chunk in ids.chunks(MAX_BINDS.min(2000)) {
                let mut sql = String::from(
                    "SELECT item_id, annotator_id, normalized FROM judgments WHERE item_id IN (",
                );
                for r in 0..chunk.len() {
                    if r > 0 {
                        sql.push_str(", ");
                    }
                    backend.push_param(&mut sql, 1 + r);
                }
                sql.push_str(") ORDER BY item_id, id");
                let mut q = sqlx::query(AssertSqlSafe(sql));
                for id in chunk {
                    q = q.bind(*id);
                }
                rows.extend(q.fetch_all(&mut **tx).await?);
            }
            rows
        }
    };
    let mut per_item: Vec<(i64, Vec<(i64, String)>)> = Vec::new();
    for row in rows {
        let item: i64 = row.try_get("item_id")?;
        let judgment = (row.try_get("annotator_id")?, row.try_get("normalized")?);
        match per_item.last_mut() {
            Some((id, list)) if *id == item => list.push(judgment),
            _ => per_item.push((item, vec![judgment])),
        }
    }
    Ok(per_item)
}

pub(crate) fn decide_item(
    project: &Project,
    model: Option<ModelRef<'_>>,
    item_id: i64,
    judgments: &[(i64, String)],
) -> Decision {
    let tally = Tally::from_answers(judgments.iter().map(|(_, a)| a.as_str()));
    let best = match model {
        Some(m) if project.rule().target().is_some() => {
            let pairs: Vec<(i64, &str)> = judgments.iter().map(|(j, a)| (*j, a.as_str())).collect();
            m.model.best(&pairs)
        }
        _ => None,
    };
    Decision {
        item_id,
        tally,
        best,
    }
}

/// Recomputes and stores one item's tally and outcome from all its judgments; `model` is
/// required under confidence stopping (without it nothing resolves before `max`).
pub(crate) async fn redecide(
    tx: &mut Transaction<'static, Any>,
    project: &Project,
    model: Option<ModelRef<'_>>,
    item_id: i64,
    now: i64,
) -> Result<Outcome, StoreError> {
    let rows = sqlx::query(
        "SELECT annotator_id, normalized FROM judgments WHERE item_id = $1 ORDER BY id",
    )
    .bind(item_id)
    .fetch_all(&mut **tx)
    .await?;
    let mut judgments = Vec::with_capacity(rows.len());
    for row in rows {
        judgments.push((row.try_get("annotator_id")?, row.try_get("normalized")?));
    }
    let decision = decide_item(project, model, item_id, &judgments);
    let outcome = decision.outcome(project);
    let tally = &decision.tally;
    let confidence = decision.decided_confidence(&outcome);
    let sql = format!(
        "UPDATE items SET \
         status = CASE WHEN {frozen} THEN status ELSE $1 END, \
         label = CASE WHEN {frozen} THEN label ELSE $2 END, \
         votes = $3, answers = $4, judgment_count = $5, updated_at = $6, change_seq = -1, \
         decided_confidence = CASE WHEN status = 'adjudicated' THEN NULL \
         WHEN {frozen} THEN decided_confidence \
         ELSE NULLIF(CAST($8 AS DOUBLE PRECISION), -1) END, \
         decided_model_version = CASE WHEN status = 'adjudicated' THEN NULL \
         WHEN {frozen} THEN decided_model_version ELSE CAST($9 AS BIGINT) END \
         WHERE id = $7 RETURNING status, label",
        frozen = frozen_when(project, "")
    );
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(outcome.status().as_str())
        .bind(outcome.label().map(str::to_owned))
        .bind(i64::from(tally.top().map_or(0, |(_, v)| v)))
        .bind(tally.to_json())
        .bind(i64::from(tally.total()))
        .bind(now)
        .bind(item_id)
        .bind(opt_f64(confidence))
        .bind(confidence.and(model.map(|m| m.version)))
        .fetch_one(&mut **tx)
        .await?;
    // What is stored: a decision kept final may differ from the recomputed one.
    let status: String = row.try_get("status")?;
    let label: Option<String> = row.try_get("label")?;
    Ok(match (status.as_str(), label) {
        ("resolved", Some(label)) => Outcome::Resolved {
            votes: tally.count(&label),
            label,
        },
        _ => outcome,
    })
}

/// The SQL condition (on the `items` row, columns prefixed by `table`) under which an item's
/// decision is kept as it is: an owner's adjudication always; under confidence stopping a
/// resolution too, because judgments from leases handed out before the item resolved keep
/// arriving, and a posterior (unlike K of N with K > N/2) could be talked back down by them —
/// a resolved item is never flipped by late evidence (a re-fit flags it instead).
fn frozen_when(project: &Project, table: &str) -> String {
    if project.rule().target().is_some() {
        format!("{table}status IN ('adjudicated', 'resolved')")
    } else {
        format!("{table}status = 'adjudicated'")
    }
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

/// Writes each item's tally and outcome in multi-row `UPDATE … FROM (VALUES …)` statements;
/// `model_version` is recorded with the confidence-stopping resolutions among them. With
/// `keep_final`, decisions the rule treats as final (see `frozen_when`) are kept, as for new
/// judgments; a rule change passes `false` and decides everything but adjudications afresh.
pub(crate) async fn update_outcomes(
    tx: &mut Transaction<'static, Any>,
    project: &Project,
    updates: &[Decision],
    model_version: Option<i64>,
    keep_final: bool,
    now: i64,
    progress: &dyn Progress,
) -> Result<(), StoreError> {
    const COLS: usize = 8;
    let backend = Backend::of(tx);
    let frozen = if keep_final {
        frozen_when(project, "items.")
    } else {
        "items.status = 'adjudicated'".to_owned()
    };
    for chunk in updates.chunks((MAX_BINDS / COLS).min(2000)) {
        let mut sql = format!(
            "UPDATE items SET \
             status = CASE WHEN {frozen} THEN items.status ELSE v.column2 END, \
             label = CASE WHEN {frozen} THEN items.label ELSE v.column3 END, \
             votes = v.column4, answers = v.column5, judgment_count = v.column6, change_seq = -1, \
             decided_confidence = CASE WHEN items.status = 'adjudicated' THEN NULL \
             WHEN {frozen} THEN items.decided_confidence ELSE NULLIF(v.column7, -1) END, \
             decided_model_version = CASE WHEN items.status = 'adjudicated' THEN NULL \
             WHEN {frozen} THEN items.decided_model_version ELSE v.column8 END, \
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
            for (c, cast) in [
                Some("BIGINT"),
                None,
                None,
                Some("BIGINT"),
                None,
                Some("BIGINT"),
                Some("DOUBLE PRECISION"),
                Some("BIGINT"),
            ]
            .into_iter()
            .enumerate()
            {
                sql.push_str(match (c, cast) {
                    (0, Some(_)) => "(CAST(",
                    (0, None) => "(",
                    (_, Some(_)) => ", CAST(",
                    (_, None) => ", ",
                });
                backend.push_param(&mut sql, b + c);
                if let Some(ty) = cast {
                    sql.push_str(" AS ");
                    sql.push_str(ty);
                    sql.push(')');
                }
            }
            sql.push(')');
        }
        sql.push_str(") AS v WHERE items.id = v.column1");
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(now);
        for d in chunk {
            let outcome = d.outcome(project);
            let tally = &d.tally;
            let confidence = d.decided_confidence(&outcome);
            q = q
                .bind(d.item_id)
                .bind(outcome.status().as_str())
                .bind(outcome.label().map(str::to_owned))
                .bind(i64::from(tally.top().map_or(0, |(_, v)| v)))
                .bind(tally.to_json())
                .bind(i64::from(tally.total()))
                .bind(opt_f64(confidence))
                .bind(confidence.and(model_version));
        }
        q.execute(&mut **tx).await?;
        progress.advance(chunk.len() as u64);
    }
    Ok(())
}
