//! Every item of a project with its judgments, a page of items at a time: what the crowd model
//! reads (exports and re-fits). Packed by the database like the export pages (see
//! `super::export`): one row a judgment cost a hand-off between sqlx's SQLite thread and the
//! reader per row, which made reading 900,000 judgments take most of a second; a page of up to
//! 1,000 items costs one.

use sqlx::{Any, Row, Transaction};
use tokio::sync::mpsc;

use super::StoreError;
use super::export::{FIRST_PAGE_ITEMS, next_page_items, packed_number, packed_text};
use crate::domain::Status;
use crate::domain::crowd::project_model::ModelBuilder;

/// A page of items after the id `$1`, at most `$2` of them, of the project `$3`: each item's
/// numbers and text lengths then its status and label, and each judgment's item, id, annotator
/// and answer length then its answer. `CROSS JOIN` makes SQLite walk the page's items first (see
/// `JUDGMENT_PAGES_SQLITE`); it concatenates in scan order, which the reader checks.
const JUDGED_PAGE_SQLITE: &str = "WITH p AS (SELECT i.id, i.status, i.label, i.judgment_count FROM items i \
     WHERE i.id > $1 AND i.project_id = $3 ORDER BY i.id LIMIT $2) \
     SELECT (SELECT group_concat(format('%s %s %s %s ', id, octet_length(status), \
     coalesce(octet_length(label), -1), judgment_count) || status || coalesce(label, ''), '') \
     FROM p) AS items, \
     (SELECT group_concat(format('%s %s %s %s ', j.item_id, j.id, j.annotator_id, \
     octet_length(j.normalized)) || j.normalized, '') \
     FROM p CROSS JOIN judgments j ON j.item_id = p.id) AS judgments";

const JUDGED_PAGE_POSTGRES: &str = "WITH p AS (SELECT i.id, i.status, i.label, i.judgment_count FROM items i \
     WHERE i.id > $1 AND i.project_id = $3 ORDER BY i.id LIMIT $2) \
     SELECT (SELECT string_agg(format('%s %s %s %s ', id, octet_length(status), \
     coalesce(octet_length(label), -1), judgment_count) || status || coalesce(label, ''), '' \
     ORDER BY id) FROM p) AS items, \
     (SELECT string_agg(format('%s %s %s %s ', j.item_id, j.id, j.annotator_id, \
     octet_length(j.normalized)) || j.normalized, '' ORDER BY j.item_id, j.id) \
     FROM p JOIN judgments j ON j.item_id = p.id) AS judgments";

/// One item of a page; texts are byte ranges of the page's text.
#[derive(Debug)]
struct PagedItem {
    item_id: i64,
    status: Status,
    label: Option<(usize, usize)>,
    item_judgments: u64,
    /// Its judgments: a range of the page's judgments.
    judgments: (usize, usize),
}

#[derive(Debug)]
struct PagedJudgment {
    annotator_id: i64,
    answer: (usize, usize),
}

/// A page of items (in id order) with their judgments (in submission order), owning the packed
/// text the database sent.
#[derive(Debug, Default)]
pub struct JudgedPage {
    items_text: String,
    judgments_text: String,
    items: Vec<PagedItem>,
    judgments: Vec<PagedJudgment>,
}

/// One item of a [`JudgedPage`].
#[derive(Debug, Clone, Copy)]
pub struct JudgedItem<'a> {
    pub item_id: i64,
    pub status: Status,
    /// Its label when its status has one (resolved or adjudicated).
    pub label: Option<&'a str>,
    /// Its judgment counter (equal to the judgments read, in a consistent read).
    pub item_judgments: u64,
    judgments: &'a [PagedJudgment],
    text: &'a str,
}

impl<'a> JudgedItem<'a> {
    /// Adds the item to a crowd-model fit as every fit of the project does (exports and
    /// re-fits alike, so that a re-fit's stored cells are the bytes an export's fit gives):
    /// judged items only, an adjudication as the known answer. Whether it was added.
    pub fn add_to(&self, builder: &mut ModelBuilder) -> bool {
        if self.judgments.is_empty() {
            return false;
        }
        let known = self.label.filter(|_| self.status == Status::Adjudicated);
        builder.add_item(self.item_id, self.judgments(), known);
        true
    }

    /// (annotator id, normalised answer) of each judgment, in submission order.
    pub fn judgments(&self) -> impl ExactSizeIterator<Item = (i64, &'a str)> + Clone + 'a {
        let text = self.text;
        self.judgments
            .iter()
            .map(move |j| (j.annotator_id, &text[j.answer.0..j.answer.1]))
    }
}

impl JudgedPage {
    /// The page's items in id order.
    pub fn items(&self) -> impl Iterator<Item = JudgedItem<'_>> {
        self.items.iter().map(|item| JudgedItem {
            item_id: item.item_id,
            status: item.status,
            label: item.label.map(|(a, b)| &self.items_text[a..b]),
            item_judgments: item.item_judgments,
            judgments: &self.judgments[item.judgments.0..item.judgments.1],
            text: &self.judgments_text,
        })
    }

