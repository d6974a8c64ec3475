//! Cohen's kappa of one annotator against the consensus label: the per-annotator column of
//! the stats, computed from three counts the export gathers per annotator.

use std::collections::HashMap;
use std::hash::Hash;

use super::precision::signed_ratio;

/// Cohen's kappa of one annotator against the consensus label.
///
/// `n` = number of the annotator's judgments on resolved items,
/// `agreements` = how many matched the consensus label, `sum_products` = sum
/// over categories c of (annotator's count of c) * (consensus count of c among
/// those same items). kappa = (p_o - p_e) / (1 - p_e) with p_o = agreements/n,
/// p_e = sum_products / n^2. None when n == 0, p_e == 1, or the counts are
/// inconsistent (agreements > n or sum_products > n^2).
pub fn cohen_kappa_from_counts(n: u64, agreements: u64, sum_products: u64) -> Option<f64> {
    cohen_kappa_exact(n.into(), agreements.into(), sum_products.into())
}

/// kappa = (a n - sp) / (n^2 - sp): integers throughout, one rounding at the end.
fn cohen_kappa_exact(n: u128, agreements: u128, sum_products: u128) -> Option<f64> {
    let nn = n.checked_mul(n)?;
    if n == 0 || agreements > n || sum_products >= nn {
        return None;
    }
    Some(signed_ratio(
        agreements * n,
        sum_products,
        nn - sum_products,
    ))
}

/// Convenience for tests and small data: Cohen's kappa from paired labels
/// (annotator, consensus); symmetric in the two.
pub fn cohen_kappa<T: Eq + Hash>(pairs: &[(T, T)]) -> Option<f64> {
    let mut marginals: HashMap<&T, (u128, u128)> = HashMap::new();
    let mut agreements = 0u128;
    for (a, b) in pairs {
        marginals.entry(a).or_default().0 += 1;
        marginals.entry(b).or_default().1 += 1;
        agreements += u128::from(a == b);
    }
    let sum_products = marginals
        .values()
        .try_fold(0u128, |acc, &(x, y)| acc.checked_add(x.checked_mul(y)?))?;
    cohen_kappa_exact(u128::try_from(pairs.len()).ok()?, agreements, sum_products)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(a: Option<f64>, b: Option<f64>, tol: f64) -> bool {
        match (a, b) {
            (None, None) => true,
            (Some(a), Some(b)) => (a - b).abs() <= tol,
            _ => false,
        }
    }

    #[test]
    fn cohen_textbook_examples() {
        // Wikipedia "Cohen's kappa": 50 proposals, yes/yes 20, yes/no 5,
        // no/yes 10, no/no 15 -> p_o = 0.7, p_e = 0.5, kappa = 0.4.
        let mut pairs = Vec::new();
        for (a, b, k) in [
            ("y", "y", 20),
            ("y", "n", 5),
            ("n", "y", 10),
            ("n", "n", 15),
        ] {
            pairs.extend(std::iter::repeat_n((a, b), k));
        }
        let kappa = cohen_kappa(&pairs).expect("defined");
        println!("Wikipedia Cohen kappa = {kappa}");
        assert!((kappa - 0.4).abs() < 1e-15);
        // Same through counts: n 50, agreements 35, sum_products 25*30 + 25*20.
        assert_eq!(cohen_kappa_from_counts(50, 35, 1250), Some(kappa));

        // SAS example in statsmodels' tests: table [[0,4,1],[0,8,0],[0,1,5]]
        // -> kappa 0.4842.
        let table = [[0, 4, 1], [0, 8, 0], [0, 1, 5]];
        let mut pairs = Vec::new();
        for (i, row) in table.iter().enumerate() {
            for (j, &k) in row.iter().enumerate() {
                pairs.extend(std::iter::repeat_n((i, j), k));
            }
        }
        let kappa = cohen_kappa(&pairs).expect("defined");
        assert!((kappa - 0.4842).abs() < 5e-5, "{kappa}");
    }

    #[test]
    fn cohen_edge_cases() {
        assert_eq!(cohen_kappa_from_counts(0, 0, 0), None);
        assert_eq!(cohen_kappa::<u8>(&[]), None);
        // Everyone always says the same label: p_e = 1.
        assert_eq!(cohen_kappa(&[(1, 1), (1, 1)]), None);
        assert_eq!(cohen_kappa_from_counts(2, 2, 4), None);
        // Inconsistent counts.
        assert_eq!(cohen_kappa_from_counts(2, 3, 1), None);
        assert_eq!(cohen_kappa_from_counts(2, 0, 5), None);
        // Total disagreement on a balanced pair: kappa = -1.
        assert_eq!(cohen_kappa(&[(0, 1), (1, 0)]), Some(-1.0));
    }

    fn reference_cohen(pairs: &[(u8, u8)]) -> Option<f64> {
        let n = pairs.len() as f64;
        let mut table = [[0.0f64; 4]; 4];
        for &(a, b) in pairs {
            table[a as usize][b as usize] += 1.0;
        }
        let p_o = (0..4).map(|i| table[i][i]).sum::<f64>() / n;
        let p_e = (0..4)
            .map(|i| {
                let row: f64 = table[i].iter().sum();
                let col: f64 = table.iter().map(|r| r[i]).sum();
                row * col
            })
            .sum::<f64>()
            / (n * n);
        (n > 0.0 && p_e < 1.0).then(|| (p_o - p_e) / (1.0 - p_e))
    }

    proptest! {
        #[test]
        fn prop_cohen_counts_match_pairs(
            pairs in prop::collection::vec((0u8..4, 0u8..4), 0..60),
        ) {
            let kappa = cohen_kappa(&pairs);
            let n = pairs.len() as u64;
            let agreements = pairs.iter().filter(|(a, b)| a == b).count() as u64;
            let sum_products = (0u8..4)
                .map(|c| {
                    let x = pairs.iter().filter(|p| p.0 == c).count() as u64;
                    let y = pairs.iter().filter(|p| p.1 == c).count() as u64;
                    x * y
                })
                .sum();
            prop_assert_eq!(kappa, cohen_kappa_from_counts(n, agreements, sum_products));
            prop_assert!(close(kappa, reference_cohen(&pairs), 1e-12));
            if let Some(k) = kappa {
                prop_assert!((-1.0..=1.0).contains(&k), "{k}");
            }
        }
    }
}
