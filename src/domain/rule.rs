//! The quorum rule and the consensus decision: the heart of the product.
//!
//! A rule says how many annotators must agree (`agree`, K) out of how many may be asked at most
//! (`max`, N), and whether to stop as soon as the outcome is certain (`early`) or always collect
//! N judgments (`fixed`). Requiring K > N/2 guarantees that at most one answer can ever reach K,
//! so a decision never has to break a tie.
//!
//! The third stop, `confidence`, decides from the crowd model instead of a vote count: an item
//! resolves once it has at least `min` judgments and its most probable answer reaches `target`
//! posterior probability under the current annotator estimates ([`QuorumRule::decide_with`]),
//! and is unresolved at `max` without reaching it.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::tally::Tally;

/// When the engine may decide an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StopMode {
    /// Decide as soon as one answer has K votes, or no answer can still reach K.
    Early,
    /// Decide only once all N judgments are in.
    Fixed,
    /// Decide when the crowd model is sure enough (see the module documentation).
    Confidence,
}

impl StopMode {
    pub fn as_str(self) -> &'static str {
        match self {
            StopMode::Early => "early",
            StopMode::Fixed => "fixed",
            StopMode::Confidence => "confidence",
        }
    }

    pub fn parse(s: &str) -> Option<StopMode> {
        match s {
            "early" => Some(StopMode::Early),
            "fixed" => Some(StopMode::Fixed),
            "confidence" => Some(StopMode::Confidence),
            _ => None,
        }
    }
}

impl fmt::Display for StopMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a rule is invalid; `key` names the config key at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{key}`: {message}")]
pub struct RuleError {
    pub key: &'static str,
    pub message: String,
}

/// A validated quorum rule: `agree` of at most `max` judgments must match, or (confidence
/// stopping) at least `min` judgments and a posterior of `target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct QuorumRule {
    agree: u32,
    max: u32,
    stop: StopMode,
    min: u32,
    target: Target,
}

/// A posterior target in (0.5, 1), compared by its bits so that rules stay `Eq`.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(transparent)]
pub struct Target(f64);

impl PartialEq for Target {
    fn eq(&self, other: &Target) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for Target {}

/// Upper bound on `max`: far beyond any sensible crowd size, and keeps counts in `u32` safe.
pub const MAX_JUDGMENTS_LIMIT: u32 = 1000;

impl QuorumRule {
    /// Validates K and N. K must exceed N/2 so that two different answers can never both reach K.
    pub fn new(agree: u32, max: u32, stop: StopMode) -> Result<QuorumRule, RuleError> {
        if max == 0 {
            return Err(RuleError {
                key: "quorum.max",
                message: "must be at least 1".into(),
            });
        }
        if max > MAX_JUDGMENTS_LIMIT {
            return Err(RuleError {
                key: "quorum.max",
                message: format!("must be at most {MAX_JUDGMENTS_LIMIT}, got {max}"),
            });
        }
        if agree == 0 {
            return Err(RuleError {
                key: "quorum.agree",
                message: "must be at least 1".into(),
            });
        }
        if agree > max {
            return Err(RuleError {
                key: "quorum.agree",
                message: format!(
                    "agree = {agree} is more than max = {max}: no item could ever be resolved"
                ),
            });
        }
        if u64::from(agree) * 2 <= u64::from(max) {
            return Err(RuleError {
                key: "quorum.agree",
                message: format!(
                    "agree = {agree} must be more than half of max = {max} (at least {}), \
                     otherwise two different answers could both reach the quorum",
                    max / 2 + 1
                ),
            });
        }
        if stop == StopMode::Confidence {
            return Err(RuleError {
                key: "quorum.stop",
                message: "confidence stopping takes `target`, `min` and `max`, not `agree`".into(),
            });
        }
        Ok(QuorumRule {
            agree,
            max,
            stop,
            min: 0,
            target: Target(0.0),
        })
    }

    /// Confidence stopping: resolve at `target` posterior with at least `min` and at most
    /// `max` judgments. A target at or below 0.5 would let a coin flip resolve, and 1 is never
    /// reached by a posterior.
    pub fn confidence(target: f64, min: u32, max: u32) -> Result<QuorumRule, RuleError> {
        if !(target > 0.5 && target < 1.0) {
            return Err(RuleError {
                key: "quorum.target",
                message: format!(
                    "must be a probability above 0.5 and below 1 (e.g. 0.999), got {target}"
                ),
            });
        }
        if min < 1 {
            return Err(RuleError {
                key: "quorum.min",
                message: "must be at least 1".into(),
            });
        }
        if max > MAX_JUDGMENTS_LIMIT {
            return Err(RuleError {
                key: "quorum.max",
                message: format!("must be at most {MAX_JUDGMENTS_LIMIT}, got {max}"),
            });
        }
        if min > max {
            return Err(RuleError {
                key: "quorum.min",
                message: format!("min = {min} is more than max = {max}"),
            });
        }
        Ok(QuorumRule {
            agree: 0,
            max,
            stop: StopMode::Confidence,
            min,
            target: Target(target),
        })
    }

