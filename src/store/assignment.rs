//! The assignment engine: which item an annotator labels next, and the leases that reserve a
//! slot while they do.
//!
//! Invariants (enforced by the schema as well as here):
//! - an annotator never receives an item they judged, skipped or currently hold
//!   (`UNIQUE (item_id, annotator_id)` on judgments and leases, the skips primary key);
//! - judgments plus open leases never exceed the rule's `max`, and decided items are not handed
//!   out (`CHECK (judgment_count + lease_count <= capacity)`, the claim's `WHERE`);
//! - an expired lease's slot returns to the pool exactly once (`DELETE … RETURNING`).

use std::collections::HashMap;

use sqlx::{Any, Row, Transaction};

use super::changes::stamp_changes;
use super::projects::Project;
use super::reconfigure::{check_config_version, lock_project_shared};
use super::{Backend, Store, StoreError};
use crate::domain::{Outcome, Tally};

/// An annotator's reservation of one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub id: i64,
    pub project_id: i64,
    pub item_id: i64,
    pub external_id: String,
    /// The item's input fields as a JSON object.
    pub fields: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// The result of a submitted judgment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitReceipt {
    pub judgment_id: i64,
    pub item_id: i64,
    pub outcome: Outcome,
}

/// Claim attempts before giving up under heavy contention (each loser retries on a fresh snapshot).
const CLAIM_ATTEMPTS: usize = 20;

/// Waits before claim attempt `attempt` (1-based): exponential up to 32 ms, with jitter so that
/// losers of one race do not collide again. On PostgreSQL the items a claim skips are locked by
/// submits that are about to commit; a short wait lets them. In all, under two seconds.
async fn backoff(attempt: usize) {
    use rand::RngExt;
    let base = 1u64 << attempt.min(5);
    let jitter = rand::rng().random_range(0..=base);
    tokio::time::sleep(std::time::Duration::from_millis(base + jitter)).await;
}

macro_rules! eligible_items {
    () => {
        "SELECT i.id FROM items i \
         WHERE i.project_id = $1 AND i.status = 'pending' \
           AND i.judgment_count + i.lease_count < i.capacity \
           AND NOT EXISTS (SELECT 1 FROM judgments j WHERE j.item_id = i.id AND j.annotator_id = $2) \
           AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.item_id = i.id AND l.annotator_id = $2) \
           AND NOT EXISTS (SELECT 1 FROM skips s WHERE s.item_id = i.id AND s.annotator_id = $2) \
         ORDER BY i.votes DESC, i.judgment_count DESC, i.id LIMIT 1"
    };
}

const CLAIM_SQLITE: &str = concat!(
    "UPDATE items SET lease_count = lease_count + 1 WHERE id = (",
    eligible_items!(),
    ") AND status = 'pending' AND judgment_count + lease_count < capacity RETURNING id, external_id, fields"
);

// PostgreSQL: skip rows another transaction is claiming, so concurrent annotators spread over
// the queue instead of queueing on its head.
const CLAIM_POSTGRES: &str = concat!(
    "UPDATE items SET lease_count = lease_count + 1 WHERE id = (",
    eligible_items!(),
    " FOR UPDATE OF i SKIP LOCKED) AND status = 'pending' AND judgment_count + lease_count < capacity \
     RETURNING id, external_id, fields"
);

