//! Agreement among the annotators of each item: percent agreement, Fleiss' kappa and
//! Krippendorff's alpha (nominal), one accumulator for all three because they share its sums.
//!
//! The exporter streams items and must use memory independent of the item
//! count; while streaming it only knows each item's answer *counts*, not which
//! answer is which. So [`Agreement`] keeps a fixed handful of running sums, and
//! everything that needs category identities (chance agreement) comes from
//! per-category totals supplied separately (a grouped SQL query).

use std::collections::HashMap;
use std::hash::Hash;

use super::precision::{CompensatedSum, signed_ratio};

/// Whether all items seen so far carry the same number of judgments: Fleiss'
/// kappa requires it, and it enables the exact rational paths.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Uniformity {
    #[default]
    Empty,
    Same(u128),
    Mixed,
}

impl Uniformity {
    fn observe(&mut self, m: u128) {
        *self = match *self {
            Self::Empty => Self::Same(m),
            Self::Same(k) if k == m => Self::Same(k),
            _ => Self::Mixed,
        };
    }
}

/// Streaming accumulator of agreement over items.
///
/// Memory is constant: only running sums are kept, never per-item data.
#[derive(Debug, Clone, Default)]
pub struct Agreement {
    /// Judgment counts over items with >= 1 judgment (Fleiss' condition).
    judged: Uniformity,
    /// Judgment counts over pairable items (>= 2 judgments).
    pairable: Uniformity,
    pairable_items: u128,
    /// Krippendorff's n: number of values in pairable items.
    pairable_values: u128,
    /// Sum over pairable items of sum_c n_ic (n_ic - 1): agreeing ordered pairs.
    agreeing_pairs: u128,
    /// Sum over pairable items of P_i (for unequal item sizes).
    item_agreement: CompensatedSum,
    /// Sum over pairable items of (disagreeing ordered pairs) / (m_i - 1),
    /// i.e. Krippendorff's n - sum_c o_cc, accumulated directly so that near
    /// perfect agreement does not suffer cancellation.
    disagreement: CompensatedSum,
    category_sum: u128,
    category_sum_sq: u128,
    category_max: u128,
    /// Set if an exact sum overflowed; all statistics are then `None` rather
    /// than silently wrong.
    overflow: bool,
}

/// Agreement statistics over a set of items.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct AgreementStats {
    /// Unweighted mean over items with >= 2 judgments of
    /// P_i = sum_j n_ij(n_ij-1) / (n_i(n_i-1)). None when no such item.
    pub percent_agreement: Option<f64>,
    /// Fleiss' kappa; None unless every judged item (>= 1 judgment) has the
    /// same number n >= 2 of judgments, or when undefined (P_e == 1).
    pub fleiss_kappa: Option<f64>,
    /// Krippendorff's alpha, nominal metric, handling missing data and
    /// variable counts (only pairable units count). None when undefined (no
    /// pairable values, or expected disagreement D_e == 0).
    pub krippendorff_alpha: Option<f64>,
}

impl AgreementStats {
    const UNDEFINED: Self = Self {
        percent_agreement: None,
        fleiss_kappa: None,
        krippendorff_alpha: None,
    };
}

impl Agreement {
    pub fn new() -> Self {
        Self::default()
    }

    /// One item's answer counts (one entry per distinct normalised answer,
    /// zeros allowed and ignored). Items with 0 judgments are ignored
    /// entirely; items with 1 judgment count as "judged" (they break Fleiss'
    /// equal-count condition) but are not pairable.
    pub fn add_item(&mut self, counts: &[u64]) {
        if self.try_add_item(counts).is_none() {
            self.overflow = true;
        }
    }

