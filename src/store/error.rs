//! Storage errors. Database details stay in logs; callers get a kind they can act on.

/// What went wrong in the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL {0:?}: use sqlite://FILE or postgres://…")]
    UnsupportedUrl(String),
    #[error("cannot open database {url}")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("{what} not found")]
    NotFound { what: String },
    /// The request clashes with the current state (a taken slug, a rule changed meanwhile …).
    #[error("{0}")]
    Conflict(String),
    /// The lease is not open for this annotator any more: used, released, expired, ended by a
    /// rule change, or never theirs.
    #[error("{0}")]
    LeaseGone(String),
    /// Input rejected before anything was written; the message names where.
    #[error("{0}")]
    Invalid(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub(crate) fn not_found(what: impl Into<String>) -> StoreError {
        StoreError::NotFound { what: what.into() }
    }

    /// True when the database refused a row because a unique constraint already holds it.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Database(e) => e
                .as_database_error()
                .is_some_and(|d| d.is_unique_violation()),
            _ => false,
        }
    }
}
