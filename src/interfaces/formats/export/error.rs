//! How an export fails, one type for every file so an interface maps failures in one place.

use crate::store::StoreError;

/// Errors while exporting.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the export")]
    Io(#[from] std::io::Error),
    #[error("cannot write CSV")]
    Csv(#[from] csv::Error),
    #[error("{0}")]
    Busy(String),
    #[error("statistics need every item: the labels pass was filtered")]
    Filtered,
    #[error("stored item {item} is corrupt: {message}")]
    Corrupt { item: String, message: String },
}