    /// K of K-of-N; 0 under confidence stopping, which counts no votes.
    pub fn agree(&self) -> u32 {
        self.agree
    }

    /// Fewest judgments before confidence stopping may resolve (0 for the other stops).
    pub fn min(&self) -> u32 {
        self.min
    }

    /// The posterior confidence stopping resolves at (`None` for the other stops).
    pub fn target(&self) -> Option<f64> {
        (self.stop == StopMode::Confidence).then_some(self.target.0)
    }

    /// Under confidence stopping: the outcome given the model's most probable answer and its
    /// posterior (`None` when the model has nothing to say, e.g. no judgments). Resolves only
    /// at `min` judgments or more with the posterior at or above `target`; the other stops
    /// ignore `best` and count votes.
    pub fn decide_with(&self, tally: &Tally, best: Option<(&str, f64)>) -> Outcome {
        if self.stop != StopMode::Confidence {
            return self.decide(tally);
        }
        let n = tally.total();
        match best {
            Some((label, p)) if n >= self.min && p >= self.target.0 => Outcome::Resolved {
                label: label.to_owned(),
                votes: tally.count(label),
            },
            _ if n >= self.max => Outcome::Unresolved,
            _ => Outcome::Pending,
        }
    }

    pub fn max(&self) -> u32 {
        self.max
    }

    pub fn stop(&self) -> StopMode {
        self.stop
    }

    /// Decides an item from the tally of its normalised answers so far.
    pub fn decide(&self, tally: &Tally) -> Outcome {
        let n = tally.total();
        let (top_answer, top) = match tally.top() {
            Some((answer, votes)) => (Some(answer), votes),
            None => (None, 0),
        };
        // A unique winner: K votes and strictly ahead of the runner-up. With K > N/2 and at most
        // N judgments the second condition always holds; it guards data imported under another rule.
        let winner = match top_answer {
            Some(answer) if top >= self.agree && tally.runner_up() < top => Some(answer),
            _ => None,
        };
        let remaining = self.max.saturating_sub(n);
        match self.stop {
            StopMode::Early => {
                if let Some(label) = winner {
                    Outcome::Resolved {
                        label: label.to_owned(),
                        votes: top,
                    }
                } else if top + remaining < self.agree || remaining == 0 {
                    Outcome::Unresolved
                } else {
                    Outcome::Pending
                }
            }
            // Without a model's belief (see `decide_with`) nothing is ever sure enough.
            StopMode::Confidence => {
                if n >= self.max {
                    Outcome::Unresolved
                } else {
                    Outcome::Pending
                }
            }
            StopMode::Fixed => {
                if n < self.max {
                    Outcome::Pending
                } else if let Some(label) = winner {
                    Outcome::Resolved {
                        label: label.to_owned(),
                        votes: top,
                    }
                } else {
                    Outcome::Unresolved
                }
            }
        }
    }

    /// How many more judgments this item may still receive (0 once decided), by vote count.
    pub fn open_slots(&self, tally: &Tally) -> u32 {
        match self.decide(tally) {
            Outcome::Pending => self.max.saturating_sub(tally.total()),
            _ => 0,
        }
    }
}

impl QuorumRule {
    /// The rule in a sentence, for pages and command output.
    pub fn describe(&self) -> String {
        match self.target() {
            Some(target) => format!(
                "resolves when the crowd model gives an answer {target} or more, after {} to {} judgments",
                self.min, self.max
            ),
            None => format!(
                "{} of at most {} must agree, stop {}",
                self.agree, self.max, self.stop
            ),
        }
    }
}

impl fmt::Display for QuorumRule {
    /// `7 of 9, early` or `confidence 0.999, 2 to 9 judgments`: how owners read a rule.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.target() {
            Some(target) => write!(
                f,
                "confidence {target}, {} to {} judgments",
                self.min, self.max
            ),
            None => write!(f, "{} of {}, {}", self.agree, self.max, self.stop),
        }
    }
}

/// The state of one item under its rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Outcome {
    /// More judgments are needed.
    Pending,
    /// One normalised answer reached the quorum.
    Resolved { label: String, votes: u32 },
    /// No answer can reach the quorum any more: the crowd could not settle it.
    Unresolved,
}

