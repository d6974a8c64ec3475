//! Progress bars for long imports and exports: drawn on a terminal, silent otherwise.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::store::Progress;

/// A progress bar on stderr when it is a terminal; otherwise draws nothing.
pub struct Bar {
    bar: ProgressBar,
}

impl Bar {
    pub fn new() -> Bar {
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        Bar { bar }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Progress for Bar {
    fn phase(&self, name: &str, total: u64) {
        self.bar.reset();
        self.bar.set_length(total);
        if let Ok(style) = ProgressStyle::with_template(
            "{msg:>24} [{bar:30}] {human_pos}/{human_len} ({per_sec}, {eta} left)",
        ) {
            self.bar.set_style(style.progress_chars("=> "));
        }
        self.bar.set_message(name.to_owned());
    }

    fn advance(&self, by: u64) {
        self.bar.inc(by);
    }
}

impl Bar {
    /// Starts the labels phase of an export.
    pub fn phase_labels(&self, items: u64) {
        self.phase("labels", items);
    }
}
