//! The annotator estimates confidence stopping decides with: what a Dawid–Skene fit learned
//! about each annotator, kept (as JSON in the store) so that a submit can weigh an item's
//! judgments in microseconds without re-fitting the whole project.
//!
//! The posterior of an item is computed exactly as the fit's E-step computes it
//! ([`super::dawid_skene`]), from the stored estimates: an annotator the model has not met
//! yet counts as the crowd's pooled estimate. Before the first fit a project uses
//! [`AnnotatorModel::cold_start`]: every annotator right with probability
//! [`COLD_START_ACCURACY`], wrong answers spread evenly, answers equally likely a priori.

use serde::{Deserialize, Serialize};

use super::project_model::CrowdModel;
use crate::domain::AnswerSpec;

/// The accuracy assumed of every annotator before a project's first fit: a middling crowd, so
/// that confidence stopping starts cautious (at 0.7 and four options, a 0.999 target needs five
/// agreeing judgments) and becomes cheaper only as the evidence shows the crowd is better.
pub const COLD_START_ACCURACY: f64 = 0.7;

/// Smallest probability used inside a product, as in the fit.
const FLOOR: f64 = 1e-12;

/// Stored annotator estimates; see the module documentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum AnnotatorModel {
    /// Choice projects: answer priors and `θ[true][given]` per annotator over `classes`.
    Confusion {
        classes: Vec<String>,
        priors: Vec<f64>,
        /// The pooled matrix, flattened `true × classes + given`.
        pool: Vec<f64>,
        /// (annotator id, matrix) sorted by id.
        annotators: Vec<(i64, Vec<f64>)>,
    },
    /// Text projects: one accuracy per annotator.
    OneCoin {
        pool: f64,
        /// (annotator id, accuracy) sorted by id.
        annotators: Vec<(i64, f64)>,
    },
}

impl AnnotatorModel {
    /// The model of a project nobody has judged yet (see [`COLD_START_ACCURACY`]).
    pub fn cold_start(answer: &AnswerSpec) -> AnnotatorModel {
        match answer {
            AnswerSpec::Choice { options } => {
                let k = options.len().max(1);
                let wrong = if k > 1 {
                    (1.0 - COLD_START_ACCURACY) / (k - 1) as f64
                } else {
                    0.0
                };
                let pool = (0..k * k)
                    .map(|c| {
                        if c / k == c % k {
                            COLD_START_ACCURACY
                        } else {
                            wrong
                        }
                    })
                    .collect();
                AnnotatorModel::Confusion {
                    classes: options.clone(),
                    priors: vec![1.0 / k as f64; k],
                    pool,
                    annotators: Vec::new(),
                }
            }
            AnswerSpec::Text { .. } => AnnotatorModel::OneCoin {
                pool: COLD_START_ACCURACY,
                annotators: Vec::new(),
            },
        }
    }

    /// The estimates of a fitted project model.
    pub fn from_fit(model: &CrowdModel) -> AnnotatorModel {
        let fit = model.fit();
        let mut ids: Vec<(i64, usize)> = model
            .annotators()
            .enumerate()
            .map(|(j, a)| (a.annotator_id, j))
            .collect();
        ids.sort_unstable();
        match model.kind() {
            "confusion" => {
                let k = fit.priors.len();
                AnnotatorModel::Confusion {
                    classes: model.answer_texts().map(str::to_owned).collect(),
                    priors: fit.priors.clone(),
                    pool: fit.pool.clone(),
                    annotators: ids
                        .into_iter()
                        .map(|(id, j)| (id, fit.confusion[j * k * k..(j + 1) * k * k].to_vec()))
                        .collect(),
                }
            }
            _ => AnnotatorModel::OneCoin {
                pool: fit.pool.first().copied().unwrap_or(COLD_START_ACCURACY),
                annotators: ids
                    .into_iter()
                    .map(|(id, j)| (id, fit.accuracy[j]))
                    .collect(),
            },
        }
    }

    /// The most probable answer to an item with these judgments (annotator id, normalised
    /// answer) and its posterior; `None` without judgments. Ties go to the answer first in
    /// the model's order (options, then answers as first met; for text, byte order).
    /// A choice answer the model has no class for (an option added since the fit) is left out
    /// of the evidence: the model cannot weigh it until the next fit.
    pub fn best(&self, judgments: &[(i64, &str)]) -> Option<(String, f64)> {
        if judgments.is_empty() {
            return None;
        }
        let posterior = self.posterior(judgments);
        let mut best: Option<(&str, f64)> = None;
        for (answer, p) in &posterior {
            match best {
                Some((_, bp)) if bp >= *p => {}
                _ => best = Some((answer.as_str(), *p)),
            }
        }
        best.map(|(a, p)| (a.to_owned(), p))
    }

