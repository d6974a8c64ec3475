//! Importing a judgments file: every row checked against the stored judgments and the rule's
//! `max` before anything is written, unknown items and external annotators created on the way.

use std::collections::HashMap;

use sqlx::{Any, AssertSqlSafe, Row, Transaction};

use super::items::{add_project_fields, existing_items, fields_json, insert_items};
use super::summary::ImportSummary;
use crate::domain::Tally;
use crate::store::changes::stamp_changes;
use crate::store::outcomes::{Decision, ModelRef, decisions, update_outcomes};
use crate::store::progress::Progress;
use crate::store::project_lock::check_config_version;
use crate::store::projects::Project;
use crate::store::{Backend, MAX_BINDS, Store, StoreError, multi_row_sql, now_ms, push_list};

/// One parsed judgment. Items and annotators are indexes into its [`JudgmentBatch`], so a
/// million-row file holds each id and name once.
#[derive(Debug, Clone)]
pub struct JudgmentRecord {
    /// 1-based line in the source file, for error messages.
    pub line: u64,
    /// Index into [`JudgmentBatch::items`].
    pub item: u32,
    /// Index into [`JudgmentBatch::annotators`].
    pub annotator: u32,
    pub answer: String,
    /// When the judgment was made, in unix ms; `None` means now.
    pub submitted_at: Option<i64>,
}

/// An item named by a judgments file.
#[derive(Debug, Clone)]
pub struct BatchItem {
    pub external_id: String,
    /// Input fields from the item's first row (Mechanical Turk `Input.*`), in field-name order.
    pub values: Vec<String>,
}

/// A parsed judgments file, ready to import.
#[derive(Debug, Clone, Default)]
pub struct JudgmentBatch {
    /// Names of the input fields the rows carry (empty for the long format).
    pub field_names: Vec<String>,
    /// The column answers came from, for error messages.
    pub answer_column: String,
    /// Distinct items in order of first appearance.
    pub items: Vec<BatchItem>,
    /// Distinct annotator names in order of first appearance.
    pub annotators: Vec<String>,
    pub records: Vec<JudgmentRecord>,
    item_index: HashMap<String, u32>,
    annotator_index: HashMap<String, u32>,
}

impl JudgmentBatch {
    pub fn new(field_names: Vec<String>, answer_column: impl Into<String>) -> JudgmentBatch {
        JudgmentBatch {
            field_names,
            answer_column: answer_column.into(),
            ..JudgmentBatch::default()
        }
    }

    /// Adds one judgment; `values` are kept only for the item's first row.
    pub fn push(
        &mut self,
        line: u64,
        item_id: &str,
        annotator: &str,
        answer: String,
        submitted_at: Option<i64>,
        values: impl FnOnce() -> Vec<String>,
    ) {
        let item = match self.item_index.get(item_id) {
            Some(&i) => i,
            None => {
                let i = self.items.len() as u32;
                self.items.push(BatchItem {
                    external_id: item_id.to_owned(),
                    values: values(),
                });
                self.item_index.insert(item_id.to_owned(), i);
                i
            }
        };
        let annotator = match self.annotator_index.get(annotator) {
            Some(&a) => a,
            None => {
                let a = self.annotators.len() as u32;
                self.annotators.push(annotator.to_owned());
                self.annotator_index.insert(annotator.to_owned(), a);
                a
            }
        };
        self.records.push(JudgmentRecord {
            line,
            item,
            annotator,
            answer,
            submitted_at,
        });
    }

    pub fn item_id(&self, r: &JudgmentRecord) -> &str {
        &self.items[r.item as usize].external_id
    }

    pub fn annotator(&self, r: &JudgmentRecord) -> &str {
        &self.annotators[r.annotator as usize]
    }
}

