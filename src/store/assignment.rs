//! The assignment engine: which item an annotator labels next, and the leases that reserve a
//! slot while they do.
//!
//! Invariants (enforced by the schema as well as here):
//! - an annotator never receives an item they judged, skipped or currently hold
//!   (`UNIQUE (item_id, annotator_id)` on judgments and leases, the skips primary key);
//! - judgments plus open leases never exceed the rule's `max`, and decided items are not handed
//!   out (`CHECK (judgment_count + lease_count <= capacity)`, the claim's `WHERE`);
//! - an expired lease's slot returns to the pool exactly once (`DELETE … RETURNING`).
//!
//! Order: the item closest to a decision first (most votes for its leading answer, then most
//! judgments), among the items where one more lease can still matter under the rule
//! (`UsefulLeases`: K minus the leader's votes for early K of N, `min` then one at a time for
//! confidence stopping); only when no item has such a slot left, any free slot. Without that
//! bound a large crowd leases all of an item's `max` slots before its first answer is back,
//! and no stop rule saves a judgment.
//!
//! One idea: the life of a lease, from claim to submit, skip, release or expiry. Every step
//! keeps the same invariants over the same rows, so they stay in one file; the long part is
//! the per-backend claim and the retries around it.

use sqlx::{Any, Row, Transaction};

