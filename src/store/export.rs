//! Streaming reads for exports: rows arrive one at a time, so memory stays flat however many
//! items a project has. Aggregates over categories are computed by the database.
//!
//! One idea: the read-only snapshot an export streams from. Item pages and judgment pages
//! share its paging, packing and consistent view, so they stay together; the long part is
//! the per-backend SQL and the tests of page decoding.

use std::collections::HashMap;

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Backend, Store, StoreError};
use crate::domain::Status;
use crate::domain::crowd::project_model::FitSummary;

/// Which items an export covers: all, those with one status, those changed after a cursor
/// (see [`ExportSnapshot::change_cursor`]), or both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ItemFilter {
    pub status: Option<Status>,
    /// Only items whose exported row changed after this cursor.
    pub since: Option<i64>,
}

/// The four `WHERE` variants of a page of a filtered export: items after the id `$1`, at
/// most `$2` of them, of the project `$3`.
macro_rules! paged {
    ($select:expr, $tail:expr) => {
        [
            concat!($select, " WHERE i.id > $1 AND i.project_id = $3 ", $tail),
            concat!(
                $select,
                " WHERE i.id > $1 AND i.project_id = $3 AND i.status = $4 ",
                $tail
            ),
            concat!(
                $select,
                " WHERE i.id > $1 AND i.project_id = $3 AND i.change_seq > $4 ",
                $tail
            ),
            concat!(
                $select,
                " WHERE i.id > $1 AND i.project_id = $3 AND i.status = $4 AND i.change_seq > $5 ",
                $tail
            ),
        ]
    };
}

/// Items per export page at most.
const MAX_PAGE_ITEMS: i64 = 1000;

/// Items on an export's first page, before its items' size is known.
pub(super) const FIRST_PAGE_ITEMS: i64 = 100;

/// About how many bytes an export page should hold: pages of large items (long input fields)
/// hold fewer of them, so memory stays bounded by bytes, not only by items.
const PAGE_BYTES: usize = 1 << 20;

/// How many items the next page should ask for, after one of `items` items took `bytes`.
pub(super) fn next_page_items(bytes: usize, items: usize) -> i64 {
    if items == 0 {
        return MAX_PAGE_ITEMS;
    }
    let per_item = (bytes / items).max(1);
    i64::try_from(PAGE_BYTES / per_item)
        .unwrap_or(MAX_PAGE_ITEMS)
        .clamp(1, MAX_PAGE_ITEMS)
}

/// One item of a page, as the database packs it: its numbers and the byte lengths of its
/// texts, space-separated, then the texts back to back (see [`parse_item_page`]). The texts are
/// appended with `||`, not through `format`, whose `%s` would stop at a NUL character.
macro_rules! packed_item {
    () => {
        "format('%s %s %s %s %s %s %s %s %s ', id, octet_length(external_id), \
         octet_length(status), coalesce(octet_length(label), -1), votes, judgment_count, \
         octet_length(answers), octet_length(fields), coalesce(octet_length(model_cells), -1)) \
         || external_id || status || coalesce(label, '') || answers || fields || \
         coalesce(model_cells, '')"
    };
}

/// A page of items, packed into one text by the database. One row per item costs a hand-off
/// between sqlx's SQLite thread and the export's task per item, which capped the labels export
/// near 10–20 MB/s; a page costs one per thousand items (fewer when items are large). Texts go
/// by length rather than as JSON strings, so neither side escapes or unescapes them. SQLite concatenates in the subquery's
/// order; [`parse_item_page`] restores id order should that ever change.
const ITEM_PAGES_SQLITE: [&str; 4] = paged!(
    concat!(
        "SELECT group_concat(",
        packed_item!(),
        ", '') AS page FROM (SELECT i.id, i.external_id, i.status, i.label, i.votes, \
         i.judgment_count, i.answers, i.fields, i.model_cells FROM items i"
    ),
    "ORDER BY i.id LIMIT $2)"
);

const ITEM_PAGES_POSTGRES: [&str; 4] = paged!(
    concat!(
        "SELECT string_agg(",
        packed_item!(),
        ", '' ORDER BY id) AS page FROM (SELECT i.id, i.external_id, i.status, i.label, i.votes, \
         i.judgment_count, i.answers, i.fields, i.model_cells FROM items i"
    ),
    "ORDER BY i.id LIMIT $2) AS p"
);

