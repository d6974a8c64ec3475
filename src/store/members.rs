//! Project membership: an annotator labels only the projects they were added to.

use sqlx::Row;

use super::{Store, StoreError, now_ms};

/// A project as an annotator sees it on their home page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberProject {
    pub slug: String,
    pub name: String,
    /// Judgments this annotator has given in the project.
    pub mine: u64,
    /// Items still pending.
    pub pending: u64,
    pub items: u64,
}

impl Store {
    /// Adds a user to a project (idempotent).
    pub async fn add_member(&self, project_id: i64, user_id: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO project_members (project_id, user_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (project_id, user_id) DO NOTHING",
        )
        .bind(project_id)
        .bind(user_id)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn is_member(&self, project_id: i64, user_id: i64) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT user_id FROM project_members WHERE project_id = $1 AND user_id = $2",
        )
        .bind(project_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    /// The projects a user belongs to, with their own progress.
    pub async fn member_projects(&self, user_id: i64) -> Result<Vec<MemberProject>, StoreError> {
        let rows = sqlx::query(
            "SELECT p.id, p.slug, p.name, \
               (SELECT CAST(COUNT(*) AS BIGINT) FROM judgments j WHERE j.project_id = p.id AND j.annotator_id = $1) AS mine, \
               (SELECT CAST(COUNT(*) AS BIGINT) FROM items i WHERE i.project_id = p.id AND i.status = 'pending') AS pending, \
               (SELECT CAST(COUNT(*) AS BIGINT) FROM items i WHERE i.project_id = p.id) AS items \
             FROM projects p JOIN project_members m ON m.project_id = p.id \
             WHERE m.user_id = $1 ORDER BY p.name",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let n = |c: &str| -> Result<u64, StoreError> {
                    Ok(r.try_get::<i64, _>(c)?.max(0) as u64)
                };
                Ok(MemberProject {
                    slug: r.try_get("slug")?,
                    name: r.try_get("name")?,
                    mine: n("mine")?,
                    pending: n("pending")?,
                    items: n("items")?,
                })
            })
            .collect()
    }
}

impl Store {
    /// Names of a project's members, sorted.
    pub async fn member_names(&self, project_id: i64) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT u.name FROM project_members m JOIN users u ON u.id = m.user_id \
             WHERE m.project_id = $1 ORDER BY u.name",
        )
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?)
    }
}
