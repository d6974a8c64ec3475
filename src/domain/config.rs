//! Project configuration: the TOML a project owner writes, validated into typed values.
//!
//! One idea: a project's settings, read, checked and written back. The answer schema and the
//! check of an answer against it stay here because they are what the `[answer]` section
//! means; the long part is the validation of each key and its tests.

use serde::{Deserialize, Serialize};

use super::normalize::{Normalizer, normalize};
use super::rule::{QuorumRule, StopMode};

/// Default time an annotator may hold an item before its slot returns to the pool.
pub const DEFAULT_LEASE_SECONDS: u32 = 600;
const MAX_LEASE_SECONDS: u32 = 7 * 24 * 3600;
/// Longest accepted answer, in bytes: generous for free text, small enough to bound storage.
pub const MAX_ANSWER_BYTES: usize = 10_000;

/// An invalid configuration; `key` names the offending TOML key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Syntax(String),
    #[error("`{key}`: {message}")]
    Invalid { key: String, message: String },
}

impl ConfigError {
    fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

/// What annotators answer and how answers are compared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum AnswerSpec {
    /// Pick one of a fixed list of options.
    Choice { options: Vec<String> },
    /// Free text, compared after the normalisers run in order.
    Text { normalize: Vec<Normalizer> },
}

/// An answer that does not fit the project's answer schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    #[error("the answer is empty")]
    Empty,
    #[error("the answer is {0} bytes long; the limit is {MAX_ANSWER_BYTES}")]
    TooLong(usize),
    /// PostgreSQL cannot store U+0000 in text; no answer needs it.
    #[error("the answer contains a NUL character (U+0000)")]
    Nul,
    #[error("{answer:?} is not one of the options ({})", options.join(", "))]
    NotAnOption {
        answer: String,
        options: Vec<String>,
    },
}

impl AnswerSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            AnswerSpec::Choice { .. } => "choice",
            AnswerSpec::Text { .. } => "text",
        }
    }

    /// The normalised form two answers are compared by, or why the answer is not acceptable.
    ///
    /// Choice answers match an option ignoring surrounding whitespace and letter case, and
    /// normalise to the option exactly as configured.
    pub fn normalize(&self, raw: &str) -> Result<String, AnswerError> {
        if raw.len() > MAX_ANSWER_BYTES {
            return Err(AnswerError::TooLong(raw.len()));
        }
        if raw.contains('\0') {
            return Err(AnswerError::Nul);
        }
        match self {
            AnswerSpec::Choice { options } => {
                let wanted = raw.trim();
                if wanted.is_empty() {
                    return Err(AnswerError::Empty);
                }
                options
                    .iter()
                    .find(|o| o.as_str() == wanted)
                    .or_else(|| {
                        let folded = caseless::default_case_fold_str(wanted);
                        options
                            .iter()
                            .find(|o| caseless::default_case_fold_str(o) == folded)
                    })
                    .cloned()
                    .ok_or_else(|| AnswerError::NotAnOption {
                        answer: raw.to_owned(),
                        options: options.clone(),
                    })
            }
            AnswerSpec::Text {
                normalize: pipeline,
            } => {
                let out = normalize(pipeline, raw);
                if out.trim().is_empty() {
                    Err(AnswerError::Empty)
                } else {
                    Ok(out)
                }
            }
        }
    }
}