    fn try_add_item(&mut self, counts: &[u64]) -> Option<()> {
        let (m, agreeing) = counts.iter().try_fold((0u128, 0u128), |(m, a), &c| {
            let c = u128::from(c);
            // c < 2^64, so c * (c - 1) < 2^128 cannot overflow.
            Some((m.checked_add(c)?, a.checked_add(c * c.saturating_sub(1))?))
        })?;
        if m == 0 {
            return Some(());
        }
        self.judged.observe(m);
        if m < 2 {
            return Some(());
        }
        self.pairable.observe(m);
        self.pairable_items = self.pairable_items.checked_add(1)?;
        self.pairable_values = self.pairable_values.checked_add(m)?;
        self.agreeing_pairs = self.agreeing_pairs.checked_add(agreeing)?;
        let pairs = m.checked_mul(m - 1)?;
        self.item_agreement.add(agreeing as f64 / pairs as f64);
        self.disagreement
            .add((pairs - agreeing) as f64 / (m - 1) as f64);
        Some(())
    }

    /// One category's total over pairable items (items with >= 2 judgments).
    /// Call once per distinct category. If the totals do not sum to the
    /// number of pairable judgments (e.g. the two queries saw different
    /// snapshots), the chance-corrected statistics are `None`.
    pub fn add_category_total(&mut self, n_c: u64) {
        let n_c = u128::from(n_c);
        match (
            self.category_sum.checked_add(n_c),
            self.category_sum_sq.checked_add(n_c * n_c),
        ) {
            (Some(sum), Some(sq)) => {
                self.category_sum = sum;
                self.category_sum_sq = sq;
                self.category_max = self.category_max.max(n_c);
            }
            _ => self.overflow = true,
        }
    }

    pub fn finish(&self) -> AgreementStats {
        if self.overflow {
            return AgreementStats::UNDEFINED;
        }
        AgreementStats {
            percent_agreement: self.percent_agreement(),
            fleiss_kappa: self.fleiss_kappa(),
            krippendorff_alpha: self.krippendorff_alpha(),
        }
    }

    fn percent_agreement(&self) -> Option<f64> {
        let items = self.pairable_items;
        if items == 0 {
            return None;
        }
        if let Uniformity::Same(m) = self.pairable {
            // Equal sizes: P̄ = sum A_i / (N m (m-1)) exactly.
            if let Some(den) = items.checked_mul(m).and_then(|x| x.checked_mul(m - 1)) {
                return Some(self.agreeing_pairs as f64 / den as f64);
            }
        }
        Some(self.item_agreement.value() / items as f64)
    }

    /// Chance agreement is 1 (and every chance-corrected statistic undefined)
    /// exactly when one category holds all judgments.
    fn single_category(&self) -> bool {
        self.category_max == self.category_sum
    }

    /// Fleiss' N·n and n, when Fleiss' kappa applies and totals are consistent.
    fn fleiss_shape(&self) -> Option<(u128, u128)> {
        let Uniformity::Same(n) = self.judged else {
            return None;
        };
        let total = self.pairable_items.checked_mul(n)?;
        (n >= 2 && self.category_sum == total).then_some((total, n))
    }

    fn fleiss_kappa(&self) -> Option<f64> {
        let (t, n) = self.fleiss_shape()?;
        if self.single_category() {
            return None;
        }
        let (a, s, k) = (self.agreeing_pairs, self.category_sum_sq, n - 1);
        // With T = N n, S = sum_j n_j^2, A = sum_ij n_ij(n_ij-1):
        // P̄ = A / (T k), P̄_e = S / T^2, so
        // kappa = (A T - S k) / (k (T^2 - S)): one rounding at the end.
        let exact = || -> Option<f64> {
            let pos = a.checked_mul(t)?;
            let neg = s.checked_mul(k)?;
            let den = k.checked_mul(t.checked_mul(t)?.checked_sub(s)?)?;
            Some(signed_ratio(pos, neg, den))
        };
        exact().or_else(|| {
            let (a, t, s, k) = (a as f64, t as f64, s as f64, k as f64);
            let p_bar = a / (t * k);
            let p_e = s / (t * t);
            (p_e < 1.0).then(|| (p_bar - p_e) / (1.0 - p_e))
        })
    }

    /// (P̄, P̄_e) of Fleiss' kappa, exposed to tests to check published
    /// intermediate values.
    #[cfg(test)]
    fn fleiss_parts(&self) -> Option<(f64, f64)> {
        let (t, n) = self.fleiss_shape()?;
        let p_bar = self.agreeing_pairs as f64 / (t as f64 * (n - 1) as f64);
        let p_e = self.category_sum_sq as f64 / (t as f64 * t as f64);
        Some((p_bar, p_e))
    }

