//! The stored crowd model behind confidence stopping: loading the current annotator estimates
//! for the submit path (cached per process, reloaded when `projects.model_version` moves), and
//! re-fitting them from every judgment.
//!
//! When a re-fit happens: [`Store::refit_if_due`] (the server calls it periodically) re-fits a
//! confidence-stopping project once its judgments grew by [`REFIT_MIN_NEW`] and
//! [`REFIT_GROWTH`] since the last fit; `quorum model fit` and a rule change to confidence
//! stopping fit at once. A re-fit, in one transaction: stores the new estimates and bumps the
//! version, re-decides the pending items under them (some resolve, none skip their `min`), and
//! reviews the resolved ones — an item the new model no longer supports keeps its status and
//! label and gets a row in `model_reviews` (never flipped silently); a later re-fit that
//! supports it again removes the row.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sqlx::{Any, AssertSqlSafe, Row, Transaction};

use super::changes::{change_seq, stamp_changes};
use super::outcomes::{Decision, ModelRef, decide_item, judgments_by_item, update_outcomes};
use super::progress::NoProgress;
use super::project_lock::check_config_version;
use super::projects::Project;
use super::{Backend, MAX_BINDS, Store, StoreError, now_ms};
use crate::domain::crowd::annotator_model::AnnotatorModel;
use crate::domain::crowd::dawid_skene::Options;
use crate::domain::crowd::project_model::{CrowdModel, ModelBuilder};
use crate::domain::{Outcome, Status};

/// A re-fit waits for at least this many new judgments…
pub const REFIT_MIN_NEW: i64 = 20;
/// …and for the judgments to have grown by this share since the last fit, so that re-fits
/// grow rarer as a project grows (each costs a pass over all its judgments).
pub const REFIT_GROWTH: f64 = 0.1;

/// A cached model: (config version, model version, model).
type CachedModel = (i64, i64, Arc<AnnotatorModel>);

/// Per-process cache of the models in use, by project id.
pub(crate) type ModelCache = Arc<Mutex<HashMap<i64, CachedModel>>>;

/// What a re-fit did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct RefitSummary {
    /// The new model version.
    pub version: i64,
    pub judgments: u64,
    pub annotators: u64,
    pub iterations: u32,
    pub converged: bool,
    /// Pending items that resolved under the new estimates.
    pub resolved: u64,
    /// Resolved items the new model no longer supports (rows in `model_reviews` now).
    pub flagged: u64,
    /// Whether the model cells of the items were stored (current for exports), and the
    /// project's change number after the re-fit.
    pub cells_stored: bool,
    pub change_seq: i64,
}

/// A resolved item a re-fit no longer supports.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModelReview {
    pub item_id: String,
    pub label: String,
    pub label_posterior: f64,
    pub model_label: String,
    pub model_posterior: f64,
    pub model_version: i64,
}

/// The stored model's bookkeeping.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModelInfo {
    pub version: i64,
    pub fitted_at: i64,
    pub judgments: i64,
    pub iterations: i64,
    pub converged: bool,
}

impl Store {
    /// The annotator estimates of a confidence-stopping project at `version` (what
    /// [`check_config_version`] returned in the same transaction); `None` for other rules.
    pub(crate) async fn annotator_model(
        &self,
        tx: &mut Transaction<'static, Any>,
        project: &Project,
        version: i64,
    ) -> Result<Option<Arc<AnnotatorModel>>, StoreError> {
        if project.rule().target().is_none() {
            return Ok(None);
        }
        if let Some((config, v, model)) = self.lock_models().get(&project.id)
            && *config == project.config_version
            && *v == version
        {
            return Ok(Some(model.clone()));
        }
        let body: Option<String> = sqlx::query_scalar(
            "SELECT body FROM crowd_models WHERE project_id = $1 AND version = $2",
        )
        .bind(project.id)
        .bind(version)
        .fetch_optional(&mut **tx)
        .await?;
        let model = match body {
            Some(body) => serde_json::from_str(&body).map_err(|e| {
                StoreError::Corrupt(format!("crowd model of {:?}: {e}", project.slug()))
            })?,
            None => AnnotatorModel::cold_start(project.answer()),
        };
        let model = Arc::new(model);
        self.lock_models()
            .insert(project.id, (project.config_version, version, model.clone()));
        Ok(Some(model))
    }

