//! Browser sessions kept on the server (see `migrations/*/0008_sessions.sql`): created at
//! login, read with their user in one query per request, refreshed sparingly, and deleted at
//! logout, at expiry, and whenever a user's password, role or access changes.

use sqlx::Row;

use super::users::user_from_row;
use super::{Store, StoreError, User};
use crate::auth::SessionPolicy;

/// A live session's row with its user, as one request reads it.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub user: User,
    pub created_at: i64,
    pub last_seen_at: i64,
}

impl Store {
    /// Stores a new session for `user_id` (by the hash of its id), and removes sessions that
    /// have expired under `policy` meanwhile, so the table holds live sessions only.
    pub async fn create_session(
        &self,
        user_id: i64,
        id_hash: &str,
        now: i64,
        policy: &SessionPolicy,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE last_seen_at < $1 OR created_at < $2")
            .bind(policy.idle_cutoff(now))
            .bind(policy.lifetime_cutoff(now))
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at) \
             VALUES ($1, $2, $3, $3)",
        )
        .bind(id_hash)
        .bind(user_id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The session with this id hash and its user, in one indexed read: the check every
    /// logged-in request makes.
    pub async fn session(&self, id_hash: &str) -> Result<Option<SessionRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT u.id, u.name, u.email, u.role, u.external, u.disabled, u.created_at, \
             s.created_at AS session_created_at, s.last_seen_at \
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1",
        )
        .bind(id_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(SessionRecord {
                user: user_from_row(&row)?,
                created_at: row.try_get("session_created_at")?,
                last_seen_at: row.try_get("last_seen_at")?,
            })
        })
        .transpose()
    }

    /// Records a request on the session now (see [`SessionPolicy::touch_interval_ms`] for how
    /// rarely this is needed).
    pub async fn touch_session(&self, id_hash: &str, now: i64) -> Result<(), StoreError> {
        // On SQLite, in the labeling writers' queue rather than racing them for the lock.
        let _turn = match self.backend {
            super::Backend::Sqlite => Some(self.write_turn.clone().lock_owned().await),
            super::Backend::Postgres => None,
        };
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
            .bind(now)
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends one session (logout, or expiry found at a request).
    pub async fn end_session(&self, id_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends every session of `user_id` but `keep` (the caller's own, when they change their
    /// own account); how many ended.
    pub async fn end_sessions_of(
        &self,
        user_id: i64,
        keep: Option<&str>,
    ) -> Result<u64, StoreError> {
        let mut conn = self.pool.acquire().await?;
        end_sessions_of(&mut conn, user_id, keep).await
    }

    /// How many sessions `user_id` has open (live or not yet swept).
    pub async fn session_count(&self, user_id: i64) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM sessions WHERE user_id = $1")
                .bind(user_id)
                .fetch_one(&self.pool)
                .await?,
        )
    }
}

/// [`Store::end_sessions_of`] on a connection or inside a transaction, so an account change
/// and the end of its sessions commit together.
pub(crate) async fn end_sessions_of(
    conn: &mut sqlx::AnyConnection,
    user_id: i64,
    keep: Option<&str>,
) -> Result<u64, StoreError> {
    let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2")
        .bind(user_id)
        .bind(keep.unwrap_or(""))
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}
