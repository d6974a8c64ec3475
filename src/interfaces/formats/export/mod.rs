//! The export contract: labels CSV, stats JSON, judgments CSV and annotators CSV. Every
//! interface writes exports through these functions, so the bytes are the same everywhere.
//! Streams: memory does not grow with the number of items.
//!
//! Each file of the contract has its writer here, over the shape every export shares and the
//! chunked output that lets a download start at once and push back on a slow client.

mod error;
mod judgments;
mod labels;
mod model;
mod out;
mod shape;
mod stats;

pub use error::ExportError;
pub use judgments::{JUDGMENT_COLUMNS, format_timestamp, write_judgments};
pub use labels::{DISAGREEMENTS_KEPT, LABEL_COLUMNS, LabelsPass, ModelDisagreement, write_labels};
pub use out::ExportOut;
pub use shape::{Cells, Format, Shape};
pub use stats::{
    ANNOTATOR_COLUMNS, AnnotatorStats, DawidSkeneStats, ProjectStats, finish_stats, project_stats,
    write_annotators, write_stats,
};
