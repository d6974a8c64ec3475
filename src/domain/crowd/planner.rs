//! The quorum planner: what a rule costs and delivers for a crowd of a given accuracy, computed
//! exactly by dynamic programming over vote counts (never by simulation).
//!
//! The crowd model is the planner's assumption, and an optimistic one: every judgment is
//! independent, right with probability `accuracy`, and when wrong it is distributed by the
//! [`ErrorModel`]. Real crowds share mistakes (the same namesake fools many), so the figures
//! are upper bounds on accuracy.
//!
//! An item's state after `n` judgments is the votes for the true answer and the multiset of
//! votes for wrong answers (which wrong answer got them does not matter by symmetry). Each rule
//! is a stopping test on that state; the planner carries the probability of every live state
//! from one judgment to the next and collects, at each stop, whether the item resolved to the
//! truth, to a wrong answer, or not at all.

use super::super::rule::StopMode;

/// How a wrong judgment is distributed over the wrong answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorModel {
    /// Each wrong judgment is one of `W` wrong answers, uniformly.
    Uniform(u32),
    /// Every wrong judgment is the same answer (the other Anthony Davis).
    Namesake,
}

impl ErrorModel {
    /// Parses `uniform:W` or `namesake`; the message says what is accepted.
    pub fn parse(s: &str) -> Result<ErrorModel, String> {
        let s = s.trim();
        if s == "namesake" {
            return Ok(ErrorModel::Namesake);
        }
        if let Some(w) = s.strip_prefix("uniform:") {
            return match w.trim().parse::<u32>() {
                Ok(w) if (1..=MAX_WRONG_ANSWERS).contains(&w) => Ok(ErrorModel::Uniform(w)),
                _ => Err(format!(
                    "`{s}`: W in uniform:W must be a whole number from 1 to {MAX_WRONG_ANSWERS}"
                )),
            };
        }
        Err(format!(
            "`{s}` is not an error model: use `uniform:W` (W wrong answers, equally likely) \
             or `namesake` (every wrong judgment is the same answer)"
        ))
    }

    /// Wrong answers a judgment can give.
    pub fn wrong_answers(self) -> u32 {
        match self {
            ErrorModel::Uniform(w) => w,
            ErrorModel::Namesake => 1,
        }
    }
}

impl std::fmt::Display for ErrorModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ErrorModel::Uniform(w) => write!(f, "uniform:{w}"),
            ErrorModel::Namesake => f.write_str("namesake"),
        }
    }
}

/// Bound on W: beyond it, wrong answers are so scattered that none ever reaches a quorum.
pub const MAX_WRONG_ANSWERS: u32 = 1000;

/// The largest N the planner accepts: the state space grows with it, and no crowd rule needs
/// more.
pub const MAX_PLAN_N: u32 = 60;

/// A rule to evaluate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Candidate {
    /// `agree` of at most `max` judgments, stopping early or after all `max`.
    Quorum {
        agree: u32,
        max: u32,
        stop: StopMode,
    },
    /// Resolve once at least `min` judgments are in and the top answer's posterior, under the
    /// crowd model itself, reaches `target`; unresolved at `max`.
    Confidence { target: f64, min: u32, max: u32 },
}

/// What a rule delivers per item, exactly under the crowd model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    pub candidate: Candidate,
    /// Probability that an item resolves (to any answer).
    pub resolution_rate: f64,
    /// Probability that a resolved item's label is the true answer (0 when none resolves).
    pub accuracy_resolved: f64,
    /// Probability that an item resolves to a wrong answer.
    pub wrong_per_item: f64,
    /// Judgments an item costs on average.
    pub expected_judgments: f64,
}

/// The crowd the planner assumes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Crowd {
    pub accuracy: f64,
    pub errors: ErrorModel,
}

/// One live state: votes for the truth, and wrong answers' votes in descending order (only
/// those with votes).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct State {
    truth: u32,
    wrong: Vec<u32>,
}

enum Stop {
    Right,
    Wrong,
    Unresolved,
}

