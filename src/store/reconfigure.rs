//! Changing a project's configuration after work has started.
//!
//! A new answer schema re-normalises every stored judgment (and adjudicated label); a new quorum
//! rule re-decides every item. Both happen in one transaction with the configuration change, so
//! readers see either the old project or the new one, never a mix. A change the stored work
//! cannot satisfy (an answer that is no longer an option, a `max` below the judgments an item
//! already has) is refused and changes nothing.

use sqlx::any::Any;
use sqlx::{AssertSqlSafe, Row, Transaction};

use super::changes::stamp_changes;
use super::crowd_model::fit_in;
use super::outcomes::{ModelRef, decisions, return_slots, update_outcomes};
use super::progress::NoProgress;
use super::projects::{Project, ProjectCounts, counts};
use super::projects::{stored_agree, stored_stop};
use super::{Backend, MAX_BINDS, Store, StoreError};
use crate::domain::ProjectConfig;

/// What a configuration change did to the stored work.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconfigureSummary {
    /// The answer schema or quorum rule changed, so every item was re-decided.
    pub rule_changed: bool,
    /// Items whose outcome was recomputed.
    pub reevaluated: u64,
    /// Judgments whose normalised answer changed under the new answer schema.
    pub renormalized: u64,
    /// Open leases ended because their item no longer had room for them under a lower `max`.
    pub leases_released: u64,
    pub before: ProjectCounts,
    pub after: ProjectCounts,
}

/// At most this many offending judgments are quoted when a new schema is refused.
const QUOTED_PROBLEMS: usize = 3;

impl Store {
    /// Replaces the configuration of `project` with `config` (same slug). `project` must be the
    /// version the caller showed the user: if the configuration changed meanwhile, the call is a
    /// [`StoreError::Conflict`] rather than a silent overwrite.
    #[tracing::instrument(skip(self, project, config), fields(project = %project.slug()))]
    pub async fn reconfigure_project(
        &self,
        project: &Project,
        config: &ProjectConfig,
        now: i64,
    ) -> Result<(Project, ReconfigureSummary), StoreError> {
        if config.slug != project.config.slug {
            return Err(StoreError::Invalid(format!(
                "`slug`: a project's slug cannot change (it is {:?}); URLs and pipelines refer to it",
                project.config.slug
            )));
        }
        let mut tx = self.write_tx().await?;
        // Takes the project row first, in the same order as every writer that checks the
        // version, so none of them can deadlock against this. PostgreSQL: NO KEY UPDATE, which
        // blocks the writers' FOR SHARE but not the KEY SHARE locks that foreign-key checks
        // take when a lease or judgment row is inserted (those writers hold item locks we need).
        let lock = match self.backend {
            Backend::Sqlite => "SELECT config_version, updated_at FROM projects WHERE id = $1",
            Backend::Postgres => {
                "SELECT config_version, updated_at FROM projects WHERE id = $1 FOR NO KEY UPDATE"
            }
        };
        let row = sqlx::query(lock)
            .bind(project.id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("project {:?}", project.slug())))?;
        let (version, updated_at): (i64, i64) =
            (row.try_get("config_version")?, row.try_get("updated_at")?);
        if version != project.config_version || updated_at != project.updated_at {
            return Err(StoreError::Conflict(
                "the project was changed by someone else since you opened it; reload and try again"
                    .into(),
            ));
        }
        let mut summary = ReconfigureSummary {
            before: counts(&mut *tx, project.id).await?,
            ..ReconfigureSummary::default()
        };
        let answer_changed = config.answer != project.config.answer;
        summary.rule_changed = answer_changed || config.rule != project.config.rule;
        let updated = Project {
            config: config.clone(),
            updated_at: now,
            config_version: version + i64::from(summary.rule_changed),
            ..project.clone()
        };

