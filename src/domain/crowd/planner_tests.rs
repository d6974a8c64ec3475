use super::*;

fn binomial_tail(n: u32, p: f64, k: u32) -> f64 {
    let choose =
        |n: u32, r: u32| (0..r).fold(1.0, |acc, i| acc * f64::from(n - i) / f64::from(i + 1));
    (k..=n)
        .map(|r| choose(n, r) * p.powi(r as i32) * (1.0 - p).powi((n - r) as i32))
        .sum()
}

#[test]
fn reproduces_the_founding_claim_for_7_of_9() {
    // Independent annotators right 90% of the time. With one namesake, a wrong resolution
    // needs 7 of 9 wrong: P = Σ_{r≥7} C(9,r) 0.1^r 0.9^(9-r) ≈ 3.0e-6, against 0.947 right.
    let namesake = Crowd {
        accuracy: 0.9,
        errors: ErrorModel::Namesake,
    };
    for stop in [StopMode::Early, StopMode::Fixed] {
        let plan = evaluate(
            &namesake,
            &Candidate::Quorum {
                agree: 7,
                max: 9,
                stop,
            },
        );
        let right = binomial_tail(9, 0.9, 7);
        let wrong = binomial_tail(9, 0.1, 7);
        assert!((plan.wrong_per_item - wrong).abs() < 1e-15);
        assert!((plan.resolution_rate - (right + wrong)).abs() < 1e-12);
        assert!((plan.accuracy_resolved - right / (right + wrong)).abs() < 1e-12);
        // "99.99968% with one namesake".
        assert!(
            (plan.accuracy_resolved * 100.0 - 99.99968).abs() < 0.000005,
            "{}",
            plan.accuracy_resolved
        );
    }
    // Scattered over three wrong answers each needs 7 of 9: about 99.9999% and better.
    let scatter = Crowd {
        accuracy: 0.9,
        errors: ErrorModel::Uniform(3),
    };
    let plan = evaluate(
        &scatter,
        &Candidate::Quorum {
            agree: 7,
            max: 9,
            stop: StopMode::Early,
        },
    );
    assert!(
        plan.accuracy_resolved > 0.999999,
        "{}",
        plan.accuracy_resolved
    );
    let fixed = evaluate(
        &scatter,
        &Candidate::Quorum {
            agree: 7,
            max: 9,
            stop: StopMode::Fixed,
        },
    );
    assert!((fixed.expected_judgments - 9.0).abs() < 1e-12);
    // Early stopping saves judgments without changing the outcome (K > N/2).
    assert!(plan.expected_judgments < 8.0);
    assert!((plan.resolution_rate - fixed.resolution_rate).abs() < 1e-12);
}

/// Brute force: every sequence of answers (0 = the truth, 1..=W wrong), with its probability,
/// run through the rule on plain vote counts.
fn brute_force(crowd: &Crowd, candidate: &Candidate) -> (f64, f64, f64, f64) {
    let w = crowd.errors.wrong_answers() as usize;
    let p = crowd.accuracy;
    let q = (1.0 - p) / w as f64;
    let max = match *candidate {
        Candidate::Quorum { max, .. } | Candidate::Confidence { max, .. } => max as usize,
    };
    // Ok(true) right, Ok(false) wrong, Err(()) unresolved; None: keep going.
    let outcome = |counts: &[u32], n: usize| -> Option<Result<bool, ()>> {
        let (top, &votes) = counts
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)))
            .unwrap();
        match *candidate {
            Candidate::Quorum { agree, stop, .. } => {
                let reached = votes >= agree;
                match stop {
                    StopMode::Early => {
                        if reached {
                            Some(Ok(top == 0))
                        } else if votes as usize + (max - n) < agree as usize {
                            Some(Err(()))
                        } else {
                            None
                        }
                    }
                    StopMode::Fixed | StopMode::Confidence => {
                        (n == max).then_some(if reached { Ok(top == 0) } else { Err(()) })
                    }
                }
            }
            Candidate::Confidence { target, min, .. } => {
                if n >= min as usize && n > 0 {
                    let weights: Vec<f64> = counts
                        .iter()
                        .map(|&c| p.powi(c as i32) * q.powi((n as u32 - c) as i32))
                        .collect();
                    let total: f64 = weights.iter().sum();
                    if weights[top] / total >= target {
                        return Some(Ok(top == 0));
                    }
                }
                (n == max).then_some(Err(()))
            }
        }
    };
    let (mut right, mut wrong, mut cost) = (0.0, 0.0, 0.0);
    let mut stack = vec![(vec![0u32; w + 1], 0usize, 1.0f64)];
    while let Some((counts, n, prob)) = stack.pop() {
        if let Some(o) = outcome(&counts, n) {
            cost += prob * n as f64;
            match o {
                Ok(true) => right += prob,
                Ok(false) => wrong += prob,
                Err(()) => {}
            }
            continue;
        }
        for answer in 0..=w {
            let mut c = counts.clone();
            c[answer] += 1;
            stack.push((c, n + 1, prob * if answer == 0 { p } else { q }));
        }
    }
    let resolved = right + wrong;
    (
        resolved,
        if resolved > 0.0 {
            right / resolved
        } else {
            0.0
        },
        wrong,
        cost,
    )
}

