//! Project instructions are Markdown written by owners; they are rendered to HTML with raw
//! HTML escaped and only safe link schemes kept, so the result can be inserted unescaped.

use pulldown_cmark::{Event, Options, Parser, Tag, html};

/// Markdown to HTML that cannot carry script: raw HTML becomes text, and links or images
/// whose URL is not http(s), mailto or relative lose it.
pub fn render(markdown: &str) -> String {
    let parser = Parser::new_ext(
        markdown,
        Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TABLES,
    )
    .map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: safe_or_dead(dest_url),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Image {
            link_type,
            dest_url: safe_or_dead(dest_url),
            title,
            id,
        }),
        other => other,
    });
    let mut out = String::with_capacity(markdown.len() * 2);
    html::push_html(&mut out, parser);
    out
}

/// The URL itself when its scheme is safe, else a link to nowhere.
fn safe_or_dead(url: pulldown_cmark::CowStr<'_>) -> pulldown_cmark::CowStr<'_> {
    if safe_url(&url) { url } else { "#".into() }
}

fn safe_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    match lower.split_once(':') {
        // No scheme, or a colon only after a path/query/fragment start: relative.
        None => true,
        Some((scheme, _)) if scheme.contains(['/', '?', '#']) => true,
        Some((scheme, _)) => matches!(scheme, "http" | "https" | "mailto"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_markdown() {
        assert_eq!(
            render("**Find** the handle"),
            "<p><strong>Find</strong> the handle</p>\n"
        );
    }

    #[test]
    fn raw_html_and_script_urls_are_neutralised() {
        let out = render("<script>alert(1)</script>\n\nhi <img src=x onerror=alert(1)>");
        assert!(!out.contains("<script") && !out.contains("<img"), "{out}");
        assert!(out.contains("&lt;script&gt;"), "{out}");
        let out = render("[x](javascript:alert(1)) [y](JaVaScRiPt:alert(1)) [z](https://x.com/a)");
        assert!(!out.to_lowercase().contains("javascript:"), "{out}");
        assert!(out.contains("https://x.com/a"), "{out}");
        assert!(render("![i](data:text/html,boom)").contains("src=\"#\""));
    }
}
