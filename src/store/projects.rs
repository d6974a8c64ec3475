//! Projects: a configuration (answer schema, quorum rule) and the items it applies to.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, now_ms};
use crate::domain::{AnswerSpec, ProjectConfig, QuorumRule, StopMode};

/// A stored project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: i64,
    pub config: ProjectConfig,
    pub owner_id: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Bumped whenever the answer schema or quorum rule changes; see [`check_config_version`].
    pub config_version: i64,
}

impl Project {
    pub fn slug(&self) -> &str {
        &self.config.slug
    }

    pub fn rule(&self) -> &QuorumRule {
        &self.config.rule
    }

    pub fn answer(&self) -> &AnswerSpec {
        &self.config.answer
    }
}

/// How far a project has come.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ProjectCounts {
    pub items: u64,
    pub pending: u64,
    pub resolved: u64,
    pub unresolved: u64,
    pub adjudicated: u64,
    pub judgments: u64,
}

macro_rules! project_columns {
    () => {
        "id, slug, name, instructions, answer_spec, agree, max_judgments, stop_mode, \
         lease_seconds, owner_id, created_at, updated_at, config_version, confidence_target, \
         confidence_min"
    };
}

fn project_from_row(row: &AnyRow) -> Result<Project, StoreError> {
    let spec: String = row.try_get("answer_spec")?;
    let answer: AnswerSpec = serde_json::from_str(&spec)
        .map_err(|e| StoreError::Corrupt(format!("answer_spec: {e}")))?;
    let stop: String = row.try_get("stop_mode")?;
    let stop =
        StopMode::parse(&stop).ok_or_else(|| StoreError::Corrupt(format!("stop_mode {stop:?}")))?;
    let as_u32 = |name: &str| -> Result<u32, StoreError> {
        let v: i64 = row.try_get(name)?;
        u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("{name} = {v}")))
    };
    let target: Option<f64> = row.try_get("confidence_target")?;
    let rule = match target {
        Some(target) => {
            let min: Option<i64> = row.try_get("confidence_min")?;
            let min = min
                .and_then(|m| u32::try_from(m).ok())
                .ok_or_else(|| StoreError::Corrupt(format!("confidence_min = {min:?}")))?;
            QuorumRule::confidence(target, min, as_u32("max_judgments")?)
        }
        None => QuorumRule::new(as_u32("agree")?, as_u32("max_judgments")?, stop),
    }
    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Project {
        id: row.try_get("id")?,
        config: ProjectConfig {
            name: row.try_get("name")?,
            slug: row.try_get("slug")?,
            instructions: row.try_get("instructions")?,
            answer,
            rule,
            lease_seconds: as_u32("lease_seconds")?,
        },
        owner_id: row.try_get("owner_id")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        config_version: row.try_get("config_version")?,
    })
}

/// The `agree` column of a rule: under confidence stopping, which counts no votes, a value
/// that satisfies the column's original CHECK (see migration 0009) and is never read.
pub(crate) fn stored_agree(rule: &QuorumRule) -> i64 {
    match rule.target() {
        Some(_) => i64::from(rule.max() / 2 + 1),
        None => i64::from(rule.agree()),
    }
}

/// The `stop_mode` column of a rule: confidence stopping is told by `confidence_target`, and
/// keeps `early` here for the column's original CHECK (see migration 0009).
pub(crate) fn stored_stop(rule: &QuorumRule) -> &'static str {
    match rule.target() {
        Some(_) => StopMode::Early.as_str(),
        None => rule.stop().as_str(),
    }
}

