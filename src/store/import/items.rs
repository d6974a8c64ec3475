//! Importing an items file, and the item writes a judgments import shares: looking items up by
//! external id, inserting them in multi-row statements, and recording new field names.

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use sqlx::{Any, AssertSqlSafe, Row, Transaction};

use super::summary::ImportSummary;
use crate::store::changes::stamp_changes;
use crate::store::progress::Progress;
use crate::store::project_lock::check_config_version;
use crate::store::projects::Project;
use crate::store::{Backend, MAX_BINDS, Store, StoreError, multi_row_sql, now_ms, push_list};

/// One parsed row of an items file.
#[derive(Debug, Clone)]
pub struct ItemRecord {
    /// 1-based line in the source file, for error messages.
    pub line: u64,
    /// The `item_id` column; `None` when the file has none (an id is derived from the fields).
    pub external_id: Option<String>,
    /// Values in the order of the field names passed alongside.
    pub values: Vec<String>,
}

/// The id of an item imported without an `item_id` column: a digest of its fields, so that
/// importing the same file again finds the same items instead of duplicating them.
pub fn derived_item_id(field_names: &[String], values: &[String]) -> String {
    let json = fields_json(field_names, values);
    let digest = Sha256::digest(json.as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("h{hex}")
}

/// Item fields as a JSON object in column order.
pub(crate) fn fields_json(names: &[String], values: &[String]) -> String {
    let mut map = serde_json::Map::with_capacity(names.len());
    for (n, v) in names.iter().zip(values) {
        map.insert(n.clone(), serde_json::Value::String(v.clone()));
    }
    serde_json::Value::Object(map).to_string()
}

pub(super) struct ExistingItem {
    pub(super) id: i64,
    pub(super) fields: String,
    pub(super) judgments: u32,
    pub(super) leases: u32,
}

impl Store {
    /// Imports items. Rows whose item already exists with identical fields are skipped; an
    /// existing id with different fields is an error naming the line.
    #[tracing::instrument(skip_all, fields(project = %project.slug(), rows = records.len()))]
    pub async fn import_items(
        &self,
        project: &Project,
        field_names: &[String],
        records: Vec<ItemRecord>,
        progress: &dyn Progress,
    ) -> Result<ImportSummary, StoreError> {
        let mut summary = ImportSummary {
            rows_read: records.len() as u64,
            ..ImportSummary::default()
        };
        // Resolve ids and collapse rows repeated inside the file.
        let mut seen: HashMap<String, (u64, String)> = HashMap::with_capacity(records.len());
        let mut new_items: Vec<(String, String)> = Vec::with_capacity(records.len());
        for r in &records {
            let id = match &r.external_id {
                Some(id) => id.clone(),
                None => derived_item_id(field_names, &r.values),
            };
            let json = fields_json(field_names, &r.values);
            match seen.get(&id) {
                Some((_, fields)) if *fields == json => summary.skipped_present += 1,
                Some((line, _)) => {
                    return Err(StoreError::Invalid(format!(
                        "line {}: item_id {id:?} repeats line {line} with different fields",
                        r.line
                    )));
                }
                None => {
                    seen.insert(id.clone(), (r.line, json.clone()));
                    new_items.push((id, json));
                }
            }
        }
        let mut tx = self.write_tx().await?;
        check_config_version(&mut tx, project).await?;
        progress.phase("checking items", new_items.len() as u64);
        let ids: Vec<&str> = new_items.iter().map(|(id, _)| id.as_str()).collect();
        let existing = existing_items(&mut tx, project.id, &ids).await?;
        let mut to_insert = Vec::with_capacity(new_items.len());
        let mut to_fill = Vec::new();
        for (id, json) in new_items {
            match existing.get(&id) {
                Some(e) if e.fields == json => summary.skipped_present += 1,
                // Created by a judgments file that carried no fields: this file supplies them.
                Some(e) if e.fields == "{}" => to_fill.push((e.id, json)),
                Some(_) => {
                    let line = seen.get(&id).map_or(0, |(l, _)| *l);
                    return Err(StoreError::Invalid(format!(
                        "line {line}: item_id {id:?} already exists in project {} with different fields",
                        project.slug()
                    )));
                }
                None => to_insert.push((id, json)),
            }
        }
        progress.phase("writing items", to_insert.len() as u64);
        let inserted = insert_items(&mut tx, project, &to_insert, progress).await?;
        summary.items_created = inserted.len() as u64;
        for (id, json) in &to_fill {
            sqlx::query(
                "UPDATE items SET fields = $1, updated_at = $2, change_seq = -1 WHERE id = $3",
            )
            .bind(json.as_str())
            .bind(now_ms())
            .bind(*id)
            .execute(&mut *tx)
            .await?;
        }
        summary.items_updated = to_fill.len() as u64;
        if summary.items_created + summary.items_updated > 0 {
            add_project_fields(&mut tx, project.id, field_names).await?;
            stamp_changes(&mut tx, project.id).await?;
        }
        tx.commit().await?;
        Ok(summary)
    }
}

/// Items of `project` among `ids`, keyed by external id.
pub(super) async fn existing_items(
    tx: &mut Transaction<'static, Any>,
    project_id: i64,
    ids: &[&str],
) -> Result<HashMap<String, ExistingItem>, StoreError> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(5000) {
        let mut sql = String::from(
            "SELECT id, external_id, fields, judgment_count, lease_count FROM items WHERE project_id = ",
        );
        let backend = Backend::of(tx);
        backend.push_param(&mut sql, 1);
        sql.push_str(" AND external_id IN (");
        push_list(&mut sql, backend, 2, chunk.len());
        sql.push(')');
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(project_id);
        for id in chunk {
            q = q.bind(*id);
        }
        for row in q.fetch_all(&mut **tx).await? {
            let count = |name: &str| -> Result<u32, StoreError> {
                let v: i64 = row.try_get(name)?;
                u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("{name} = {v}")))
            };
            out.insert(
                row.try_get("external_id")?,
                ExistingItem {
                    id: row.try_get("id")?,
                    fields: row.try_get("fields")?,
                    judgments: count("judgment_count")?,
                    leases: count("lease_count")?,
                },
            );
        }
    }
    Ok(out)
}

