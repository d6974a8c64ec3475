//! Aggregates for the owner's dashboard.

use sqlx::Row;

use super::{Store, StoreError};

impl Store {
    /// Projects a user manages: all of them for an admin, their own for an owner.
    pub async fn managed_projects(
        &self,
        user_id: i64,
        admin: bool,
    ) -> Result<Vec<super::Project>, StoreError> {
        let all = self.list_projects().await?;
        Ok(all
            .into_iter()
            .filter(|p| admin || p.owner_id == Some(user_id))
            .collect())
    }

    /// How many items have each count of votes for their leading answer: `(votes, items)`.
    pub async fn vote_histogram(&self, project_id: i64) -> Result<Vec<(u32, u64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT votes, CAST(COUNT(*) AS BIGINT) AS n FROM items WHERE project_id = $1 \
             GROUP BY votes ORDER BY votes",
        )
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get::<i64, _>("votes")?.clamp(0, i64::from(u32::MAX)) as u32,
                    r.try_get::<i64, _>("n")?.max(0) as u64,
                ))
            })
            .collect()
    }

    /// Judgments per hour since `since` (unix ms): `(hour start in ms, judgments)`, oldest first.
    pub async fn judgments_per_hour(
        &self,
        project_id: i64,
        since: i64,
    ) -> Result<Vec<(i64, u64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT created_at / 3600000 AS h, CAST(COUNT(*) AS BIGINT) AS n FROM judgments \
             WHERE project_id = $1 AND created_at >= $2 GROUP BY created_at / 3600000 ORDER BY h",
        )
        .bind(project_id)
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get::<i64, _>("h")? * 3_600_000,
                    r.try_get::<i64, _>("n")?.max(0) as u64,
                ))
            })
            .collect()
    }
}

impl Store {
    /// Times (unix ms) of each annotator's judgments made in the app (not imported), by
    /// annotator name, each list sorted.
    pub async fn judgment_times(
        &self,
        project_id: i64,
    ) -> Result<Vec<(String, Vec<i64>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT u.name, j.created_at FROM judgments j JOIN users u ON u.id = j.annotator_id \
             WHERE j.project_id = $1 AND j.source <> 'import' ORDER BY u.name, j.created_at",
        )
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<(String, Vec<i64>)> = Vec::new();
        for r in &rows {
            let name: String = r.try_get("name")?;
            let at: i64 = r.try_get("created_at")?;
            match out.last_mut() {
                Some((last, times)) if *last == name => times.push(at),
                _ => out.push((name, vec![at])),
            }
        }
        Ok(out)
    }
}
