//! File formats shared by every interface: what Quorum reads (imports) and writes (exports).

pub mod export;
pub mod import_csv;
pub mod snapshot;
