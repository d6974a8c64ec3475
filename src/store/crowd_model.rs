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

use sqlx::{Any, Row, Transaction};

use super::changes::stamp_changes;
use super::outcomes::{Decision, ModelRef, decide_item, judgments_by_item, update_outcomes};
use super::progress::NoProgress;
use super::project_lock::check_config_version;
use super::projects::Project;
use super::{Store, StoreError, now_ms};
use crate::domain::Status;
use crate::domain::crowd::annotator_model::AnnotatorModel;
use crate::domain::crowd::dawid_skene::Options;
use crate::domain::crowd::project_model::ModelBuilder;

/// A re-fit waits for at least this many new judgments…
pub const REFIT_MIN_NEW: i64 = 20;
/// …and for the judgments to have grown by this share since the last fit, so that re-fits
/// grow rarer as a project grows (each costs a pass over all its judgments).
pub const REFIT_GROWTH: f64 = 0.1;

/// A cached model: (config version, model version, model).
type CachedModel = (i64, i64, Arc<AnnotatorModel>);

/// Per-process cache of the models in use, by project id.
pub(crate) type ModelCache = Arc<Mutex<HashMap<i64, CachedModel>>>;

/// An item while the fit's rows are grouped: id, known answer, (annotator, answer) judgments.
type ItemRows = (i64, Option<String>, Vec<(i64, String)>);

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

    /// Re-fits when the project stops on confidence and enough judgments arrived since the
    /// last fit (see the module documentation); `None` when nothing was due.
    pub async fn refit_if_due(
        &self,
        project: &Project,
    ) -> Result<Option<RefitSummary>, StoreError> {
        if project.rule().target().is_none() {
            return Ok(None);
        }
        let judgments: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM judgments WHERE project_id = $1")
                .bind(project.id)
                .fetch_one(&self.pool)
                .await?;
        let fitted: i64 = self
            .model_info(project)
            .await?
            .map_or(0, |info| info.judgments);
        let new = judgments - fitted;
        if new < REFIT_MIN_NEW || (new as f64) < REFIT_GROWTH * fitted as f64 {
            return Ok(None);
        }
        self.refit_model(project).await.map(Some)
    }

    /// Fits the crowd model to every judgment of the project and applies it (see the module
    /// documentation). For a project that does not stop on confidence it only stores the
    /// estimates.
    #[tracing::instrument(skip(self, project), fields(slug = %project.slug()))]
    pub async fn refit_model(&self, project: &Project) -> Result<RefitSummary, StoreError> {
        // The fit reads every judgment and runs EM: on a read transaction, so labeling goes on
        // meanwhile (judgments that arrive during it wait for the next re-fit).
        let mut read = self.pool.begin().await?;
        let (model, mut summary) = fit_model(&mut read, project).await?;
        read.rollback().await?;
        let _turn = super::assignment::sqlite_turn(self).await?;
        let mut tx = self.write_tx().await?;
        check_config_version(&mut tx, project).await?;
        // Takes the project row for the rest of the transaction: submits wait (briefly) so the
        // version they decide with is the one they read.
        let version: i64 = sqlx::query_scalar(
            "UPDATE projects SET model_version = model_version + 1 WHERE id = $1 \
             RETURNING model_version",
        )
        .bind(project.id)
        .fetch_one(&mut *tx)
        .await?;
        summary.version = version;
        store_model(&mut tx, project, &model, &summary).await?;
        apply_model(&mut tx, project, &model, version, &mut summary).await?;
        tx.commit().await?;
        tracing::info!(?summary, "crowd model re-fitted");
        Ok(summary)
    }
}

/// Fits the model in `tx` and stores it as `version` (a rule change, inside its transaction).
pub(crate) async fn fit_in(
    tx: &mut Transaction<'static, Any>,
    project: &Project,
    version: i64,
) -> Result<(AnnotatorModel, RefitSummary), StoreError> {
    let (model, mut summary) = fit_model(tx, project).await?;
    summary.version = version;
    store_model(tx, project, &model, &summary).await?;
    Ok((model, summary))
}

