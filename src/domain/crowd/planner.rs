//! The quorum planner: what a rule costs and delivers for a crowd of a given accuracy, computed
//! exactly (never by simulation): K-of-N by closed forms over vote counts, confidence stopping
//! by dynamic programming over vote-count states.
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
//! truth, to a wrong answer, or not at all. K-of-N with K > N/2 needs no such pass (see the
//! closed forms below); its tests check both against each other and against brute force.

use std::cell::RefCell;

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

/// The stop a rule makes.
enum Stop {
    Right,
    Wrong,
    Unresolved,
}

/// The exact figures of `candidate` for `crowd`. `accuracy` must be in (0, 1) and the
/// candidate's numbers valid (checked by the callers that parse them).
///
/// Calls for the same crowd share work through per-thread caches (the tables of
/// [`QuorumTables`], the dynamic programme of [`ConfidencePass`]), so evaluating every
/// candidate of [`candidates`] costs about one programme per confidence `min`; the cached
/// figures are the ones a fresh computation gives, bit for bit.
pub fn evaluate(crowd: &Crowd, candidate: &Candidate) -> Plan {
    let (right, wrong, judgments) = match *candidate {
        Candidate::Quorum { agree, max, stop } if 2 * agree > max => QUORUM_TABLES.with(|cell| {
            let mut cell = cell.borrow_mut();
            let key = (crowd.accuracy.to_bits(), crowd.errors.wrong_answers());
            let tables = match &mut *cell {
                Some(t) if t.key == key => t,
                slot => slot.insert(QuorumTables::new(crowd)),
            };
            tables.quorum(agree, max, stop)
        }),
        Candidate::Quorum { agree, max, stop } => {
            // Not a candidate the planner lists (two answers could both reach K): the
            // dynamic programme with the rule as it reads.
            let mut pass = Pass::new(crowd);
            pass.run_to(max, &QuorumRule { agree, max, stop });
            pass.totals[max as usize].at(max)
        }
        Candidate::Confidence { target, min, max } => CONFIDENCE_PASSES.with(|cell| {
            let mut passes = cell.borrow_mut();
            let key = (
                crowd.accuracy.to_bits(),
                crowd.errors.wrong_answers(),
                target.to_bits(),
                min,
            );
            let i = match passes.iter().position(|c| c.key == key) {
                Some(i) => i,
                None => {
                    if passes.len() >= CONFIDENCE_CACHE {
                        passes.remove(0);
                    }
                    passes.push(ConfidencePass {
                        key,
                        rule: Posterior::new(crowd, target, min),
                        pass: Pass::new(crowd),
                    });
                    passes.len() - 1
                }
            };
            let c = &mut passes[i];
            c.pass.run_to(max, &c.rule);
            c.pass.totals[max as usize].at(max)
        }),
    };
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

// ---------------------------------------------------------------------------------------------
// K-of-N with K > N/2: closed forms.
//
// Only one answer can reach K of N judgments, and a rule that stops early stops at the right
// answer exactly when that answer has K of the N judgments it would have had without stopping
// (before it reaches K it can still reach it, so no early stop fires). Both stops therefore
// resolve to the truth with P(Bin(N, p) ≥ K) and to a wrong answer with W · P(Bin(N, q) ≥ K).
// Early stopping's cost: it is still running after n judgments exactly when every answer has
// fewer than K votes and the top one at least K - (N - n) (the test only gets truer with n), so
// E[judgments] = Σ_{n<N} (F(n, K) - F(n, K - N + n)) with F(n, m) = P(every answer has fewer
// than m of n votes), which is n! [x^n] (Σ_{t<m} (p x)^t / t!) (Σ_{c<m} (q x)^c / c!)^W.
// ---------------------------------------------------------------------------------------------

thread_local! {
    static QUORUM_TABLES: RefCell<Option<QuorumTables>> = const { RefCell::new(None) };
    static CONFIDENCE_PASSES: RefCell<Vec<ConfidencePass>> = const { RefCell::new(Vec::new()) };
}

/// Confidence programmes kept per thread: the three `min`s of one listing, twice over.
const CONFIDENCE_CACHE: usize = 6;

/// Powers, binomial coefficients and the columns of F for one crowd, up to [`MAX_PLAN_N`]
/// judgments (further if a caller asks).
struct QuorumTables {
    key: (u64, u32),
    p: f64,
    q: f64,
    w: u32,
    /// choose[n][k].
    choose: Vec<Vec<f64>>,
    pow_p: Vec<f64>,
    pow_not_p: Vec<f64>,
    pow_q: Vec<f64>,
    pow_not_q: Vec<f64>,
    /// below[m][n] = F(n, m) for 1 ≤ m ≤ n; empty until needed.
    below: Vec<Vec<f64>>,
}

impl QuorumTables {
    fn new(crowd: &Crowd) -> QuorumTables {
        let p = crowd.accuracy;
        let w = crowd.errors.wrong_answers();
        let q = (1.0 - p) / f64::from(w);
        let mut t = QuorumTables {
            key: (p.to_bits(), w),
            p,
            q,
            w,
            choose: Vec::new(),
            pow_p: Vec::new(),
            pow_not_p: Vec::new(),
            pow_q: Vec::new(),
            pow_not_q: Vec::new(),
            below: Vec::new(),
        };
        t.grow(MAX_PLAN_N as usize);
        t
    }

    /// Makes the tables reach `n` judgments.
    fn grow(&mut self, n: usize) {
        if self.choose.len() > n {
            return;
        }
        let powers = |x: f64| {
            std::iter::successors(Some(1.0), move |a| Some(a * x))
                .take(n + 1)
                .collect::<Vec<f64>>()
        };
        self.pow_p = powers(self.p);
        self.pow_not_p = powers(1.0 - self.p);
        self.pow_q = powers(self.q);
        self.pow_not_q = powers(1.0 - self.q);
        self.choose = (0..=n).fold(Vec::with_capacity(n + 1), |mut rows, i| {
            let row: Vec<f64> = (0..=i)
                .map(|k| {
                    if k == 0 || k == i {
                        1.0
                    } else {
                        rows[i - 1][k - 1] + rows[i - 1][k]
                    }
                })
                .collect();
            rows.push(row);
            rows
        });
        self.below = vec![Vec::new(); n + 2];
    }

    /// F(n, m): every answer has fewer than `m` of `n` votes.
    fn below(&mut self, n: u32, m: i64) -> f64 {
        if m <= 0 {
            return 0.0;
        }
        if m > i64::from(n) {
            return 1.0;
        }
        let m = m as usize;
        if self.below[m].is_empty() {
            self.below[m] = self.below_column(m);
        }
        self.below[m][n as usize]
    }

    /// F(n, m) for every n the tables reach, by the generating function above.
    fn below_column(&self, m: usize) -> Vec<f64> {
        let deg = self.choose.len() - 1;
        let mut fact = vec![1.0; deg + 1];
        for i in 1..=deg {
            fact[i] = fact[i - 1] * i as f64;
        }
        let truncated = |pow: &[f64]| -> Vec<f64> {
            (0..=deg)
                .map(|c| if c < m { pow[c] / fact[c] } else { 0.0 })
                .collect()
        };
        let mul = |a: &[f64], b: &[f64]| -> Vec<f64> {
            let mut out = vec![0.0; deg + 1];
            for (i, &x) in a.iter().enumerate() {
                if x == 0.0 {
                    continue;
                }
                for (o, &y) in out[i..].iter_mut().zip(b) {
                    *o += x * y;
                }
            }
            out
        };
        // (Σ_{c<m} (q x)^c / c!)^W by squaring.
        let mut wrong: Option<Vec<f64>> = None;
        let mut base = truncated(&self.pow_q);
        let mut e = self.w;
        loop {
            if e & 1 == 1 {
                wrong = Some(match wrong {
                    Some(acc) => mul(&acc, &base),
                    None => base.clone(),
                });
            }
            e >>= 1;
            if e == 0 {
                break;
            }
            base = mul(&base, &base);
        }
        let all = mul(&truncated(&self.pow_p), &wrong.unwrap_or_else(|| vec![1.0]));
        all.iter().zip(&fact).map(|(c, f)| c * f).collect()
    }

    /// (right, wrong, expected judgments) of K-of-N, K > N/2.
    fn quorum(&mut self, agree: u32, max: u32, stop: StopMode) -> (f64, f64, f64) {
        self.grow(max as usize);
        let n = max as usize;
        let tail = |pow: &[f64], pow_not: &[f64]| -> f64 {
            (agree as usize..=n)
                .map(|k| self.choose[n][k] * pow[k] * pow_not[n - k])
                .sum()
        };
        let right = tail(&self.pow_p, &self.pow_not_p);
        let wrong = f64::from(self.w) * tail(&self.pow_q, &self.pow_not_q);
        let judgments = match stop {
            StopMode::Early => (0..max)
                .map(|j| {
                    let hopeless = i64::from(agree) - i64::from(max - j);
                    self.below(j, i64::from(agree)) - self.below(j, hopeless)
                })
                .sum(),
            StopMode::Fixed | StopMode::Confidence => f64::from(max),
        };
        (right, wrong, judgments)
    }
}

// ---------------------------------------------------------------------------------------------
// The dynamic programme over vote-count states.
//
// A state is the truth's votes and the multiset of wrong answers' votes, packed into a u128:
// the truth's votes in the low 7 bits and above them, from the top, a sentinel 1 and for each
// wrong answer with votes, from most to fewest, `c_i - c_{i+1}` zeros and a 1 (c_{k+1} = 0).
// That takes 1 + c_1 + k ≤ n + 2 bits, so up to 119 judgments fit.
// ---------------------------------------------------------------------------------------------

/// Bits of a packed state that hold the truth's votes.
const TRUTH_BITS: u32 = 7;

fn pack(truth: u32, wrong: &[u32]) -> u128 {
    let mut key: u128 = 1;
    for (i, &c) in wrong.iter().enumerate() {
        let next = wrong.get(i + 1).copied().unwrap_or(0);
        key = (key << (c - next + 1)) | 1;
    }
    (key << TRUTH_BITS) | u128::from(truth)
}

/// The truth's votes; the wrong answers' votes, most first, into `wrong` (its length returned).
fn unpack(key: u128, wrong: &mut [u32; STATE_SLOTS]) -> (u32, usize) {
    let truth = (key & ((1 << TRUTH_BITS) - 1)) as u32;
    let mut rest = key >> TRUTH_BITS;
    let k = rest.count_ones() as usize - 1;
    let mut c = 0;
    for slot in wrong[..k].iter_mut().rev() {
        rest >>= 1;
        let zeros = rest.trailing_zeros();
        rest >>= zeros;
        c += zeros;
        *slot = c;
    }
    (truth, k)
}

/// Wrong answers with votes a state can hold (one vote each at most this many judgments).
const STATE_SLOTS: usize = 120;

/// A stopping test on a state after `n` judgments (`wrong`: wrong answers' votes, most first).
trait Rule {
    fn stop(&self, truth: u32, wrong: &[u32], n: u32) -> Option<Stop>;
}

/// What has stopped once the states after `n` judgments are tested, and what goes on.
#[derive(Debug, Clone, Copy)]
struct Totals {
    right: f64,
    wrong: f64,
    /// Σ probability × judgments of what has stopped.
    judgments: f64,
    /// Probability of the states still live.
    live: f64,
}

impl Totals {
    /// (right, wrong, expected judgments) of the rule capped at `max` = this `n`: what is still
    /// live stops unresolved.
    fn at(&self, max: u32) -> (f64, f64, f64) {
        (
            self.right,
            self.wrong,
            self.judgments + self.live * f64::from(max),
        )
    }
}

/// A forward pass of one rule, resumable: `live` holds the states live after
/// `totals.len() - 1` judgments.
struct Pass {
    p: f64,
    q: f64,
    w: u32,
    totals: Vec<Totals>,
    live: Vec<(u128, f64)>,
    grown: Vec<(u128, f64)>,
    /// Open-addressing index into `grown` (u32::MAX: empty).
    slots: Vec<u32>,
}

impl Pass {
    fn new(crowd: &Crowd) -> Pass {
        let p = crowd.accuracy;
        let w = crowd.errors.wrong_answers();
        Pass {
            p,
            q: (1.0 - p) / f64::from(w),
            w,
            totals: Vec::new(),
            live: vec![(pack(0, &[]), 1.0)],
            grown: Vec::new(),
            slots: Vec::new(),
        }
    }

    /// Tests and grows the states until `totals[max]` is known.
    fn run_to(&mut self, max: u32, rule: &impl Rule) {
        assert!(
            max as usize + 2 <= STATE_SLOTS,
            "the planner's states hold at most {} judgments",
            STATE_SLOTS - 2
        );
        let mut wrong = [0u32; STATE_SLOTS];
        while self.totals.len() <= max as usize {
            let n = self.totals.len() as u32;
            if n > 0 {
                self.grow(&mut wrong);
            }
            let mut t = self.totals.last().copied().unwrap_or(Totals {
                right: 0.0,
                wrong: 0.0,
                judgments: 0.0,
                live: 0.0,
            });
            t.live = 0.0;
            self.live.retain(|&(key, prob)| {
                let (truth, k) = unpack(key, &mut wrong);
                match rule.stop(truth, &wrong[..k], n) {
                    Some(outcome) => {
                        t.judgments += prob * f64::from(n);
                        match outcome {
                            Stop::Right => t.right += prob,
                            Stop::Wrong => t.wrong += prob,
                            Stop::Unresolved => {}
                        }
                        false
                    }
                    None => {
                        t.live += prob;
                        true
                    }
                }
            });
            self.totals.push(t);
        }
    }

    /// One more judgment for every live state.
    fn grow(&mut self, wrong: &mut [u32; STATE_SLOTS]) {
        self.grown.clear();
        let want = (self.live.len() * 4).next_power_of_two().max(16);
        if self.slots.len() < want {
            self.slots = vec![u32::MAX; want];
        } else {
            self.slots.fill(u32::MAX);
        }
        let live = std::mem::take(&mut self.live);
        for &(key, prob) in &live {
            let (truth, k) = unpack(key, wrong);
            self.add(key + 1, prob * self.p);
            // A vote for a wrong answer that has c votes already: every answer with the same
            // count leads to the same state (raise the first of them to keep the order).
            let mut i = 0;
            while i < k {
                let c = wrong[i];
                let same = wrong[i..k].iter().take_while(|&&x| x == c).count();
                wrong[i] += 1;
                self.add(pack(truth, &wrong[..k]), prob * self.q * same as f64);
                wrong[i] -= 1;
                i += same;
            }
            let unseen = self.w as usize - k;
            if unseen > 0 {
                wrong[k] = 1;
                self.add(pack(truth, &wrong[..=k]), prob * self.q * unseen as f64);
            }
        }
        self.live = live;
        std::mem::swap(&mut self.live, &mut self.grown);
    }

    fn add(&mut self, key: u128, prob: f64) {
        if self.grown.len() * 2 >= self.slots.len() {
            self.slots = vec![u32::MAX; self.slots.len() * 2];
            for (i, &(k, _)) in self.grown.iter().enumerate() {
                let mut s = slot_of(k, self.slots.len());
                while self.slots[s] != u32::MAX {
                    s = (s + 1) & (self.slots.len() - 1);
                }
                self.slots[s] = i as u32;
            }
        }
        let mask = self.slots.len() - 1;
        let mut s = slot_of(key, self.slots.len());
        loop {
            match self.slots[s] {
                u32::MAX => {
                    self.slots[s] = self.grown.len() as u32;
                    self.grown.push((key, prob));
                    return;
                }
                i if self.grown[i as usize].0 == key => {
                    self.grown[i as usize].1 += prob;
                    return;
                }
                _ => s = (s + 1) & mask,
            }
        }
    }
}

/// The slot a packed state hashes to in a table of `len` (a power of two) slots.
fn slot_of(key: u128, len: usize) -> usize {
    let h = (key as u64 ^ ((key >> 64) as u64).wrapping_mul(0xff51_afd7_ed55_8ccd))
        .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (h >> (64 - len.trailing_zeros())) as usize
}

/// K-of-N as it reads (also when two answers could both reach K).
struct QuorumRule {
    agree: u32,
    max: u32,
    stop: StopMode,
}

impl Rule for QuorumRule {
    fn stop(&self, truth: u32, wrong: &[u32], n: u32) -> Option<Stop> {
        let top_wrong = wrong.first().copied().unwrap_or(0);
        let decided = if truth >= self.agree {
            Some(Stop::Right)
        } else if top_wrong >= self.agree {
            Some(Stop::Wrong)
        } else {
            None
        };
        match self.stop {
            StopMode::Early => decided.or_else(|| {
                (truth.max(top_wrong) + (self.max - n) < self.agree).then_some(Stop::Unresolved)
            }),
            // Candidates are K-of-N with early or fixed stopping; confidence stopping is its
            // own candidate.
            StopMode::Fixed | StopMode::Confidence => {
                (n == self.max).then(|| decided.unwrap_or(Stop::Unresolved))
            }
        }
    }
}

/// Confidence stopping's test, without its cap (the pass reads every cap off its totals).
struct Posterior {
    target: f64,
    min: u32,
    w: u32,
    /// lead[d] = ratio^-d: the weight of an answer `d` votes behind the top one.
    lead: Vec<f64>,
    /// silent[top] = ratio^-top: the weight of an answer without votes.
    silent: Vec<f64>,
}

impl Posterior {
    fn new(crowd: &Crowd, target: f64, min: u32) -> Posterior {
        let p = crowd.accuracy;
        let w = crowd.errors.wrong_answers();
        let q = (1.0 - p) / f64::from(w);
        // The posterior of an answer with `c` votes is proportional to `ratio^c` under a
        // uniform prior over the W + 1 answers.
        let ln_ratio = (p / q).ln();
        Posterior {
            target,
            min,
            w,
            lead: (0..STATE_SLOTS as u32)
                .map(|d| (ln_ratio * (0.0 - f64::from(d))).exp())
                .collect(),
            silent: (0..STATE_SLOTS as u32)
                .map(|top| (-ln_ratio * f64::from(top)).exp())
                .collect(),
        }
    }
}

impl Rule for Posterior {
    fn stop(&self, truth: u32, wrong: &[u32], n: u32) -> Option<Stop> {
        if n < self.min || n == 0 {
            return None;
        }
        let top = truth.max(wrong.first().copied().unwrap_or(0));
        // Σ over answers of ratio^(c - top), in one order whichever answer is the truth, so
        // the truth and a wrong answer with the same votes get the same bits: answers with
        // votes from most to fewest, then those without.
        let mut sum = 0.0;
        let mut silent = f64::from(self.w + 1);
        let mut truth_added = truth == 0;
        for &c in wrong {
            if !truth_added && truth >= c {
                sum += self.lead[(top - truth) as usize];
                silent -= 1.0;
                truth_added = true;
            }
            sum += self.lead[(top - c) as usize];
            silent -= 1.0;
        }
        if !truth_added {
            sum += self.lead[(top - truth) as usize];
            silent -= 1.0;
        }
        sum += silent * self.silent[top as usize];
        let posterior = 1.0 / sum;
        // With target > 0.5 only one answer can be above it.
        (posterior >= self.target).then_some(if truth == top {
            Stop::Right
        } else {
            Stop::Wrong
        })
    }
}

/// A confidence programme kept between calls: crowd (accuracy bits, W), target bits, `min`.
struct ConfidencePass {
    key: (u64, u32, u64, u32),
    rule: Posterior,
    pass: Pass,
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
