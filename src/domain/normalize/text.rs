//! The Unicode text steps (`trim`, `nfkc`, `casefold`) and the plain lowercasing `handle`
//! reuses: each decides from the text alone, with no idea what an answer means.

use caseless::Caseless;
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfkc_quick};

use super::edit::{Edit, slice_edit};

// `str::trim` and `split_whitespace` use Unicode White_Space, so NBSP, U+3000, NEL and the
// line/paragraph separators count, as the spec requires.
pub(super) fn trim(s: &str) -> Edit {
    let t = s.trim();
    if is_collapsed(t) {
        return slice_edit(s, t);
    }
    let mut out = String::with_capacity(t.len());
    for (i, word) in t.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
    }
    Edit::New(out)
}

/// True when the only whitespace is single ASCII spaces, i.e. `trim` would keep it as is.
fn is_collapsed(t: &str) -> bool {
    let mut prev_space = false;
    for c in t.chars() {
        if c == ' ' {
            if prev_space {
                return false;
            }
            prev_space = true;
        } else if c.is_whitespace() {
            return false;
        } else {
            prev_space = false;
        }
    }
    true
}

// ASCII is NFKC-stable and the quick check answers "yes" for most real text, so the full
// decompose/recompose only runs on text that may actually change.
pub(super) fn nfkc(s: &str) -> Edit {
    if s.is_ascii() || is_nfkc_quick(s.chars()) == IsNormalized::Yes {
        return Edit::Same;
    }
    Edit::New(s.nfkc().collect())
}

/// Folding alone is not closed under canonical equivalence: "ß\u{301}" folds to "ss\u{301}",
/// which NFKC then composes to "sś", and "İ\u{338}" folds to marks out of canonical order.
/// Either would make `[trim, nfkc, casefold, handle]` give a different answer the second
/// time round, so changed text is folded canonically (NFD, fold, NFC, as in Unicode's
/// canonical caseless matching). Text the fold leaves alone is returned untouched, which
/// also keeps the common already-folded case allocation-free.
pub(super) fn casefold(s: &str) -> Edit {
    if s.is_ascii() {
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Edit::New(s.to_ascii_lowercase());
        }
        return Edit::Same;
    }
    if s.chars().default_case_fold().eq(s.chars()) {
        return Edit::Same;
    }
    Edit::New(s.nfd().default_case_fold().nfc().collect())
}

pub(super) fn lowercase(s: &str) -> Edit {
    if s.is_ascii() {
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Edit::New(s.to_ascii_lowercase());
        }
        return Edit::Same;
    }
    // Per-char check is exact here: the only context-sensitive mapping (final sigma) starts
    // from 'Σ', which this check already reports as changing.
    let unchanged = s.chars().all(|c| {
        let mut lower = c.to_lowercase();
        lower.len() == 1 && lower.next() == Some(c)
    });
    if unchanged {
        Edit::Same
    } else {
        Edit::New(s.to_lowercase())
    }
}

#[cfg(test)]
mod tests {
    // Through the public step, as a project config runs it; `ALL` is the full pipeline.
    use crate::domain::normalize::Normalizer::{Casefold, Handle, Nfkc, Trim};
    use crate::domain::normalize::{Normalizer, normalize};

    fn full(s: &str) -> String {
        normalize(&Normalizer::ALL, s)
    }

    #[test]
    fn whitespace_only_input_trims_to_empty() {
        for s in [" ", "\t\n", "\u{a0}", "\u{3000}\u{2028} \r\n"] {
            assert_eq!(Trim.apply(s), "", "{s:?}");
            assert_eq!(Handle.apply(s), "", "{s:?}");
            assert_eq!(full(s), "", "{s:?}");
        }
    }

    // --- trim ---

    #[test]
    fn trim_strips_and_collapses_unicode_whitespace() {
        assert_eq!(Trim.apply("  hello   world  "), "hello world");
        assert_eq!(Trim.apply("\thello\n\nworld\r\n"), "hello world");
        assert_eq!(
            Trim.apply("\u{a0}hello\u{a0}\u{a0}world\u{a0}"),
            "hello world"
        );
        assert_eq!(Trim.apply("a\u{3000}b\u{2028}c\u{85}d"), "a b c d");
        assert_eq!(Trim.apply("already clean"), "already clean");
    }