/// Reads a page packed by [`ITEM_PAGES_SQLITE`] or [`ITEM_PAGES_POSTGRES`], in id order.
fn parse_item_page(mut rest: &str) -> Result<Vec<ExportRow>, String> {
    let mut rows: Vec<ExportRow> = Vec::new();
    let mut ordered = true;
    while !rest.is_empty() {
        let mut n = [0i64; 9];
        for slot in &mut n {
            *slot = packed_number(&mut rest)?;
        }
        let [
            item_id,
            external,
            status,
            label,
            votes,
            judgments,
            answers,
            fields,
            cells,
        ] = n;
        ordered &= rows.last().is_none_or(|last| last.item_id < item_id);
        rows.push(ExportRow {
            item_id,
            external_id: packed_text(&mut rest, external)?.to_owned(),
            status: packed_text(&mut rest, status)?.to_owned(),
            label: if label < 0 {
                None
            } else {
                Some(packed_text(&mut rest, label)?.to_owned())
            },
            votes,
            judgments,
            answers: packed_text(&mut rest, answers)?.to_owned(),
            fields: packed_text(&mut rest, fields)?.to_owned(),
            model_cells: if cells < 0 {
                None
            } else {
                Some(packed_text(&mut rest, cells)?.to_owned())
            },
        });
    }
    if !ordered {
        rows.sort_by_key(|r| r.item_id);
    }
    Ok(rows)
}

/// A page of judgments: those of up to 1,000 items, packed like items (see [`packed_item!`]),
/// with the number of items the page covered and the last one's id (items may have no
/// judgments). `CROSS JOIN` makes SQLite walk the page's items first: left to itself, it may
/// read the whole project's judgments in index order, per page. Annotators come as ids, named
/// by the reader from a cache: a project has far fewer annotators than judgments.
const JUDGMENT_PAGES_SQLITE: [&str; 4] = paged!(
    "WITH p AS (SELECT i.id, i.external_id FROM items i",
    "ORDER BY i.id LIMIT $2) SELECT (SELECT count(*) FROM p) AS items, \
     (SELECT max(id) FROM p) AS last, \
     (SELECT group_concat(format('%s %s %s %s %s %s %s ', p.id, j.id, j.annotator_id, \
     octet_length(p.external_id), octet_length(j.answer), octet_length(j.normalized), \
     j.created_at) || p.external_id || j.answer || j.normalized, '') \
     FROM p CROSS JOIN judgments j ON j.item_id = p.id) AS page"
);

const JUDGMENT_PAGES_POSTGRES: [&str; 4] = paged!(
    "WITH p AS (SELECT i.id, i.external_id FROM items i",
    "ORDER BY i.id LIMIT $2) SELECT (SELECT count(*) FROM p) AS items, \
     (SELECT max(id) FROM p) AS last, \
     (SELECT string_agg(format('%s %s %s %s %s %s %s ', p.id, j.id, j.annotator_id, \
     octet_length(p.external_id), octet_length(j.answer), octet_length(j.normalized), \
     j.created_at) || p.external_id || j.answer || j.normalized, '' \
     ORDER BY p.id, j.id) FROM p JOIN judgments j ON j.item_id = p.id) AS page"
);

/// A judgment of a packed page, its annotator still an id.
#[derive(Debug)]
struct PackedJudgment {
    annotator_id: i64,
    row: JudgmentExportRow,
}

/// Reads a page packed by [`JUDGMENT_PAGES_SQLITE`] or [`JUDGMENT_PAGES_POSTGRES`], ordered by
/// item and then submission; the rows' `annotator` is left empty.
fn parse_judgment_page(mut rest: &str) -> Result<Vec<PackedJudgment>, String> {
    let mut rows: Vec<((i64, i64), PackedJudgment)> = Vec::new();
    let mut ordered = true;
    while !rest.is_empty() {
        let mut n = [0i64; 7];
        for slot in &mut n {
            *slot = packed_number(&mut rest)?;
        }
        let [
            item,
            judgment,
            annotator_id,
            external,
            answer,
            normalized,
            created_at,
        ] = n;
        ordered &= rows.last().is_none_or(|(key, _)| *key < (item, judgment));
        let row = JudgmentExportRow {
            item_id: packed_text(&mut rest, external)?.to_owned(),
            annotator: String::new(),
            answer: packed_text(&mut rest, answer)?.to_owned(),
            normalized: packed_text(&mut rest, normalized)?.to_owned(),
            created_at,
        };
        rows.push(((item, judgment), PackedJudgment { annotator_id, row }));
    }
    if !ordered {
        rows.sort_by_key(|(key, _)| *key);
    }
    Ok(rows.into_iter().map(|(_, j)| j).collect())
}

