//! The `handle` step: a social-media handle or profile URL, pasted however the annotator
//! pasted it, reduced to the bare lowercase handle. Parsing URLs and wrappers is its own
//! craft, apart from the Unicode text steps it builds on.

use std::borrow::Cow;

use unicode_normalization::UnicodeNormalization;

use super::edit::{Edit, range_in, slice_edit};
use super::text::{lowercase, trim};

/// Handles are case-insensitive on every supported network, and answers arrive with
/// whatever whitespace and wrapping the annotator pasted, so `handle` trims and lowercases
/// itself rather than relying on the rest of the pipeline.
///
/// Idempotence comes from the structure, not from careful rules: after trim + lowercase,
/// every cleanup step returns a substring of its input, and the steps are repeated until
/// nothing changes. The result is therefore a fixed point of the step, and running `handle`
/// on it again ends at the same place.
pub(super) fn handle(s: &str) -> Edit {
    // Zero-width characters ride along with copy-pasted handles and would split a vote;
    // no network allows them in a handle.
    // Removing one can bring combining marks together, so the result is recomposed (NFC) to
    // stay idempotent after `nfkc`. Joiners (U+200C/D) are kept: emoji sequences need them.
    let mut buf: Cow<'_, str> = match s.contains(is_invisible) {
        true => {
            let visible: String = s.chars().filter(|c| !is_invisible(*c)).nfc().collect();
            if visible.trim().is_empty() {
                Cow::Borrowed(s)
            } else {
                Cow::Owned(visible)
            }
        }
        false => Cow::Borrowed(s),
    };
    buf = trim(&buf).apply_to(buf);
    buf = lowercase(&buf).apply_to(buf);
    let cleaned: &str = &buf;

    let mut cur = cleaned;
    loop {
        let next = handle_step(cur);
        // `next` is a substring of `cur`, so equal length means equal.
        if next.len() == cur.len() {
            break;
        }
        cur = next;
    }
    // Input made only of wrapping/punctuation ("@", "\"\"") is not a handle; keeping it
    // cleaned beats turning a non-empty answer into an empty one.
    let inner = if cur.is_empty() { cleaned } else { cur };

    let range = range_in(cleaned, inner);
    match buf {
        Cow::Borrowed(b) => slice_edit(s, &b[range]),
        Cow::Owned(mut owned) => {
            owned.truncate(range.end);
            owned.drain(..range.start);
            Edit::New(owned)
        }
    }
}

/// Invisible format characters that copy-paste leaves in handles: zero-width space and
/// space, direction marks, word joiner, soft hyphen, byte-order mark.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' | '\u{200B}' | '\u{200E}' | '\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}'
    )
}

/// Chars people wrap a pasted handle in.
fn is_opener(c: char) -> bool {
    matches!(
        c,
        '"' | '\''
            | '`'
            | '“'
            | '”'
            | '„'
            | '‘'
            | '’'
            | '‚'
            | '«'
            | '»'
            | '‹'
            | '›'
            | '<'
            | '('
            | '['
            | '{'
    )
}

/// Chars that trail a pasted handle: closing wrappers and sentence punctuation. '/' is here
/// so `twitter.com/kingjames/` and `x.com/` lose their trailing slash.
fn is_closer(c: char) -> bool {
    matches!(
        c,
        '"' | '\''
            | '`'
            | '“'
            | '”'
            | '‘'
            | '’'
            | '«'
            | '»'
            | '‹'
            | '›'
            | '>'
            | ')'
            | ']'
            | '}'
            | ','
            | '.'
            | ';'
            | ':'
            | '!'
            | '?'
            | '/'
    )
}

/// One round of cleanup. Must return a substring of `s` (see [`handle`]).
fn handle_step(s: &str) -> &str {
    let s = s
        .trim_start_matches(|c: char| c.is_whitespace() || is_opener(c))
        .trim_end_matches(|c: char| c.is_whitespace() || is_closer(c));
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let s = url_handle(s).unwrap_or(s);
    s.trim_start_matches('@')
}

/// `host.tld/path...` → the handle in the path, or `None` if `s` is not URL-shaped.
/// Any host is accepted because profile URLs on unknown networks still put the handle
/// first; only Twitter/X and YouTube get special cases.
fn url_handle(s: &str) -> Option<&str> {
    let (host, rest) = s.split_once('/')?;
    if !looks_like_host(host) {
        return None;
    }
    let host = ["www.", "mobile.", "m."]
        .iter()
        .find_map(|p| host.strip_prefix(p))
        .unwrap_or(host);

    if matches!(host, "twitter.com" | "x.com")
        && let Some(name) = query_param(rest, "screen_name")
    {
        return Some(name);
    }

    let path = rest.split(['?', '#']).next().unwrap_or(rest);
    let mut segments = path.split('/').filter(|seg| !seg.is_empty());
    let mut first = segments.next()?;
    // youtube.com/c/NAME and /user/NAME are legacy channel URLs; the name follows.
    if host == "youtube.com"
        && matches!(first, "c" | "user")
        && let Some(name) = segments.next()
    {
        first = name;
    }
    Some(first)
}

fn query_param<'a>(rest: &'a str, key: &str) -> Option<&'a str> {
    let (_, query) = rest.split_once('?')?;
    let query = query.split('#').next().unwrap_or(query);
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, v)| *k == key && !v.is_empty())
        .map(|(_, v)| v)
}

