//! What a labels or judgments export contains and how its cells are written: the choices a
//! caller makes, apart from the writers that honour them.

use std::borrow::Cow;

use crate::store::ItemFilter;

/// How CSV cells are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cells {
    /// Exactly as stored: the machine export, which pipelines parse.
    Exact,
    /// For a person opening the file in a spreadsheet: a text cell starting with `=`, `+`, `-`,
    /// `@`, tab or carriage return gets a leading `'` so it cannot run as a formula. Numbers
    /// (like a kappa of `-0.2`) are left alone.
    SpreadsheetSafe,
}

impl Cells {
    pub fn apply<'a>(self, cell: &'a str) -> Cow<'a, str> {
        let risky = matches!(
            cell.as_bytes().first(),
            Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
        );
        if self == Cells::SpreadsheetSafe && risky && cell.parse::<f64>().is_err() {
            Cow::Owned(format!("'{cell}"))
        } else {
            Cow::Borrowed(cell)
        }
    }
}

/// The file formats of row exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    /// One JSON object per line.
    Jsonl,
}

/// What a labels or judgments export contains and how it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub format: Format,
    /// CSV only: JSON lines are for machines and always exact.
    pub cells: Cells,
    pub filter: ItemFilter,
}

impl Shape {
    /// The whole project as exact CSV: the CLI's export.
    pub const CSV: Shape = Shape {
        format: Format::Csv,
        cells: Cells::Exact,
        filter: ItemFilter {
            status: None,
            since: None,
        },
    };

    pub fn with_cells(self, cells: Cells) -> Shape {
        Shape { cells, ..self }
    }

    pub fn with_format(self, format: Format) -> Shape {
        Shape { format, ..self }
    }

    pub fn with_filter(self, filter: ItemFilter) -> Shape {
        Shape { filter, ..self }
    }

    pub(super) fn is_whole_project(&self) -> bool {
        self.filter == ItemFilter::default()
    }
}

#[cfg(test)]
mod tests {
    use super::Cells;

    #[test]
    fn spreadsheet_cells_cannot_start_a_formula() {
        for risky in [
            "=cmd|' /C calc'!A0",
            "+1+1",
            "-2+3",
            "@SUM(A1)",
            "\tx",
            "\rx",
        ] {
            assert_eq!(Cells::SpreadsheetSafe.apply(risky), format!("'{risky}"));
            assert_eq!(Cells::Exact.apply(risky), risky, "machine export exact");
        }
        for fine in ["-0.25", "1", "kingjames", "", "a=b"] {
            assert_eq!(Cells::SpreadsheetSafe.apply(fine), fine);
        }
    }
}
