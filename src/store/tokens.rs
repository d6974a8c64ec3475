//! API tokens: stored as a hash, scoped, optionally limited to one project, revocable.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::users::User;
use super::{Store, StoreError};

/// What a token may do. Reading and writing a project's items are separate scopes, so a token
/// handed to a pipeline that only reads cannot change the data it reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Scopes {
    /// Read a project's data: exports, statistics, snapshots.
    pub export: bool,
    /// Label as the token's user through the worker endpoints.
    pub annotate: bool,
    /// Add items to projects the token's user manages.
    pub import: bool,
}

impl Scopes {
    /// Parses `export`, `annotate`, `import` or several, comma-separated.
    pub fn parse(text: &str) -> Result<Scopes, String> {
        let mut scopes = Scopes::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "export" => scopes.export = true,
                "annotate" => scopes.annotate = true,
                "import" => scopes.import = true,
                other => {
                    return Err(format!(
                        "unknown scope {other:?}; scopes are export, annotate and import"
                    ));
                }
            }
        }
        if scopes == Scopes::default() {
            return Err("a token needs at least one scope: export, annotate, import".into());
        }
        Ok(scopes)
    }

    /// The stored form, read back by [`Scopes::parse`]. `import` comes last so tokens made
    /// before it existed keep their text.
    pub fn as_string(self) -> String {
        let mut parts = Vec::new();
        if self.export {
            parts.push("export");
        }
        if self.annotate {
            parts.push("annotate");
        }
        if self.import {
            parts.push("import");
        }
        parts.join(",")
    }
}

/// A stored token (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    /// The first characters of the secret, to recognise it in lists.
    pub prefix: String,
    pub scopes: Scopes,
    /// `None`: every project the user may see.
    pub project_id: Option<i64>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A token to create; the secret itself is made by [`crate::auth::new_token`].
#[derive(Debug, Clone)]
pub struct NewToken<'a> {
    pub user_id: i64,
    pub name: &'a str,
    pub scopes: Scopes,
    pub project_id: Option<i64>,
    pub prefix: &'a str,
    pub secret_hash: &'a str,
}

macro_rules! token_columns {
    () => {
        "id, user_id, name, prefix, scopes, project_id, created_at, last_used_at, revoked_at"
    };
}

fn token_from_row(row: &AnyRow) -> Result<ApiToken, StoreError> {
    let scopes: String = row.try_get("scopes")?;
    Ok(ApiToken {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        scopes: Scopes::parse(&scopes).map_err(StoreError::Corrupt)?,
        project_id: row.try_get("project_id")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

/// `last_used_at` is refreshed at most this often, so busy clients do not turn every read
/// into a write.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

impl Store {
    pub async fn create_token(&self, t: &NewToken<'_>, now: i64) -> Result<ApiToken, StoreError> {
        let name = t.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(StoreError::Invalid(
                "a token needs a name of 1 to 100 characters".into(),
            ));
        }
        let row = sqlx::query(concat!(
            "INSERT INTO api_tokens (user_id, name, prefix, secret_hash, scopes, project_id, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
            token_columns!()
        ))
        .bind(t.user_id)
        .bind(name)
        .bind(t.prefix)
        .bind(t.secret_hash)
        .bind(t.scopes.as_string())
        .bind(t.project_id)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        token_from_row(&row)
    }

    /// The user's tokens, newest first; every token for `None`.
    pub async fn list_tokens(&self, user_id: Option<i64>) -> Result<Vec<ApiToken>, StoreError> {
        let rows = match user_id {
            Some(id) => {
                sqlx::query(concat!(
                    "SELECT ",
                    token_columns!(),
                    " FROM api_tokens WHERE user_id = $1 ORDER BY id DESC"
                ))
                .bind(id)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(concat!(
                    "SELECT ",
                    token_columns!(),
                    " FROM api_tokens ORDER BY id DESC"
                ))
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(token_from_row).collect()
    }

    /// Revokes a token of `user_id` (any user's for `None`); revoking twice is harmless.
    pub async fn revoke_token(
        &self,
        id: i64,
        user_id: Option<i64>,
        now: i64,
    ) -> Result<(), StoreError> {
        let done = match user_id {
            Some(uid) => sqlx::query(
                "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $1) \
                 WHERE id = $2 AND user_id = $3",
            )
            .bind(now)
            .bind(id)
            .bind(uid),
            None => sqlx::query(
                "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2",
            )
            .bind(now)
            .bind(id),
        }
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("token {id}")));
        }
        Ok(())
    }

    /// The live token with this hash and its active user, noting its use; `None` for an
    /// unknown or revoked token or a disabled user.
    pub async fn authenticate_token(
        &self,
        secret_hash: &str,
        now: i64,
    ) -> Result<Option<(ApiToken, User)>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            token_columns!(),
            " FROM api_tokens WHERE secret_hash = $1 AND revoked_at IS NULL"
        ))
        .bind(secret_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let token = token_from_row(&row)?;
        let Some(user) = self.user_by_id(token.user_id).await? else {
            return Ok(None);
        };
        if user.disabled || user.external {
            return Ok(None);
        }
        if token
            .last_used_at
            .is_none_or(|t| now - t >= LAST_USED_RESOLUTION_MS)
        {
            // Best effort: a busy database must not fail the request it authenticates.
            if let Err(e) = sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
                .bind(now)
                .bind(token.id)
                .execute(&self.pool)
                .await
            {
                tracing::warn!(token = token.id, error = %e, "recording a token's last use");
            }
        }
        Ok(Some((token, user)))
    }
}