impl Store {
    /// Imports judgments, creating unknown items and external annotators. Rejects the whole
    /// file when a row would give an item more judgments than the rule's `max`, repeats an
    /// (item, annotator) pair, or contradicts a stored judgment; rows already stored exactly
    /// are skipped, so importing the same file twice changes nothing.
    #[tracing::instrument(skip_all, fields(project = %project.slug(), rows = batch.records.len()))]
    pub async fn import_judgments(
        &self,
        project: &Project,
        batch: &JudgmentBatch,
        progress: &dyn Progress,
    ) -> Result<ImportSummary, StoreError> {
        let records = &batch.records;
        let field_names = &batch.field_names;
        let answer_column = &batch.answer_column;
        let mut summary = ImportSummary {
            rows_read: records.len() as u64,
            ..ImportSummary::default()
        };
        // Validate and normalise every answer before touching the database.
        progress.phase("normalising answers", records.len() as u64);
        let mut normalized = Vec::with_capacity(records.len());
        for r in records {
            let n = project.answer().normalize(&r.answer).map_err(|e| {
                StoreError::Invalid(format!("line {}, column {answer_column}: {e}", r.line))
            })?;
            normalized.push(n);
        }
        progress.advance(records.len() as u64);

        let item_keys: Vec<&str> = batch.items.iter().map(|i| i.external_id.as_str()).collect();
        let annot_keys: Vec<&str> = batch.annotators.iter().map(String::as_str).collect();
        let pair = |row: usize| {
            let r = &records[row];
            (r.item as usize, r.annotator as usize)
        };

        let mut tx = self.write_tx().await?;
        let model_version = check_config_version(&mut tx, project).await?;
        progress.phase("checking against stored judgments", records.len() as u64);
        let existing_items_map = existing_items(&mut tx, project.id, &item_keys).await?;
        let existing_users = users_by_name(&mut tx, &annot_keys).await?;
        let item_ids: Vec<Option<i64>> = item_keys
            .iter()
            .map(|k| existing_items_map.get(*k).map(|e| e.id))
            .collect();
        let annot_ids: Vec<Option<i64>> = annot_keys
            .iter()
            .map(|k| existing_users.get(*k).copied())
            .collect();
        lock_items(&mut tx, &item_ids).await?;
        // Stored judgments of the touched items: (item index, user id) -> (answer, normalised).
        let stored = stored_judgments(&mut tx, &item_ids).await?;

        // The first row (in file order) that repeats an (item, annotator) pair, found by sorting
        // rather than hashing: a quarter of the memory on a million-row file.
        let repeat = {
            let mut keyed: Vec<(u32, u32, u32)> = records
                .iter()
                .enumerate()
                .map(|(row, r)| (r.item, r.annotator, row as u32))
                .collect();
            keyed.sort_unstable();
            keyed
                .windows(2)
                .filter(|w| (w[0].0, w[0].1) == (w[1].0, w[1].1))
                .map(|w| (w[1].2 as usize, w[0].2 as usize))
                .min()
        };
        let mut added_per_item: Vec<u32> = vec![0; item_keys.len()];
        let mut fresh: Vec<u32> = Vec::with_capacity(records.len());
        for (row, r) in records.iter().enumerate() {
            let (i, a) = pair(row);
            if let Some((_, first)) = repeat.filter(|(second, _)| *second == row) {
                let prev = records[first].line;
                return Err(StoreError::Invalid(format!(
                    "line {}: annotator {:?} already judged item {:?} on line {prev}; \
                     an annotator judges an item at most once",
                    r.line,
                    batch.annotator(r),
                    batch.item_id(r)
                )));
            }
            let stored_answer = annot_ids[a]
                .and_then(|uid| item_ids[i].and_then(|iid| stored.by_pair.get(&(iid, uid))));
            if let Some((answer, _)) = stored_answer {
                if *answer == r.answer {
                    summary.skipped_present += 1;
                    continue;
                }
                return Err(StoreError::Invalid(format!(
                    "line {}: annotator {:?} already judged item {:?} with answer {:?}, not {:?}",
                    r.line,
                    batch.annotator(r),
                    batch.item_id(r),
                    answer,
                    r.answer
                )));
            }
            added_per_item[i] += 1;
            let (held, leased) = existing_items_map
                .get(item_keys[i])
                .map_or((0, 0), |e| (e.judgments, e.leases));
            let total = held + leased + added_per_item[i];
            if total > project.rule().max() {
                return Err(StoreError::Invalid(format!(
                    "line {}: item {:?} would get {total} judgments{}; the quorum rule allows at most max = {}",
                    r.line,
                    batch.item_id(r),
                    if leased > 0 {
                        format!(" (counting {leased} open leases)")
                    } else {
                        String::new()
                    },
                    project.rule().max()
                )));
            }
            fresh.push(row as u32);
        }
        progress.advance(records.len() as u64);

        // Create what is missing.
        let missing_items: Vec<(String, String)> = item_keys
            .iter()
            .enumerate()
            .filter(|(i, _)| item_ids[*i].is_none())
            .map(|(i, k)| {
                let values = &batch.items[i].values;
                ((*k).to_owned(), fields_json(field_names, values))
            })
            .collect();
        progress.phase("creating items", missing_items.len() as u64);
        let created = insert_items(&mut tx, project, &missing_items, progress).await?;
        summary.items_created = created.len() as u64;
        if !created.is_empty() && !field_names.is_empty() {
            add_project_fields(&mut tx, project.id, field_names).await?;
        }
        let item_ids: Vec<i64> = item_keys
            .iter()
            .enumerate()
            .map(|(i, k)| item_ids[i].or_else(|| created.get(*k).copied()))
            .collect::<Option<Vec<i64>>>()
            .ok_or_else(|| StoreError::Corrupt("an imported item was not created".into()))?;
        let missing_users: Vec<&str> = annot_keys
            .iter()
            .enumerate()
            .filter(|(a, _)| annot_ids[*a].is_none())
            .map(|(_, k)| *k)
            .collect();
        let new_users = insert_external_users(&mut tx, &missing_users).await?;
        summary.annotators_created = new_users.len() as u64;
        let annot_ids: Vec<i64> = annot_keys
            .iter()
            .enumerate()
            .map(|(a, k)| annot_ids[a].or_else(|| new_users.get(*k).copied()))
            .collect::<Option<Vec<i64>>>()
            .ok_or_else(|| StoreError::Corrupt("an annotator was not created".into()))?;

        // Write the judgments.
        progress.phase("writing judgments", fresh.len() as u64);
        let now = now_ms();
        const COLS: usize = 7;
        let per_stmt = (MAX_BINDS / COLS).min(4000);
        let mut full_sql: Option<String> = None;
        for chunk in fresh.chunks(per_stmt) {
            let sql = if chunk.len() == per_stmt {
                full_sql
                    .get_or_insert_with(|| judgment_insert_sql(self.backend, per_stmt))
                    .clone()
            } else {
                judgment_insert_sql(self.backend, chunk.len())
            };
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for &row in chunk {
                let row = row as usize;
                let r = &records[row];
                let (i, a) = pair(row);
                q = q
                    .bind(project.id)
                    .bind(item_ids[i])
                    .bind(annot_ids[a])
                    .bind(r.answer.as_str())
                    .bind(normalized[row].as_str())
                    .bind("import")
                    .bind(r.submitted_at.unwrap_or(now));
            }
            q.execute(&mut *tx).await?;
            progress.advance(chunk.len() as u64);
        }
        summary.judgments_added = fresh.len() as u64;

        // Recompute the outcome of every item that gained judgments. The new rows are grouped
        // by item with a counting sort: one index per row instead of a list per item.
        let mut start: Vec<usize> = Vec::with_capacity(item_keys.len() + 1);
        let mut total = 0;
        for added in &added_per_item {
            start.push(total);
            total += *added as usize;
        }
        start.push(total);
        let mut grouped: Vec<u32> = vec![0; total];
        let mut next = start.clone();
        for &row in &fresh {
            let i = pair(row as usize).0;
            grouped[next[i]] = row;
            next[i] += 1;
        }
        let updates = if project.rule().target().is_some() {
            // Confidence stopping weighs each judgment by its annotator: decide the items that
            // gained judgments under the current estimates (a re-fit later takes these in).
            let mut touched: Vec<i64> = added_per_item
                .iter()
                .enumerate()
                .filter(|(_, added)| **added > 0)
                .map(|(i, _)| item_ids[i])
                .collect();
            touched.sort_unstable();
            let model = self
                .annotator_model(&mut tx, project, model_version)
                .await?;
            let model_ref = model.as_deref().map(|model| ModelRef {
                model,
                version: model_version,
            });
            decisions(&mut tx, project, model_ref, Some(&touched)).await?
        } else {
            let mut updates = Vec::new();
            for (i, added) in added_per_item.iter().enumerate() {
                if *added == 0 {
                    continue;
                }
                let earlier = stored.by_item.get(&item_ids[i]).into_iter().flatten();
                let new = grouped[start[i]..start[i + 1]]
                    .iter()
                    .map(|&row| &normalized[row as usize]);
                let tally = Tally::from_answers(earlier.chain(new).map(String::as_str));
                updates.push(Decision::counted(item_ids[i], tally));
            }
            updates
        };
        progress.phase("deciding items", updates.len() as u64);
        update_outcomes(
            &mut tx,
            project,
            &updates,
            Some(model_version),
            true,
            now,
            progress,
        )
        .await?;
        if !updates.is_empty() {
            stamp_changes(&mut tx, project.id).await?;
        }
        tx.commit().await?;
        Ok(summary)
    }
}

