//! Answer normalisers: two free-text answers count as the same vote exactly when their
//! normalised forms are equal, so every normaliser here must be deterministic, total (never
//! panics, whatever the input) and idempotent, or re-normalising stored answers would split
//! votes that used to agree.
//!
//! Normalisers compose: a project picks a pipeline such as `[trim, nfkc, casefold, handle]`
//! and [`normalize`] runs it left to right.
//!
//! This file holds the names configs store and the pipeline; the steps live beside it, the
//! Unicode text steps apart from `handle`, which is URL and punctuation parsing.

mod edit;
mod handle;
mod text;

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use edit::Edit;
use handle::handle;
use text::{casefold, nfkc, trim};

/// One normalisation step. The serde names are the stable names stored in project configs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Normalizer {
    Trim,
    Nfkc,
    Casefold,
    Handle,
}

impl Normalizer {
    /// In the order a full pipeline should run them: whitespace and compatibility forms are
    /// settled before case is folded, and `handle` comes last because it pattern-matches on
    /// the cleaned text.
    pub const ALL: [Normalizer; 4] = [
        Normalizer::Trim,
        Normalizer::Nfkc,
        Normalizer::Casefold,
        Normalizer::Handle,
    ];

    /// Must agree with the serde names, which are what configs store.
    pub fn name(self) -> &'static str {
        match self {
            Normalizer::Trim => "trim",
            Normalizer::Nfkc => "nfkc",
            Normalizer::Casefold => "casefold",
            Normalizer::Handle => "handle",
        }
    }

    /// Exact match only: config names are canonical, so "Trim" is a typo to report, not accept.
    pub fn parse(name: &str) -> Option<Normalizer> {
        Normalizer::ALL.into_iter().find(|n| n.name() == name)
    }

    pub fn description(self) -> &'static str {
        match self {
            Normalizer::Trim => {
                "strip leading/trailing whitespace and collapse inner whitespace runs to one space"
            }
            Normalizer::Nfkc => {
                "Unicode NFKC: full-width letters, ligatures and composed accents compare equal"
            }
            Normalizer::Casefold => "full Unicode case folding (\"Straße\" equals \"STRASSE\")",
            Normalizer::Handle => {
                "reduce a social-media handle or profile URL to a bare lowercase handle"
            }
        }
    }

    pub fn apply(self, input: &str) -> String {
        self.run(input).apply_to(Cow::Borrowed(input)).into_owned()
    }

    fn run(self, s: &str) -> Edit {
        match self {
            Normalizer::Trim => trim(s),
            Normalizer::Nfkc => nfkc(s),
            Normalizer::Casefold => casefold(s),
            Normalizer::Handle => handle(s),
        }
    }
}

