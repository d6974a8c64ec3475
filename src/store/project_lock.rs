//! The project row as a lock: writers that depend on the project's answer schema and quorum
//! rule check, inside their transaction, that neither changed since they read the project, and
//! hold it against a reconfiguration until they commit. Imports, assignment, adjudication and
//! reconfiguration all take it from here.

use sqlx::{Any, Transaction};

use super::projects::Project;
use super::{Backend, StoreError};

/// Fails with a [`StoreError::Conflict`] when the project's answer schema or quorum rule changed
/// since `project` was read. Writers that normalise answers or decide outcomes call it first in
/// their transaction; on PostgreSQL it holds a share lock on the project row until commit, so
/// a reconfiguration (or a re-fit of the crowd model) waits for them and they wait for it.
/// Returns the project's crowd-model version, read under the same lock.
pub(crate) async fn check_config_version(
    tx: &mut Transaction<'static, Any>,
    project: &Project,
) -> Result<i64, StoreError> {
    let sql = match Backend::of(tx) {
        Backend::Sqlite => "SELECT config_version, model_version FROM projects WHERE id = $1",
        Backend::Postgres => {
            "SELECT config_version, model_version FROM projects WHERE id = $1 FOR SHARE"
        }
    };
    let versions: Option<(i64, i64)> = sqlx::query_as(sql)
        .bind(project.id)
        .fetch_optional(&mut **tx)
        .await?;
    match versions {
        Some((v, model)) if v == project.config_version => Ok(model),
        Some(_) => Err(StoreError::Conflict(
            "the project's answer schema or quorum rule changed meanwhile; nothing was recorded, \
             please try again"
                .into(),
        )),
        None => Err(StoreError::not_found(format!(
            "project {:?}",
            project.slug()
        ))),
    }
}

/// Holds a share lock on the project row until commit (PostgreSQL; on SQLite every write
/// transaction is already exclusive). Writers that add leases take it first, so a
/// reconfiguration never runs between their capacity check and their insert.
pub(crate) async fn lock_project_shared(
    tx: &mut Transaction<'static, Any>,
    project_id: i64,
) -> Result<(), StoreError> {
    if Backend::of(tx) == Backend::Postgres {
        sqlx::query("SELECT id FROM projects WHERE id = $1 FOR SHARE")
            .bind(project_id)
            .fetch_optional(&mut **tx)
            .await?;
    }
    Ok(())
}
