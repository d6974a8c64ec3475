//! Careful arithmetic the coefficients lean on, kept apart so the formulas read as formulas:
//! a chance-corrected statistic near 0 must not lose its sign to cancellation, and a sum of
//! millions of per-item ratios must not drift.

/// Neumaier-compensated sum of `f64`s, so that summing millions of per-item
/// ratios neither drifts nor depends noticeably on item order.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct CompensatedSum {
    sum: f64,
    compensation: f64,
}

impl CompensatedSum {
    pub(super) fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.compensation += (self.sum - t) + x;
        } else {
            self.compensation += (x - t) + self.sum;
        }
        self.sum = t;
    }

    pub(super) fn value(&self) -> f64 {
        self.sum + self.compensation
    }
}

/// `(pos - neg) / den` computed from exact integers with one rounding per
/// operand, so the sign of a difference is never lost to cancellation.
pub(super) fn signed_ratio(pos: u128, neg: u128, den: u128) -> f64 {
    if pos >= neg {
        (pos - neg) as f64 / den as f64
    } else {
        -((neg - pos) as f64 / den as f64)
    }
}