impl Outcome {
    pub fn status(&self) -> Status {
        match self {
            Outcome::Pending => Status::Pending,
            Outcome::Resolved { .. } => Status::Resolved,
            Outcome::Unresolved => Status::Unresolved,
        }
    }

    pub fn label(&self) -> Option<&str> {
        match self {
            Outcome::Resolved { label, .. } => Some(label),
            _ => None,
        }
    }
}

/// An item's status as stored and exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Resolved,
    Unresolved,
    /// The crowd could not settle it; an owner chose the final label.
    Adjudicated,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::Pending,
        Status::Resolved,
        Status::Unresolved,
        Status::Adjudicated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Resolved => "resolved",
            Status::Unresolved => "unresolved",
            Status::Adjudicated => "adjudicated",
        }
    }

    /// Whether items with this status carry a final label.
    pub fn has_label(self) -> bool {
        matches!(self, Status::Resolved | Status::Adjudicated)
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many open leases can still matter for a pending item: the ones assignment hands out
/// before any other (see [`QuorumRule::useful_leases`]). Leases beyond them are handed out only
/// when no item has a useful one left, so annotators are never idle while work remains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsefulLeases {
    /// K of an early-stopping K-of-N rule: K minus the leading answer's votes can decide it.
    leader: Option<u32>,
    /// `min` of confidence stopping: what the item still needs to reach it, then
    /// [`AFTER_MIN_IN_FLIGHT`] at a time.
    min: Option<u32>,
}

/// Under confidence stopping, the leases in flight once an item has (or will have) `min`
/// judgments: each new judgment may be the one that reaches the target.
pub const AFTER_MIN_IN_FLIGHT: u32 = 1;

impl UsefulLeases {
    /// No bound but the rule's `max` (fixed stopping, and the fallback).
    pub const ANY: UsefulLeases = UsefulLeases {
        leader: None,
        min: None,
    };

    /// Whether one more lease can still matter for an item with `leases` open, `votes` for
    /// its leading answer and `judgments` in all.
    pub fn allows(&self, leases: u32, votes: u32, judgments: u32) -> bool {
        let leader = self.leader.is_none_or(|k| leases + votes < k);
        let min = self
            .min
            .is_none_or(|m| leases + judgments < m || leases < AFTER_MIN_IN_FLIGHT);
        leader && min
    }

    /// The same test as numbers `(a, b, c)` for SQL: one more lease is useful exactly when
    /// `leases < a - votes AND (leases < b - judgments OR leases < c)`.
    pub fn sql_bounds(&self) -> (i64, i64, i64) {
        const UNBOUNDED: i64 = 1 << 40;
        (
            self.leader.map_or(UNBOUNDED, i64::from),
            self.min.map_or(UNBOUNDED, i64::from),
            if self.min.is_some() {
                i64::from(AFTER_MIN_IN_FLIGHT)
            } else {
                UNBOUNDED
            },
        )
    }
}

