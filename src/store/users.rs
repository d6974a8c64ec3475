//! Users: people who log in (admins, owners, annotators) and external annotators known only by
//! a worker id from an imported file.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::sessions::end_sessions_of;
use super::{Store, StoreError, now_ms};

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Owner,
    Annotator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Owner => "owner",
            Role::Annotator => "annotator",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "owner" => Some(Role::Owner),
            "annotator" => Some(Role::Annotator),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub email: Option<String>,
    pub role: Role,
    pub external: bool,
    pub disabled: bool,
    pub created_at: i64,
}

/// A login user to create; `password_hash` is an argon2id PHC string, never a password.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub role: Role,
    pub password_hash: String,
}

/// Columns read into a [`User`]; a macro so queries can `concat!` it into a `&'static str`.
macro_rules! user_columns {
    () => {
        "id, name, email, role, external, disabled, created_at"
    };
}

pub(super) fn user_from_row(row: &AnyRow) -> Result<User, StoreError> {
    let role: String = row.try_get("role")?;
    Ok(User {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        email: row.try_get("email")?,
        role: Role::parse(&role)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown role {role:?}")))?,
        external: row.try_get::<i64, _>("external")? != 0,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// Creates a login user. Their annotator name is their email.
    #[tracing::instrument(skip(self, user), fields(email = %user.email))]
    pub async fn create_user(&self, user: &NewUser) -> Result<User, StoreError> {
        let email = user.email.trim().to_lowercase();
        let result = sqlx::query(concat!(
            "INSERT INTO users (name, email, role, password_hash, external, disabled, created_at) \
             VALUES ($1, $1, $2, $3, 0, 0, $4) RETURNING ",
            user_columns!()
        ))
        .bind(&email)
        .bind(user.role.as_str())
        .bind(&user.password_hash)
        .bind(now_ms())
        .fetch_one(&self.pool)
        .await;
        match result {
            Ok(row) => user_from_row(&row),
            Err(e) => {
                let e = StoreError::from(e);
                if e.is_unique_violation() {
                    Err(StoreError::Conflict(format!(
                        "a user named {email} already exists"
                    )))
                } else {
                    Err(e)
                }
            }
        }
    }

    pub async fn user_by_name(&self, name: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    pub async fn user_by_id(&self, id: i64) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// The stored password hash of a login user, for verification.
    pub async fn password_hash(&self, user_id: i64) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?
                .flatten(),
        )
    }

    /// Sets a new password and ends the user's sessions, all but `keep_session` (the hash of
    /// the caller's own session when they reset their own password), in one transaction.
    pub async fn set_password_hash(
        &self,
        user_id: i64,
        hash: &str,
        keep_session: Option<&str>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.write_tx().await?;
        let done =
            sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2 AND external = 0")
                .bind(hash)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("login user {user_id}")));
        }
        let ended = end_sessions_of(&mut tx, user_id, keep_session).await?;
        tx.commit().await?;
        Ok(ended)
    }

    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(user_from_row).collect()
    }
}

impl Store {
    /// Enables or disables a login user. Disabling ends their sessions in the same
    /// transaction, so enabling the account later revives none of them; a request on one of
    /// them, on any instance, is refused from the next one on. How many sessions ended.
    pub async fn set_disabled(&self, user_id: i64, disabled: bool) -> Result<u64, StoreError> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("UPDATE users SET disabled = $1 WHERE id = $2 AND external = 0")
            .bind(i64::from(disabled))
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("login user {user_id}")));
        }
        let ended = if disabled {
            end_sessions_of(&mut tx, user_id, None).await?
        } else {
            0
        };
        tx.commit().await?;
        Ok(ended)
    }

    /// Changes a login user's role and ends their sessions in one transaction: what a session
    /// was allowed when it began must not outlive the change. How many sessions ended.
    pub async fn set_role(&self, user_id: i64, role: Role) -> Result<u64, StoreError> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("UPDATE users SET role = $1 WHERE id = $2 AND external = 0")
            .bind(role.as_str())
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("login user {user_id}")));
        }
        let ended = end_sessions_of(&mut tx, user_id, None).await?;
        tx.commit().await?;
        Ok(ended)
    }
}
