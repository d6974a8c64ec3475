//! Per-annotator agreement with the consensus, and the per-answer totals the agreement
//! statistics need, gathered in one pass over a project's judgments.
//!
//! Answers are interned to small integers, so memory grows with the number of distinct
//! answers (and annotator × answer pairs), never with the number of judgments.

use std::collections::HashMap;

/// Counts for one annotator.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnnotatorCounts {
    /// All their judgments.
    pub judgments: u64,
    /// Their judgments on resolved items.
    pub on_resolved: u64,
    /// Of those, how many equal the item's label.
    pub matches: u64,
    /// Σ over answers c of (their answers c) × (labels c) over their resolved items: the
    /// chance-agreement term of Cohen's kappa against the consensus.
    pub sum_products: u64,
}

/// Accumulates judgments one at a time, in any order.
#[derive(Debug, Default)]
pub struct ConsensusAccumulator {
    answers: HashMap<Box<str>, u32>,
    /// Judgments per answer over items with at least two judgments.
    pairable_totals: Vec<u64>,
    per_annotator: HashMap<i64, Annotator>,
}

#[derive(Debug, Default)]
struct Annotator {
    judgments: u64,
    on_resolved: u64,
    matches: u64,
    /// answer id -> (their answers with it, labels with it) on resolved items.
    by_answer: HashMap<u32, (u64, u64)>,
}

impl ConsensusAccumulator {
    pub fn new() -> ConsensusAccumulator {
        ConsensusAccumulator::default()
    }

    fn intern(&mut self, answer: &str) -> u32 {
        if let Some(&id) = self.answers.get(answer) {
            return id;
        }
        let id = self.pairable_totals.len() as u32;
        self.answers.insert(answer.into(), id);
        self.pairable_totals.push(0);
        id
    }

    /// One judgment: who gave which normalised answer, the item's label if it is resolved,
    /// and how many judgments the item has.
    pub fn add(&mut self, annotator: i64, answer: &str, label: Option<&str>, item_judgments: u64) {
        let answer_id = self.intern(answer);
        if item_judgments >= 2 {
            self.pairable_totals[answer_id as usize] += 1;
        }
        let label_id = label.map(|l| self.intern(l));
        let a = self.per_annotator.entry(annotator).or_default();
        a.judgments += 1;
        if let Some(label_id) = label_id {
            a.on_resolved += 1;
            if label_id == answer_id {
                a.matches += 1;
            }
            a.by_answer.entry(answer_id).or_default().0 += 1;
            a.by_answer.entry(label_id).or_default().1 += 1;
        }
    }

    /// Judgments per distinct answer over items with at least two judgments (zeros skipped).
    pub fn pairable_totals(&self) -> impl Iterator<Item = u64> + '_ {
        self.pairable_totals.iter().copied().filter(|&n| n > 0)
    }

    /// Per-annotator counts, by annotator id.
    pub fn annotators(&self) -> impl Iterator<Item = (i64, AnnotatorCounts)> + '_ {
        self.per_annotator.iter().map(|(&id, a)| {
            (
                id,
                AnnotatorCounts {
                    judgments: a.judgments,
                    on_resolved: a.on_resolved,
                    matches: a.matches,
                    sum_products: a.by_answer.values().map(|(x, y)| x * y).sum(),
                },
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::stats::cohen_kappa;

    #[test]
    fn counts_match_a_direct_computation() {
        // (annotator, answer, label, item judgments)
        let rows = [
            (1, "a", Some("a"), 3),
            (2, "a", Some("a"), 3),
            (3, "b", Some("a"), 3),
            (1, "b", Some("b"), 2),
            (2, "b", Some("b"), 2),
            (1, "c", None, 1),
        ];
        let mut acc = ConsensusAccumulator::new();
        for (who, answer, label, n) in rows {
            acc.add(who, answer, label, n);
        }
        let mut totals: Vec<u64> = acc.pairable_totals().collect();
        totals.sort_unstable();
        assert_eq!(totals, [2, 3], "a: 2, b: 3; c is on a single-judgment item");
        let mut per: Vec<(i64, AnnotatorCounts)> = acc.annotators().collect();
        per.sort_by_key(|(id, _)| *id);
        let one = &per[0].1;
        assert_eq!((one.judgments, one.on_resolved, one.matches), (3, 2, 2));
        // Annotator 1 answered a, b on items labelled a, b: Σ = 1·1 + 1·1.
        assert_eq!(one.sum_products, 2);
        let three = &per[2].1;
        assert_eq!(
            (three.on_resolved, three.matches, three.sum_products),
            (1, 0, 0)
        );
        let k = crate::domain::stats::cohen_kappa_from_counts(
            one.on_resolved,
            one.matches,
            one.sum_products,
        );
        assert_eq!(k, cohen_kappa(&[("a", "a"), ("b", "b")]));
    }
}

/// An annotator's typical time per item: the median gap between consecutive judgments (times in
/// unix ms, sorted), ignoring gaps longer than `max_gap_ms` (breaks between sessions). `None`
/// with fewer than two judgments in a session.
pub fn median_seconds_per_item(times: &[i64], max_gap_ms: i64) -> Option<f64> {
    let mut gaps: Vec<i64> = times
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|g| (0..=max_gap_ms).contains(g))
        .collect();
    if gaps.is_empty() {
        return None;
    }
    gaps.sort_unstable();
    let mid = gaps.len() / 2;
    let median_ms = if gaps.len() % 2 == 1 {
        gaps[mid] as f64
    } else {
        (gaps[mid - 1] + gaps[mid]) as f64 / 2.0
    };
    Some(median_ms / 1000.0)
}

#[cfg(test)]
mod pace_tests {
    use super::median_seconds_per_item;

    #[test]
    fn median_gap_ignores_breaks() {
        assert_eq!(median_seconds_per_item(&[], 600_000), None);
        assert_eq!(median_seconds_per_item(&[5_000], 600_000), None);
        assert_eq!(
            median_seconds_per_item(&[0, 4_000, 10_000, 13_000], 600_000),
            Some(4.0)
        );
        // A two-hour break is not time spent on an item.
        assert_eq!(
            median_seconds_per_item(&[0, 2_000, 7_200_000, 7_204_000], 600_000),
            Some(3.0)
        );
    }
}