impl QuorumRule {
    /// The leases that can still matter for a pending item under this rule. Handing all of an
    /// item's `max` slots out at once (closest to a decision first does, under a large crowd)
    /// spends every slot before the first answer is back, so no stop rule could save any:
    /// early K of N needs at most K minus the leader's votes more (if they all agree, it
    /// decides), confidence stopping `min` and then one at a time, fixed stopping all `max`.
    pub fn useful_leases(&self) -> UsefulLeases {
        match self.stop {
            StopMode::Early => UsefulLeases {
                leader: Some(self.agree),
                min: None,
            },
            StopMode::Fixed => UsefulLeases::ANY,
            StopMode::Confidence => UsefulLeases {
                leader: None,
                min: Some(self.min),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rule(k: u32, n: u32, stop: StopMode) -> QuorumRule {
        QuorumRule::new(k, n, stop).expect("valid rule")
    }

    fn decide(r: &QuorumRule, answers: &[&str]) -> Outcome {
        r.decide(&Tally::from_answers(answers.iter().copied()))
    }

    #[test]
    fn rejects_rules_where_two_answers_could_win() {
        let err = QuorumRule::new(4, 8, StopMode::Early).unwrap_err();
        assert_eq!(err.key, "quorum.agree");
        assert!(err.message.contains("more than half"), "{}", err.message);
        assert!(QuorumRule::new(5, 8, StopMode::Early).is_ok());
        assert!(QuorumRule::new(5, 9, StopMode::Early).is_ok());
        assert!(QuorumRule::new(4, 9, StopMode::Early).is_err());
        assert!(QuorumRule::new(1, 1, StopMode::Fixed).is_ok());
    }

    #[test]
    fn rejects_agree_above_max_and_zeroes() {
        assert_eq!(
            QuorumRule::new(10, 9, StopMode::Early).unwrap_err().key,
            "quorum.agree"
        );
        assert_eq!(
            QuorumRule::new(0, 0, StopMode::Early).unwrap_err().key,
            "quorum.max"
        );
        assert_eq!(
            QuorumRule::new(0, 1, StopMode::Early).unwrap_err().key,
            "quorum.agree"
        );
        assert_eq!(
            QuorumRule::new(1, MAX_JUDGMENTS_LIMIT + 1, StopMode::Early)
                .unwrap_err()
                .key,
            "quorum.max"
        );
    }

    #[test]
    fn seven_of_nine_early() {
        let r = rule(7, 9, StopMode::Early);
        assert_eq!(decide(&r, &[]), Outcome::Pending);
        assert_eq!(decide(&r, &["a"; 6]), Outcome::Pending);
        assert_eq!(
            decide(&r, &["a"; 7]),
            Outcome::Resolved {
                label: "a".into(),
                votes: 7
            }
        );
        // 2 dissenters: a can still reach 7 with the 2 slots left.
        assert_eq!(
            decide(&r, &["a", "a", "a", "a", "a", "b", "c"]),
            Outcome::Pending
        );
        // 3 dissenters: at most 6 can agree.
        assert_eq!(decide(&r, &["a", "b", "c"]), Outcome::Pending);
        assert_eq!(decide(&r, &["a", "a", "b", "c"]), Outcome::Pending);
        assert_eq!(decide(&r, &["a", "a", "b", "c", "d"]), Outcome::Unresolved);
        assert_eq!(decide(&r, &["a", "b", "c", "d"]), Outcome::Unresolved);
    }

    #[test]
    fn seven_of_nine_fixed_waits_for_all_nine() {
        let r = rule(7, 9, StopMode::Fixed);
        assert_eq!(decide(&r, &["a"; 8]), Outcome::Pending);
        assert_eq!(decide(&r, &["a", "b", "c"]), Outcome::Pending);
        assert_eq!(
            decide(&r, &["a", "a", "a", "a", "a", "a", "a", "b", "b"]),
            Outcome::Resolved {
                label: "a".into(),
                votes: 7
            }
        );
        assert_eq!(
            decide(&r, &["a", "a", "a", "a", "a", "a", "b", "b", "b"]),
            Outcome::Unresolved
        );
    }

    #[test]
    fn open_slots_close_once_decided() {
        let r = rule(2, 3, StopMode::Early);
        assert_eq!(r.open_slots(&Tally::from_answers(["a"])), 2);
        assert_eq!(r.open_slots(&Tally::from_answers(["a", "a"])), 0);
        assert_eq!(r.open_slots(&Tally::from_answers(["a", "b"])), 1);
        let f = rule(2, 3, StopMode::Fixed);
        assert_eq!(f.open_slots(&Tally::from_answers(["a", "a"])), 1);
    }

    #[test]
    fn over_full_items_from_other_rules_never_resolve_a_tie() {
        let r = rule(2, 3, StopMode::Fixed);
        assert_eq!(decide(&r, &["a", "a", "b", "b"]), Outcome::Unresolved);
        let e = rule(2, 3, StopMode::Early);
        assert_eq!(decide(&e, &["a", "a", "b", "b"]), Outcome::Unresolved);
    }

    fn rule_strategy() -> impl Strategy<Value = QuorumRule> {
        (1u32..=12)
            .prop_flat_map(|n| ((n / 2 + 1)..=n).prop_map(move |k| rule(k, n, StopMode::Early)))
    }

    fn answers_for(n: u32) -> impl Strategy<Value = Vec<u8>> {
        // A small alphabet makes agreement likely enough to exercise every outcome.
        proptest::collection::vec(0u8..4, n as usize)
    }

    fn as_strings(v: &[u8]) -> Vec<String> {
        v.iter().map(|b| format!("answer-{b}")).collect()
    }

    proptest! {
        #[test]
        fn never_resolved_with_fewer_than_k_votes(
            (r, answers) in rule_strategy().prop_flat_map(|r| (Just(r), proptest::collection::vec(0u8..4, 0..=r.max() as usize)))
        ) {
            for stop in [StopMode::Early, StopMode::Fixed] {
                let r = rule(r.agree(), r.max(), stop);
                let words = as_strings(&answers);
                for prefix in 0..=words.len() {
                    let tally = Tally::from_answers(words[..prefix].iter().map(String::as_str));
                    if let Outcome::Resolved { label, votes } = r.decide(&tally) {
                        prop_assert!(votes >= r.agree());
                        prop_assert_eq!(tally.count(&label), votes);
                    }
                }
            }
        }

        #[test]
        fn early_stop_agrees_with_fixed_on_all_n(
            (r, answers) in rule_strategy().prop_flat_map(|r| (Just(r), answers_for(r.max())))
        ) {
            let early = rule(r.agree(), r.max(), StopMode::Early);
            let fixed = rule(r.agree(), r.max(), StopMode::Fixed);
            let words = as_strings(&answers);
            let full = fixed.decide(&Tally::from_answers(words.iter().map(String::as_str)));
            prop_assert_ne!(&full, &Outcome::Pending);
            // Walk the sequence as the assignment engine would: stop at the first decision.
            let mut stopped = None;
            for prefix in 0..=words.len() {
                let out = early.decide(&Tally::from_answers(words[..prefix].iter().map(String::as_str)));
                if out != Outcome::Pending {
                    stopped = Some(out);
                    break;
                }
            }
            // Same decision and label; the vote count may be lower at the stopping point.
            let stopped = stopped.map(|o| (o.status(), o.label().map(str::to_owned)));
            prop_assert_eq!(stopped, Some((full.status(), full.label().map(str::to_owned))));
        }

        #[test]
        fn fixed_outcome_ignores_order(
            (r, answers, seed) in rule_strategy().prop_flat_map(|r| (Just(r), answers_for(r.max()), any::<u64>()))
        ) {
            let fixed = rule(r.agree(), r.max(), StopMode::Fixed);
            let words = as_strings(&answers);
            let mut shuffled = words.clone();
            // Deterministic Fisher-Yates from the seed.
            let mut s = seed;
            for i in (1..shuffled.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let j = (s >> 33) as usize % (i + 1);
                shuffled.swap(i, j);
            }
            prop_assert_eq!(
                fixed.decide(&Tally::from_answers(words.iter().map(String::as_str))),
                fixed.decide(&Tally::from_answers(shuffled.iter().map(String::as_str)))
            );
        }

        #[test]
        fn early_decisions_are_final(
            (r, answers) in rule_strategy().prop_flat_map(|r| (Just(r), answers_for(r.max())))
        ) {
            // Once decided, adding judgments (up to N) never changes an early outcome.
            let words = as_strings(&answers);
            let mut first = None;
            for prefix in 0..=words.len() {
                let out = r.decide(&Tally::from_answers(words[..prefix].iter().map(String::as_str)));
                match (&first, &out) {
                    (None, Outcome::Pending) => {}
                    (None, decided) => first = Some(decided.clone()),
                    (Some(f), o) => {
                        prop_assert_eq!(f.status(), o.status());
                        prop_assert_eq!(f.label(), o.label());
                    }
                }
            }
        }
    }

    #[test]
    fn useful_leases_follow_each_stop() {
        let early = rule(7, 9, StopMode::Early).useful_leases();
        // Nothing judged: 7 agreeing answers would decide it, an 8th lease could not matter.
        assert!(early.allows(6, 0, 0) && !early.allows(7, 0, 0));
        // 4 for the leader, 1 against, 2 in flight: one more could make 7.
        assert!(early.allows(2, 4, 5) && !early.allows(3, 4, 5));
        let fixed = rule(7, 9, StopMode::Fixed).useful_leases();
        assert!(fixed.allows(8, 0, 0));
        let confident = QuorumRule::confidence(0.99, 3, 9).unwrap().useful_leases();
        assert!(confident.allows(2, 0, 0) && !confident.allows(3, 0, 0));
        assert!(confident.allows(0, 3, 5) && !confident.allows(1, 3, 5));
        assert!(confident.allows(1, 1, 1) && !confident.allows(2, 1, 1));
    }

    proptest! {
        /// The SQL form assignment uses says what `allows` says.
        #[test]
        fn useful_leases_sql_bounds_agree_with_allows(
            k in 2u32..12, extra in 0u32..6, min in 1u32..9, stop in 0u8..3,
            leases in 0u32..20, votes in 0u32..20, judgments in 0u32..20,
        ) {
            let r = match stop {
                0 => rule(k, 2 * k - 1, StopMode::Early),
                1 => rule(k, 2 * k - 1, StopMode::Fixed),
                _ => QuorumRule::confidence(0.99, min, min + extra).unwrap(),
            };
            let u = r.useful_leases();
            let (a, b, c) = u.sql_bounds();
            let (l, v, j) = (i64::from(leases), i64::from(votes), i64::from(judgments));
            prop_assert_eq!(u.allows(leases, votes, judgments), l < a - v && (l < b - j || l < c));
        }
    }
}