    /// The posterior of every candidate answer (for text, the answers given; the "none of
    /// these" candidate is left out, so the probabilities may sum to less than 1).
    pub fn posterior(&self, judgments: &[(i64, &str)]) -> Vec<(String, f64)> {
        match self {
            AnnotatorModel::Confusion {
                classes,
                priors,
                pool,
                annotators,
            } => {
                let k = classes.len();
                let mut logs: Vec<f64> = priors.iter().map(|p| p.max(FLOOR).ln()).collect();
                for &(annotator, answer) in judgments {
                    let Some(a) = classes.iter().position(|c| c == answer) else {
                        continue;
                    };
                    let theta = annotators
                        .binary_search_by_key(&annotator, |(id, _)| *id)
                        .map_or(pool.as_slice(), |at| annotators[at].1.as_slice());
                    for (t, l) in logs.iter_mut().enumerate() {
                        *l += theta[t * k + a].max(FLOOR).ln();
                    }
                }
                normalise(&mut logs);
                classes.iter().cloned().zip(logs).collect()
            }
            AnnotatorModel::OneCoin { pool, annotators } => {
                let mut candidates: Vec<&str> = judgments.iter().map(|&(_, a)| a).collect();
                candidates.sort_unstable();
                candidates.dedup();
                // The answers seen plus "none of these", last.
                let n = candidates.len() + 1;
                let log_alt = ((n - 1).max(1) as f64).ln();
                let mut logs = vec![-(n as f64).ln(); n];
                for &(annotator, answer) in judgments {
                    let p = annotators
                        .binary_search_by_key(&annotator, |(id, _)| *id)
                        .map_or(*pool, |at| annotators[at].1);
                    let right = p.max(FLOOR).ln();
                    let wrong = (1.0 - p).max(FLOOR).ln() - log_alt;
                    for (c, l) in logs.iter_mut().enumerate() {
                        *l += if candidates.get(c) == Some(&answer) {
                            right
                        } else {
                            wrong
                        };
                    }
                }
                normalise(&mut logs);
                candidates
                    .into_iter()
                    .map(str::to_owned)
                    .zip(logs)
                    .collect()
            }
        }
    }

    /// How many annotators the model has its own estimate for.
    pub fn annotators(&self) -> usize {
        match self {
            AnnotatorModel::Confusion { annotators, .. } => annotators.len(),
            AnnotatorModel::OneCoin { annotators, .. } => annotators.len(),
        }
    }
}