    fn lock_models(&self) -> std::sync::MutexGuard<'_, HashMap<i64, CachedModel>> {
        // The map holds plain values: a panic elsewhere cannot leave it half-updated.
        self.models.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The stored model's bookkeeping, `None` before the first fit.
    pub async fn model_info(&self, project: &Project) -> Result<Option<ModelInfo>, StoreError> {
        let row = sqlx::query(
            "SELECT version, fitted_at, judgments, iterations, converged FROM crowd_models \
             WHERE project_id = $1",
        )
        .bind(project.id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| -> Result<ModelInfo, StoreError> {
            Ok(ModelInfo {
                version: r.try_get("version")?,
                fitted_at: r.try_get("fitted_at")?,
                judgments: r.try_get("judgments")?,
                iterations: r.try_get("iterations")?,
                converged: r.try_get::<i64, _>("converged")? == 1,
            })
        })
        .transpose()
    }

    /// Resolved items the latest re-fit no longer supports, in import order.
    pub async fn model_reviews(&self, project: &Project) -> Result<Vec<ModelReview>, StoreError> {
        let rows = sqlx::query(
            "SELECT i.external_id, r.label, r.label_posterior, r.model_label, r.model_posterior, \
             r.model_version FROM model_reviews r JOIN items i ON i.id = r.item_id \
             WHERE r.project_id = $1 ORDER BY r.item_id",
        )
        .bind(project.id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ModelReview {
                    item_id: r.try_get("external_id")?,
                    label: r.try_get("label")?,
                    label_posterior: r.try_get("label_posterior")?,
                    model_label: r.try_get("model_label")?,
                    model_posterior: r.try_get("model_posterior")?,
                    model_version: r.try_get("model_version")?,
                })
            })
            .collect()
    }

    /// Re-fits when it is due (see the module documentation); `None` when nothing was. Two
    /// reasons: under confidence stopping, enough judgments arrived since the last fit (the
    /// estimates submits decide with); for any project, the model cells stored for exports
    /// are not current and the project did not change since the previous call (`seen` holds
    /// each project's change number at the previous call), so a project that has gone quiet
    /// gets its cells once rather than a re-fit per burst of labeling.
    pub async fn refit_if_due(
        &self,
        project: &Project,
        seen: &mut HashMap<i64, i64>,
    ) -> Result<Option<RefitSummary>, StoreError> {
        let confidence = project.rule().target().is_some();
        // Counting the judgments is a pass over the project's index: only confidence stopping
        // needs the count; for the others, whether there is one.
        let row = sqlx::query(
            "SELECT coalesce((SELECT seq FROM project_changes WHERE project_id = $1), 0) AS seq, \
             (SELECT cells_change_seq FROM crowd_models WHERE project_id = $1) AS cells, \
             (SELECT judgments FROM crowd_models WHERE project_id = $1) AS fitted, \
             CASE WHEN $2 = 1 THEN (SELECT COUNT(*) FROM judgments WHERE project_id = $1) \
             ELSE (SELECT COUNT(*) FROM (SELECT 1 FROM judgments WHERE project_id = $1 LIMIT 1) \
             AS one) END AS judgments",
        )
        .bind(project.id)
        .bind(i64::from(confidence))
        .fetch_one(&self.pool)
        .await?;
        let seq: i64 = row.try_get("seq")?;
        let cells: Option<i64> = row.try_get("cells")?;
        let fitted: i64 = row.try_get::<Option<i64>, _>("fitted")?.unwrap_or(0);
        let judgments: i64 = row.try_get("judgments")?;
        let quiet = seen.insert(project.id, seq) == Some(seq);
        let cells_due = judgments > 0 && cells != Some(seq) && quiet;
        let new = judgments - fitted;
        let estimates_due =
            confidence && new >= REFIT_MIN_NEW && (new as f64) >= REFIT_GROWTH * fitted as f64;
        if !(cells_due || estimates_due) {
            return Ok(None);
        }
        let summary = self.refit_model(project).await?;
        seen.insert(project.id, summary.change_seq);
        Ok(Some(summary))
    }

    /// Fits the crowd model to every judgment of the project and applies it (see the module
    /// documentation). For a project that does not stop on confidence it only stores the
    /// estimates.
    #[tracing::instrument(skip(self, project), fields(slug = %project.slug()))]
    pub async fn refit_model(&self, project: &Project) -> Result<RefitSummary, StoreError> {
        let summary = self.prepare_refit(project).await?.apply(self).await?;
        tracing::info!(?summary, "crowd model re-fitted");
        Ok(summary)
    }

    /// The first half of a re-fit, without the write lock: reads every judgment on a read
    /// transaction (labeling goes on meanwhile), runs EM, and works out what the new estimates
    /// do to the items. [`PreparedRefit::apply`] writes it.
    pub async fn prepare_refit(&self, project: &Project) -> Result<PreparedRefit, StoreError> {
        // One snapshot for every page (PostgreSQL's default isolation takes one per statement),
        // so the change number read first dates what the fit saw.
        let mut read = match self.backend {
            Backend::Sqlite => self.pool.begin().await?,
            Backend::Postgres => {
                self.pool
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?
            }
        };
        let read_seq = change_seq(&mut read, project.id).await?;
        let confidence = project.rule().target().is_some();
        let mut fitted = fit_model(&mut read, project, confidence).await?;
        read.rollback().await?;
        let plan = confidence.then(|| plan_review(project, &fitted.model, &fitted.evidence));
        fitted.evidence = Vec::new();
        Ok(PreparedRefit {
            project: project.clone(),
            read_seq,
            fitted,
            plan,
        })
    }
}