    fn krippendorff_alpha(&self) -> Option<f64> {
        let n = self.pairable_values;
        if n == 0 || self.category_sum != n || self.single_category() {
            return None;
        }
        let s = self.category_sum_sq;
        // alpha = 1 - (n-1) D / (n^2 - S), with D = n - sum_c o_cc.
        if let Uniformity::Same(m) = self.pairable {
            // Equal unit sizes: D = (N m (m-1) - A) / (m-1) is rational, so
            // alpha = ((m-1)(n^2-S) - (n-1) D_int) / ((m-1)(n^2-S)) exactly.
            let exact = || -> Option<f64> {
                let d_int = self
                    .pairable_items
                    .checked_mul(m)?
                    .checked_mul(m - 1)?
                    .checked_sub(self.agreeing_pairs)?;
                let den = (m - 1).checked_mul(n.checked_mul(n)?.checked_sub(s)?)?;
                Some(signed_ratio(den, (n - 1).checked_mul(d_int)?, den))
            };
            if let Some(alpha) = exact() {
                return Some(alpha);
            }
        }
        let expected = n
            .checked_mul(n)
            .and_then(|n2| n2.checked_sub(s))
            .map_or_else(|| (n as f64) * (n as f64) - s as f64, |d| d as f64);
        (expected > 0.0).then(|| 1.0 - (n - 1) as f64 * self.disagreement.value() / expected)
    }
}

/// Feeds `units` (each the list of values given to one item; missing values
/// simply absent) through the streaming accumulator, deriving per-item counts
/// and pairable category totals the way the exporter does.
fn accumulate_units<T: Eq + Hash>(units: &[Vec<T>]) -> Agreement {
    let mut acc = Agreement::new();
    let mut totals: HashMap<&T, u64> = HashMap::new();
    let mut counts: HashMap<&T, u64> = HashMap::new();
    let mut item = Vec::new();
    for unit in units {
        counts.clear();
        for value in unit {
            *counts.entry(value).or_default() += 1;
        }
        item.clear();
        item.extend(counts.values().copied());
        acc.add_item(&item);
        if unit.len() >= 2 {
            for (&value, &c) in &counts {
                *totals.entry(value).or_default() += c;
            }
        }
    }
    for &total in totals.values() {
        acc.add_category_total(total);
    }
    acc
}

/// Non-streaming reference: statistics of `units`, each the list of values
/// given to one item (missing values simply absent).
pub fn agreement_from_units<T: Eq + Hash>(units: &[Vec<T>]) -> AgreementStats {
    accumulate_units(units).finish()
}