/// The exact figures of `candidate` for `crowd`. `accuracy` must be in (0, 1) and the
/// candidate's numbers valid (checked by the callers that parse them).
pub fn evaluate(crowd: &Crowd, candidate: &Candidate) -> Plan {
    let p = crowd.accuracy;
    let w = crowd.errors.wrong_answers();
    let q = (1.0 - p) / f64::from(w);
    let max = match *candidate {
        Candidate::Quorum { max, .. } | Candidate::Confidence { max, .. } => max,
    };
    // The posterior of an answer with `c` votes is proportional to `ratio^c` under a uniform
    // prior over the W + 1 answers.
    let ln_ratio = (p / q).ln();
    let stop_at = |s: &State, n: u32| -> Option<Stop> {
        let top_wrong = s.wrong.first().copied().unwrap_or(0);
        match *candidate {
            Candidate::Quorum { agree, stop, .. } => {
                let decided = if s.truth >= agree {
                    Some(Stop::Right)
                } else if top_wrong >= agree {
                    Some(Stop::Wrong)
                } else {
                    None
                };
                match stop {
                    StopMode::Early => decided.or_else(|| {
                        (s.truth.max(top_wrong) + (max - n) < agree).then_some(Stop::Unresolved)
                    }),
                    // Candidates are K-of-N with early or fixed stopping; confidence stopping
                    // is its own candidate.
                    StopMode::Fixed | StopMode::Confidence => {
                        (n == max).then(|| decided.unwrap_or(Stop::Unresolved))
                    }
                }
            }
            Candidate::Confidence { target, min, .. } => {
                if n >= min && n > 0 {
                    let top = s.truth.max(top_wrong);
                    // Σ over answers of ratio^(c - top), in one order whichever answer is
                    // the truth, so the truth and a wrong answer with the same votes get the
                    // same bits: answers with votes from most to fewest, then those without.
                    let mut sum = 0.0;
                    let mut silent = f64::from(w + 1);
                    let mut truth_added = s.truth == 0;
                    for &c in &s.wrong {
                        if !truth_added && s.truth >= c {
                            sum += (ln_ratio * (f64::from(s.truth) - f64::from(top))).exp();
                            silent -= 1.0;
                            truth_added = true;
                        }
                        sum += (ln_ratio * (f64::from(c) - f64::from(top))).exp();
                        silent -= 1.0;
                    }
                    if !truth_added {
                        sum += (ln_ratio * (f64::from(s.truth) - f64::from(top))).exp();
                        silent -= 1.0;
                    }
                    sum += silent * (-ln_ratio * f64::from(top)).exp();
                    let posterior = 1.0 / sum;
                    if posterior >= target {
                        // With target > 0.5 only one answer can be above it.
                        return Some(if s.truth == top {
                            Stop::Right
                        } else {
                            Stop::Wrong
                        });
                    }
                }
                (n == max).then_some(Stop::Unresolved)
            }
        }
    };
    let (mut right, mut wrong, mut judgments) = (0.0, 0.0, 0.0);
    let mut live = vec![(
        State {
            truth: 0,
            wrong: Vec::new(),
        },
        1.0,
    )];
    let mut n = 0;
    loop {
        // Stop what stops after n judgments.
        let mut next = Vec::with_capacity(live.len() * 3);
        for (state, prob) in live.drain(..) {
            match stop_at(&state, n) {
                Some(outcome) => {
                    judgments += prob * f64::from(n);
                    match outcome {
                        Stop::Right => right += prob,
                        Stop::Wrong => wrong += prob,
                        Stop::Unresolved => {}
                    }
                }
                None => next.push((state, prob)),
            }
        }
        if next.is_empty() || n >= max {
            break;
        }
        // One more judgment for every live state.
        let mut grown = Vec::with_capacity(next.len() * 3);
        for (state, prob) in next {
            let mut t = state.clone();
            t.truth += 1;
            grown.push((t, prob * p));
            // A vote for a wrong answer that has c votes already: every answer with the same
            // count leads to the same state.
            let mut i = 0;
            while i < state.wrong.len() {
                let c = state.wrong[i];
                let same = state.wrong[i..].iter().take_while(|&&x| x == c).count();
                let mut s = state.clone();
                s.wrong[i] += 1;
                grown.push((s, prob * q * same as f64));
                i += same;
            }
            let unseen = w as usize - state.wrong.len();
            if unseen > 0 {
                let mut s = state;
                s.wrong.push(1);
                grown.push((s, prob * q * unseen as f64));
            }
        }
        grown.sort_by(|a, b| a.0.cmp(&b.0));
        for (state, prob) in grown {
            match live.last_mut() {
                Some((last, total)) if *last == state => *total += prob,
                _ => live.push((state, prob)),
            }
        }
        n += 1;
    }
    let resolved = right + wrong;
    Plan {
        candidate: *candidate,
        resolution_rate: resolved,
        accuracy_resolved: if resolved > 0.0 {
            right / resolved
        } else {
            0.0
        },
        wrong_per_item: wrong,
        expected_judgments: judgments,
    }
}

/// Every candidate the planner compares for rules of at most `max_n` judgments: each valid
/// K-of-N (K > N/2) with early and fixed stopping, and confidence stopping at `target` with
/// `min` of 1 to 3 and every `max`. `only` restricts K-of-N to one (agree, max) pair, both
/// stops, and confidence stopping to that max.
pub fn candidates(max_n: u32, target: f64, only: Option<(u32, u32)>) -> Vec<Candidate> {
    let mut out = Vec::new();
    for max in 1..=max_n {
        for agree in max / 2 + 1..=max {
            if only.is_some_and(|o| o != (agree, max)) {
                continue;
            }
            for stop in [StopMode::Early, StopMode::Fixed] {
                out.push(Candidate::Quorum { agree, max, stop });
            }
        }
    }
    for max in 1..=max_n {
        if only.is_some_and(|(_, m)| m != max) {
            continue;
        }
        for min in 1..=3.min(max) {
            out.push(Candidate::Confidence { target, min, max });
        }
    }
    out
}

/// The cheapest plan (fewest expected judgments; ties to the first listed) whose accuracy
/// among resolved items reaches `target` while at least `min_resolution` of items resolve.
pub fn recommend(plans: &[Plan], target: f64, min_resolution: f64) -> Option<&Plan> {
    plans
        .iter()
        .filter(|p| p.accuracy_resolved >= target && p.resolution_rate >= min_resolution)
        .fold(None, |best: Option<&Plan>, p| match best {
            Some(b) if b.expected_judgments <= p.expected_judgments => Some(b),
            _ => Some(p),
        })
}

#[cfg(test)]
#[path = "planner_tests.rs"]
mod tests;