        if answer_changed {
            summary.renormalized = renormalize(&mut tx, &updated).await?;
        }
        let max = i64::from(config.rule.max());
        if config.rule.max() != project.config.rule.max() {
            summary.leases_released = fit_capacity(&mut tx, project.id, max).await?;
        }
        if summary.rule_changed {
            summary.reevaluated = redecide_all(&mut tx, &updated, now).await?;
        }
        let spec = serde_json::to_string(&config.answer)
            .map_err(|e| StoreError::Invalid(format!("answer schema: {e}")))?;
        sqlx::query(
            "UPDATE projects SET name = $1, instructions = $2, answer_spec = $3, agree = $4, \
             max_judgments = $5, stop_mode = $6, lease_seconds = $7, updated_at = $8, \
             config_version = $9, \
             confidence_target = NULLIF(CAST($11 AS DOUBLE PRECISION), -1), confidence_min = $12 \
             WHERE id = $10",
        )
        .bind(&config.name)
        .bind(&config.instructions)
        .bind(spec)
        .bind(stored_agree(&config.rule))
        .bind(max)
        .bind(stored_stop(&config.rule))
        .bind(i64::from(config.lease_seconds))
        .bind(now)
        .bind(updated.config_version)
        .bind(project.id)
        .bind(super::opt_f64(config.rule.target()))
        .bind(config.rule.target().map(|_| i64::from(config.rule.min())))
        .execute(&mut *tx)
        .await?;
        summary.after = counts(&mut *tx, project.id).await?;
        if summary.rule_changed {
            stamp_changes(&mut tx, project.id).await?;
        }
        tx.commit().await?;
        Ok((updated, summary))
    }
}

/// Re-normalises every judgment and adjudicated label under the new answer schema; refuses the
/// change if any no longer fits. Returns how many judgments changed.
async fn renormalize(
    tx: &mut Transaction<'static, Any>,
    project: &Project,
) -> Result<u64, StoreError> {
    let rows = sqlx::query(
        "SELECT j.id, j.answer, j.normalized, i.external_id, u.name \
         FROM judgments j JOIN items i ON i.id = j.item_id JOIN users u ON u.id = j.annotator_id \
         WHERE j.project_id = $1 ORDER BY j.id",
    )
    .bind(project.id)
    .fetch_all(&mut **tx)
    .await?;
    let mut changed: Vec<(i64, String)> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    let mut failures = 0u64;
    for row in &rows {
        let answer: String = row.try_get("answer")?;
        match project.answer().normalize(&answer) {
            Ok(n) => {
                let old: String = row.try_get("normalized")?;
                if n != old {
                    changed.push((row.try_get("id")?, n));
                }
            }
            Err(e) => {
                failures += 1;
                if problems.len() < QUOTED_PROBLEMS {
                    let item: String = row.try_get("external_id")?;
                    let who: String = row.try_get("name")?;
                    problems.push(format!("item {item:?}, {who}: {e}"));
                }
            }
        }
    }
    let labels = sqlx::query(
        "SELECT external_id, label FROM items WHERE project_id = $1 AND status = 'adjudicated' \
         ORDER BY id",
    )
    .bind(project.id)
    .fetch_all(&mut **tx)
    .await?;
    let mut relabel: Vec<(String, String)> = Vec::new();
    for row in &labels {
        let item: String = row.try_get("external_id")?;
        let label: String = row.try_get("label")?;
        match project.answer().normalize(&label) {
            Ok(n) if n != label => relabel.push((item, n)),
            Ok(_) => {}
            Err(e) => {
                failures += 1;
                if problems.len() < QUOTED_PROBLEMS {
                    problems.push(format!("item {item:?}, adjudicated label: {e}"));
                }
            }
        }
    }
    if failures > 0 {
        return Err(StoreError::Invalid(format!(
            "`answer`: {failures} stored answer(s) would not fit the new answer schema, so nothing \
             was changed; for example {}",
            problems.join("; ")
        )));
    }
    let backend = Backend::of(tx);
    for chunk in changed.chunks((MAX_BINDS / 2).min(2000)) {
        let mut sql = String::from("UPDATE judgments SET normalized = v.column2 FROM (VALUES ");
        for r in 0..chunk.len() {
            if r > 0 {
                sql.push_str(", ");
            }
            sql.push_str("(CAST(");
            backend.push_param(&mut sql, 1 + 2 * r);
            sql.push_str(" AS BIGINT), ");
            backend.push_param(&mut sql, 2 + 2 * r);
            sql.push(')');
        }
        sql.push_str(") AS v WHERE judgments.id = v.column1");
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (id, n) in chunk {
            q = q.bind(*id).bind(n.as_str());
        }
        q.execute(&mut **tx).await?;
    }
    for (item, label) in relabel {
        sqlx::query("UPDATE items SET label = $1, change_seq = -1 WHERE project_id = $2 AND external_id = $3")
            .bind(label)
            .bind(project.id)
            .bind(item)
            .execute(&mut **tx)
            .await?;
    }
    Ok(changed.len() as u64)
}