/// Threads one buffer through the pipeline, so clean input (the common case in an import)
/// costs a single allocation however many steps there are.
pub fn normalize(pipeline: &[Normalizer], raw: &str) -> String {
    let mut cur = Cow::Borrowed(raw);
    for step in pipeline {
        cur = step.run(&cur).apply_to(cur);
    }
    cur.into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use Normalizer::{Casefold, Handle, Nfkc, Trim};

    const PIPELINE: [Normalizer; 4] = [Trim, Nfkc, Casefold, Handle];

    fn full(s: &str) -> String {
        normalize(&PIPELINE, s)
    }

    // --- names, parse, serde ---

    #[test]
    fn names_round_trip_through_parse() {
        for n in Normalizer::ALL {
            assert_eq!(Normalizer::parse(n.name()), Some(n));
            assert!(!n.description().is_empty());
            assert!(!n.description().contains('\n'));
        }
        assert_eq!(Normalizer::ALL, PIPELINE);
    }

    #[test]
    fn parse_rejects_non_canonical_names() {
        for bad in [
            "",
            "Trim",
            "TRIM",
            " trim",
            "trim ",
            "nfc",
            "lowercase",
            "handles",
        ] {
            assert_eq!(Normalizer::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn serde_names_match_name() {
        use serde::de::IntoDeserializer;
        use serde::de::value::Error;
        for n in Normalizer::ALL {
            let de = n.name().into_deserializer();
            let parsed: Result<Normalizer, Error> = Normalizer::deserialize(de);
            assert_eq!(parsed.ok(), Some(n));
        }
        let de = "Trim".into_deserializer();
        let parsed: Result<Normalizer, Error> = Normalizer::deserialize(de);
        assert!(parsed.is_err());
    }

    // --- empty input ---

    #[test]
    fn empty_input_gives_empty_output_everywhere() {
        for n in Normalizer::ALL {
            assert_eq!(n.apply(""), "", "{n:?}");
        }
        assert_eq!(full(""), "");
        assert_eq!(normalize(&[], ""), "");
    }

    #[test]
    fn empty_pipeline_is_identity() {
        assert_eq!(normalize(&[], "  Mixed\tCase  "), "  Mixed\tCase  ");
    }

    // --- pipeline ---

    #[test]
    fn pipeline_examples() {
        assert_eq!(full("  \"@ＫｉｎｇＪａｍｅｓ\",\n"), "kingjames");
        assert_eq!(full("\tStraße\u{a0}\u{a0}Nord "), "strasse nord");
        assert_eq!(full("ﬁnal ANSWER"), "final answer");
        assert_eq!(full("Cafe\u{301}"), full("CAFÉ"));
        assert_eq!(full("ΣΊΣΥΦΟΣ"), full("σίσυφος"));
        assert_eq!(full("No\n\nidea"), "no idea");
        let emoji = "👩🏽\u{200d}💻";
        assert_eq!(full(&format!(" {emoji} ")), emoji);
        let long = "A".repeat(5_000);
        assert_eq!(full(&long), "a".repeat(5_000));
    }

    #[test]
    fn pipeline_idempotent_where_plain_folding_leaves_normal_form() {
        // Found by proptest / the char sweep: plain folding gives "ss\u{301}" and
        // "i\u{307}\u{338}", which the next nfkc pass changes.
        assert_eq!(Casefold.apply("ß\u{301}"), "sś");
        assert_eq!(Casefold.apply("İ\u{338}"), "i\u{338}\u{307}");
        for s in ["ß\u{301}", "İ\u{338}", "ᾳ\u{301}", "ΐ", "J\u{30c}"] {
            let once = full(s);
            assert_eq!(full(&once), once, "{s:?}");
        }
    }

    #[test]
    fn normalize_matches_applying_each_step() {
        let inputs = [
            "  \"@ＫｉｎｇＪａｍｅｓ\",\n",
            "x.com/@Foo?x=1",
            "Straße",
            "",
            " a  b ",
        ];
        for s in inputs {
            let stepwise = PIPELINE.iter().fold(s.to_owned(), |acc, n| n.apply(&acc));
            assert_eq!(normalize(&PIPELINE, s), stepwise, "{s:?}");
        }
    }

    /// Characters next to ones with context-sensitive behaviour: composition ("e", U+0301,
    /// U+0338 after '<'), iota subscript U+0345, final sigma, handle punctuation.
    const PROBES: [&str; 10] = [
        "", "A", "e", "Σ", "<", "@", "\u{301}", "\u{345}", "\u{338}", " ",
    ];

    fn check_char_in_context(c: char, probes: &[&str]) {
        for p in probes {
            check_idempotent(&format!("{p}{c}"));
            check_idempotent(&format!("{c}{p}"));
        }
    }

    /// Scripts with case or decompositions densely, the large uniform blocks (CJK, Hangul
    /// syllables, private use, emoji, planes 2+) sampled; the full sweep is ignored below.
    #[test]
    fn idempotent_for_nearly_every_char() {
        let dense = (0..=0x33FFu32)
            .chain(0xA000..=0xABFF)
            .chain(0xF900..=0xFFFF)
            .chain(0x10400..=0x10FFF) // Deseret, Osage, Old Hungarian... (cased)
            .chain(0x1D400..=0x1D7FF) // mathematical alphanumerics (NFKC)
            .chain(0x1E900..=0x1E95F); // Adlam (cased)
        let sampled = (0x3400..=0x10FFFFu32).step_by(97);
        for c in dense.chain(sampled).filter_map(char::from_u32) {
            check_char_in_context(c, &["", "A", "\u{301}", "Σ"]);
        }
    }

    /// ~45 s in release, far longer in debug: `cargo test --release -- --ignored`.
    #[test]
    #[ignore = "slow exhaustive sweep; run in release"]
    fn idempotent_for_every_char_in_every_context() {
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            check_char_in_context(c, &PROBES);
        }
    }

    fn check_idempotent(s: &str) {
        for n in Normalizer::ALL {
            let once = n.apply(s);
            assert_eq!(n.apply(&once), once, "{n:?} on {s:?}");
        }
        let once = full(s);
        assert_eq!(full(&once), once, "pipeline on {s:?}");
    }

    // --- properties ---

    /// Biased towards the characters the normalisers treat specially, so proptest explores
    /// URL shapes, wrappers and combining marks rather than only random CJK.
    fn messy_char() -> impl Strategy<Value = char> {
        prop_oneof![
            3 => any::<char>(),
            // Combining marks, Greek with iota subscripts, Hangul jamo, presentation forms:
            // where folding and normalisation interact.
            1 => prop::char::range('\u{300}', '\u{36f}'),
            1 => prop::char::range('\u{1f00}', '\u{1fff}'),
            1 => prop::char::range('\u{1100}', '\u{11ff}'),
            1 => prop::char::range('\u{fb00}', '\u{fb4f}'),
            3 => prop::sample::select(vec![
                ' ', '\t', '\n', '\u{a0}', '\u{3000}', '\u{2028}', '@', '/', '.', ':', '?',
                '#', '&', '=', ',', '"', '\'', '“', '”', '<', '>', '(', ')', 'Σ', 'ς', 'ß',
                'İ', 'ı', 'ﬁ', 'Ｋ', '\u{301}', '\u{345}', '\u{338}', '\u{200d}', '\u{fe0f}',
                '👩', 'A', 'z', 'é', 'w', 'x', 'm',
            ]),
        ]
    }

    fn messy_string() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            prop::collection::vec(messy_char(), 0..40).prop_map(String::from_iter),
            (
                prop::sample::select(vec![
                    "",
                    "https://",
                    "HTTP://",
                    "www.",
                    "twitter.com/",
                    "https://x.com/",
                    "mobile.twitter.com/",
                    "x.com/@",
                    "\"@",
                    "<@",
                    "youtube.com/c/",
                    "twitter.com/intent/user?screen_name=",
                ]),
                prop::collection::vec(messy_char(), 0..20).prop_map(String::from_iter),
                prop::sample::select(vec!["", "/", "?lang=en", "#top", "\",", ">", ". "]),
            )
                .prop_map(|(a, b, c)| format!("{a}{b}{c}")),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn prop_each_normaliser_is_idempotent(s in messy_string()) {
            for n in Normalizer::ALL {
                let once = n.apply(&s);
                prop_assert_eq!(n.apply(&once), once, "{:?}", n);
            }
        }

        #[test]
        fn prop_pipeline_is_idempotent(s in messy_string()) {
            let once = full(&s);
            prop_assert_eq!(full(&once), once);
        }

        #[test]
        fn prop_trim_output_is_clean(s in messy_string()) {
            let out = Trim.apply(&s);
            prop_assert_eq!(out.trim(), out.as_str());
            prop_assert!(!out.contains("  "));
            prop_assert!(out.chars().all(|c| c == ' ' || !c.is_whitespace()));
            prop_assert!(out.split_whitespace().eq(s.split_whitespace()));
        }

        #[test]
        fn prop_handle_output_is_trimmed_lowercase_and_empty_only_for_blank(s in messy_string()) {
            let out = Handle.apply(&s);
            prop_assert_eq!(out.is_empty(), s.trim().is_empty());
            prop_assert_eq!(Trim.apply(&out), out.clone());
            prop_assert_eq!(out.to_lowercase(), out);
        }

        #[test]
        fn prop_apply_agrees_with_single_step_normalize(s in messy_string()) {
            for n in Normalizer::ALL {
                prop_assert_eq!(normalize(&[n], &s), n.apply(&s));
            }
        }

        #[test]
        fn prop_any_pipeline_never_panics(
            s in messy_string(),
            pipeline in prop::collection::vec(prop::sample::select(Normalizer::ALL.to_vec()), 0..6),
        ) {
            let _ = normalize(&pipeline, &s);
        }
    }
}
