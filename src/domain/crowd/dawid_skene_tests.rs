use proptest::prelude::*;

use super::*;

/// One EM round from the majority vote, with the default smoothing: the worked examples.
const ONE_ROUND: Options = Options {
    max_iterations: 1,
    tolerance: 0.0,
    smoothing: 2.0,
};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

/// Two annotators, two classes, two items: item 0 both say 0; item 1 A says 1, B says 0.
/// One EM round from the soft majority vote, worked by hand below.
#[test]
fn one_em_round_of_the_confusion_model_matches_the_hand_computation() {
    let mut e = Evidence::new(2);
    e.push_item([(0, 0), (1, 0)]);
    e.push_item([(0, 1), (1, 0)]);
    let fit = fit(&e, Model::Confusion { classes: 2 }, &ONE_ROUND, &[]).unwrap();
    // Majority vote: item 0 is [1, 0], item 1 is [0.5, 0.5].
    // Priors: (class mass + 1) / (items + classes) = (1.5 + 1)/4, (0.5 + 1)/4.
    let (pi0, pi1) = (2.5 / 4.0, 1.5 / 4.0);
    assert!(close(fit.priors[0], pi0) && close(fit.priors[1], pi1));
    // Counts n[annotator][true][given]:
    //   A: true 0 -> {given 0: 1, given 1: 0.5}; true 1 -> {0: 0, 1: 0.5}
    //   B: true 0 -> {0: 1.5, 1: 0};            true 1 -> {0: 0.5, 1: 0}
    // Pool (one pseudo-count per cell, k = 2 on the diagonal):
    //   true 0 -> {2.5 + 2, 0.5 + 1}/6; true 1 -> {0.5 + 1, 0.5 + 2}/4.
    // θ = (n + 2·pool) / (row total + 2):
    let a = [[2.5 / 3.5, 1.0 / 3.5], [0.75 / 2.5, 1.75 / 2.5]];
    let b = [[3.0 / 3.5, 0.5 / 3.5], [1.25 / 2.5, 1.25 / 2.5]];
    for t in 0..2 {
        for g in 0..2 {
            assert!(close(fit.confusion[t * 2 + g], a[t][g]), "A {t} {g}");
            assert!(close(fit.confusion[(2 + t) * 2 + g], b[t][g]), "B {t} {g}");
        }
    }
    // E-step: posterior ∝ prior × Π θ[true][given].
    let item0 = [pi0 * a[0][0] * b[0][0], pi1 * a[1][0] * b[1][0]];
    let item1 = [pi0 * a[0][1] * b[0][0], pi1 * a[1][1] * b[1][0]];
    assert!(close(fit.posterior(0, 0), item0[0] / (item0[0] + item0[1])));
    assert!(close(fit.posterior(1, 0), item1[0] / (item1[0] + item1[1])));
    assert!(close(fit.posterior(1, 1), item1[1] / (item1[0] + item1[1])));
    let ll = (item0[0] + item0[1]).ln() + (item1[0] + item1[1]).ln();
    assert!(close(fit.log_likelihood, ll));
    assert!(close(fit.accuracy[0], pi0 * a[0][0] + pi1 * a[1][1]));
    let (best, p) = fit.best(1).unwrap();
    assert!(best == 0 && close(p, item1[0] / (item1[0] + item1[1])));
    assert_eq!(fit.iterations, 1);
    assert!(!fit.converged);
}

/// The same by hand for one-coin: item 0 both say 5; item 1 A says 5, B says 7.
#[test]
fn one_em_round_of_the_one_coin_model_matches_the_hand_computation() {
    let mut e = Evidence::new(2);
    e.push_item([(0, 5), (1, 5)]);
    e.push_item([(0, 5), (1, 7)]);
    let fit = fit(&e, Model::OneCoin, &ONE_ROUND, &[]).unwrap();
    // Majority vote credits A and B with 1 + 0.5 right each; pool = (3 + 1)/(4 + 2).
    let pool = 4.0 / 6.0;
    let p = (1.5 + 2.0 * pool) / (2.0 + 2.0);
    assert!(close(fit.accuracy[0], p) && close(fit.accuracy[1], p));
    // Item 0: candidates {5, none}, one wrong alternative each.
    let (x5, none) = (p * p, (1.0 - p) * (1.0 - p));
    assert!(close(fit.posterior(0, 5), x5 / (x5 + none)));
    assert!(close(fit.posterior(0, NONE_OF_THESE), none / (x5 + none)));
    // Item 1: candidates {5, 7, none}, two wrong alternatives each.
    let w = (1.0 - p) / 2.0;
    let (y5, y7, ynone) = (p * w, w * p, w * w);
    let total = y5 + y7 + ynone;
    assert!(close(fit.posterior(1, 5), y5 / total));
    assert!(close(fit.posterior(1, 7), y7 / total));
    // A tie goes to the lower answer.
    assert_eq!(fit.best(1).map(|b| b.0), Some(5));
    let got: Vec<u32> = fit.candidates(1).map(|c| c.0).collect();
    assert_eq!(got, vec![5, 7, NONE_OF_THESE]);
}