/// Fits the crowd model to every judgment of the project as `tx` sees them.
async fn fit_model(
    tx: &mut Transaction<'static, Any>,
    project: &Project,
) -> Result<(AnnotatorModel, RefitSummary), StoreError> {
    let rows = sqlx::query(
        "SELECT i.id, i.status, i.label, j.annotator_id, j.normalized FROM items i \
         LEFT JOIN judgments j ON j.item_id = i.id WHERE i.project_id = $1 ORDER BY i.id, j.id",
    )
    .bind(project.id)
    .fetch_all(&mut **tx)
    .await?;
    let mut builder = ModelBuilder::new(project.answer());
    let mut judgments = 0u64;
    let mut current: Option<ItemRows> = None;
    let flush = |builder: &mut ModelBuilder, item: ItemRows| {
        let (id, known, list) = item;
        if !list.is_empty() || known.is_some() {
            builder.add_item(
                id,
                list.iter().map(|(a, s)| (*a, s.as_str())),
                known.as_deref(),
            );
        }
    };
    for row in rows {
        let id: i64 = row.try_get("id")?;
        if current.as_ref().is_none_or(|c| c.0 != id) {
            if let Some(item) = current.take() {
                flush(&mut builder, item);
            }
            let status: String = row.try_get("status")?;
            let label: Option<String> = row.try_get("label")?;
            let known = (Status::parse(&status) == Some(Status::Adjudicated))
                .then_some(label)
                .flatten();
            current = Some((id, known, Vec::new()));
        }
        let annotator: Option<i64> = row.try_get("annotator_id")?;
        if let (Some(annotator), Some(item)) = (annotator, current.as_mut()) {
            item.2.push((annotator, row.try_get("normalized")?));
            judgments += 1;
        }
    }
    if let Some(item) = current.take() {
        flush(&mut builder, item);
    }
    let fitted = builder
        .fit(&Options::default())
        .map_err(|e| StoreError::Corrupt(format!("crowd model of {:?}: {e}", project.slug())))?;
    let model = AnnotatorModel::from_fit(&fitted);
    let summary = RefitSummary {
        judgments,
        annotators: model.annotators() as u64,
        iterations: fitted.fit().iterations,
        converged: fitted.fit().converged,
        ..RefitSummary::default()
    };
    Ok((model, summary))
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

/// Re-decides the pending items under `model` and reviews the resolved ones.
pub(crate) async fn apply_model(
    tx: &mut Transaction<'static, Any>,
    project: &Project,
    model: &AnnotatorModel,
    version: i64,
    summary: &mut RefitSummary,
) -> Result<(), StoreError> {
    let Some(target) = project.rule().target() else {
        return Ok(());
    };
    let statuses = sqlx::query(
        "SELECT id, status, label FROM items WHERE project_id = $1 AND judgment_count > 0 \
         AND status IN ('pending', 'resolved') ORDER BY id",
    )
    .bind(project.id)
    .fetch_all(&mut **tx)
    .await?;
    let mut pending = Vec::new();
    let mut resolved: HashMap<i64, String> = HashMap::new();
    for row in statuses {
        let id: i64 = row.try_get("id")?;
        let status: String = row.try_get("status")?;
        if status == "pending" {
            pending.push(id);
        } else if let Some(label) = row.try_get::<Option<String>, _>("label")? {
            resolved.insert(id, label);
        }
    }
    let model_ref = Some(ModelRef { model, version });
    let now = now_ms();
    let mut updates: Vec<Decision> = Vec::new();
    let mut reviews: Vec<(i64, &str, f64, String, f64)> = Vec::new();
    let mut supported: Vec<i64> = Vec::new();
    for (item_id, judgments) in judgments_by_item(tx, project, None).await? {
        if pending.binary_search(&item_id).is_ok() {
            let d = decide_item(project, model_ref, item_id, &judgments);
            match d.outcome(project).status() {
                Status::Pending => {}
                status => {
                    summary.resolved += u64::from(status == Status::Resolved);
                    updates.push(d);
                }
            }
        } else if let Some(label) = resolved.get(&item_id) {
            let pairs: Vec<(i64, &str)> = judgments.iter().map(|(a, s)| (*a, s.as_str())).collect();
            let Some((best, best_p)) = model.best(&pairs) else {
                continue;
            };
            let label_p = model
                .posterior(&pairs)
                .into_iter()
                .find(|(a, _)| a == label)
                .map_or(0.0, |(_, p)| p);
            if &best != label || label_p < target {
                reviews.push((item_id, label.as_str(), label_p, best, best_p));
            } else {
                supported.push(item_id);
            }
        }
    }
    if !updates.is_empty() {
        update_outcomes(tx, project, &updates, Some(version), true, now, &NoProgress).await?;
        stamp_changes(tx, project.id).await?;
    }
    for id in supported {
        sqlx::query("DELETE FROM model_reviews WHERE item_id = $1")
            .bind(id)
            .execute(&mut **tx)
            .await?;
    }
    summary.flagged = reviews.len() as u64;
    for (id, label, label_p, best, best_p) in reviews {
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
    Ok(())
}