/// A validated project configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectConfig {
    pub name: String,
    pub slug: String,
    pub instructions: String,
    pub answer: AnswerSpec,
    pub rule: QuorumRule,
    pub lease_seconds: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    name: String,
    slug: String,
    #[serde(default)]
    instructions: String,
    answer: RawAnswer,
    quorum: RawQuorum,
    #[serde(default)]
    assignment: RawAssignment,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAnswer {
    kind: String,
    options: Option<Vec<String>>,
    normalize: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuorum {
    agree: Option<i64>,
    max: i64,
    #[serde(default = "default_stop")]
    stop: String,
    target: Option<f64>,
    min: Option<i64>,
}

/// Fewest judgments confidence stopping asks for when `min` is not given: one judgment, however
/// trusted its annotator, is one person's word.
pub const DEFAULT_CONFIDENCE_MIN: u32 = 2;

fn default_stop() -> String {
    "early".into()
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAssignment {
    lease_minutes: Option<i64>,
}

/// A configuration as entered, not yet validated: what a TOML file or the browser's project
/// form holds. [`ProjectDraft::validate`] is the one place the rules live, so both front ends
/// accept and refuse exactly the same settings, with errors naming the same TOML keys.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProjectDraft {
    pub name: String,
    pub slug: String,
    pub instructions: String,
    /// `"choice"` or `"text"`.
    pub kind: String,
    pub options: Option<Vec<String>>,
    pub normalize: Option<Vec<String>>,
    /// K of K-of-N; absent under confidence stopping.
    pub agree: Option<i64>,
    pub max: i64,
    /// `"early"`, `"fixed"` or `"confidence"`.
    pub stop: String,
    /// Confidence stopping only: the posterior to resolve at, and the fewest judgments.
    pub target: Option<f64>,
    pub min: Option<i64>,
    pub lease_minutes: Option<i64>,
}

impl From<&ProjectConfig> for ProjectDraft {
    fn from(c: &ProjectConfig) -> ProjectDraft {
        let (options, normalize) = match &c.answer {
            AnswerSpec::Choice { options } => (Some(options.clone()), None),
            AnswerSpec::Text { normalize } => (
                None,
                Some(normalize.iter().map(|n| n.name().to_owned()).collect()),
            ),
        };
        ProjectDraft {
            name: c.name.clone(),
            slug: c.slug.clone(),
            instructions: c.instructions.clone(),
            kind: c.answer.kind().to_owned(),
            options,
            normalize,
            agree: (c.rule.stop() != StopMode::Confidence).then(|| i64::from(c.rule.agree())),
            max: i64::from(c.rule.max()),
            stop: c.rule.stop().as_str().to_owned(),
            target: c.rule.target(),
            min: c.rule.target().map(|_| i64::from(c.rule.min())),
            lease_minutes: Some(i64::from(c.lease_seconds / 60)),
        }
    }
}

impl ProjectConfig {
    /// Parses and validates a TOML project configuration.
    pub fn from_toml(text: &str) -> Result<ProjectConfig, ConfigError> {
        let raw: RawConfig = toml::from_str(text)
            .map_err(|e| ConfigError::Syntax(e.to_string().trim().to_owned()))?;
        ProjectDraft {
            name: raw.name,
            slug: raw.slug,
            instructions: raw.instructions,
            kind: raw.answer.kind,
            options: raw.answer.options,
            normalize: raw.answer.normalize,
            agree: raw.quorum.agree,
            max: raw.quorum.max,
            stop: raw.quorum.stop,
            target: raw.quorum.target,
            min: raw.quorum.min,
            lease_minutes: raw.assignment.lease_minutes,
        }
        .validate()
    }
}

impl ProjectDraft {
    /// Checks every setting; the first problem found names its TOML key.
    pub fn validate(self) -> Result<ProjectConfig, ConfigError> {
        let raw = self;
        let name = raw.name.trim().to_owned();
        if name.is_empty() {
            return Err(ConfigError::invalid("name", "must not be empty"));
        }
        if name.chars().count() > 200 {
            return Err(ConfigError::invalid(
                "name",
                "must be at most 200 characters",
            ));
        }
        validate_slug(&raw.slug)?;
        let answer = match raw.kind.as_str() {
            "choice" => {
                if raw.normalize.is_some() {
                    return Err(ConfigError::invalid(
                        "answer.normalize",
                        "only applies to kind = \"text\"; choice answers match their options",
                    ));
                }
                let options = raw.options.ok_or_else(|| {
                    ConfigError::invalid(
                        "answer.options",
                        "a choice project needs a list of options, e.g. options = [\"nba\", \"nfl\"]",
                    )
                })?;
                AnswerSpec::Choice {
                    options: validate_options(options)?,
                }
            }
            "text" => {
                if raw.options.is_some() {
                    return Err(ConfigError::invalid(
                        "answer.options",
                        "only applies to kind = \"choice\"",
                    ));
                }
                let mut pipeline = Vec::new();
                for (i, n) in raw.normalize.unwrap_or_default().iter().enumerate() {
                    let parsed = Normalizer::parse(n).ok_or_else(|| {
                        ConfigError::invalid(
                            &format!("answer.normalize[{i}]"),
                            format!(
                                "unknown normaliser {n:?}; known: {}",
                                Normalizer::ALL.map(|n| n.name()).join(", ")
                            ),
                        )
                    })?;
                    // Only this order is idempotent (e.g. casefold before nfkc leaves "㏋" as
                    // "HP" on the first pass and "hp" on the second), so it is the only one allowed.
                    if pipeline
                        .iter()
                        .any(|p: &Normalizer| *p as u8 >= parsed as u8)
                    {
                        return Err(ConfigError::invalid(
                            &format!("answer.normalize[{i}]"),
                            format!(
                                "{n:?} is out of order or repeated; list normalisers at most once, in the order {}",
                                Normalizer::ALL.map(|n| n.name()).join(", ")
                            ),
                        ));
                    }
                    pipeline.push(parsed);
                }
                AnswerSpec::Text {
                    normalize: pipeline,
                }
            }
            other => {
                return Err(ConfigError::invalid(
                    "answer.kind",
                    format!("must be \"choice\" or \"text\", got {other:?}"),
                ));
            }
        };
        let stop = StopMode::parse(&raw.stop).ok_or_else(|| {
            ConfigError::invalid(
                "quorum.stop",
                format!(
                    "must be \"early\", \"fixed\" or \"confidence\", got {:?}",
                    raw.stop
                ),
            )
        })?;
        let max = to_u32("quorum.max", raw.max)?;
        let rule = if stop == StopMode::Confidence {
            if raw.agree.is_some() {
                return Err(ConfigError::invalid(
                    "quorum.agree",
                    "does not apply to stop = \"confidence\", which resolves on `target` \
                     (with `min` and `max` judgments); remove it",
                ));
            }
            let target = raw.target.ok_or_else(|| {
                ConfigError::invalid(
                    "quorum.target",
                    "stop = \"confidence\" needs a target posterior, e.g. target = 0.999",
                )
            })?;
            let min = match raw.min {
                None => DEFAULT_CONFIDENCE_MIN.min(max.max(1)),
                Some(m) if m < 1 => {
                    return Err(ConfigError::invalid(
                        "quorum.min",
                        format!("must be at least 1, got {m}"),
                    ));
                }
                Some(m) => to_u32("quorum.min", m)?,
            };
            QuorumRule::confidence(target, min, max)
        } else {
            for (key, given) in [
                ("quorum.target", raw.target.is_some()),
                ("quorum.min", raw.min.is_some()),
            ] {
                if given {
                    return Err(ConfigError::invalid(
                        key,
                        format!(
                            "only applies to stop = \"confidence\" (this rule stops {:?})",
                            stop.as_str()
                        ),
                    ));
                }
            }
            let agree = raw.agree.ok_or_else(|| {
                ConfigError::invalid(
                    "quorum.agree",
                    "a K-of-N rule needs `agree`, how many judgments must match (e.g. agree = 7)",
                )
            })?;
            QuorumRule::new(to_u32("quorum.agree", agree)?, max, stop)
        }
        .map_err(|e| ConfigError::invalid(e.key, e.message))?;
        if let AnswerSpec::Choice { options } = &answer
            && options.len() < 2
        {
            return Err(ConfigError::invalid(
                "answer.options",
                "a choice project needs at least two options",
            ));
        }
        let lease_seconds = match raw.lease_minutes {
            None => DEFAULT_LEASE_SECONDS,
            Some(m) if m >= 1 && m * 60 <= i64::from(MAX_LEASE_SECONDS) => (m * 60) as u32,
            Some(m) => {
                return Err(ConfigError::invalid(
                    "assignment.lease_minutes",
                    format!("must be between 1 and {}, got {m}", MAX_LEASE_SECONDS / 60),
                ));
            }
        };
        Ok(ProjectConfig {
            name,
            slug: raw.slug,
            instructions: raw.instructions.trim().to_owned(),
            answer,
            rule,
            lease_seconds,
        })
    }
}

impl ProjectConfig {
    /// The configuration as TOML, in the documented shape (round-trips through `from_toml`).
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        let q = |s: &str| toml_string(s);
        out.push_str(&format!("name = {}\n", q(&self.name)));
        out.push_str(&format!("slug = {}\n", q(&self.slug)));
        out.push_str(&format!("instructions = {}\n", q(&self.instructions)));
        out.push_str("\n[answer]\n");
        match &self.answer {
            AnswerSpec::Choice { options } => {
                out.push_str("kind = \"choice\"\n");
                let list: Vec<String> = options.iter().map(|o| q(o)).collect();
                out.push_str(&format!("options = [{}]\n", list.join(", ")));
            }
            AnswerSpec::Text { normalize } => {
                out.push_str("kind = \"text\"\n");
                let list: Vec<String> = normalize.iter().map(|n| q(n.name())).collect();
                out.push_str(&format!("normalize = [{}]\n", list.join(", ")));
            }
        }
        out.push_str("\n[quorum]\n");
        if let Some(target) = self.rule.target() {
            out.push_str(&format!("stop = \"{}\"\n", self.rule.stop()));
            out.push_str(&format!("target = {}\n", toml::Value::Float(target)));
            out.push_str(&format!("min = {}\n", self.rule.min()));
            out.push_str(&format!("max = {}\n", self.rule.max()));
        } else {
            out.push_str(&format!("agree = {}\n", self.rule.agree()));
            out.push_str(&format!("max = {}\n", self.rule.max()));
            out.push_str(&format!("stop = \"{}\"\n", self.rule.stop()));
        }
        out.push_str("\n[assignment]\n");
        out.push_str(&format!("lease_minutes = {}\n", self.lease_seconds / 60));
        out
    }
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn to_u32(key: &str, v: i64) -> Result<u32, ConfigError> {
    u32::try_from(v)
        .map_err(|_| ConfigError::invalid(key, format!("must be a positive whole number, got {v}")))
}

/// Slugs appear in URLs and CLI arguments: lowercase ASCII letters, digits and inner hyphens.
pub fn validate_slug(slug: &str) -> Result<(), ConfigError> {
    let ok = !slug.is_empty()
        && slug.len() <= 64
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            "slug",
            format!(
                "{slug:?} must be 1-64 characters of lowercase letters, digits and hyphens, not starting or ending with a hyphen"
            ),
        ))
    }
}

