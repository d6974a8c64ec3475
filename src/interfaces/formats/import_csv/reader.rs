//! The CSV reader every file goes through and the checks every key gets, so items, judgments
//! and Mechanical Turk files name the file, line and column of a problem the same way.

use std::io::Read;

use chrono::DateTime;

/// A file that cannot be imported; says where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default(), column.as_ref().map(|c| format!(", column {c}")).unwrap_or_default())]
pub struct ImportError {
    pub file: String,
    pub line: Option<u64>,
    pub column: Option<String>,
    pub message: String,
}

pub(super) struct Csv<R: Read> {
    pub(super) file: String,
    reader: csv::Reader<R>,
    pub(super) headers: Vec<String>,
}

impl<R: Read> Csv<R> {
    pub(super) fn open(file: &str, input: R) -> Result<Csv<R>, ImportError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(false)
            .from_reader(input);
        let mut record = csv::StringRecord::new();
        let err = |line, column: Option<String>, message: String| ImportError {
            file: file.to_owned(),
            line,
            column,
            message,
        };
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => {
                return Err(err(
                    None,
                    None,
                    "the file is empty; expected a header row".into(),
                ));
            }
            Err(e) => return Err(csv_error(file, &[], e)),
        }
        let mut headers = Vec::with_capacity(record.len());
        for (i, h) in record.iter().enumerate() {
            let h = if i == 0 {
                h.trim_start_matches('\u{feff}')
            } else {
                h
            };
            let h = h.trim().to_owned();
            if h.is_empty() {
                return Err(err(
                    Some(1),
                    Some(format!("{}", i + 1)),
                    "empty column name in the header".into(),
                ));
            }
            if headers.contains(&h) {
                return Err(err(
                    Some(1),
                    Some(h.clone()),
                    "this column name appears twice in the header".into(),
                ));
            }
            headers.push(h);
        }
        Ok(Csv {
            file: file.to_owned(),
            reader,
            headers,
        })
    }

    pub(super) fn column(&self, name: &str) -> Option<usize> {
        self.headers.iter().position(|h| h == name)
    }

    /// The next record with its line number, or `None` at the end.
    pub(super) fn next(
        &mut self,
        record: &mut csv::StringRecord,
    ) -> Result<Option<u64>, ImportError> {
        match self.reader.read_record(record) {
            Ok(true) => Ok(Some(record.position().map_or(0, |p| p.line()))),
            Ok(false) => Ok(None),
            Err(e) => Err(csv_error(&self.file, &self.headers, e)),
        }
    }

    pub(super) fn error(&self, line: u64, column: &str, message: impl Into<String>) -> ImportError {
        ImportError {
            file: self.file.clone(),
            line: Some(line),
            column: Some(column.to_owned()),
            message: message.into(),
        }
    }
}

pub(super) fn csv_error(file: &str, headers: &[String], e: csv::Error) -> ImportError {
    let line = e.position().map(|p| p.line());
    match e.kind() {
        csv::ErrorKind::Utf8 { err, .. } => ImportError {
            file: file.to_owned(),
            line,
            column: Some(
                headers
                    .get(err.field())
                    .cloned()
                    .unwrap_or_else(|| format!("{}", err.field() + 1)),
            ),
            message: "the text is not valid UTF-8; save the file as UTF-8".into(),
        },
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => ImportError {
            file: file.to_owned(),
            line,
            column: None,
            message: format!("this row has {len} fields but the header has {expected_len}"),
        },
        _ => ImportError {
            file: file.to_owned(),
            line,
            column: None,
            message: format!("cannot read the CSV: {e}"),
        },
    }
}

/// Item ids and annotator names: present, and short enough to index and show.
pub(super) fn check_key<R: Read>(
    csv: &Csv<R>,
    line: u64,
    column: &str,
    what: &str,
    value: &str,
    max_bytes: usize,
) -> Result<(), ImportError> {
    if value.is_empty() {
        return Err(csv.error(line, column, format!("the {what} is empty")));
    }
    // PostgreSQL cannot store it in text, and no spreadsheet or shell shows it.
    if value.contains('\0') {
        return Err(csv.error(
            line,
            column,
            format!("the {what} contains a NUL character (U+0000)"),
        ));
    }
    if value.len() > max_bytes {
        return Err(csv.error(
            line,
            column,
            format!("the {what} is longer than {max_bytes} bytes"),
        ));
    }
    Ok(())
}

pub(super) fn check_item_id<R: Read>(
    csv: &Csv<R>,
    line: u64,
    column: &str,
    id: &str,
) -> Result<(), ImportError> {
    check_key(csv, line, column, "item id", id, 500)
}

pub(super) fn check_annotator<R: Read>(
    csv: &Csv<R>,
    line: u64,
    column: &str,
    name: &str,
) -> Result<(), ImportError> {
    check_key(csv, line, column, "annotator", name, 320)
}

/// RFC 3339 (what the judgments export writes) or unix milliseconds.
pub(super) fn parse_timestamp(t: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(t)
        .map(|d| d.timestamp_millis())
        .ok()
        .or_else(|| t.parse::<i64>().ok())
}