    #[test]
    fn trim_keeps_non_whitespace_invisibles() {
        // ZWSP and ZWJ are not White_Space; removing them would break emoji sequences.
        assert_eq!(Trim.apply("a\u{200b}b"), "a\u{200b}b");
        assert_eq!(
            Trim.apply(" 👨\u{200d}👩\u{200d}👧 "),
            "👨\u{200d}👩\u{200d}👧"
        );
    }

    #[test]
    fn trim_long_string_without_whitespace_keeps_length() {
        let long = "ab".repeat(2_500);
        assert_eq!(long.len(), 5_000);
        assert_eq!(Trim.apply(&long), long);
        let padded = format!(" \t{long}\n ");
        assert_eq!(Trim.apply(&padded), long);
    }

    #[test]
    fn trim_long_string_with_whitespace_runs() {
        let messy = "word \t\n ".repeat(625);
        assert_eq!(messy.chars().count(), 5_000);
        let out = Trim.apply(&messy);
        assert_eq!(out, vec!["word"; 625].join(" "));
    }

    // --- nfkc ---

    #[test]
    fn nfkc_folds_compatibility_forms() {
        assert_eq!(Nfkc.apply("ＫｉｎｇＪａｍｅｓ"), "KingJames");
        assert_eq!(Nfkc.apply("ﬁnal"), "final");
        assert_eq!(Nfkc.apply("x²"), "x2");
        assert_eq!(Nfkc.apply("\u{a0}"), " ");
    }

    #[test]
    fn nfkc_composes_combining_sequences() {
        let decomposed = "cafe\u{301}";
        let composed = "caf\u{e9}";
        assert_ne!(decomposed, composed);
        assert_eq!(Nfkc.apply(decomposed), composed);
        assert_eq!(Nfkc.apply(composed), composed);
        assert_eq!(full(decomposed), full(composed));
    }

    #[test]
    fn nfkc_leaves_ascii_and_emoji_alone() {
        assert_eq!(Nfkc.apply("Plain ASCII, 123!"), "Plain ASCII, 123!");
        for e in [
            "👩🏽\u{200d}💻",
            "👨\u{200d}👩\u{200d}👧\u{200d}👦",
            "❤\u{fe0f}",
            "🇩🇪",
        ] {
            assert_eq!(Nfkc.apply(e), e);
        }
    }

    // --- casefold ---

    #[test]
    fn casefold_is_full_folding() {
        assert_eq!(Casefold.apply("Straße"), "strasse");
        assert_eq!(Casefold.apply("STRASSE"), "strasse");
        assert_eq!(Casefold.apply("ﬁ"), "fi");
        assert_eq!(Casefold.apply("ÉCOLE"), "école");
    }

    #[test]
    fn casefold_greek_sigma_is_consistent() {
        // Folding maps Σ, σ and final ς all to σ, unlike lowercasing.
        let upper = Casefold.apply("ΣΊΣΥΦΟΣ");
        assert_eq!(upper, "σίσυφοσ");
        assert_eq!(Casefold.apply("σίσυφος"), upper);
        assert_eq!(Casefold.apply("Σίσυφος"), upper);
    }

    #[test]
    fn casefold_turkish_dotted_i() {
        // Default (non-Turkic) folding: İ keeps its dot as a combining mark, so it does not
        // collide with plain "i". Documented here so nobody "fixes" it by accident.
        assert_eq!(Casefold.apply("İstanbul"), "i\u{307}stanbul");
        assert_eq!(full("İSTANBUL"), full("i\u{307}stanbul"));
        assert_ne!(full("İstanbul"), full("istanbul"));
        assert_eq!(Casefold.apply("ı"), "ı");
    }

    #[test]
    fn casefold_leaves_emoji_alone() {
        for e in [
            "👩🏽\u{200d}💻",
            "👨\u{200d}👩\u{200d}👧\u{200d}👦",
            "❤\u{fe0f}",
        ] {
            assert_eq!(Casefold.apply(e), e);
        }
    }
}