#[test]
fn one_judgment_of_a_one_coin_crowd_is_worth_its_accuracy_not_certainty() {
    let mut e = Evidence::new(3);
    for _ in 0..50 {
        e.push_item([(0, 1), (1, 1), (2, 1)]);
    }
    let lone = e.push_item([(0, 9)]);
    let fit = fit(&e, Model::OneCoin, &Options::default(), &[]).unwrap();
    let (answer, p) = fit.best(lone).unwrap();
    assert_eq!(answer, 9);
    assert!(
        (p - fit.accuracy[0]).abs() < 1e-9,
        "{p} vs {}",
        fit.accuracy[0]
    );
    assert!(p < 1.0);
}

#[test]
fn an_item_without_judgments_gets_the_priors_and_a_newcomer_the_crowds_estimate() {
    let mut e = Evidence::new(3);
    e.push_item([(0, 0), (1, 0)]);
    e.push_item([(0, 1), (1, 1)]);
    e.push_item([(0, 0), (1, 0)]);
    let empty = e.push_item([]);
    let fit = fit(
        &e,
        Model::Confusion { classes: 2 },
        &Options::default(),
        &[],
    )
    .unwrap();
    assert!(close(fit.posterior(empty, 0), fit.priors[0]));
    assert_eq!(fit.judgments, vec![3, 3, 0]);
    // Annotator 2 never judged: their matrix is the pooled one, their accuracy finite.
    assert!(fit.accuracy[2] > 0.5 && fit.accuracy[2] < 1.0);
    assert!(fit.converged);
}

#[test]
fn clamped_items_are_certain_and_expose_an_adversary() {
    // Annotator 2 always gives the other answer; with two honest annotators they are outvoted.
    // Clamping items tells the model the truth, so it learns that 2 inverts.
    let mut e = Evidence::new(3);
    let mut clamp = Vec::new();
    for i in 0..20u32 {
        let truth = i % 2;
        e.push_item([(0, truth), (1, truth), (2, 1 - truth)]);
        clamp.push((i < 10).then_some(truth));
    }
    // One item only the adversary judged.
    let lone = e.push_item([(2, 1)]);
    clamp.push(None);
    let fit = fit(
        &e,
        Model::Confusion { classes: 2 },
        &Options::default(),
        &clamp,
    )
    .unwrap();
    for i in 0..10 {
        assert_eq!(fit.posterior(i, (i % 2) as u32), 1.0);
    }
    assert!(fit.accuracy[2] < 0.2, "{}", fit.accuracy[2]);
    assert_eq!(fit.best(lone).map(|b| b.0), Some(0));
}

#[test]
fn bad_evidence_is_refused_with_where_it_is() {
    let mut e = Evidence::new(2);
    e.push_item([(0, 0)]);
    e.push_item([(2, 0)]);
    let err = fit(&e, Model::OneCoin, &Options::default(), &[]).unwrap_err();
    assert_eq!(
        err,
        FitError::Annotator {
            item: 1,
            annotator: 2,
            annotators: 2
        }
    );
    let mut e = Evidence::new(2);
    e.push_item([(0, 3)]);
    let err = fit(
        &e,
        Model::Confusion { classes: 3 },
        &Options::default(),
        &[],
    )
    .unwrap_err();
    assert!(err.to_string().contains("item 0"), "{err}");
    let err = fit(
        &e,
        Model::Confusion { classes: 4 },
        &Options::default(),
        &[None, None],
    )
    .unwrap_err();
    assert_eq!(
        err,
        FitError::ClampCount {
            clamps: 2,
            items: 1
        }
    );
}

/// A small deterministic generator, so crowds are reproducible without a dependency.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: u32) -> u32 {
        (self.next() % u64::from(n)) as u32
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Honest(f64),
    Spammer,
    /// Answers the next class with this probability, else the truth.
    Adversary(f64),
}

