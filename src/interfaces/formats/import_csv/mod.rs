//! Reading items and judgments files. Shared by every interface, so the CLI, the browser
//! upload and the HTTP API accept exactly the same files and report errors the same way.
//!
//! Items and judgments are different files with different rules, and a Mechanical Turk batch is
//! a layout of its own; each has its file, over one CSV reader that says where a problem is.

mod items;
mod judgments;
mod mturk;
mod reader;

pub use items::{ParsedItems, parse_items, parse_items_jsonl};
pub use judgments::{JudgmentFormat, ParsedJudgments, parse_judgments};
pub use reader::ImportError;