/// Shaped like a DNS name with an alphabetic TLD, so "v1.2/notes" or "a/b" are left alone.
fn looks_like_host(host: &str) -> bool {
    let Some((_, tld)) = host.rsplit_once('.') else {
        return false;
    };
    tld.len() >= 2
        && tld.bytes().all(|b| b.is_ascii_alphabetic())
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    // Through the public step, as a project config runs it; `ALL` is the full pipeline.
    use crate::domain::normalize::Normalizer::{Handle, Trim};
    use crate::domain::normalize::{Normalizer, normalize};

    fn full(s: &str) -> String {
        normalize(&Normalizer::ALL, s)
    }

    // --- handle ---

    #[test]
    fn handle_examples_all_give_kingjames() {
        let cases = [
            "@KingJames",
            " kingjames ",
            "kingjames",
            "KINGJAMES",
            "https://twitter.com/KingJames",
            "twitter.com/kingjames/",
            "https://x.com/KingJames?lang=en",
            "instagram.com/kingjames/",
            "http://www.twitter.com/KingJames",
            "https://mobile.twitter.com/kingjames#top",
            "x.com/@KingJames",
            "\"@KingJames\"",
            "“@KingJames”",
            "‘kingjames’",
            "'@KingJames'",
            "<@kingjames>",
            "@KingJames,",
            "@KingJames.",
            "\t@KingJames\n",
            "\u{a0}@KingJames\u{a0}",
            "HTTPS://TWITTER.COM/KINGJAMES",
            "https://www.instagram.com/kingjames/?hl=en",
            "https://m.facebook.com/kingjames",
            "https://www.threads.net/@kingjames",
            "https://www.tiktok.com/@kingjames?lang=en",
            "https://www.youtube.com/@KingJames",
            "https://www.youtube.com/c/KingJames",
            "https://twitter.com/intent/user?screen_name=KingJames",
            "twitter.com/intent/follow?foo=1&screen_name=KingJames#x",
            "https://twitter.com/KingJames/status/123456",
            "\"https://x.com/KingJames\",",
            "(@KingJames)",
            "@@kingjames",
        ];
        for c in cases {
            assert_eq!(Handle.apply(c), "kingjames", "{c:?}");
            assert_eq!(full(c), "kingjames", "pipeline {c:?}");
        }
    }

    #[test]
    fn handle_full_width_needs_the_pipeline() {
        // `handle` does not do NFKC itself; the pipeline runs nfkc first.
        assert_eq!(full("＠ＫｉｎｇＪａｍｅｓ"), "kingjames");
        assert_eq!(
            full("ｈｔｔｐｓ：／／ｘ．ｃｏｍ／ＫｉｎｇＪａｍｅｓ"),
            "kingjames"
        );
    }

    #[test]
    fn handle_keeps_non_handles_cleaned_but_intact() {
        assert_eq!(Handle.apply("no idea"), "no idea");
        assert_eq!(Handle.apply("  No   Idea\n"), "no idea");
        assert_eq!(Handle.apply("\"No idea.\""), "no idea");
        assert_eq!(
            Handle.apply("I think it's twitter.com/kingjames"),
            "i think it's twitter.com/kingjames"
        );
        assert_eq!(
            Handle.apply("kingjames@example.com"),
            "kingjames@example.com"
        );
        assert_eq!(Handle.apply("a/b"), "a/b");
        assert_eq!(Handle.apply("x.com"), "x.com");
        assert_eq!(Handle.apply("x.com/"), "x.com");
    }

    #[test]
    fn handle_never_empties_a_non_blank_answer() {
        for s in ["@", "\"\"", "...", "?", "/", " @ ", "<>", "“”", "./"] {
            let out = Handle.apply(s);
            assert!(!out.is_empty(), "{s:?}");
            assert_eq!(out, Trim.apply(s).to_lowercase(), "{s:?}");
            assert_eq!(Handle.apply(&out), out, "{s:?}");
        }
    }

    #[test]
    fn handle_non_ascii_and_emoji() {
        assert_eq!(Handle.apply("@Zoë"), "zoë");
        assert_eq!(Handle.apply("instagram.com/José.García/"), "josé.garcía");
        assert_eq!(Handle.apply("@ΣΊΣΥΦΟΣ"), "σίσυφος");
        let emoji = "👨\u{200d}👩\u{200d}👧\u{200d}👦";
        assert_eq!(Handle.apply(emoji), emoji);
        assert_eq!(Handle.apply(&format!("\"{emoji}\"")), emoji);
    }

    #[test]
    fn handle_drops_zero_width_characters() {
        for messy in [
            "KingJames\u{200B}",
            "\u{FEFF}@KingJames",
            "King\u{2060}James",
            "\u{200E}kingjames\u{00AD}",
        ] {
            assert_eq!(Normalizer::Handle.apply(messy), "kingjames", "{messy:?}");
            assert_eq!(
                normalize(&Normalizer::ALL, messy),
                "kingjames",
                "{messy:?} through the pipeline"
            );
        }
    }

    #[test]
    fn handle_long_input() {
        let long = format!("https://x.com/{}", "K".repeat(5_000));
        assert_eq!(Handle.apply(&long), "k".repeat(5_000));
        let words = "word ".repeat(1_000);
        assert_eq!(Handle.apply(&words), words.trim());
    }
}