/// Sets every item's capacity to the new `max`. Refuses a `max` below the judgments an item
/// already has; ends the newest open leases of items that would otherwise exceed it.
async fn fit_capacity(
    tx: &mut Transaction<'static, Any>,
    project_id: i64,
    max: i64,
) -> Result<u64, StoreError> {
    let fullest = sqlx::query(
        "SELECT external_id, judgment_count FROM items \
         WHERE project_id = $1 AND judgment_count > $2 ORDER BY judgment_count DESC, id LIMIT 1",
    )
    .bind(project_id)
    .bind(max)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(row) = fullest {
        let item: String = row.try_get("external_id")?;
        let n: i64 = row.try_get("judgment_count")?;
        return Err(StoreError::Invalid(format!(
            "`quorum.max`: item {item:?} already has {n} judgments, so max cannot be lower than {n}; \
             nothing was changed"
        )));
    }
    // Writers that add leases hold a share lock on the project row (see
    // `lock_project_shared`), so none can slip a lease in between these statements. Only the
    // excess goes, newest leases first: the annotators who have held theirs longest keep them.
    let over = sqlx::query(
        "SELECT id, judgment_count + lease_count - $2 AS excess FROM items \
         WHERE project_id = $1 AND judgment_count + lease_count > $2",
    )
    .bind(project_id)
    .bind(max)
    .fetch_all(&mut **tx)
    .await?;
    let mut released: Vec<i64> = Vec::new();
    for row in over {
        let item: i64 = row.try_get("id")?;
        let excess: i64 = row.try_get("excess")?;
        let ended: Vec<i64> = sqlx::query_scalar(
            "DELETE FROM leases WHERE id IN \
             (SELECT id FROM leases WHERE item_id = $1 ORDER BY id DESC LIMIT $2) RETURNING item_id",
        )
        .bind(item)
        .bind(excess)
        .fetch_all(&mut **tx)
        .await?;
        released.extend(ended);
    }
    return_slots(tx, &released).await?;
    sqlx::query("UPDATE items SET capacity = $1 WHERE project_id = $2")
        .bind(max)
        .bind(project_id)
        .execute(&mut **tx)
        .await?;
    Ok(released.len() as u64)
}

/// Re-decides every item with judgments under the project's (new) rule; adjudicated items keep
/// their owner's label. A rule that stops on confidence first gets a crowd model fitted to every
/// judgment under the new answer schema (stored as the next model version), so the change is
/// decided by evidence rather than by the cold-start guess. Returns the number of items
/// re-decided.
async fn redecide_all(
    tx: &mut Transaction<'static, Any>,
    project: &Project,
    now: i64,
) -> Result<u64, StoreError> {
    let fitted = if project.rule().target().is_some() {
        let version: i64 = sqlx::query_scalar(
            "UPDATE projects SET model_version = model_version + 1 WHERE id = $1 \
             RETURNING model_version",
        )
        .bind(project.id)
        .fetch_one(&mut **tx)
        .await?;
        Some((fit_in(tx, project, version).await?.0, version))
    } else {
        None
    };
    let model = fitted.as_ref().map(|(model, version)| ModelRef {
        model,
        version: *version,
    });
    let updates = decisions(tx, project, model, None).await?;
    sqlx::query("DELETE FROM model_reviews WHERE project_id = $1")
        .bind(project.id)
        .execute(&mut **tx)
        .await?;
    update_outcomes(
        tx,
        project,
        &updates,
        model.map(|m| m.version),
        false,
        now,
        &NoProgress,
    )
    .await?;
    Ok(updates.len() as u64)
}