fn normalise(logs: &mut [f64]) {
    let max = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for l in logs.iter_mut() {
        *l = (*l - max).exp();
        sum += *l;
    }
    for l in logs.iter_mut() {
        *l /= sum;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::crowd::dawid_skene::Options;
    use crate::domain::crowd::project_model::ModelBuilder;
    use crate::domain::{QuorumRule, Tally};
    use proptest::prelude::*;

    fn choice() -> AnswerSpec {
        AnswerSpec::Choice {
            options: vec!["nba".into(), "nfl".into(), "mlb".into(), "nhl".into()],
        }
    }

    #[test]
    fn cold_start_needs_five_agreeing_judgments_for_0_999_on_four_options() {
        let m = AnnotatorModel::cold_start(&choice());
        let votes = |n: i64| -> Vec<(i64, &str)> { (0..n).map(|j| (j, "nba")).collect() };
        // Each agreeing vote multiplies the odds against each rival by 0.7 / 0.1 = 7.
        let (label, p) = m.best(&votes(3)).unwrap();
        assert_eq!(label, "nba");
        assert!((p - 343.0 / 346.0).abs() < 1e-12, "{p}");
        assert!(m.best(&votes(4)).unwrap().1 < 0.999);
        assert!(m.best(&votes(5)).unwrap().1 > 0.999);
        assert_eq!(m.best(&[]), None);
        let text = AnnotatorModel::cold_start(&AnswerSpec::Text { normalize: vec![] });
        // One answer against "none of these": odds 0.7 / 0.3 per judgment.
        let (_, p) = text.best(&[(1, "kingjames"), (2, "kingjames")]).unwrap();
        let odds = (0.7f64 / 0.3).powi(2);
        assert!((p - odds / (odds + 1.0)).abs() < 1e-12, "{p}");
    }

    #[test]
    fn stored_estimates_reproduce_the_fits_posteriors() {
        let mut b = ModelBuilder::new(&choice());
        let rows: [&[(i64, &str)]; 4] = [
            &[(10, "nba"), (11, "nba"), (12, "nfl")],
            &[(10, "nfl"), (11, "nfl"), (12, "nfl")],
            &[(10, "mlb"), (11, "nba"), (12, "mlb")],
            &[(11, "nhl"), (12, "nhl")],
        ];
        for (i, row) in rows.iter().enumerate() {
            b.add_item(i as i64, row.iter().copied(), None);
        }
        let fitted = b.fit(&Options::default()).unwrap();
        let m = AnnotatorModel::from_fit(&fitted);
        assert_eq!(m.annotators(), 3);
        for (i, row) in rows.iter().enumerate() {
            let belief = fitted.item(i as i64).unwrap();
            let (label, p) = belief.model_label.unwrap();
            let (got, q) = m.best(row).unwrap();
            assert_eq!(got, label);
            // The fit's posterior is from its last E-step; one more step from the same
            // estimates moves it by at most the tolerance.
            assert!((p - q).abs() < 1e-5, "item {i}: {p} vs {q}");
        }
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<AnnotatorModel>(&json).unwrap(), m);
        // A newcomer counts as the pool.
        let pooled = m.best(&[(99, "nba")]).unwrap();
        assert_eq!(pooled.0, "nba");
    }

    fn arbitrary_model() -> impl Strategy<Value = (AnnotatorModel, Vec<(i64, String)>)> {
        let classes = 2usize..5;
        classes.prop_flat_map(|k| {
            let matrix = proptest::collection::vec(0.01f64..1.0, k * k);
            let annotators = proptest::collection::vec(matrix.clone(), 1..4);
            let judgments = proptest::collection::vec((0i64..5, 0..k), 0..9);
            (
                proptest::collection::vec(0.01f64..1.0, k),
                matrix,
                annotators,
                judgments,
            )
                .prop_map(move |(priors, pool, annotators, judgments)| {
                    let norm_rows = |m: Vec<f64>| -> Vec<f64> {
                        m.chunks(k)
                            .flat_map(|row| {
                                let s: f64 = row.iter().sum();
                                row.iter().map(move |x| x / s).collect::<Vec<_>>()
                            })
                            .collect()
                    };
                    let total: f64 = priors.iter().sum();
                    let classes: Vec<String> = (0..k).map(|c| format!("c{c}")).collect();
                    let model = AnnotatorModel::Confusion {
                        classes: classes.clone(),
                        priors: priors.iter().map(|p| p / total).collect(),
                        pool: norm_rows(pool),
                        annotators: annotators
                            .into_iter()
                            .enumerate()
                            .map(|(j, m)| (j as i64, norm_rows(m)))
                            .collect(),
                    };
                    let judgments = judgments
                        .into_iter()
                        .map(|(j, c)| (j, classes[c].clone()))
                        .collect();
                    (model, judgments)
                })
        })
    }

    proptest! {
        /// Confidence stopping never resolves an item below its target under the model it
        /// decided with, nor before `min` judgments, and is unresolved only at `max`.
        #[test]
        fn confidence_stopping_never_resolves_below_its_target(
            (model, judgments) in arbitrary_model(),
            target in 0.51f64..0.9999,
            min in 1u32..4,
            extra in 0u32..6,
        ) {
            let rule = QuorumRule::confidence(target, min, min + extra).unwrap();
            let pairs: Vec<(i64, &str)> = judgments.iter().map(|(j, a)| (*j, a.as_str())).collect();
            let tally = Tally::from_answers(pairs.iter().map(|&(_, a)| a));
            let best = model.best(&pairs);
            let outcome = rule.decide_with(&tally, best.as_ref().map(|(a, p)| (a.as_str(), *p)));
            match outcome {
                crate::domain::Outcome::Resolved { label, votes } => {
                    let p = model.posterior(&pairs).into_iter().find(|(a, _)| *a == label).unwrap().1;
                    prop_assert!(p >= target, "{p} < {target}");
                    prop_assert!(tally.total() >= min);
                    prop_assert_eq!(votes, tally.count(&label));
                }
                crate::domain::Outcome::Unresolved => prop_assert!(tally.total() >= rule.max()),
                crate::domain::Outcome::Pending => prop_assert!(tally.total() < rule.max()),
            }
        }
    }
}
