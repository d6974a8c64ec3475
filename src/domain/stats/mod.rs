//! Inter-annotator agreement: how far annotators agree on the items (percent agreement,
//! Fleiss' kappa, Krippendorff's alpha) and how far each annotator agrees with the consensus
//! (Cohen's kappa). The two answer different questions from different inputs, so each has
//! its file; the exact arithmetic both rely on sits beside them.
//!
//! Precision: integer sums are kept exactly (`u128`) and, whenever the formula
//! allows, combined into one rational before a single final division. Per-item
//! ratios with differing denominators cannot be summed exactly, so those use
//! compensated summation (error ~1 ulp, independent of item count and order).

mod agreement;
mod cohen;
mod precision;

pub use agreement::{Agreement, AgreementStats, agreement_from_count_rows, agreement_from_units};
pub use cohen::{cohen_kappa, cohen_kappa_from_counts};