/// The next space-terminated number of a packed page.
pub(super) fn packed_number(rest: &mut &str) -> Result<i64, String> {
    let end = rest.find(' ').ok_or("a number is cut short")?;
    let n = rest[..end]
        .parse()
        .map_err(|e| format!("{:?}: {e}", &rest[..end]))?;
    *rest = &rest[end + 1..];
    Ok(n)
}

/// The next text of `len` bytes of a packed page.
pub(super) fn packed_text<'a>(rest: &mut &'a str, len: i64) -> Result<&'a str, String> {
    let len = usize::try_from(len).map_err(|_| format!("length {len}"))?;
    let t = rest
        .get(..len)
        .ok_or_else(|| format!("a text of {len} bytes is cut short"))?;
    *rest = &rest[len..];
    Ok(t)
}

impl ItemFilter {
    /// The page query for this filter: at most `limit` items after `after`, with its
    /// parameters bound.
    fn page_query(
        self,
        variants: &'static [&'static str; 4],
        after: i64,
        limit: i64,
        project_id: i64,
    ) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
        let q = |i: usize| {
            sqlx::query(variants[i])
                .bind(after)
                .bind(limit)
                .bind(project_id)
        };
        match (self.status, self.since) {
            (None, None) => q(0),
            (Some(s), None) => q(1).bind(s.as_str()),
            (None, Some(c)) => q(2).bind(c),
            (Some(s), Some(c)) => q(3).bind(s.as_str()).bind(c),
        }
    }
}

/// One item as the labels export needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRow {
    pub item_id: i64,
    pub external_id: String,
    pub status: String,
    pub label: Option<String>,
    pub votes: i64,
    pub judgments: i64,
    /// The normalised answer distribution as a JSON object.
    pub answers: String,
    /// Input fields as a JSON object.
    pub fields: String,
    /// The crowd model's cells stored by the last re-fit (`ModelCells::encode`); current only
    /// when [`ExportSnapshot::stored_model`] says so.
    pub model_cells: Option<String>,
}

/// One judgment in the long format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JudgmentExportRow {
    pub item_id: String,
    pub annotator: String,
    pub answer: String,
    pub normalized: String,
    pub created_at: i64,
}

fn count(row: &AnyRow, name: &str) -> Result<u64, StoreError> {
    let v: i64 = row.try_get(name)?;
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{name} = {v}")))
}

/// A consistent read view for one export: every query of the export sees the same data even
/// while annotators keep labeling (a read transaction on SQLite's WAL, `REPEATABLE READ` on
/// PostgreSQL), so the labels, the statistics and the judgments always agree.
pub struct ExportSnapshot {
    tx: sqlx::Transaction<'static, sqlx::Any>,
}

impl Store {
    /// Opens a consistent read view for an export.
    pub async fn export_snapshot(&self) -> Result<ExportSnapshot, StoreError> {
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin().await?,
            Backend::Postgres => {
                self.pool
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?
            }
        };
        Ok(ExportSnapshot { tx })
    }
}

impl ExportSnapshot {
    /// Ends the read view.
    pub async fn close(self) -> Result<(), StoreError> {
        self.tx.rollback().await?;
        Ok(())
    }