fn judgment_insert_sql(backend: Backend, rows: usize) -> String {
    multi_row_sql(
        backend,
        "INSERT INTO judgments (project_id, item_id, annotator_id, answer, normalized, source, created_at)",
        7,
        rows,
        "",
    )
}

async fn users_by_name(
    tx: &mut Transaction<'static, Any>,
    names: &[&str],
) -> Result<HashMap<String, i64>, StoreError> {
    let mut out = HashMap::with_capacity(names.len());
    for chunk in names.chunks(5000) {
        let mut sql = String::from("SELECT id, name FROM users WHERE name IN (");
        push_list(&mut sql, Backend::of(tx), 1, chunk.len());
        sql.push(')');
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for n in chunk {
            q = q.bind(*n);
        }
        for row in q.fetch_all(&mut **tx).await? {
            out.insert(row.try_get("name")?, row.try_get("id")?);
        }
    }
    Ok(out)
}

/// PostgreSQL: locks the rows of the items an import will re-decide, in id order (so two
/// imports cannot deadlock), before their judgments are read: a submit to one of them then
/// waits for the import, or the import for the submit, and no tally is computed from a stale
/// read. On SQLite the write transaction already excludes every other writer.
async fn lock_items(
    tx: &mut Transaction<'static, Any>,
    item_ids: &[Option<i64>],
) -> Result<(), StoreError> {
    if Backend::of(tx) != Backend::Postgres {
        return Ok(());
    }
    let mut ids: Vec<i64> = item_ids.iter().flatten().copied().collect();
    ids.sort_unstable();
    ids.dedup();
    for chunk in ids.chunks(5000) {
        let mut sql = String::from("SELECT id FROM items WHERE id IN (");
        push_list(&mut sql, Backend::Postgres, 1, chunk.len());
        sql.push_str(") ORDER BY id FOR NO KEY UPDATE");
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(*id);
        }
        q.fetch_all(&mut **tx).await?;
    }
    Ok(())
}

