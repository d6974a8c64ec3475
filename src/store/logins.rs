//! Login rate limiting: failures counted per key (an account, a client address) in a fixed
//! window, stored in the database so every instance sees the same counts.

use super::{Store, StoreError};

impl Store {
    /// Failures recorded for `key` in the window that contains `now`.
    pub async fn login_failures(
        &self,
        key: &str,
        now: i64,
        window_ms: i64,
    ) -> Result<u32, StoreError> {
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT failures, window_start FROM login_failures WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
        Ok(match row {
            Some((failures, start)) if now - start < window_ms => {
                failures.clamp(0, i64::from(u32::MAX)) as u32
            }
            _ => 0,
        })
    }

    /// Counts one failure for `key`, starting a new window when the old one has passed.
    pub async fn record_login_failure(
        &self,
        key: &str,
        now: i64,
        window_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO login_failures (key, failures, window_start) VALUES ($1, 1, $2) \
             ON CONFLICT (key) DO UPDATE SET \
               failures = CASE WHEN $2 - login_failures.window_start >= $3 THEN 1 ELSE login_failures.failures + 1 END, \
               window_start = CASE WHEN $2 - login_failures.window_start >= $3 THEN $2 ELSE login_failures.window_start END",
        )
        .bind(key)
        .bind(now)
        .bind(window_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn clear_login_failures(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM login_failures WHERE key = $1")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