    /// Reads the two packed texts of [`JUDGED_PAGE_SQLITE`] or [`JUDGED_PAGE_POSTGRES`].
    fn parse(items_text: String, judgments_text: String) -> Result<JudgedPage, String> {
        let mut items = Vec::new();
        let base = items_text.as_str();
        let mut rest = base;
        while !rest.is_empty() {
            let mut n = [0i64; 4];
            for slot in &mut n {
                *slot = packed_number(&mut rest)?;
            }
            let [item_id, status_len, label_len, item_judgments] = n;
            let status_text = packed_text(&mut rest, status_len)?;
            let status =
                Status::parse(status_text).ok_or_else(|| format!("status {status_text:?}"))?;
            let label = if label_len < 0 {
                None
            } else {
                let start = base.len() - rest.len();
                packed_text(&mut rest, label_len)?;
                status
                    .has_label()
                    .then_some((start, base.len() - rest.len()))
            };
            items.push(PagedItem {
                item_id,
                status,
                label,
                item_judgments: u64::try_from(item_judgments)
                    .map_err(|_| format!("item id {item_id}: judgment count {item_judgments}"))?,
                judgments: (0, 0),
            });
        }
        if !items.is_sorted_by_key(|i| i.item_id) {
            items.sort_by_key(|i| i.item_id);
        }
        let mut keyed = Vec::new();
        let base = judgments_text.as_str();
        let mut rest = base;
        while !rest.is_empty() {
            let mut n = [0i64; 4];
            for slot in &mut n {
                *slot = packed_number(&mut rest)?;
            }
            let [item_id, judgment_id, annotator_id, answer_len] = n;
            let start = base.len() - rest.len();
            packed_text(&mut rest, answer_len)?;
            let answer = (start, base.len() - rest.len());
            keyed.push((
                (item_id, judgment_id),
                PagedJudgment {
                    annotator_id,
                    answer,
                },
            ));
        }
        if !keyed.is_sorted_by_key(|(key, _)| *key) {
            keyed.sort_by_key(|(key, _)| *key);
        }
        // Both lists are in item order: each item takes the run of judgments that is its own.
        let mut judgments = Vec::with_capacity(keyed.len());
        let mut next = keyed.into_iter().peekable();
        for item in &mut items {
            let start = judgments.len();
            while let Some(((of, _), _)) = next.peek() {
                if *of != item.item_id {
                    break;
                }
                if let Some((_, j)) = next.next() {
                    judgments.push(j);
                }
            }
            item.judgments = (start, judgments.len());
        }
        if let Some(((of, id), _)) = next.next() {
            return Err(format!(
                "judgment {id} of item id {of}, which is not on the page"
            ));
        }
        Ok(JudgedPage {
            items_text,
            judgments_text,
            items,
            judgments,
        })
    }
}

/// Sends every item of the project, with its judgments, down `pages` in id order, a page at a
/// time, as `tx` sees them; stops early, without error, when the receiver is gone. Run it
/// beside the reader (`tokio::try_join!`) so the next page is read while one is used.
pub(crate) async fn send_judged_pages(
    tx: &mut Transaction<'static, Any>,
    project_id: i64,
    pages: mpsc::Sender<JudgedPage>,
) -> Result<(), StoreError> {
    let sql = match super::Backend::of(tx) {
        super::Backend::Sqlite => JUDGED_PAGE_SQLITE,
        super::Backend::Postgres => JUDGED_PAGE_POSTGRES,
    };
    let (mut after, mut limit) = (0, FIRST_PAGE_ITEMS);
    loop {
        let row = sqlx::query(sql)
            .bind(after)
            .bind(limit)
            .bind(project_id)
            .fetch_one(&mut **tx)
            .await?;
        let items: Option<String> = row.try_get("items")?;
        let judgments: Option<String> = row.try_get("judgments")?;
        let (items, judgments) = (items.unwrap_or_default(), judgments.unwrap_or_default());
        let bytes = items.len() + judgments.len();
        let page = JudgedPage::parse(items, judgments).map_err(|e| {
            StoreError::Corrupt(format!("packed judged items after item id {after}: {e}"))
        })?;
        let next = match page.items.last() {
            Some(last) if page.items.len() as i64 == limit => Some(last.item_id),
            _ => None,
        };
        limit = next_page_items(bytes, page.items.len());
        if pages.send(page).await.is_err() {
            return Ok(());
        }
        match next {
            Some(id) => after = id,
            None => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_groups_judgments_by_item_in_order_whatever_the_database_sent() {
        let items = "7 7 -1 0 pending3 8 2 2 resolvedc15 10 1 1 unresolvedx".to_owned();
        // Out of order, as a database may concatenate them.
        let judgments = "5 21 100 1 x3 12 101 2 c13 11 100 2 c1".to_owned();
        let page = JudgedPage::parse(items, judgments).unwrap();
        let got: Vec<_> = page
            .items()
            .map(|i| {
                (
                    i.item_id,
                    i.status,
                    i.label,
                    i.item_judgments,
                    i.judgments().collect::<Vec<_>>(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    3,
                    Status::Resolved,
                    Some("c1"),
                    2,
                    vec![(100, "c1"), (101, "c1")]
                ),
                // An unresolved item has no label, whatever the row holds.
                (5, Status::Unresolved, None, 1, vec![(100, "x")]),
                (7, Status::Pending, None, 0, vec![]),
            ]
        );
    }

    #[test]
    fn a_corrupt_page_is_an_error_not_a_panic() {
        assert!(JudgedPage::parse("3 8 2".into(), String::new()).is_err());
        assert!(JudgedPage::parse("3 4 -1 0 gone".into(), String::new()).is_err());
        assert!(JudgedPage::parse("3 7 -1 0 pending".into(), "9 1 1 1 x".into()).is_err());
        assert!(JudgedPage::parse(String::new(), "9 1 1 5 x".into()).is_err());
    }
}
