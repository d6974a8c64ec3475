//! Progress of long store jobs (imports), reported to whoever draws it.

/// Reports progress of long imports; the CLI draws a bar, everything else ignores it.
pub trait Progress: Sync {
    fn phase(&self, _name: &str, _total: u64) {}
    fn advance(&self, _by: u64) {}
}

/// Ignores progress.
pub struct NoProgress;
impl Progress for NoProgress {}