impl Store {
    /// The annotator's current lease in the project, or a new one on the pending item closest
    /// to a decision that they may still judge. `None` when nothing is left for them.
    #[tracing::instrument(skip(self, project), fields(project = %project.slug()))]
    pub async fn next_item(
        &self,
        project: &Project,
        annotator_id: i64,
        now: i64,
    ) -> Result<Option<Lease>, StoreError> {
        for attempt in 0..CLAIM_ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let mut tx = self.write_tx().await?;
            lock_project_shared(&mut tx, project.id).await?;
            reclaim_expired(&mut tx, project.id, now).await?;
            if let Some(lease) = current_lease(&mut tx, project.id, annotator_id, now).await? {
                tx.commit().await?;
                return Ok(Some(lease));
            }
            let claim = match self.backend {
                Backend::Sqlite => CLAIM_SQLITE,
                Backend::Postgres => CLAIM_POSTGRES,
            };
            let claimed = sqlx::query(claim)
                .bind(project.id)
                .bind(annotator_id)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(row) = claimed else {
                // Nothing eligible, or (PostgreSQL) another transaction won the race for the
                // item this snapshot saw: look again unless the queue is really empty.
                let any_left = any_eligible(&mut tx, project.id, annotator_id).await?;
                tx.rollback().await?;
                if any_left {
                    continue;
                }
                return Ok(None);
            };
            let item_id: i64 = row.try_get("id")?;
            let expires_at = now + i64::from(project.config.lease_seconds) * 1000;
            let inserted = sqlx::query(
                "INSERT INTO leases (project_id, item_id, annotator_id, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (item_id, annotator_id) DO NOTHING RETURNING id",
            )
            .bind(project.id)
            .bind(item_id)
            .bind(annotator_id)
            .bind(now)
            .bind(expires_at)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(lease_row) = inserted else {
                // The same annotator claimed this item concurrently (two tabs): try again.
                tx.rollback().await?;
                continue;
            };
            tx.commit().await?;
            return Ok(Some(Lease {
                id: lease_row.try_get("id")?,
                project_id: project.id,
                item_id,
                external_id: row.try_get("external_id")?,
                fields: row.try_get("fields")?,
                created_at: now,
                expires_at,
            }));
        }
        Err(StoreError::Conflict(
            "too much contention for the next item; try again".into(),
        ))
    }

    /// Records the annotator's answer for their lease and re-decides the item. A lease that
    /// is unknown, someone else's, already used or expired is a [`StoreError::LeaseGone`].
    #[tracing::instrument(skip(self, project, answer), fields(project = %project.slug()))]
    pub async fn submit(
        &self,
        project: &Project,
        lease_id: i64,
        annotator_id: i64,
        answer: &str,
        source: &'static str,
        now: i64,
    ) -> Result<SubmitReceipt, StoreError> {
        let normalized = project
            .answer()
            .normalize(answer)
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let mut tx = self.write_tx().await?;
        check_config_version(&mut tx, project).await?;
        let row = sqlx::query(
            "DELETE FROM leases WHERE id = $1 AND annotator_id = $2 AND project_id = $3 \
             AND expires_at > $4 RETURNING item_id",
        )
        .bind(lease_id)
        .bind(annotator_id)
        .bind(project.id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            let expired: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM leases WHERE id = $1 AND annotator_id = $2 AND project_id = $3",
            )
            .bind(lease_id)
            .bind(annotator_id)
            .bind(project.id)
            .fetch_optional(&mut *tx)
            .await?;
            tx.rollback().await?;
            return Err(StoreError::LeaseGone(if expired.is_some() {
                "this lease has expired; the item went back to the pool".into()
            } else {
                "no such open lease: it was already used, released, or belongs to someone else"
                    .into()
            }));
        };
        let item_id: i64 = row.try_get("item_id")?;
        // Locks the item row (PostgreSQL) so concurrent submits to one item decide in turn.
        sqlx::query("UPDATE items SET lease_count = lease_count - 1 WHERE id = $1")
            .bind(item_id)
            .execute(&mut *tx)
            .await?;
        let inserted = sqlx::query(
            "INSERT INTO judgments (project_id, item_id, annotator_id, answer, normalized, source, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(project.id)
        .bind(item_id)
        .bind(annotator_id)
        .bind(answer)
        .bind(normalized.as_str())
        .bind(source)
        .bind(now)
        .fetch_one(&mut *tx)
        .await;
        let judgment_id: i64 = match inserted {
            Ok(r) => r.try_get("id")?,
            Err(e) => {
                let e = StoreError::from(e);
                if e.is_unique_violation() {
                    return Err(StoreError::Conflict(
                        "you have already judged this item".into(),
                    ));
                }
                return Err(e);
            }
        };
        let outcome = redecide(&mut tx, project, item_id, now).await?;
        stamp_changes(&mut tx, project.id).await?;
        tx.commit().await?;
        Ok(SubmitReceipt {
            judgment_id,
            item_id,
            outcome,
        })
    }

    /// Gives the leased item back and never offers it to this annotator again.
    pub async fn skip(
        &self,
        project: &Project,
        lease_id: i64,
        annotator_id: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let item_id = end_lease(&mut tx, project.id, lease_id, annotator_id).await?;
        sqlx::query(
            "INSERT INTO skips (item_id, annotator_id, project_id, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (item_id, annotator_id) DO NOTHING",
        )
        .bind(item_id)
        .bind(annotator_id)
        .bind(project.id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Gives the leased item back; the annotator may get it again later.
    pub async fn release(
        &self,
        project: &Project,
        lease_id: i64,
        annotator_id: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        end_lease(&mut tx, project.id, lease_id, annotator_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Returns the slots of expired leases to the pool; the number reclaimed.
    pub async fn reclaim_expired_leases(
        &self,
        project_id: i64,
        now: i64,
    ) -> Result<u64, StoreError> {
        let mut tx = self.write_tx().await?;
        let n = reclaim_expired(&mut tx, project_id, now).await?;
        tx.commit().await?;
        Ok(n)
    }
}

async fn end_lease(
    tx: &mut Transaction<'static, Any>,
    project_id: i64,
    lease_id: i64,
    annotator_id: i64,
) -> Result<i64, StoreError> {
    let item_id: Option<i64> = sqlx::query_scalar(
        "DELETE FROM leases WHERE id = $1 AND annotator_id = $2 AND project_id = $3 RETURNING item_id",
    )
    .bind(lease_id)
    .bind(annotator_id)
    .bind(project_id)
    .fetch_optional(&mut **tx)
    .await?;
    let item_id = item_id.ok_or_else(|| {
        StoreError::LeaseGone("no such open lease: it was already used or released".into())
    })?;
    sqlx::query("UPDATE items SET lease_count = lease_count - 1 WHERE id = $1")
        .bind(item_id)
        .execute(&mut **tx)
        .await?;
    Ok(item_id)
}

async fn reclaim_expired(
    tx: &mut Transaction<'static, Any>,
    project_id: i64,
    now: i64,
) -> Result<u64, StoreError> {
    let items: Vec<i64> = sqlx::query_scalar(
        "DELETE FROM leases WHERE project_id = $1 AND expires_at <= $2 RETURNING item_id",
    )
    .bind(project_id)
    .bind(now)
    .fetch_all(&mut **tx)
    .await?;
    return_slots(tx, &items).await?;
    Ok(items.len() as u64)
}

/// Gives the items back the slots of leases just deleted (`items` has an item's id once per
/// deleted lease).
pub(crate) async fn return_slots(
    tx: &mut Transaction<'static, Any>,
    items: &[i64],
) -> Result<(), StoreError> {
    let mut per_item: HashMap<i64, i64> = HashMap::new();
    for id in items {
        *per_item.entry(*id).or_default() += 1;
    }
    for (id, n) in per_item {
        sqlx::query("UPDATE items SET lease_count = lease_count - $1 WHERE id = $2")
            .bind(n)
            .bind(id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

async fn current_lease(
    tx: &mut Transaction<'static, Any>,
    project_id: i64,
    annotator_id: i64,
    now: i64,
) -> Result<Option<Lease>, StoreError> {
    let row = sqlx::query(
        "SELECT l.id, l.item_id, l.created_at, l.expires_at, i.external_id, i.fields \
         FROM leases l JOIN items i ON i.id = l.item_id \
         WHERE l.annotator_id = $1 AND l.project_id = $2 AND l.expires_at > $3 \
         ORDER BY l.id LIMIT 1",
    )
    .bind(annotator_id)
    .bind(project_id)
    .bind(now)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|row| {
        Ok(Lease {
            id: row.try_get("id")?,
            project_id,
            item_id: row.try_get("item_id")?,
            external_id: row.try_get("external_id")?,
            fields: row.try_get("fields")?,
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
        })
    })
    .transpose()
}

async fn any_eligible(
    tx: &mut Transaction<'static, Any>,
    project_id: i64,
    annotator_id: i64,
) -> Result<bool, StoreError> {
    let found: Option<i64> = sqlx::query_scalar(eligible_items!())
        .bind(project_id)
        .bind(annotator_id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(found.is_some())
}

/// Recomputes and stores one item's tally and outcome from all its judgments.
async fn redecide(
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
