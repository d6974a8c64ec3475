//! What an import did: one summary for both imports, so every interface reports them alike.

/// What an import did, for its one-line summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportSummary {
    pub rows_read: u64,
    pub items_created: u64,
    /// Items that existed without input fields (created by a judgments file) and got them.
    pub items_updated: u64,
    pub judgments_added: u64,
    /// Rows whose item (or judgment) was already stored exactly as in the file.
    pub skipped_present: u64,
    pub annotators_created: u64,
    /// Rows the source marked as rejected (Mechanical Turk `AssignmentStatus = Rejected`).
    pub skipped_rejected: u64,
}
