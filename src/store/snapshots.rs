//! Snapshots: immutable named copies of a project's export files, stored in chunks.

use futures_util::{Stream, TryStreamExt};
use sqlx::Row;

use super::{Store, StoreError};

/// A snapshot as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotRecord {
    pub id: i64,
    pub project_id: i64,
    pub name: String,
    pub created_at: i64,
    pub created_by: Option<i64>,
    /// The manifest JSON; `None` while the snapshot is being written.
    pub manifest: Option<String>,
}

/// An unfinished snapshot older than this is taken to be abandoned. Writing one takes seconds
/// to minutes; an hour leaves a wide margin.
const STALE_SNAPSHOT_MS: i64 = 3_600_000;

/// Snapshot names appear in URLs and file names.
pub fn valid_snapshot_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !name.starts_with('.')
}

impl Store {
    /// Reserves `name` for a new snapshot of the project; it stays invisible until
    /// [`Store::complete_snapshot`].
    pub async fn begin_snapshot(
        &self,
        project_id: i64,
        name: &str,
        created_by: Option<i64>,
        now: i64,
    ) -> Result<i64, StoreError> {
        if !valid_snapshot_name(name) {
            return Err(StoreError::Invalid(format!(
                "snapshot name {name:?}: use 1-64 letters, digits, '-', '_' or '.', not starting with '.'"
            )));
        }
        // A snapshot still unfinished after this long was cut off (a crash, a restart): its name
        // and chunks are reclaimed so that it does not block its name forever.
        let stale: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM snapshots WHERE project_id = $1 AND ready = 0 AND created_at < $2",
        )
        .bind(project_id)
        .bind(now - STALE_SNAPSHOT_MS)
        .fetch_all(&self.pool)
        .await?;
        for id in stale {
            tracing::warn!(snapshot = id, "removing a snapshot that was never finished");
            self.abandon_snapshot(id).await?;
        }
        let inserted = sqlx::query_scalar(
            "INSERT INTO snapshots (project_id, name, created_by, created_at) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(project_id)
        .bind(name)
        .bind(created_by)
        .bind(now)
        .fetch_one(&self.pool)
        .await;
        match inserted {
            Ok(id) => Ok(id),
            Err(e) => {
                let e = StoreError::from(e);
                if e.is_unique_violation() {
                    Err(StoreError::Conflict(format!(
                        "a snapshot named {name:?} already exists; snapshots never change, pick another name"
                    )))
                } else {
                    Err(e)
                }
            }
        }
    }

    /// Stores one chunk of a file of a snapshot being written.
    pub async fn add_snapshot_chunk(
        &self,
        snapshot_id: i64,
        file: &str,
        seq: i64,
        data: &[u8],
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO snapshot_chunks (snapshot_id, file, seq, data) VALUES ($1, $2, $3, $4)",
        )
        .bind(snapshot_id)
        .bind(file)
        .bind(seq)
        .bind(data)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Makes the snapshot visible with its manifest. Only a snapshot still being written can be
    /// completed, so a finished one can never be changed.
    pub async fn complete_snapshot(
        &self,
        snapshot_id: i64,
        manifest: &str,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE snapshots SET ready = 1, manifest = $1 WHERE id = $2 AND ready = 0",
        )
        .bind(manifest)
        .bind(snapshot_id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "snapshot {snapshot_id} is not being written"
            )));
        }
        Ok(())
    }

    /// Removes a snapshot that failed while being written (never a complete one).
    pub async fn abandon_snapshot(&self, snapshot_id: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM snapshot_chunks WHERE snapshot_id = $1")
            .bind(snapshot_id)
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM snapshots WHERE id = $1 AND ready = 0")
            .bind(snapshot_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The project's complete snapshots, newest first.
    pub async fn list_snapshots(&self, project_id: i64) -> Result<Vec<SnapshotRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, project_id, name, created_at, created_by, manifest FROM snapshots \
             WHERE project_id = $1 AND ready = 1 ORDER BY id DESC",
        )
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(snapshot_from_row).collect()
    }

    /// A complete snapshot by name.
    pub async fn snapshot_by_name(
        &self,
        project_id: i64,
        name: &str,
    ) -> Result<SnapshotRecord, StoreError> {
        let row = sqlx::query(
            "SELECT id, project_id, name, created_at, created_by, manifest FROM snapshots \
             WHERE project_id = $1 AND name = $2 AND ready = 1",
        )
        .bind(project_id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::not_found(format!("snapshot {name:?}")))?;
        snapshot_from_row(&row)
    }

    /// A file of a snapshot, chunk by chunk in order.
    pub fn stream_snapshot_file(
        &self,
        snapshot_id: i64,
        file: &str,
    ) -> impl Stream<Item = Result<Vec<u8>, StoreError>> + Send + 'static {
        let pool = self.pool.clone();
        let file = file.to_owned();
        // One chunk per query, by key: constant memory, and no connection is held between
        // chunks while a slow client reads.
        futures_util::stream::try_unfold(0i64, move |seq| {
            let (pool, file) = (pool.clone(), file.clone());
            async move {
                let data: Option<Vec<u8>> = sqlx::query_scalar(
                    "SELECT data FROM snapshot_chunks WHERE snapshot_id = $1 AND file = $2 AND seq = $3",
                )
                .bind(snapshot_id)
                .bind(file.as_str())
                .bind(seq)
                .fetch_optional(&pool)
                .await?;
                Ok::<_, StoreError>(data.map(|d| (d, seq + 1)))
            }
        })
        .map_err(StoreError::from)
    }
}

fn snapshot_from_row(row: &sqlx::any::AnyRow) -> Result<SnapshotRecord, StoreError> {
    Ok(SnapshotRecord {
        id: row.try_get("id")?,
        project_id: row.try_get("project_id")?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
        created_by: row.try_get("created_by")?,
        manifest: row.try_get("manifest")?,
    })
}