#[derive(Default)]
struct StoredJudgments {
    by_pair: HashMap<(i64, i64), (String, String)>,
    by_item: HashMap<i64, Vec<String>>,
}

async fn stored_judgments(
    tx: &mut Transaction<'static, Any>,
    item_ids: &[Option<i64>],
) -> Result<StoredJudgments, StoreError> {
    let ids: Vec<i64> = item_ids.iter().flatten().copied().collect();
    let mut out = StoredJudgments::default();
    for chunk in ids.chunks(5000) {
        let mut sql = String::from(
            "SELECT item_id, annotator_id, answer, normalized FROM judgments WHERE item_id IN (",
        );
        push_list(&mut sql, Backend::of(tx), 1, chunk.len());
        sql.push(')');
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(*id);
        }
        for row in q.fetch_all(&mut **tx).await? {
            let item: i64 = row.try_get("item_id")?;
            let user: i64 = row.try_get("annotator_id")?;
            let answer: String = row.try_get("answer")?;
            let normalized: String = row.try_get("normalized")?;
            out.by_item
                .entry(item)
                .or_default()
                .push(normalized.clone());
            out.by_pair.insert((item, user), (answer, normalized));
        }
    }
    Ok(out)
}

async fn insert_external_users(
    tx: &mut Transaction<'static, Any>,
    names: &[&str],
) -> Result<HashMap<String, i64>, StoreError> {
    let now = now_ms();
    let mut out = HashMap::with_capacity(names.len());
    for chunk in names.chunks(5000) {
        let sql = multi_row_sql(
            Backend::of(tx),
            "INSERT INTO users (name, role, external, disabled, created_at)",
            5,
            chunk.len(),
            "RETURNING id, name",
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for n in chunk {
            q = q
                .bind(*n)
                .bind("annotator")
                .bind(1_i64)
                .bind(0_i64)
                .bind(now);
        }
        for row in q.fetch_all(&mut **tx).await? {
            out.insert(row.try_get("name")?, row.try_get("id")?);
        }
    }
    Ok(out)
}