impl Store {
    /// Creates a project from a validated configuration.
    #[tracing::instrument(skip(self, config), fields(slug = %config.slug))]
    pub async fn create_project(
        &self,
        config: &ProjectConfig,
        owner_id: Option<i64>,
    ) -> Result<Project, StoreError> {
        let now = now_ms();
        let spec = serde_json::to_string(&config.answer)
            .map_err(|e| StoreError::Invalid(format!("answer schema: {e}")))?;
        let result = sqlx::query(concat!(
            "INSERT INTO projects (slug, name, instructions, answer_spec, agree, max_judgments, \
             stop_mode, lease_seconds, owner_id, created_at, updated_at, confidence_target, \
             confidence_min) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, \
             NULLIF(CAST($11 AS DOUBLE PRECISION), -1), $12) RETURNING ",
            project_columns!()
        ))
        .bind(&config.slug)
        .bind(&config.name)
        .bind(&config.instructions)
        .bind(spec)
        .bind(stored_agree(&config.rule))
        .bind(i64::from(config.rule.max()))
        .bind(stored_stop(&config.rule))
        .bind(i64::from(config.lease_seconds))
        .bind(owner_id)
        .bind(now)
        .bind(super::opt_f64(config.rule.target()))
        .bind(config.rule.target().map(|_| i64::from(config.rule.min())))
        .fetch_one(&self.pool)
        .await;
        match result {
            Ok(row) => project_from_row(&row),
            Err(e) => {
                let e = StoreError::from(e);
                if e.is_unique_violation() {
                    Err(StoreError::Conflict(format!(
                        "a project with slug {:?} already exists",
                        config.slug
                    )))
                } else {
                    Err(e)
                }
            }
        }
    }

    pub async fn project_by_slug(&self, slug: &str) -> Result<Project, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            project_columns!(),
            " FROM projects WHERE slug = $1"
        ))
        .bind(slug)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::not_found(format!("project {slug:?}")))?;
        project_from_row(&row)
    }

    /// The project with this slug if `user_id` is one of its members, `None` if they are not:
    /// the labeling routes' check in one query instead of two.
    pub async fn project_for_member(
        &self,
        slug: &str,
        user_id: i64,
    ) -> Result<Option<Project>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            project_columns!(),
            ", (SELECT m.user_id FROM project_members m WHERE m.project_id = projects.id \
             AND m.user_id = $2) AS member FROM projects WHERE slug = $1"
        ))
        .bind(slug)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::not_found(format!("project {slug:?}")))?;
        let member: Option<i64> = row.try_get("member")?;
        if member.is_some() {
            project_from_row(&row).map(Some)
        } else {
            Ok(None)
        }
    }

    pub async fn project_by_id(&self, id: i64) -> Result<Project, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            project_columns!(),
            " FROM projects WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::not_found(format!("project {id}")))?;
        project_from_row(&row)
    }

    pub async fn list_projects(&self) -> Result<Vec<Project>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            project_columns!(),
            " FROM projects ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(project_from_row).collect()
    }

    /// Item counts per status and the number of judgments.
    pub async fn project_counts(&self, project_id: i64) -> Result<ProjectCounts, StoreError> {
        counts(&self.pool, project_id).await
    }

    /// The project's input field names, in order of first appearance.
    pub async fn project_fields(&self, project_id: i64) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT name FROM project_fields WHERE project_id = $1 ORDER BY position",
        )
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?)
    }
}

/// Item counts per status and the number of judgments, on a pool or inside a transaction.
pub(crate) async fn counts<'e, E>(ex: E, project_id: i64) -> Result<ProjectCounts, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let rows = sqlx::query(
        "SELECT status, CAST(COUNT(*) AS BIGINT) AS n, \
         CAST(COALESCE(SUM(judgment_count), 0) AS BIGINT) AS j \
         FROM items WHERE project_id = $1 GROUP BY status",
    )
    .bind(project_id)
    .fetch_all(ex)
    .await?;
    let mut counts = ProjectCounts::default();
    for row in rows {
        let status: String = row.try_get("status")?;
        let n = row.try_get::<i64, _>("n")?.max(0) as u64;
        counts.items += n;
        counts.judgments += row.try_get::<i64, _>("j")?.max(0) as u64;
        match status.as_str() {
            "pending" => counts.pending = n,
            "resolved" => counts.resolved = n,
            "unresolved" => counts.unresolved = n,
            "adjudicated" => counts.adjudicated = n,
            other => return Err(StoreError::Corrupt(format!("item status {other:?}"))),
        }
    }
    Ok(counts)
}