/// A re-fit fitted and planned, not yet written (see [`Store::prepare_refit`]).
pub struct PreparedRefit {
    project: Project,
    /// The project's change number the fit's read saw.
    read_seq: i64,
    fitted: Fitted,
    plan: Option<ModelPlan>,
}

impl PreparedRefit {
    /// Stores the new estimates and applies them in one write transaction. Items that changed
    /// since the fit's read are reviewed as they are now; the model cells for exports are
    /// stored only if nothing changed (they must be the bytes a fit of the data as it is gives).
    pub async fn apply(self, store: &Store) -> Result<RefitSummary, StoreError> {
        let PreparedRefit {
            project,
            read_seq,
            fitted,
            plan,
        } = self;
        let project = &project;
        let mut summary = fitted.summary.clone();
        let _turn = super::assignment::sqlite_turn(store).await?;
        let mut tx = store.write_tx().await?;
        check_config_version(&mut tx, project).await?;
        // Takes the project row for the rest of the transaction: submits wait (briefly) so the
        // version they decide with is the one they read, and every writer that held it before
        // has committed, so the change number read next is final for this transaction.
        let version: i64 = sqlx::query_scalar(
            "UPDATE projects SET model_version = model_version + 1 WHERE id = $1 \
             RETURNING model_version",
        )
        .bind(project.id)
        .fetch_one(&mut *tx)
        .await?;
        let unchanged = change_seq(&mut tx, project.id).await? == read_seq;
        summary.version = version;
        store_model(&mut tx, project, &fitted.model, &summary).await?;
        let mut resolved = HashMap::new();
        if let Some(mut plan) = plan {
            if !unchanged {
                plan.redo_changed(&mut tx, project, &fitted.model, read_seq)
                    .await?;
            }
            resolved = apply_model(&mut tx, project, version, plan, &mut summary).await?;
        }
        if unchanged {
            store_cells(&mut tx, project, &fitted, &resolved).await?;
            summary.cells_stored = true;
        }
        summary.change_seq = change_seq(&mut tx, project.id).await?;
        tx.commit().await?;
        Ok(summary)
    }
}