/// A seeded crowd: `annotators` of whom 10% spam and 5% are adversarial, `per_item` distinct
/// annotators on each of `items` items over `classes` answers. Returns the evidence and truth.
fn crowd(
    seed: u64,
    items: usize,
    annotators: u32,
    per_item: usize,
    classes: u32,
) -> (Evidence, Vec<u32>) {
    let mut rng = SplitMix(seed);
    let kinds: Vec<Kind> = (0..annotators)
        .map(|j| match j % 20 {
            0 | 1 => Kind::Spammer,
            2 => Kind::Adversary(0.8),
            _ => Kind::Honest(0.6 + 0.35 * rng.unit()),
        })
        .collect();
    let mut e = Evidence::new(annotators as usize);
    let mut truth = Vec::new();
    for _ in 0..items {
        let t = rng.below(classes);
        truth.push(t);
        let mut chosen: Vec<u32> = Vec::new();
        while chosen.len() < per_item {
            let j = rng.below(annotators);
            if !chosen.contains(&j) {
                chosen.push(j);
            }
        }
        let judgments: Vec<(u32, u32)> = chosen
            .into_iter()
            .map(|j| {
                let answer = match kinds[j as usize] {
                    Kind::Honest(p) => {
                        if rng.unit() < p {
                            t
                        } else {
                            (t + 1 + rng.below(classes - 1)) % classes
                        }
                    }
                    Kind::Spammer => rng.below(classes),
                    Kind::Adversary(p) => {
                        if rng.unit() < p {
                            (t + 1) % classes
                        } else {
                            t
                        }
                    }
                };
                (j, answer)
            })
            .collect();
        e.push_item(judgments);
    }
    (e, truth)
}

/// Plurality with ties to the lowest answer: what Quorum's vote counting would pick.
fn majority(e: &Evidence, i: usize) -> Option<u32> {
    let (_, what) = e.item(i);
    let mut counts: Vec<(u32, usize)> = Vec::new();
    for &a in what {
        match counts.iter_mut().find(|c| c.0 == a) {
            Some(c) => c.1 += 1,
            None => counts.push((a, 1)),
        }
    }
    counts.sort();
    counts
        .iter()
        .max_by(|x, y| x.1.cmp(&y.1).then(y.0.cmp(&x.0)))
        .map(|c| c.0)
}

fn correct(truth: &[u32], label: impl Fn(usize) -> Option<u32>) -> usize {
    (0..truth.len())
        .filter(|&i| label(i) == Some(truth[i]))
        .count()
}

#[test]
fn on_seeded_crowds_with_spammers_and_adversaries_it_beats_majority_vote() {
    for seed in 1..=5 {
        let (e, truth) = crowd(seed, 3000, 60, 5, 4);
        let confusion = fit(
            &e,
            Model::Confusion { classes: 4 },
            &Options::default(),
            &[],
        )
        .unwrap();
        let one_coin = fit(&e, Model::OneCoin, &Options::default(), &[]).unwrap();
        let mv = correct(&truth, |i| majority(&e, i));
        let ds = correct(&truth, |i| confusion.best(i).map(|b| b.0));
        let oc = correct(&truth, |i| one_coin.best(i).map(|b| b.0));
        assert!(ds >= mv, "seed {seed}: Dawid–Skene {ds} < majority {mv}");
        assert!(oc >= mv, "seed {seed}: one-coin {oc} < majority {mv}");
        assert!(confusion.converged, "seed {seed}");
        // Spammers (every 20th and 21st) are estimated near chance, honest ones above it.
        assert!(confusion.accuracy[0] < 0.4 && confusion.accuracy[1] < 0.4);
        assert!(
            confusion.accuracy[2] < 0.3,
            "adversary {}",
            confusion.accuracy[2]
        );
    }
}

#[test]
fn calibrated_on_a_seeded_crowd() {
    // Among items the model gives 0.9–0.99, roughly that share is right.
    let (e, truth) = crowd(42, 20_000, 60, 3, 4);
    let f = fit(
        &e,
        Model::Confusion { classes: 4 },
        &Options::default(),
        &[],
    )
    .unwrap();
    let (mut n, mut right, mut expected) = (0usize, 0usize, 0.0);
    for (i, &t) in truth.iter().enumerate() {
        let (label, p) = f.best(i).unwrap();
        if (0.9..0.99).contains(&p) {
            n += 1;
            expected += p;
            right += usize::from(label == t);
        }
    }
    assert!(n > 500, "{n}");
    let (observed, expected) = (right as f64 / n as f64, expected / n as f64);
    assert!(
        (observed - expected).abs() < 0.05,
        "{observed} vs {expected}"
    );
}