fn validate_options(options: Vec<String>) -> Result<Vec<String>, ConfigError> {
    let mut out: Vec<String> = Vec::with_capacity(options.len());
    for (i, o) in options.into_iter().enumerate() {
        let key = format!("answer.options[{i}]");
        let o = o.trim().to_owned();
        if o.is_empty() {
            return Err(ConfigError::invalid(&key, "options must not be empty"));
        }
        if o.len() > 200 {
            return Err(ConfigError::invalid(
                &key,
                "options must be at most 200 bytes",
            ));
        }
        let folded = caseless::default_case_fold_str(&o);
        if out
            .iter()
            .any(|p| caseless::default_case_fold_str(p) == folded)
        {
            return Err(ConfigError::invalid(&key, format!("{o:?} is listed twice")));
        }
        out.push(o);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
name = "Athlete handles"
slug = "athlete-handles"
instructions = "Find the athlete's official Twitter handle."
[answer]
kind = "text"                                   # or "choice"
normalize = ["trim", "nfkc", "casefold", "handle"]
[quorum]
agree = 7
max = 9
stop = "early"                                  # or "fixed"
"#;

    fn err_key(text: &str) -> String {
        match ProjectConfig::from_toml(text) {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected an invalid-key error, got {other:?}"),
        }
    }

    #[test]
    fn confidence_stopping_is_configured_by_target_min_and_max() {
        let conf = |quorum: &str| EXAMPLE.replace("agree = 7\nmax = 9\nstop = \"early\"", quorum);
        let c = ProjectConfig::from_toml(&conf(
            "stop = \"confidence\"\ntarget = 0.999\nmin = 3\nmax = 9",
        ))
        .unwrap();
        assert_eq!(c.rule.stop(), StopMode::Confidence);
        assert_eq!(
            (c.rule.target(), c.rule.min(), c.rule.max()),
            (Some(0.999), 3, 9)
        );
        assert_eq!(
            ProjectConfig::from_toml(&c.to_toml()).unwrap(),
            c,
            "round trip"
        );
        let d = ProjectConfig::from_toml(&conf("stop = \"confidence\"\ntarget = 0.99\nmax = 9"))
            .unwrap();
        assert_eq!(d.rule.min(), DEFAULT_CONFIDENCE_MIN);
        for (quorum, key) in [
            (
                "stop = \"confidence\"\ntarget = 0.5\nmax = 9",
                "quorum.target",
            ),
            (
                "stop = \"confidence\"\ntarget = 1.0\nmax = 9",
                "quorum.target",
            ),
            (
                "stop = \"confidence\"\ntarget = -3.0\nmax = 9",
                "quorum.target",
            ),
            (
                "stop = \"confidence\"\ntarget = nan\nmax = 9",
                "quorum.target",
            ),
            ("stop = \"confidence\"\nmax = 9", "quorum.target"),
            (
                "stop = \"confidence\"\ntarget = 0.99\nmin = 10\nmax = 9",
                "quorum.min",
            ),
            (
                "stop = \"confidence\"\ntarget = 0.99\nmin = 0\nmax = 9",
                "quorum.min",
            ),
            (
                "stop = \"confidence\"\ntarget = 0.99\nmin = -1\nmax = 9",
                "quorum.min",
            ),
            (
                "stop = \"confidence\"\nagree = 7\ntarget = 0.99\nmax = 9",
                "quorum.agree",
            ),
            ("agree = 7\nmax = 9\ntarget = 0.99", "quorum.target"),
            ("agree = 7\nmax = 9\nmin = 2", "quorum.min"),
            ("max = 9", "quorum.agree"),
            ("stop = \"sometimes\"\nagree = 7\nmax = 9", "quorum.stop"),
        ] {
            assert_eq!(err_key(&conf(quorum)), key, "{quorum}");
        }
    }

    #[test]
    fn answers_with_a_nul_character_are_refused() {
        let text = AnswerSpec::Text { normalize: vec![] };
        assert_eq!(text.normalize("a\0b"), Err(AnswerError::Nul));
        let choice = AnswerSpec::Choice {
            options: vec!["nba".into()],
        };
        assert_eq!(choice.normalize("nba\0"), Err(AnswerError::Nul));
        assert_eq!(choice.normalize("nba").as_deref(), Ok("nba"));
    }

    #[test]
    fn parses_the_documented_example() {
        let c = ProjectConfig::from_toml(EXAMPLE).expect("valid");
        assert_eq!(c.slug, "athlete-handles");
        assert_eq!(c.rule.agree(), 7);
        assert_eq!(c.rule.max(), 9);
        assert_eq!(c.rule.stop(), StopMode::Early);
        assert_eq!(c.lease_seconds, DEFAULT_LEASE_SECONDS);
        assert_eq!(
            c.answer,
            AnswerSpec::Text {
                normalize: vec![
                    Normalizer::Trim,
                    Normalizer::Nfkc,
                    Normalizer::Casefold,
                    Normalizer::Handle
                ]
            }
        );
        assert_eq!(
            ProjectConfig::from_toml(&c.to_toml()).expect("round trip"),
            c
        );
    }

    #[test]
    fn rejects_bad_rules_naming_the_key() {
        assert_eq!(
            err_key(&EXAMPLE.replace("agree = 7", "agree = 4")),
            "quorum.agree"
        );
        assert_eq!(
            err_key(&EXAMPLE.replace("agree = 7", "agree = 10")),
            "quorum.agree"
        );
        assert_eq!(
            err_key(&EXAMPLE.replace("agree = 7", "agree = -1")),
            "quorum.agree"
        );
        assert_eq!(
            err_key(&EXAMPLE.replace("\"early\"", "\"sometimes\"")),
            "quorum.stop"
        );
        assert_eq!(
            err_key(&EXAMPLE.replace("athlete-handles", "Athlete Handles")),
            "slug"
        );
        assert_eq!(
            err_key(&EXAMPLE.replace("\"handle\"]", "\"stem\"]")),
            "answer.normalize[3]"
        );
    }

    #[test]
    fn normalisers_must_keep_the_canonical_order() {
        let swapped = EXAMPLE.replace(
            "[\"trim\", \"nfkc\", \"casefold\", \"handle\"]",
            "[\"trim\", \"casefold\", \"nfkc\"]",
        );
        assert_eq!(err_key(&swapped), "answer.normalize[2]");
        let repeated = EXAMPLE.replace(
            "[\"trim\", \"nfkc\", \"casefold\", \"handle\"]",
            "[\"trim\", \"trim\"]",
        );
        assert_eq!(err_key(&repeated), "answer.normalize[1]");
        let subset = EXAMPLE.replace(
            "[\"trim\", \"nfkc\", \"casefold\", \"handle\"]",
            "[\"nfkc\", \"handle\"]",
        );
        assert!(ProjectConfig::from_toml(&subset).is_ok());
    }

    #[test]
    fn choice_needs_options() {
        let choice = EXAMPLE.replace(
            "kind = \"text\"                                   # or \"choice\"\nnormalize = [\"trim\", \"nfkc\", \"casefold\", \"handle\"]",
            "kind = \"choice\"",
        );
        assert_eq!(err_key(&choice), "answer.options");
        let with = choice.replace(
            "kind = \"choice\"",
            "kind = \"choice\"\noptions = [\"nba\", \"NBA\"]",
        );
        assert_eq!(err_key(&with), "answer.options[1]");
        let ok = choice.replace(
            "kind = \"choice\"",
            "kind = \"choice\"\noptions = [\"nba\", \"nfl\"]",
        );
        let c = ProjectConfig::from_toml(&ok).expect("valid");
        assert_eq!(c.answer.normalize(" NBA ").as_deref(), Ok("nba"));
        assert!(matches!(
            c.answer.normalize("mlb"),
            Err(AnswerError::NotAnOption { .. })
        ));
        assert_eq!(c.answer.normalize("  "), Err(AnswerError::Empty));
    }

    #[test]
    fn syntax_errors_and_unknown_keys_are_reported() {
        let e = ProjectConfig::from_toml("name = ").unwrap_err();
        assert!(matches!(e, ConfigError::Syntax(_)), "{e}");
        let e = ProjectConfig::from_toml(&format!("{EXAMPLE}\n[extra]\nx = 1\n")).unwrap_err();
        assert!(e.to_string().contains("extra"), "{e}");
        let e = ProjectConfig::from_toml(&EXAMPLE.replace("max = 9", "")).unwrap_err();
        assert!(e.to_string().contains("max"), "{e}");
    }

    #[test]
    fn lease_minutes_is_validated() {
        let c = ProjectConfig::from_toml(&format!("{EXAMPLE}\n[assignment]\nlease_minutes = 3\n"))
            .expect("valid");
        assert_eq!(c.lease_seconds, 180);
        assert_eq!(
            err_key(&format!("{EXAMPLE}\n[assignment]\nlease_minutes = 0\n")),
            "assignment.lease_minutes"
        );
    }

    #[test]
    fn text_answers_normalise_and_reject_empty() {
        let c = ProjectConfig::from_toml(EXAMPLE).expect("valid");
        assert_eq!(
            c.answer
                .normalize("https://x.com/KingJames?lang=en")
                .as_deref(),
            Ok("kingjames")
        );
        assert_eq!(c.answer.normalize(" \n "), Err(AnswerError::Empty));
        assert!(matches!(
            c.answer.normalize(&"x".repeat(MAX_ANSWER_BYTES + 1)),
            Err(AnswerError::TooLong(_))
        ));
    }
}