/// Fits the model in `tx` and stores it as `version` (a rule change, inside its transaction).
pub(crate) async fn fit_in(
    tx: &mut Transaction<'static, Any>,
    project: &Project,
    version: i64,
) -> Result<(AnnotatorModel, RefitSummary), StoreError> {
    let Fitted {
        model, mut summary, ..
    } = fit_model(tx, project, false).await?;
    summary.version = version;
    store_model(tx, project, &model, &summary).await?;
    Ok((model, summary))
}

/// A fit of the project's crowd model and what it was fitted to.
struct Fitted {
    model: AnnotatorModel,
    crowd: CrowdModel,
    /// The judged items as the fit saw them: id, adjudicated or not, label.
    items: Vec<(i64, bool, Option<String>)>,
    /// Under confidence stopping, the pending and resolved items with their judgments as the
    /// fit saw them: what the re-fit re-decides and reviews without reading them again.
    evidence: Vec<ItemEvidence>,
    summary: RefitSummary,
}

/// A pending or resolved item and its judgments (annotator id, normalised answer).
struct ItemEvidence {
    item_id: i64,
    /// The resolved label; `None` for a pending item.
    label: Option<String>,
    judgments: Vec<(i64, String)>,
}

/// Fits the crowd model to every judgment of the project as `tx` sees them: the same items,
/// order and known answers as an export's fit, so both give the same bytes.
/// With `keep_evidence` it also keeps what [`apply_model`] needs.
async fn fit_model(
    tx: &mut Transaction<'static, Any>,
    project: &Project,
    keep_evidence: bool,
) -> Result<Fitted, StoreError> {
    // The next page is read while this one is added.
    let (page_tx, mut page_rx) = tokio::sync::mpsc::channel(1);
    let produce = super::judged_pages::send_judged_pages(tx, project.id, page_tx);
    let consume = async {
        let mut builder = ModelBuilder::new(project.answer());
        let mut judgments = 0u64;
        let mut items = Vec::new();
        let mut evidence = Vec::new();
        while let Some(page) = page_rx.recv().await {
            for item in page.items() {
                if !item.add_to(&mut builder) {
                    continue;
                }
                judgments += item.judgments().len() as u64;
                let adjudicated = item.status == Status::Adjudicated;
                items.push((item.item_id, adjudicated, item.label.map(str::to_owned)));
                if keep_evidence && matches!(item.status, Status::Pending | Status::Resolved) {
                    evidence.push(ItemEvidence {
                        item_id: item.item_id,
                        label: item.label.map(str::to_owned),
                        judgments: item.judgments().map(|(a, s)| (a, s.to_owned())).collect(),
                    });
                }
            }
        }
        Ok::<_, StoreError>((builder, judgments, items, evidence))
    };
    let ((), (builder, judgments, items, evidence)) = tokio::try_join!(produce, consume)?;
    let crowd = builder
        .fit(&Options::default())
        .map_err(|e| StoreError::Corrupt(format!("crowd model of {:?}: {e}", project.slug())))?;
    let model = AnnotatorModel::from_fit(&crowd);
    let summary = RefitSummary {
        judgments,
        annotators: model.annotators() as u64,
        iterations: crowd.fit().iterations,
        converged: crowd.fit().converged,
        ..RefitSummary::default()
    };
    Ok(Fitted {
        model,
        crowd,
        items,
        evidence,
        summary,
    })
}