#[test]
fn the_same_input_gives_the_same_bytes() {
    let (e, _) = crowd(7, 500, 30, 5, 3);
    for model in [Model::Confusion { classes: 3 }, Model::OneCoin] {
        let a = fit(&e, model, &Options::default(), &[]).unwrap();
        let b = fit(&e, model, &Options::default(), &[]).unwrap();
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// Renumbering annotators and reordering items (and judgments within an item) changes
    /// nothing but the order of the results.
    #[test]
    fn permuting_annotators_or_items_changes_nothing_but_order(
        seed in 0u64..1000,
        shuffle in 0u64..1000,
        one_coin in any::<bool>(),
    ) {
        let (e, _) = crowd(seed, 120, 12, 4, 3);
        let mut rng = SplitMix(shuffle);
        let mut rename: Vec<u32> = (0..12).collect();
        let mut order: Vec<usize> = (0..e.items()).collect();
        for v in (1..rename.len()).rev() {
            rename.swap(v, rng.below(v as u32 + 1) as usize);
        }
        for v in (1..order.len()).rev() {
            order.swap(v, rng.below(v as u32 + 1) as usize);
        }
        let mut p = Evidence::new(12);
        for &i in &order {
            let (who, what) = e.item(i);
            let mut js: Vec<(u32, u32)> = who.iter().zip(what).map(|(&j, &a)| (rename[j as usize], a)).collect();
            js.reverse();
            p.push_item(js);
        }
        let model = if one_coin { Model::OneCoin } else { Model::Confusion { classes: 3 } };
        let options = Options { tolerance: 1e-12, max_iterations: 500, ..Options::default() };
        let a = fit(&e, model, &options, &[]).unwrap();
        let b = fit(&p, model, &options, &[]).unwrap();
        for (j, &renamed) in rename.iter().enumerate() {
            prop_assert!((a.accuracy[j] - b.accuracy[renamed as usize]).abs() < 1e-9);
        }
        for (new, &old) in order.iter().enumerate() {
            let x: Vec<(u32, f64)> = a.candidates(old).collect();
            let y: Vec<(u32, f64)> = b.candidates(new).collect();
            prop_assert_eq!(x.len(), y.len());
            for (u, v) in x.iter().zip(&y) {
                prop_assert_eq!(u.0, v.0);
                prop_assert!((u.1 - v.1).abs() < 1e-9, "{} vs {}", u.1, v.1);
            }
        }
    }
}

/// Items of every size the E-step treats differently (none, a few, the most it multiplies
/// probabilities for, one more, and far too many to multiply without underflow), some clamped,
/// over `classes` answers; annotators may judge an item more than once.
fn sizes_crowd(seed: u64, classes: u32) -> (Evidence, Vec<Option<u32>>) {
    let mut rng = SplitMix(seed);
    let mut e = Evidence::new(7);
    let mut clamp = Vec::new();
    for round in 0..6 {
        for n in [0, 1, 3, LINEAR_MAX, LINEAR_MAX + 1, 2000] {
            let t = rng.below(classes);
            let judgments: Vec<(u32, u32)> = (0..n)
                .map(|_| {
                    let j = rng.below(7);
                    let right = rng.unit() < 0.4 + 0.08 * f64::from(j);
                    (j, if right { t } else { rng.below(classes) })
                })
                .collect();
            e.push_item(judgments);
            clamp.push((round % 3 == 0).then_some(t));
        }
    }
    (e, clamp)
}

/// ln Σ exp, and the normalised probabilities, computed independently of the module.
fn log_sum_exp(logs: &[f64]) -> (f64, Vec<f64>) {
    let max = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = logs.iter().map(|l| (l - max).exp()).sum();
    let probs = logs.iter().map(|l| (l - max).exp() / sum).collect();
    (max + sum.ln(), probs)
}

/// Whatever an item's size and whatever the number of classes (some compiled for, others not),
/// the E-step's posterior is prior × Π θ[true][given] normalised, and the log-likelihood sums
/// its logarithm, under the estimates the fit reports.
#[test]
fn the_e_step_is_the_posterior_of_the_reported_estimates_for_items_of_any_size() {
    for classes in [2u32, 4, 9] {
        let (e, clamp) = sizes_crowd(u64::from(classes), classes);
        let k = classes as usize;
        let fit = fit(&e, Model::Confusion { classes: k }, &ONE_ROUND, &clamp).unwrap();
        let mut log_likelihood = 0.0;
        for (i, known) in clamp.iter().enumerate() {
            let (who, what) = e.item(i);
            let logs: Vec<f64> = (0..k)
                .map(|t| {
                    let theta =
                        |j: u32, a: u32| fit.confusion[(j as usize * k + t) * k + a as usize];
                    fit.priors[t].ln()
                        + who
                            .iter()
                            .zip(what)
                            .map(|(&j, &a)| theta(j, a).ln())
                            .sum::<f64>()
                })
                .collect();
            let (norm, probs) = log_sum_exp(&logs);
            match known {
                Some(known) => {
                    assert_eq!(fit.posterior(i, *known), 1.0);
                    log_likelihood += logs[*known as usize];
                }
                None if who.is_empty() => {
                    for t in 0..k {
                        assert_eq!(fit.posterior(i, t as u32), fit.priors[t]);
                    }
                }
                None => {
                    log_likelihood += norm;
                    for (t, p) in probs.iter().enumerate() {
                        let got = fit.posterior(i, t as u32);
                        assert!(
                            (got - p).abs() < 1e-12,
                            "k {k} item {i} ({} judgments) class {t}: {got} vs {p}",
                            who.len()
                        );
                    }
                }
            }
        }
        let relative = (fit.log_likelihood - log_likelihood).abs() / log_likelihood.abs();
        assert!(
            relative < 1e-12,
            "k {k}: {} vs {log_likelihood}",
            fit.log_likelihood
        );
    }
}

/// Every M-step after the first re-estimates the annotators from the posteriors of the E-step
/// before it (clamped items from their clamp, items without judgments not at all), as in the
/// module documentation; here checked against the posteriors a fit one round shorter reports.
#[test]
fn each_m_step_re_estimates_from_the_last_posteriors() {
    for classes in [3u32, 9] {
        let (e, clamp) = sizes_crowd(40 + u64::from(classes), classes);
        let k = classes as usize;
        let s = ONE_ROUND.smoothing;
        for rounds in 1..4 {
            let before = Options {
                max_iterations: rounds,
                ..ONE_ROUND
            };
            let after = Options {
                max_iterations: rounds + 1,
                ..ONE_ROUND
            };
            let model = Model::Confusion { classes: k };
            let (before, after) = (
                fit(&e, model, &before, &clamp).unwrap(),
                fit(&e, model, &after, &clamp).unwrap(),
            );
            let mut counts = vec![0.0; e.annotators() * k * k];
            let mut mass = vec![0.0; k];
            let mut judged = 0.0;
            for (i, known) in clamp.iter().enumerate() {
                let (who, what) = e.item(i);
                if who.is_empty() && known.is_none() {
                    continue;
                }
                judged += 1.0;
                for t in 0..k {
                    let p = before.posterior(i, t as u32);
                    mass[t] += p;
                    for (&j, &a) in who.iter().zip(what) {
                        counts[(j as usize * k + t) * k + a as usize] += p;
                    }
                }
            }
            for (got, m) in after.priors.iter().zip(&mass) {
                let prior = (m + 1.0) / (judged + k as f64);
                assert!((got - prior).abs() < 1e-12, "k {k} round {rounds}");
            }
            let mut pool = vec![1.0; k * k];
            for t in 0..k {
                pool[t * k + t] = k as f64;
                for j in 0..e.annotators() {
                    for a in 0..k {
                        pool[t * k + a] += counts[(j * k + t) * k + a];
                    }
                }
                let total: f64 = pool[t * k..(t + 1) * k].iter().sum();
                pool[t * k..(t + 1) * k]
                    .iter_mut()
                    .for_each(|p| *p /= total);
            }
            for j in 0..e.annotators() {
                for t in 0..k {
                    let row = &counts[(j * k + t) * k..(j * k + t + 1) * k];
                    let total: f64 = row.iter().sum();
                    for a in 0..k {
                        let theta = (row[a] + s * pool[t * k + a]) / (total + s);
                        let got = after.confusion[(j * k + t) * k + a];
                        assert!(
                            (got - theta).abs() < 1e-12,
                            "k {k} round {rounds} θ{j}[{t}][{a}]: {got} vs {theta}"
                        );
                    }
                }
            }
        }
    }
}
