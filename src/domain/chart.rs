//! Server-rendered SVG bar charts: no JavaScript, readable by screen readers through their
//! title and per-bar labels, and identical on every browser.

/// One bar: its label under the axis and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub label: String,
    pub value: u64,
}

/// A bar chart as an SVG document fragment. `title` names the chart for assistive technology.
pub fn bar_chart(title: &str, bars: &[Bar]) -> String {
    let (width, height, pad_bottom, pad_top) = (640.0_f64, 200.0_f64, 28.0_f64, 16.0_f64);
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1) as f64;
    let slot = if bars.is_empty() {
        width
    } else {
        width / bars.len() as f64
    };
    let bar_w = (slot * 0.7).max(1.0);
    let plot_h = height - pad_bottom - pad_top;
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{}\"><title>{}</title>",
        escape(title),
        escape(title)
    );
    svg.push_str(&format!(
        "<line x1=\"0\" y1=\"{y}\" x2=\"{width}\" y2=\"{y}\" class=\"axis\"/>",
        y = height - pad_bottom
    ));
    let label_every = (bars.len() / 12).max(1);
    for (i, b) in bars.iter().enumerate() {
        let h = (b.value as f64 / max) * plot_h;
        let x = i as f64 * slot + (slot - bar_w) / 2.0;
        let y = height - pad_bottom - h;
        svg.push_str(&format!(
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar_w:.1}\" height=\"{h:.1}\" class=\"bar\"><title>{}: {}</title></rect>",
            escape(&b.label),
            b.value
        ));
        if i % label_every == 0 {
            svg.push_str(&format!(
                "<text x=\"{:.1}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"middle\">{}</text>",
                (i as f64 * slot + slot / 2.0).clamp(18.0, width - 18.0),
                height - 8.0,
                escape(&b.label)
            ));
        }
    }
    svg.push_str(&format!(
        "<text x=\"4\" y=\"12\" class=\"tick\">max {}</text></svg>",
        max as u64
    ));
    svg
}

/// Text for SVG content and attributes.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_value() {
        let svg = bar_chart(
            "Votes",
            &[
                Bar {
                    label: "0".into(),
                    value: 5,
                },
                Bar {
                    label: "1".into(),
                    value: 10,
                },
            ],
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(
            svg.contains("height=\"156.0\""),
            "the largest bar fills the plot: {svg}"
        );
        assert!(svg.contains("height=\"78.0\""), "{svg}");
    }

    #[test]
    fn labels_are_escaped_and_empty_charts_render() {
        let svg = bar_chart(
            "<script>",
            &[Bar {
                label: "<b>\"".into(),
                value: 0,
            }],
        );
        assert!(!svg.contains("<script>") && !svg.contains("<b>"), "{svg}");
        assert!(bar_chart("empty", &[]).contains("</svg>"));
    }
}