/// Stores every judged item's model cells under `fitted` (labels as they are after
/// `resolved`, the items the re-fit just resolved) and marks them current at the project's
/// change number now. Only when nothing changed between the fit's read and this write.
async fn store_cells(
    tx: &mut Transaction<'static, Any>,
    project: &Project,
    fitted: &Fitted,
    resolved: &HashMap<i64, String>,
) -> Result<(), StoreError> {
    let backend = Backend::of(tx);
    for chunk in fitted.items.chunks(MAX_BINDS / 2) {
        let mut sql = String::from("UPDATE items SET model_cells = v.column2 FROM (VALUES ");
        for r in 0..chunk.len() {
            sql.push_str(if r == 0 { "(CAST(" } else { ", (CAST(" });
            backend.push_param(&mut sql, 1 + 2 * r);
            sql.push_str(" AS BIGINT), ");
            backend.push_param(&mut sql, 2 + 2 * r);
            sql.push(')');
        }
        sql.push_str(") AS v WHERE items.id = v.column1");
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (id, adjudicated, label) in chunk {
            let label = resolved.get(id).or(label.as_ref()).map(String::as_str);
            q = q
                .bind(*id)
                .bind(fitted.crowd.cells(*id, *adjudicated, label).encode());
        }
        q.execute(&mut **tx).await?;
    }
    let summary = serde_json::to_string(&fitted.crowd.summary())
        .map_err(|e| StoreError::Invalid(format!("crowd model summary: {e}")))?;
    let seq = change_seq(tx, project.id).await?;
    sqlx::query(
        "UPDATE crowd_models SET cells_change_seq = $1, cells_summary = $2 WHERE project_id = $3",
    )
    .bind(seq)
    .bind(summary)
    .bind(project.id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Stores `model` as the project's current one, version `summary.version`.
async fn store_model(
    tx: &mut Transaction<'static, Any>,
    project: &Project,
    model: &AnnotatorModel,
    summary: &RefitSummary,
) -> Result<(), StoreError> {
    let body = serde_json::to_string(model)
        .map_err(|e| StoreError::Invalid(format!("crowd model: {e}")))?;
    sqlx::query("DELETE FROM crowd_models WHERE project_id = $1")
        .bind(project.id)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO crowd_models (project_id, version, fitted_at, judgments, iterations, \
         converged, body) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(project.id)
    .bind(summary.version)
    .bind(now_ms())
    .bind(summary.judgments as i64)
    .bind(i64::from(summary.iterations))
    .bind(i64::from(summary.converged))
    .bind(body)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A resolved item the new model no longer supports: (item, label, its posterior, the
/// model's answer, that answer's posterior).
type Review = (i64, String, f64, String, f64);

/// What new estimates do to the pending and resolved items: decisions for the pending items
/// they decide, reviews of the resolved items they no longer support, and the resolved items
/// they support again.
struct ModelPlan {
    updates: Vec<Decision>,
    reviews: Vec<Review>,
    supported: Vec<i64>,
}

/// Re-decides the pending items of `evidence` under `model` and reviews the resolved ones.
fn plan_review(project: &Project, model: &AnnotatorModel, evidence: &[ItemEvidence]) -> ModelPlan {
    let mut plan = ModelPlan {
        updates: Vec::new(),
        reviews: Vec::new(),
        supported: Vec::new(),
    };
    let Some(target) = project.rule().target() else {
        return plan;
    };
    // The version is only recorded when the decisions are written.
    let model_ref = Some(ModelRef { model, version: 0 });
    for item in evidence {
        let Some(label) = &item.label else {
            let d = decide_item(project, model_ref, item.item_id, &item.judgments);
            if d.outcome(project).status() != Status::Pending {
                plan.updates.push(d);
            }
            continue;
        };
        let pairs: Vec<(i64, &str)> = item
            .judgments
            .iter()
            .map(|(a, s)| (*a, s.as_str()))
            .collect();
        let Some((best, best_p)) = model.best(&pairs) else {
            continue;
        };
        let label_p = model
            .posterior(&pairs)
            .into_iter()
            .find(|(a, _)| a == label)
            .map_or(0.0, |(_, p)| p);
        if &best != label || label_p < target {
            plan.reviews
                .push((item.item_id, label.clone(), label_p, best, best_p));
        } else {
            plan.supported.push(item.item_id);
        }
    }
    plan
}

impl ModelPlan {
    /// Replaces what the plan says about items changed after the change number `since` (the
    /// fit's read) by a review of them as `tx` sees them.
    async fn redo_changed(
        &mut self,
        tx: &mut Transaction<'static, Any>,
        project: &Project,
        model: &AnnotatorModel,
        since: i64,
    ) -> Result<(), StoreError> {
        let rows = sqlx::query(
            "SELECT id, status, label FROM items WHERE project_id = $1 AND change_seq > $2 \
             ORDER BY id",
        )
        .bind(project.id)
        .bind(since)
        .fetch_all(&mut **tx)
        .await?;
        let mut changed = Vec::with_capacity(rows.len());
        let mut labels = HashMap::new();
        for row in rows {
            let id: i64 = row.try_get("id")?;
            changed.push(id);
            let status: String = row.try_get("status")?;
            match status.as_str() {
                "pending" => {
                    labels.insert(id, None);
                }
                "resolved" => {
                    labels.insert(id, row.try_get::<Option<String>, _>("label")?);
                }
                _ => {}
            }
        }
        let gone = |id: &i64| changed.binary_search(id).is_ok();
        self.updates.retain(|d| !gone(&d.item_id));
        self.reviews.retain(|r| !gone(&r.0));
        self.supported.retain(|id| !gone(id));
        let mut evidence = Vec::new();
        for (item_id, judgments) in judgments_by_item(tx, project, Some(&changed)).await? {
            if let Some(label) = labels.remove(&item_id) {
                evidence.push(ItemEvidence {
                    item_id,
                    label,
                    judgments,
                });
            }
        }
        let fresh = plan_review(project, model, &evidence);
        self.updates.extend(fresh.updates);
        self.reviews.extend(fresh.reviews);
        self.supported.extend(fresh.supported);
        Ok(())
    }
}

/// Writes a [`ModelPlan`] made under model `version`; returns the items it resolved, with
/// their labels.
async fn apply_model(
    tx: &mut Transaction<'static, Any>,
    project: &Project,
    version: i64,
    plan: ModelPlan,
    summary: &mut RefitSummary,
) -> Result<HashMap<i64, String>, StoreError> {
    let now = now_ms();
    let mut now_resolved = HashMap::new();
    if !plan.updates.is_empty() {
        update_outcomes(
            tx,
            project,
            &plan.updates,
            Some(version),
            true,
            now,
            &NoProgress,
        )
        .await?;
        stamp_changes(tx, project.id).await?;
        for d in &plan.updates {
            if let Outcome::Resolved { label, .. } = d.outcome(project) {
                summary.resolved += 1;
                now_resolved.insert(d.item_id, label);
            }
        }
    }
    // Few items are under review: delete the rows of those supported again, not one
    // statement per supported item.
    let under_review: Vec<i64> =
        sqlx::query_scalar("SELECT item_id FROM model_reviews WHERE project_id = $1")
            .bind(project.id)
            .fetch_all(&mut **tx)
            .await?;
    let supported: std::collections::HashSet<i64> = plan.supported.into_iter().collect();
    for id in under_review.into_iter().filter(|id| supported.contains(id)) {
        sqlx::query("DELETE FROM model_reviews WHERE item_id = $1")
            .bind(id)
            .execute(&mut **tx)
            .await?;
    }
    summary.flagged = plan.reviews.len() as u64;
    for (id, label, label_p, best, best_p) in plan.reviews {
        sqlx::query("DELETE FROM model_reviews WHERE item_id = $1")
            .bind(id)
            .execute(&mut **tx)
            .await?;
        sqlx::query(
            "INSERT INTO model_reviews (item_id, project_id, model_version, label, \
             label_posterior, model_label, model_posterior, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id)
        .bind(project.id)
        .bind(version)
        .bind(label)
        .bind(label_p)
        .bind(best)
        .bind(best_p)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(now_resolved)
}