/// Non-streaming reference for Fleiss-style tables: `rows[i][j]` = number of
/// judgments of item i in category j (rows may differ in length).
pub fn agreement_from_count_rows(rows: &[Vec<u64>]) -> AgreementStats {
    let mut acc = Agreement::new();
    let mut totals: Vec<u64> = Vec::new();
    for row in rows {
        acc.add_item(row);
        let judgments = row.iter().map(|&c| u128::from(c)).sum::<u128>();
        if judgments >= 2 {
            if totals.len() < row.len() {
                totals.resize(row.len(), 0);
            }
            for (total, &c) in totals.iter_mut().zip(row) {
                let Some(sum) = total.checked_add(c) else {
                    return AgreementStats::UNDEFINED;
                };
                *total = sum;
            }
        }
    }
    for &total in &totals {
        acc.add_category_total(total);
    }
    acc.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round3(x: f64) -> f64 {
        (x * 1000.0).round() / 1000.0
    }

    fn assert_rounds_to(x: f64, published: f64) {
        assert!(
            (round3(x) - published).abs() < 1e-9,
            "{x} does not round to {published}"
        );
    }

    fn close(a: Option<f64>, b: Option<f64>, tol: f64) -> bool {
        match (a, b) {
            (None, None) => true,
            (Some(a), Some(b)) => (a - b).abs() <= tol,
            _ => false,
        }
    }

    fn stats_close(a: &AgreementStats, b: &AgreementStats, tol: f64) -> bool {
        close(a.percent_agreement, b.percent_agreement, tol)
            && close(a.fleiss_kappa, b.fleiss_kappa, tol)
            && close(a.krippendorff_alpha, b.krippendorff_alpha, tol)
    }

    /// Observers' rows (0 = missing) -> units (columns).
    fn transpose(rows: &[[u8; 12]]) -> Vec<Vec<u8>> {
        (0..12)
            .map(|u| rows.iter().map(|r| r[u]).filter(|&v| v != 0).collect())
            .collect()
    }

    /// Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability",
    /// section C (nominal data, any number of observers, missing data).
    #[test]
    fn krippendorff_2011_missing_data_example() {
        // Unit 12 has one value. The task brief gives it to observer B; R's
        // irr `kripp.alpha` example (the same data) gives it to observer C.
        // Either way it is not pairable, so alpha must be the same.
        let brief = [
            [1, 2, 3, 3, 2, 1, 4, 1, 2, 0, 0, 0],
            [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, 0, 3],
            [0, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, 0],
            [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, 0],
        ];
        let irr = [
            [1, 2, 3, 3, 2, 1, 4, 1, 2, 0, 0, 0],
            [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, 0, 0],
            [0, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, 3],
            [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, 0],
        ];
        for rows in [brief, irr] {
            let units = transpose(&rows);
            assert_eq!(units[11].len(), 1);
            let acc = accumulate_units(&units);
            assert_eq!(acc.pairable_items, 11);
            assert_eq!(acc.pairable_values, 40); // the paper's n = 40
            let stats = acc.finish();
            let alpha = stats.krippendorff_alpha.expect("alpha defined");
            println!("Krippendorff 2011 nominal alpha = {alpha:.6} (published 0.743); {stats:?}");
            assert!((alpha - 0.743).abs() < 0.0005);
            assert_eq!(stats.fleiss_kappa, None); // unequal counts
            assert!(close(
                stats.krippendorff_alpha,
                reference_alpha(&units),
                1e-12
            ));
        }
    }

    /// Wikipedia "Fleiss' kappa" worked example (also statsmodels' test table).
    #[test]
    fn fleiss_wikipedia_example() {
        let rows: Vec<Vec<u64>> = vec![
            vec![0, 0, 0, 0, 14],
            vec![0, 2, 6, 4, 2],
            vec![0, 0, 3, 5, 6],
            vec![0, 3, 9, 2, 0],
            vec![2, 2, 8, 1, 1],
            vec![7, 7, 0, 0, 0],
            vec![3, 2, 6, 3, 0],
            vec![2, 5, 3, 2, 2],
            vec![6, 5, 2, 1, 0],
            vec![0, 2, 2, 3, 7],
        ];
        // Published per-subject P_i.
        let p_i = [
            1.000, 0.253, 0.308, 0.440, 0.330, 0.462, 0.242, 0.176, 0.286, 0.286,
        ];
        let mut acc = Agreement::new();
        for (row, &published) in rows.iter().zip(&p_i) {
            assert_eq!(row.iter().sum::<u64>(), 14);
            let single = agreement_from_count_rows(std::slice::from_ref(row));
            assert_rounds_to(single.percent_agreement.expect("P_i"), published);
            acc.add_item(row);
        }
        for j in 0..5 {
            acc.add_category_total(rows.iter().map(|r| r[j]).sum());
        }
        let (p_bar, p_e) = acc.fleiss_parts().expect("Fleiss applies");
        let stats = acc.finish();
        let kappa = stats.fleiss_kappa.expect("kappa defined");
        println!("Wikipedia Fleiss: P̄ = {p_bar:.6}, P̄_e = {p_e:.6}, kappa = {kappa:.6}");
        assert_rounds_to(p_bar, 0.378);
        assert_rounds_to(p_e, 0.213);
        assert_rounds_to(kappa, 0.210);
        assert_eq!(stats.percent_agreement, Some(p_bar));
        assert_eq!(agreement_from_count_rows(&rows), stats);
    }

    /// Fleiss (1971) Table 1: 30 patients, 6 psychiatrists, 5 diagnoses
    /// (1 Depression, 2 Personality disorder, 3 Schizophrenia, 4 Neurosis,
    /// 5 Other). Raw ratings as in R irr's `diagnoses` data (identical in
    /// statsmodels' test_inter_rater.py).
    const DIAGNOSES: [[u8; 6]; 30] = [
        [4, 4, 4, 4, 4, 4],
        [2, 2, 2, 5, 5, 5],
        [2, 3, 3, 3, 3, 5],
        [5, 5, 5, 5, 5, 5],
        [2, 2, 2, 4, 4, 4],
        [1, 1, 3, 3, 3, 3],
        [3, 3, 3, 3, 5, 5],
        [1, 1, 3, 3, 3, 4],
        [1, 1, 4, 4, 4, 4],
        [5, 5, 5, 5, 5, 5],
        [1, 4, 4, 4, 4, 4],
        [1, 2, 4, 4, 4, 4],
        [2, 2, 2, 3, 3, 3],
        [1, 4, 4, 4, 4, 4],
        [2, 2, 4, 4, 4, 5],
        [3, 3, 3, 3, 3, 5],
        [1, 1, 1, 4, 5, 5],
        [1, 1, 1, 1, 1, 2],
        [2, 2, 4, 4, 4, 4],
        [1, 3, 3, 5, 5, 5],
        [5, 5, 5, 5, 5, 5],
        [2, 4, 4, 4, 4, 4],
        [2, 2, 4, 5, 5, 5],
        [1, 1, 4, 4, 4, 4],
        [1, 4, 4, 4, 4, 5],
        [2, 2, 2, 2, 2, 4],
        [1, 1, 1, 1, 5, 5],
        [2, 2, 4, 4, 4, 4],
        [1, 3, 3, 3, 3, 3],
        [5, 5, 5, 5, 5, 5],
    ];

    #[test]
    fn fleiss_1971_diagnoses() {
        let units: Vec<Vec<u8>> = DIAGNOSES.iter().map(|r| r.to_vec()).collect();
        // Category totals asserted in statsmodels' test_aggregate_raters.
        let totals: Vec<usize> = (1..=5)
            .map(|c| units.iter().flatten().filter(|&&v| v == c).count())
            .collect();
        assert_eq!(totals, [26, 26, 30, 55, 43]);
        let acc = accumulate_units(&units);
        let (p_bar, p_e) = acc.fleiss_parts().expect("Fleiss applies");
        let stats = acc.finish();
        let kappa = stats.fleiss_kappa.expect("kappa defined");
        println!(
            "Fleiss 1971: P̄ = {p_bar:.6}, P̄_e = {p_e:.6}, kappa = {kappa:.7} \
             (published 0.430; R irr 0.4302445); alpha = {:?}",
            stats.krippendorff_alpha
        );
        assert_rounds_to(kappa, 0.430);
        assert!((kappa - 0.430_244_5).abs() < 1e-7);
    }

    #[test]
    fn edge_no_items() {
        let empty: [Vec<u8>; 0] = [];
        assert_eq!(agreement_from_units(&empty), AgreementStats::UNDEFINED);
        assert_eq!(Agreement::new().finish(), AgreementStats::UNDEFINED);
        let empty_items = [vec![], vec![0u64, 0]];
        assert_eq!(
            agreement_from_count_rows(&empty_items),
            AgreementStats::UNDEFINED
        );
    }

    #[test]
    fn edge_all_single_judgment() {
        let units = vec![vec!['a'], vec!['b'], vec!['a']];
        assert_eq!(agreement_from_units(&units), AgreementStats::UNDEFINED);
    }

    #[test]
    fn edge_single_category() {
        let units = vec![vec!['a', 'a', 'a'], vec!['a', 'a', 'a']];
        let stats = agreement_from_units(&units);
        assert_eq!(stats.percent_agreement, Some(1.0));
        assert_eq!(stats.fleiss_kappa, None);
        assert_eq!(stats.krippendorff_alpha, None);
    }

    #[test]
    fn edge_mixed_counts() {
        let units = vec![
            vec!['a', 'a', 'b'],
            vec!['a', 'b'],
            vec!['b', 'b', 'b', 'b'],
        ];
        let stats = agreement_from_units(&units);
        assert_eq!(stats.fleiss_kappa, None);
        let p = stats.percent_agreement.expect("defined");
        assert!((p - (1.0 / 3.0 + 0.0 + 1.0) / 3.0).abs() < 1e-15);
        // n = 9, n_a = 3, n_b = 6, D = 4/2 + 2/1 + 0 = 4:
        // alpha = 1 - 8 * 4 / (81 - 45) = 1/9.
        let alpha = stats.krippendorff_alpha.expect("defined");
        assert!((alpha - 1.0 / 9.0).abs() < 1e-15, "{alpha}");
    }

    #[test]
    fn edge_single_judgment_breaks_fleiss_only() {
        let mut units = vec![vec![1, 1, 2], vec![2, 2, 2], vec![1, 2, 3]];
        let before = agreement_from_units(&units);
        assert!(before.fleiss_kappa.is_some());
        units.push(vec![3]);
        let after = agreement_from_units(&units);
        assert_eq!(after.fleiss_kappa, None);
        assert_eq!(after.percent_agreement, before.percent_agreement);
        assert_eq!(after.krippendorff_alpha, before.krippendorff_alpha);
    }

    #[test]
    fn zeros_in_counts_are_ignored() {
        let mut a = Agreement::new();
        a.add_item(&[0, 2, 0, 1]);
        a.add_item(&[0, 0]);
        a.add_item(&[3]);
        a.add_category_total(5);
        a.add_category_total(1);
        a.add_category_total(0);
        let mut b = Agreement::new();
        b.add_item(&[2, 1]);
        b.add_item(&[3]);
        b.add_category_total(5);
        b.add_category_total(1);
        assert_eq!(a.finish(), b.finish());
        assert!(a.finish().fleiss_kappa.is_some());
    }

    #[test]
    fn inconsistent_totals_give_none() {
        let mut a = Agreement::new();
        a.add_item(&[2, 1]);
        a.add_item(&[1, 2]);
        a.add_category_total(3);
        a.add_category_total(2); // should be 3
        let stats = a.finish();
        assert!(stats.percent_agreement.is_some());
        assert_eq!(stats.fleiss_kappa, None);
        assert_eq!(stats.krippendorff_alpha, None);
    }

    #[test]
    fn huge_counts_overflow_to_none() {
        let mut a = Agreement::new();
        a.add_item(&[u64::MAX, u64::MAX]); // m (m-1) exceeds u128
        a.add_category_total(u64::MAX);
        a.add_category_total(u64::MAX);
        assert_eq!(a.finish(), AgreementStats::UNDEFINED);
    }

    #[test]
    fn large_counts_fall_back_to_f64() {
        // Exact products exceed u128 here, so the f64 formulas are used.
        let big = 1u64 << 50;
        let mut a = Agreement::new();
        a.add_item(&[big, big]);
        a.add_item(&[2 * big]);
        a.add_category_total(3 * big);
        a.add_category_total(big);
        let stats = a.finish();
        // Limit for large counts: P̄ = 3/4, P̄_e = 5/8, kappa = alpha = 1/3.
        assert!((stats.percent_agreement.unwrap() - 0.75).abs() < 1e-9);
        assert!((stats.fleiss_kappa.unwrap() - 1.0 / 3.0).abs() < 1e-9);
        assert!((stats.krippendorff_alpha.unwrap() - 1.0 / 3.0).abs() < 1e-9);
    }

    // ---- straightforward non-streaming references -------------------------

    fn categories(units: &[Vec<u8>]) -> Vec<u8> {
        let mut cats: Vec<u8> = units.iter().flatten().copied().collect();
        cats.sort_unstable();
        cats.dedup();
        cats
    }

    /// Krippendorff's nominal alpha via the full coincidence matrix:
    /// o_ck = sum_u (number of c-k pairs in u) / (m_u - 1),
    /// alpha = 1 - (n-1) sum_{c!=k} o_ck / sum_{c!=k} n_c n_k.
    fn reference_alpha(units: &[Vec<u8>]) -> Option<f64> {
        let cats = categories(units);
        let idx = |v: u8| cats.iter().position(|&c| c == v).unwrap();
        let k = cats.len();
        let mut o = vec![vec![0.0f64; k]; k];
        for unit in units.iter().filter(|u| u.len() >= 2) {
            let m = unit.len() as f64;
            for (i, &a) in unit.iter().enumerate() {
                for (j, &b) in unit.iter().enumerate() {
                    if i != j {
                        o[idx(a)][idx(b)] += 1.0 / (m - 1.0);
                    }
                }
            }
        }
        let n_c: Vec<f64> = o.iter().map(|row| row.iter().sum()).collect();
        let n: f64 = n_c.iter().sum();
        let (mut d_o, mut d_e) = (0.0, 0.0);
        for c in 0..k {
            for kk in 0..k {
                if c != kk {
                    d_o += o[c][kk];
                    d_e += n_c[c] * n_c[kk];
                }
            }
        }
        (n > 0.0 && d_e > 0.0).then(|| 1.0 - (n - 1.0) * d_o / d_e)
    }

    fn reference_percent(units: &[Vec<u8>]) -> Option<f64> {
        let pairable: Vec<&Vec<u8>> = units.iter().filter(|u| u.len() >= 2).collect();
        if pairable.is_empty() {
            return None;
        }
        let total: f64 = pairable
            .iter()
            .map(|u| {
                let m = u.len();
                let agree = (0..m)
                    .flat_map(|i| (0..m).map(move |j| (i, j)))
                    .filter(|&(i, j)| i != j && u[i] == u[j])
                    .count();
                agree as f64 / (m * (m - 1)) as f64
            })
            .sum();
        Some(total / pairable.len() as f64)
    }

    /// Textbook Fleiss: P_i, P̄, p_j, P̄_e in plain f64.
    fn reference_fleiss(units: &[Vec<u8>]) -> Option<f64> {
        let judged: Vec<&Vec<u8>> = units.iter().filter(|u| !u.is_empty()).collect();
        let n = judged.first()?.len();
        if n < 2 || judged.iter().any(|u| u.len() != n) {
            return None;
        }
        let big_n = judged.len() as f64;
        let nf = n as f64;
        let mut p_bar = 0.0;
        let mut p_e = 0.0;
        for c in categories(units) {
            let mut n_j = 0.0;
            for u in &judged {
                let n_ij = u.iter().filter(|&&v| v == c).count() as f64;
                p_bar += n_ij * (n_ij - 1.0) / (nf * (nf - 1.0)) / big_n;
                n_j += n_ij;
            }
            p_e += (n_j / (big_n * nf)).powi(2);
        }
        (p_e < 1.0).then(|| (p_bar - p_e) / (1.0 - p_e))
    }
    fn unit_counts(unit: &[u8]) -> Vec<u64> {
        let mut counts = [0u64; 256];
        for &v in unit {
            counts[v as usize] += 1;
        }
        counts.into_iter().filter(|&c| c > 0).collect()
    }

    fn totals(units: &[Vec<u8>]) -> Vec<u64> {
        categories(units)
            .into_iter()
            .map(|c| {
                units
                    .iter()
                    .filter(|u| u.len() >= 2)
                    .flatten()
                    .filter(|&&v| v == c)
                    .count() as u64
            })
            .collect()
    }

    fn units_strategy() -> impl Strategy<Value = Vec<Vec<u8>>> {
        (1u8..=5).prop_flat_map(|k| prop::collection::vec(prop::collection::vec(0..k, 0..7), 0..25))
    }

    fn equal_units_strategy() -> impl Strategy<Value = Vec<Vec<u8>>> {
        (1u8..=5, 2usize..7)
            .prop_flat_map(|(k, n)| prop::collection::vec(prop::collection::vec(0..k, n), 1..25))
    }

    proptest! {
        #[test]
        fn prop_bounds(units in units_strategy()) {
            let s = agreement_from_units(&units);
            for v in [s.fleiss_kappa, s.krippendorff_alpha].into_iter().flatten() {
                prop_assert!((-1.0 - 1e-12..=1.0 + 1e-12).contains(&v), "{v}");
            }
            if let Some(p) = s.percent_agreement {
                prop_assert!((0.0..=1.0).contains(&p));
            }
        }

        #[test]
        fn prop_bounds_equal_counts(units in equal_units_strategy()) {
            let s = agreement_from_units(&units);
            for v in [s.fleiss_kappa, s.krippendorff_alpha].into_iter().flatten() {
                prop_assert!((-1.0 - 1e-12..=1.0 + 1e-12).contains(&v), "{v}");
            }
        }

        #[test]
        fn prop_matches_reference(units in units_strategy()) {
            let s = agreement_from_units(&units);
            prop_assert!(close(s.krippendorff_alpha, reference_alpha(&units), 1e-12),
                "{:?} vs {:?}", s.krippendorff_alpha, reference_alpha(&units));
            prop_assert!(close(s.percent_agreement, reference_percent(&units), 1e-12));
            prop_assert!(close(s.fleiss_kappa, reference_fleiss(&units), 1e-12));
        }

        #[test]
        fn prop_matches_reference_equal_counts(units in equal_units_strategy()) {
            let s = agreement_from_units(&units);
            prop_assert!(close(s.krippendorff_alpha, reference_alpha(&units), 1e-12));
            prop_assert!(close(s.percent_agreement, reference_percent(&units), 1e-12));
            prop_assert!(close(s.fleiss_kappa, reference_fleiss(&units), 1e-12));
            // Fleiss applies whenever chance agreement is below 1.
            prop_assert_eq!(s.fleiss_kappa.is_some(), categories(&units).len() >= 2);
        }

        #[test]
        fn prop_order_independent(
            (units, shuffled) in units_strategy()
                .prop_flat_map(|u| (Just(u.clone()), Just(u).prop_shuffle())),
            rotate in 0usize..7,
        ) {
            let feed = |units: &[Vec<u8>], rotate: usize| {
                let mut acc = Agreement::new();
                for u in units {
                    let mut counts = unit_counts(u);
                    counts.push(0);
                    let len = counts.len();
                    counts.rotate_left(rotate % len);
                    acc.add_item(&counts);
                }
                let mut t = totals(units);
                t.reverse();
                for c in t {
                    acc.add_category_total(c);
                }
                acc.finish()
            };
            let a = feed(&units, 0);
            let b = feed(&shuffled, rotate);
            prop_assert!(stats_close(&a, &b, 1e-12), "{a:?} vs {b:?}");
            prop_assert_eq!(a, agreement_from_units(&units));
        }

        #[test]
        fn prop_perfect_agreement(
            units in prop::collection::vec((0u8..4, 1usize..6), 0..20),
        ) {
            // Two forced pairable units guarantee >= 2 categories overall.
            let mut units: Vec<Vec<u8>> = units.into_iter().map(|(c, m)| vec![c; m]).collect();
            units.push(vec![7, 7]);
            units.push(vec![8, 8, 8]);
            let s = agreement_from_units(&units);
            prop_assert_eq!(s.percent_agreement, Some(1.0));
            prop_assert_eq!(s.krippendorff_alpha, Some(1.0));
            prop_assert_eq!(s.fleiss_kappa, None); // sizes 2 and 3 differ
        }

        #[test]
        fn prop_perfect_agreement_equal_counts(
            cats in prop::collection::vec(0u8..4, 0..20),
            n in 2usize..7,
        ) {
            let mut units: Vec<Vec<u8>> = cats.into_iter().map(|c| vec![c; n]).collect();
            units.push(vec![7; n]);
            units.push(vec![8; n]);
            let s = agreement_from_units(&units);
            prop_assert_eq!(s, AgreementStats {
                percent_agreement: Some(1.0),
                fleiss_kappa: Some(1.0),
                krippendorff_alpha: Some(1.0),
            });
        }
    }
}