    /// The project's input field names, in order of first appearance.
    pub async fn project_fields(&mut self, project_id: i64) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT name FROM project_fields WHERE project_id = $1 ORDER BY position",
        )
        .bind(project_id)
        .fetch_all(&mut *self.tx)
        .await?)
    }

    /// The last change number of the project visible in this read view: the cursor a pipeline
    /// passes back as `since` to get only what changed after this export. 0 before any change.
    pub async fn change_cursor(&mut self, project_id: i64) -> Result<i64, StoreError> {
        super::changes::change_seq(&mut self.tx, project_id).await
    }

    /// The project's configuration version in this read view.
    pub async fn config_version(&mut self, project_id: i64) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT config_version FROM projects WHERE id = $1")
            .bind(project_id)
            .fetch_optional(&mut *self.tx)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("project {project_id}")))
    }

    /// Sends the project's items (those `filter` selects) down `tx` in import order, a page at
    /// a time; stops early, without error, when the receiver is gone.
    pub async fn send_item_pages(
        &mut self,
        project_id: i64,
        filter: ItemFilter,
        tx: tokio::sync::mpsc::Sender<Vec<ExportRow>>,
    ) -> Result<(), StoreError> {
        let variants = match Backend::of(&self.tx) {
            Backend::Sqlite => &ITEM_PAGES_SQLITE,
            Backend::Postgres => &ITEM_PAGES_POSTGRES,
        };
        let (mut after, mut limit) = (0, FIRST_PAGE_ITEMS);
        loop {
            let packed: Option<String> = filter
                .page_query(variants, after, limit, project_id)
                .fetch_one(&mut *self.tx)
                .await?
                .try_get("page")?;
            let packed = packed.unwrap_or_default(); // no rows: NULL
            let page = parse_item_page(&packed)
                .map_err(|e| StoreError::Corrupt(format!("packed items after id {after}: {e}")))?;
            let next = match page.last() {
                Some(last) if page.len() as i64 == limit => Some(last.item_id),
                _ => None,
            };
            limit = next_page_items(packed.len(), page.len());
            if tx.send(page).await.is_err() {
                return Ok(());
            }
            match next {
                Some(id) => after = id,
                None => return Ok(()),
            }
        }
    }

    /// Sends the judgments of the project's items (those `filter` selects) down `tx`, grouped
    /// by item in import order, a page of items at a time; stops early, without error, when
    /// the receiver is gone.
    pub async fn send_judgment_pages(
        &mut self,
        project_id: i64,
        filter: ItemFilter,
        tx: tokio::sync::mpsc::Sender<Vec<JudgmentExportRow>>,
    ) -> Result<(), StoreError> {
        let variants = match Backend::of(&self.tx) {
            Backend::Sqlite => &JUDGMENT_PAGES_SQLITE,
            Backend::Postgres => &JUDGMENT_PAGES_POSTGRES,
        };
        let mut names: HashMap<i64, String> = HashMap::new();
        let (mut after, mut limit) = (0, FIRST_PAGE_ITEMS);
        loop {
            let row = filter
                .page_query(variants, after, limit, project_id)
                .fetch_one(&mut *self.tx)
                .await?;
            let items = count(&row, "items")?;
            let last: Option<i64> = row.try_get("last")?;
            let text: Option<String> = row.try_get("page")?;
            let text = text.unwrap_or_default(); // no judgments: NULL
            let packed = parse_judgment_page(&text).map_err(|e| {
                StoreError::Corrupt(format!("packed judgments after item id {after}: {e}"))
            })?;
            let full = i64::try_from(items).is_ok_and(|n| n == limit);
            limit = next_page_items(text.len(), usize::try_from(items).unwrap_or(0));
            let unknown: Vec<i64> = packed
                .iter()
                .map(|j| j.annotator_id)
                .filter(|id| !names.contains_key(id))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            if !unknown.is_empty() {
                names.extend(self.annotator_names(&unknown).await?);
            }
            let page = packed
                .into_iter()
                .map(
                    |PackedJudgment {
                         annotator_id,
                         mut row,
                     }| {
                        row.annotator = names.get(&annotator_id).cloned().ok_or_else(|| {
                            StoreError::Corrupt(format!("judgment by unknown user {annotator_id}"))
                        })?;
                        Ok(row)
                    },
                )
                .collect::<Result<Vec<_>, StoreError>>()?;
            if tx.send(page).await.is_err() {
                return Ok(());
            }
            match last {
                Some(id) if full => after = id,
                _ => return Ok(()),
            }
        }
    }

    /// Sends every item of the project with its judgments down `pages`, a page at a time in
    /// id order (see `judged_pages`): what the crowd model reads.
    pub async fn send_judged_pages(
        &mut self,
        project_id: i64,
        pages: tokio::sync::mpsc::Sender<super::JudgedPage>,
    ) -> Result<(), StoreError> {
        super::judged_pages::send_judged_pages(&mut self.tx, project_id, pages).await
    }

    /// The summary of the project's last fit when the model cells it stored with the items are
    /// current in this read view (nothing the fit reads changed since); `None` otherwise, and
    /// the export fits afresh.
    pub async fn stored_model(
        &mut self,
        project_id: i64,
    ) -> Result<Option<FitSummary>, StoreError> {
        let row: Option<Option<String>> = sqlx::query_scalar(
            "SELECT m.cells_summary FROM crowd_models m WHERE m.project_id = $1 \
             AND m.cells_change_seq = coalesce((SELECT c.seq FROM project_changes c \
             WHERE c.project_id = $1), 0)",
        )
        .bind(project_id)
        .fetch_optional(&mut *self.tx)
        .await?;
        match row.flatten() {
            Some(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
                StoreError::Corrupt(format!("crowd model summary of project {project_id}: {e}"))
            }),
            None => Ok(None),
        }
    }

    /// Annotator names by id.
    pub async fn annotator_names(
        &mut self,
        ids: &[i64],
    ) -> Result<HashMap<i64, String>, StoreError> {
        let mut out = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(5000) {
            let mut sql = String::from("SELECT id, name FROM users WHERE id IN (");
            super::push_list(&mut sql, Backend::of(&self.tx), 1, chunk.len());
            sql.push(')');
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(*id);
            }
            for row in q.fetch_all(&mut *self.tx).await? {
                out.insert(row.try_get("id")?, row.try_get("name")?);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: i64, label: Option<&str>) -> String {
        let (ext, status, answers, fields) = ("é \"x\", 🏀", "resolved", r#"{"a":2}"#, "{}");
        let cells = "0.5 0.5 nba";
        let label_len = label.map_or(-1, |l| l.len() as i64);
        format!(
            "{id} {} {} {label_len} 2 3 {} {} {} {ext}{status}{}{answers}{fields}{cells}",
            ext.len(),
            status.len(),
            answers.len(),
            fields.len(),
            if id == 7 { cells.len() as i64 } else { -1 },
            label.unwrap_or_default(),
            cells = if id == 7 { cells } else { "" },
        )
    }

    #[test]
    fn item_pages_read_texts_by_byte_length_and_restore_id_order() {
        let page = format!(
            "{}{}{}",
            item(7, Some("nba")),
            item(3, None),
            item(9, Some(""))
        );
        let rows = parse_item_page(&page).expect("valid page");
        let ids: Vec<i64> = rows.iter().map(|r| r.item_id).collect();
        assert_eq!(ids, [3, 7, 9]);
        assert_eq!(rows[0].external_id, "é \"x\", 🏀");
        assert_eq!(rows[0].label, None);
        assert_eq!(rows[1].label.as_deref(), Some("nba"));
        assert_eq!(rows[2].label.as_deref(), Some(""));
        assert_eq!((rows[1].votes, rows[1].judgments), (2, 3));
        assert_eq!(rows[1].answers, r#"{"a":2}"#);
        assert_eq!(rows[1].model_cells.as_deref(), Some("0.5 0.5 nba"));
        assert_eq!(rows[0].model_cells, None);
        assert_eq!(parse_item_page("").expect("empty"), []);
    }

    #[test]
    fn pages_hold_about_a_mebibyte() {
        assert_eq!(next_page_items(0, 0), 1000, "nothing to go by");
        assert_eq!(next_page_items(100_000, 1000), 1000, "small items");
        assert_eq!(next_page_items(40_000 * 100, 100), 26);
        assert_eq!(next_page_items(50 << 20, 1), 1, "always at least one");
    }

    #[test]
    fn damaged_pages_are_errors_not_panics() {
        let good = item(1, Some("nba"));
        for cut in 0..good.len() {
            if good.is_char_boundary(cut) && cut > 0 {
                assert!(parse_item_page(&good[..cut]).is_err(), "cut at {cut}");
            }
        }
        // A length that splits a character.
        assert!(parse_item_page("1 1 0 -1 0 0 0 0 é").is_err());
        assert!(parse_item_page("1 x 0 -1 0 0 0 0 ").is_err());
        assert!(parse_judgment_page("1 2 3").is_err());
    }

    #[test]
    fn judgment_pages_come_out_by_item_then_submission() {
        let j = |item: i64, id: i64, who: i64| {
            format!("{item} {id} {who} 2 2 1 1700000000000 i{item}éa")
        };
        let page = format!("{}{}{}", j(5, 9, 30), j(5, 4, 10), j(2, 20, 20));
        let rows = parse_judgment_page(&page).expect("valid page");
        let who: Vec<i64> = rows.iter().map(|j| j.annotator_id).collect();
        assert_eq!(who, [20, 10, 30]);
        assert_eq!(rows[0].row.item_id, "i2");
        assert_eq!(rows[0].row.answer, "é");
        assert_eq!(rows[0].row.normalized, "a");
        assert_eq!(rows[2].row.created_at, 1_700_000_000_000);
    }
}