#[test]
fn every_candidate_matches_brute_force_enumeration_for_small_n() {
    for errors in [
        ErrorModel::Namesake,
        ErrorModel::Uniform(2),
        ErrorModel::Uniform(3),
    ] {
        for accuracy in [0.55, 0.8, 0.93] {
            let crowd = Crowd { accuracy, errors };
            let max_n = if errors == ErrorModel::Uniform(3) {
                6
            } else {
                7
            };
            for target in [0.9, 0.999] {
                for candidate in candidates(max_n, target, None) {
                    let plan = evaluate(&crowd, &candidate);
                    let (resolution, acc, wrong, cost) = brute_force(&crowd, &candidate);
                    let what = format!("{errors} p={accuracy} {candidate:?}");
                    assert!((plan.resolution_rate - resolution).abs() < 1e-12, "{what}");
                    assert!((plan.accuracy_resolved - acc).abs() < 1e-12, "{what}");
                    assert!((plan.wrong_per_item - wrong).abs() < 1e-12, "{what}");
                    assert!((plan.expected_judgments - cost).abs() < 1e-12, "{what}");
                }
            }
        }
    }
}

#[test]
fn confidence_stopping_never_resolves_below_its_target_under_its_model() {
    for errors in [ErrorModel::Namesake, ErrorModel::Uniform(4)] {
        for accuracy in [0.6, 0.75, 0.9, 0.97] {
            let crowd = Crowd { accuracy, errors };
            for target in [0.9, 0.99, 0.99999] {
                for candidate in candidates(15, target, None) {
                    if let Candidate::Confidence { .. } = candidate {
                        let plan = evaluate(&crowd, &candidate);
                        if plan.resolution_rate > 0.0 {
                            // Up to rounding: a posterior can sit exactly on the target.
                            assert!(
                                plan.accuracy_resolved >= target - 1e-12,
                                "{errors} {accuracy} {candidate:?} {plan:?}"
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn candidates_and_the_recommendation() {
    let all = candidates(3, 0.99, None);
    // K-of-N with K > N/2: 1/1, 2/2, 2/3, 3/3, each early and fixed; confidence min 1..=max.
    let quorum: Vec<(u32, u32)> = all
        .iter()
        .filter_map(|c| match *c {
            Candidate::Quorum {
                agree,
                max,
                stop: StopMode::Early,
            } => Some((agree, max)),
            _ => None,
        })
        .collect();
    assert_eq!(quorum, vec![(1, 1), (2, 2), (2, 3), (3, 3)]);
    assert_eq!(all.len(), 8 + 1 + 2 + 3);
    let only = candidates(15, 0.99, Some((7, 9)));
    assert_eq!(only.len(), 2 + 3);
    let crowd = Crowd {
        accuracy: 0.9,
        errors: ErrorModel::Namesake,
    };
    let plans: Vec<Plan> = candidates(15, 0.99999, None)
        .iter()
        .map(|c| evaluate(&crowd, c))
        .collect();
    let best = recommend(&plans, 0.99999, 0.9).unwrap();
    assert!(best.accuracy_resolved >= 0.99999 && best.resolution_rate >= 0.9);
    for p in &plans {
        if p.accuracy_resolved >= 0.99999 && p.resolution_rate >= 0.9 {
            assert!(best.expected_judgments <= p.expected_judgments);
        }
    }
    assert!(recommend(&plans, 0.99999, 1.1).is_none());
}

#[test]
fn error_models_parse_or_say_what_is_accepted() {
    assert_eq!(ErrorModel::parse("namesake"), Ok(ErrorModel::Namesake));
    assert_eq!(ErrorModel::parse("uniform:4"), Ok(ErrorModel::Uniform(4)));
    assert!(
        ErrorModel::parse("uniform:0")
            .unwrap_err()
            .contains("uniform:W")
    );
    assert!(
        ErrorModel::parse("gaussian")
            .unwrap_err()
            .contains("not an error model")
    );
    assert_eq!(ErrorModel::Uniform(3).to_string(), "uniform:3");
}

/// The programme over vote-count states, run afresh for one candidate (no closed form, no
/// cache).
fn by_states(crowd: &Crowd, candidate: &Candidate) -> (f64, f64, f64) {
    let mut pass = Pass::new(crowd);
    match *candidate {
        Candidate::Quorum { agree, max, stop } => {
            pass.run_to(max, &QuorumRule { agree, max, stop });
            pass.totals[max as usize].at(max)
        }
        Candidate::Confidence { target, min, max } => {
            pass.run_to(max, &Posterior::new(crowd, target, min));
            pass.totals[max as usize].at(max)
        }
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
}

#[test]
fn closed_forms_and_shared_passes_match_the_programme_for_large_n() {
    for errors in [
        ErrorModel::Namesake,
        ErrorModel::Uniform(3),
        ErrorModel::Uniform(5),
        ErrorModel::Uniform(40),
    ] {
        for accuracy in [0.3, 0.7, 0.9] {
            let crowd = Crowd { accuracy, errors };
            for candidate in candidates(20, 0.999, None) {
                let plan = evaluate(&crowd, &candidate);
                let (right, wrong, judgments) = by_states(&crowd, &candidate);
                let what = format!("{errors} p={accuracy} {candidate:?} {plan:?}");
                assert!(close(plan.wrong_per_item, wrong), "{what} {wrong}");
                assert!(close(plan.resolution_rate, right + wrong), "{what} {right}");
                assert!(
                    close(plan.expected_judgments, judgments),
                    "{what} {judgments}"
                );
            }
        }
    }
}

#[test]
fn a_cached_pass_gives_the_bits_of_a_fresh_one_in_any_order() {
    let crowd = Crowd {
        accuracy: 0.8,
        errors: ErrorModel::Uniform(4),
    };
    let all = candidates(18, 0.9999, None);
    let forward: Vec<Plan> = all.iter().map(|c| evaluate(&crowd, c)).collect();
    // Another crowd in between evicts nothing that matters; backwards, the longest pass first.
    let other = Crowd {
        accuracy: 0.6,
        errors: ErrorModel::Namesake,
    };
    let backward: Vec<Plan> = all
        .iter()
        .rev()
        .map(|c| {
            evaluate(&other, c);
            evaluate(&crowd, c)
        })
        .collect();
    for (a, b) in forward.iter().zip(backward.iter().rev()) {
        assert_eq!(a, b);
    }
    for (c, plan) in all.iter().zip(&forward) {
        if let Candidate::Confidence { .. } = c {
            let (right, wrong, judgments) = by_states(&crowd, c);
            assert_eq!(plan.wrong_per_item, wrong);
            assert_eq!(plan.resolution_rate, right + wrong);
            assert_eq!(plan.expected_judgments, judgments);
        }
    }
}

#[test]
fn an_invalid_quorum_still_reads_as_written() {
    // 2-of-4: two answers can both reach 2; the fixed rule prefers the truth, as it reads.
    let crowd = Crowd {
        accuracy: 0.7,
        errors: ErrorModel::Uniform(2),
    };
    for stop in [StopMode::Early, StopMode::Fixed] {
        let candidate = Candidate::Quorum {
            agree: 2,
            max: 4,
            stop,
        };
        let plan = evaluate(&crowd, &candidate);
        let (resolution, acc, wrong, cost) = brute_force(&crowd, &candidate);
        if stop == StopMode::Early {
            assert!((plan.resolution_rate - resolution).abs() < 1e-12);
            assert!((plan.accuracy_resolved - acc).abs() < 1e-12);
            assert!((plan.wrong_per_item - wrong).abs() < 1e-12);
            assert!((plan.expected_judgments - cost).abs() < 1e-12);
        } else {
            assert!((plan.expected_judgments - 4.0).abs() < 1e-12);
            assert!(plan.resolution_rate <= 1.0 && plan.accuracy_resolved > 0.5);
        }
    }
}