/// Inserts items in multi-row statements; returns external id -> id.
pub(super) async fn insert_items(
    tx: &mut Transaction<'static, Any>,
    project: &Project,
    items: &[(String, String)],
    progress: &dyn Progress,
) -> Result<HashMap<String, i64>, StoreError> {
    const COLS: usize = 7;
    let now = now_ms();
    let mut out = HashMap::with_capacity(items.len());
    for chunk in items.chunks((MAX_BINDS / COLS).min(2000)) {
        let sql = multi_row_sql(
            Backend::of(tx),
            "INSERT INTO items (project_id, external_id, fields, capacity, created_at, updated_at, change_seq)",
            COLS,
            chunk.len(),
            "RETURNING id, external_id",
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (id, fields) in chunk {
            q = q
                .bind(project.id)
                .bind(id.as_str())
                .bind(fields.as_str())
                .bind(i64::from(project.rule().max()))
                .bind(now)
                .bind(now)
                .bind(-1i64);
        }
        for row in q.fetch_all(&mut **tx).await? {
            out.insert(row.try_get("external_id")?, row.try_get("id")?);
        }
        progress.advance(chunk.len() as u64);
    }
    Ok(out)
}

/// Appends field names not yet known to the project, after the known ones.
pub(super) async fn add_project_fields(
    tx: &mut Transaction<'static, Any>,
    project_id: i64,
    names: &[String],
) -> Result<(), StoreError> {
    let known: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM project_fields WHERE project_id = $1 ORDER BY position",
    )
    .bind(project_id)
    .fetch_all(&mut **tx)
    .await?;
    let mut position = known.len() as i64;
    for name in names {
        if known.contains(name) {
            continue;
        }
        sqlx::query("INSERT INTO project_fields (project_id, position, name) VALUES ($1, $2, $3)")
            .bind(project_id)
            .bind(position)
            .bind(name.as_str())
            .execute(&mut **tx)
            .await?;
        position += 1;
    }
    Ok(())
}
