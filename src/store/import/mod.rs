//! Bulk imports of items and judgments. Each import is one transaction that validates every
//! row against the current state before writing, so a bad file changes nothing.
//!
//! Items files and judgments files are imported by different rules, so each has its file; a
//! judgments file can name items nobody imported yet, so the judgments import writes items
//! through the items import's helpers (the arrow points one way).

mod items;
mod judgments;
mod summary;

pub use items::{ItemRecord, derived_item_id};
pub use judgments::{BatchItem, JudgmentBatch, JudgmentRecord};
pub use summary::ImportSummary;