use super::changes::stamp_changes;
use super::outcomes::{ModelRef, redecide, return_slots};
use super::project_lock::{check_config_version, lock_project_shared};
use super::projects::Project;
use super::{Backend, Store, StoreError};
use crate::domain::{Outcome, UsefulLeases};

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
           AND i.lease_count < $3 - i.votes \
           AND (i.lease_count < $4 - i.judgment_count OR i.lease_count < $5) \
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
        // Most calls come from an annotator who already holds a lease (the labeling page after
        // a submit that leased the next item, a reload): answer those without the write lock.
        let mut conn = self.pool.acquire().await?;
        if let Some(lease) = current_lease(&mut conn, project.id, annotator_id, now).await? {
            return Ok(Some(lease));
        }
        drop(conn);
        // On PostgreSQL expired leases are reclaimed in a transaction of their own, holding no
        // other lock while it waits for the rows it frees (inside the claim's transaction, or
        // a submit's, it closed deadlock cycles with submits whose own lease it was ending),
        // and at most about once a second per project and process, as that is a transaction
        // more; and again before answering that nothing is left.
        let postgres = self.backend == Backend::Postgres;
        let mut reclaimed = false;
        if postgres && self.reclaim_due(project.id, now) {
            self.reclaim_expired_leases(project.id, now).await?;
            reclaimed = true;
        }
        for attempt in 0..CLAIM_ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let _turn = sqlite_turn(self).await?;
            let mut tx = self.write_tx().await?;
            lock_project_shared(&mut tx, project.id).await?;
            if self.backend == Backend::Sqlite {
                // One writer at a time: reclaiming here cannot wait on anyone.
                reclaim_expired(&mut tx, project.id, now, None).await?;
            }
            if let Some(lease) = current_lease(&mut tx, project.id, annotator_id, now).await? {
                tx.commit().await?;
                return Ok(Some(lease));
            }
            match claim(&mut tx, self.backend, project, annotator_id, now).await? {
                Claim::Leased(lease) => {
                    tx.commit().await?;
                    return Ok(Some(lease));
                }
                Claim::Empty => {
                    tx.rollback().await?;
                    if postgres && !reclaimed {
                        self.reclaim_expired_leases(project.id, now).await?;
                        reclaimed = true;
                        continue;
                    }
                    return Ok(None);
                }
                // Another transaction won the race for the item this snapshot saw: look again.
                Claim::Lost => tx.rollback().await?,
            }
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
        let (receipt, _) = self
            .record(project, lease_id, annotator_id, answer, source, now, false)
            .await
            .map_err(RecordError::into_store)?;
        Ok(receipt)
    }

    /// [`Store::submit`], then leases the annotator's next item in the same transaction: the
    /// labeling loop's one write per judgment (on SQLite, where one transaction writes at a
    /// time, a second transaction per judgment halved the loop's throughput). `None` for the
    /// lease when the annotator still holds another one, nothing is left for them, or the
    /// claim lost a race: [`Store::next_item`] then has the last word.
    #[tracing::instrument(skip(self, project, answer), fields(project = %project.slug()))]
    pub async fn submit_and_next(
        &self,
        project: &Project,
        lease_id: i64,
        annotator_id: i64,
        answer: &str,
        source: &'static str,
        now: i64,
    ) -> Result<(SubmitReceipt, Option<Lease>), StoreError> {
        let record = |then_claim| {
            self.record(
                project,
                lease_id,
                annotator_id,
                answer,
                source,
                now,
                then_claim,
            )
        };
        match record(true).await {
            // The answer must not depend on the optional step: record it without the claim,
            // and the labeling page claims.
            Err(RecordError::Claim(error)) => {
                tracing::warn!(%error, "leasing the next item with a submit failed");
                record(false).await.map_err(RecordError::into_store)
            }
            other => other.map_err(RecordError::into_store),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn record(
        &self,
        project: &Project,
        lease_id: i64,
        annotator_id: i64,
        answer: &str,
        source: &'static str,
        now: i64,
        then_claim: bool,
    ) -> Result<(SubmitReceipt, Option<Lease>), RecordError> {
        let normalized = project
            .answer()
            .normalize(answer)
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let _turn = sqlite_turn(self).await?;
        let mut tx = self.write_tx().await?;
        let model_version = check_config_version(&mut tx, project).await?;
        let model = self
            .annotator_model(&mut tx, project, model_version)
            .await?;
        if then_claim && self.backend == Backend::Sqlite {
            // So the claim below sees expired slots; this lease's own expiry is judged next.
            // (On PostgreSQL reclaiming inside a submit could deadlock with other writers;
            // there [`Store::next_item`] reclaims in a transaction of its own.)
            reclaim_expired(&mut tx, project.id, now, Some(lease_id)).await?;
        }
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
            })
            .into());
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
                    return Err(
                        StoreError::Conflict("you have already judged this item".into()).into(),
                    );
                }
                return Err(e.into());
            }
        };
        let model_ref = model.as_deref().map(|model| ModelRef {
            model,
            version: model_version,
        });
        let outcome = redecide(&mut tx, project, model_ref, item_id, now).await?;
        let mut next = None;
        // Claims change no exported row, so the change stamp below still comes last (on
        // PostgreSQL it holds the project's counter row until commit).
        if then_claim && self.backend == Backend::Sqlite {
            // A failed claim gives up the whole transaction and the caller records the answer
            // again without it; a savepoint would cost two more statements under the write
            // lock on every judgment, for a failure that only I/O errors can cause here.
            next = claim_next(&mut tx, self.backend, project, annotator_id, now)
                .await
                .map_err(RecordError::Claim)?;
        } else if then_claim {
            // On PostgreSQL the claim can fail for reasons of its own (a lock timeout, a
            // serialization error): a savepoint keeps the judgment.
            let conn: &mut sqlx::AnyConnection = &mut tx;
            let mut savepoint = sqlx::Connection::begin(conn).await?;
            match claim_next(&mut savepoint, self.backend, project, annotator_id, now).await {
                Ok(lease) => {
                    savepoint.commit().await?;
                    next = lease;
                }
                Err(error) => {
                    tracing::warn!(%error, "leasing the next item with a submit failed");
                    savepoint.rollback().await?;
                }
            }
        }
        stamp_changes(&mut tx, project.id).await?;
        tx.commit().await?;
        let receipt = SubmitReceipt {
            judgment_id,
            item_id,
            outcome,
        };
        Ok((receipt, next))
    }

    /// Gives the leased item back and never offers it to this annotator again.
    pub async fn skip(
        &self,
        project: &Project,
        lease_id: i64,
        annotator_id: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        let _turn = sqlite_turn(self).await?;
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
        let _turn = sqlite_turn(self).await?;
        let mut tx = self.write_tx().await?;
        end_lease(&mut tx, project.id, lease_id, annotator_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether this process should reclaim the project's expired leases before a claim at
    /// `now`: not when it did less than a second before (or after: clocks of requests differ).
    fn reclaim_due(&self, project_id: i64, now: i64) -> bool {
        const EVERY_MS: i64 = 1000;
        let mut last = self
            .reclaims
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match last.get(&project_id) {
            Some(&at) if (now - at).abs() < EVERY_MS => false,
            _ => {
                last.insert(project_id, now);
                true
            }
        }
    }

    /// Returns the slots of expired leases to the pool; the number reclaimed.
    pub async fn reclaim_expired_leases(
        &self,
        project_id: i64,
        now: i64,
    ) -> Result<u64, StoreError> {
        let _turn = sqlite_turn(self).await?;
        let mut tx = self.write_tx().await?;
        // Waits for a rule change in progress, which ends leases itself.
        lock_project_shared(&mut tx, project_id).await?;
        let n = reclaim_expired(&mut tx, project_id, now, None).await?;
        tx.commit().await?;
        Ok(n)
    }
}

/// Why [`Store::record`] failed: recording the answer, or (on SQLite) the claim after it, which
/// rolled the answer back with it.
enum RecordError {
    Store(StoreError),
    Claim(StoreError),
}

impl RecordError {
    fn into_store(self) -> StoreError {
        match self {
            RecordError::Store(e) | RecordError::Claim(e) => e,
        }
    }
}

impl From<StoreError> for RecordError {
    fn from(e: StoreError) -> RecordError {
        RecordError::Store(e)
    }
}

impl From<sqlx::Error> for RecordError {
    fn from(e: sqlx::Error) -> RecordError {
        RecordError::Store(e.into())
    }
}

/// The annotator's next lease unless they hold one: the claim step of
/// [`Store::submit_and_next`].
async fn claim_next(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    project: &Project,
    annotator_id: i64,
    now: i64,
) -> Result<Option<Lease>, StoreError> {
    if current_lease(conn, project.id, annotator_id, now)
        .await?
        .is_some()
    {
        return Ok(None);
    }
    Ok(
        match claim(conn, backend, project, annotator_id, now).await? {
            Claim::Leased(lease) => Some(lease),
            Claim::Empty | Claim::Lost => None,
        },
    )
}

/// What a claim found.
enum Claim {
    Leased(Lease),
    /// Nothing is left for this annotator.
    Empty,
    /// (PostgreSQL) another transaction took the item this snapshot saw, while others remain.
    Lost,
}

/// Leases the eligible item closest to a decision. A claim that does not lease leaves the
/// transaction as it found it.
async fn claim(
    tx: &mut sqlx::AnyConnection,
    backend: Backend,
    project: &Project,
    annotator_id: i64,
    now: i64,
) -> Result<Claim, StoreError> {
    let sql = match backend {
        Backend::Sqlite => CLAIM_SQLITE,
        Backend::Postgres => CLAIM_POSTGRES,
    };
    // A lease that can still matter first; any free slot when no item has one left, so
    // annotators are not idle while an item still needs judgments.
    let mut claimed = None;
    for useful in [project.rule().useful_leases(), UsefulLeases::ANY] {
        let (a, b, c) = useful.sql_bounds();
        claimed = sqlx::query(sql)
            .bind(project.id)
            .bind(annotator_id)
            .bind(a)
            .bind(b)
            .bind(c)
            .fetch_optional(&mut *tx)
            .await?;
        if claimed.is_some() || useful == UsefulLeases::ANY {
            break;
        }
    }
    let Some(row) = claimed else {
        // Nothing eligible, or (PostgreSQL) another transaction won the race for the item
        // this snapshot saw.
        return Ok(if any_eligible(tx, project.id, annotator_id).await? {
            Claim::Lost
        } else {
            Claim::Empty
        });
    };
    let item_id: i64 = row.try_get("id")?;
    let expires_at = now + i64::from(project.config.lease_seconds) * 1000;
    let inserted: Option<i64> = sqlx::query_scalar(
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
    let Some(id) = inserted else {
        // The same annotator claimed this item concurrently (two tabs): give the slot back.
        return_slots(tx, &[item_id]).await?;
        return Ok(Claim::Lost);
    };
    Ok(Claim::Leased(Lease {
        id,
        project_id: project.id,
        item_id,
        external_id: row.try_get("external_id")?,
        fields: row.try_get("fields")?,
        created_at: now,
        expires_at,
    }))
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

/// Ends the project's expired leases except `keep` (a lease whose expiry its caller reports).
async fn reclaim_expired(
    tx: &mut Transaction<'static, Any>,
    project_id: i64,
    now: i64,
    keep: Option<i64>,
) -> Result<u64, StoreError> {
    let items: Vec<i64> = sqlx::query_scalar(
        "DELETE FROM leases WHERE project_id = $1 AND expires_at <= $2 AND id <> $3 \
         RETURNING item_id",
    )
    .bind(project_id)
    .bind(now)
    .bind(keep.unwrap_or(0)) // lease ids start at 1
    .fetch_all(&mut **tx)
    .await?;
    return_slots(tx, &items).await?;
    Ok(items.len() as u64)
}

async fn current_lease(
    conn: &mut sqlx::AnyConnection,
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
    .fetch_optional(conn)
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
    tx: &mut sqlx::AnyConnection,
    project_id: i64,
    annotator_id: i64,
) -> Result<bool, StoreError> {
    let (a, b, c) = UsefulLeases::ANY.sql_bounds();
    let found: Option<i64> = sqlx::query_scalar(eligible_items!())
        .bind(project_id)
        .bind(annotator_id)
        .bind(a)
        .bind(b)
        .bind(c)
        .fetch_optional(&mut *tx)
        .await?;
    Ok(found.is_some())
}

/// A turn at SQLite's write lock for this module's transactions; `None` on PostgreSQL, where
/// writers lock only the rows they touch.
///
/// SQLite lets one transaction write at a time. A `BEGIN IMMEDIATE` that finds the lock taken
/// waits in SQLite's busy handler, which sleeps 1, 2, 5, 10 … up to 100 ms between retries, long
/// after the lock was freed, while luckier writers barge past: with five annotators labeling at
/// once the slowest 1% of requests waited over 100 ms and some a second (see
/// docs/benchmarks.md). Queueing here first, in order (a fair async mutex per store, shared by
/// its clones), hands the lock on as soon as the previous writer is done. Other writers
/// (imports, logins, owner pages) still meet the busy handler, as before. A turn is held only around one
/// transaction and never waits for another turn, so it cannot deadlock.
pub(crate) async fn sqlite_turn(
    store: &Store,
) -> Result<Option<tokio::sync::OwnedMutexGuard<()>>, StoreError> {
    if store.backend != Backend::Sqlite {
        return Ok(None);
    }
    // A turn waits no longer than SQLite's own busy timeout would (a long import holds the
    // write lock outside the queue).
    match tokio::time::timeout(store.busy_timeout, store.write_turn.clone().lock_owned()).await {
        Ok(guard) => Ok(Some(guard)),
        Err(_) => Err(StoreError::Conflict(
            "the database is busy with a long write (an import or a settings change); \
             please try again"
                .into(),
        )),
    }
}
