//! Reading items and judgments files. Shared by every interface, so the CLI, the browser
//! upload and the HTTP API accept exactly the same files and report errors the same way.

use std::io::Read;

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone};

use crate::store::{ItemRecord, JudgmentBatch};

/// A file that cannot be imported; says where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default(), column.as_ref().map(|c| format!(", column {c}")).unwrap_or_default())]
pub struct ImportError {
    pub file: String,
    pub line: Option<u64>,
    pub column: Option<String>,
    pub message: String,
}

/// Items parsed from a CSV file.
#[derive(Debug, Clone)]
pub struct ParsedItems {
    pub field_names: Vec<String>,
    pub records: Vec<ItemRecord>,
}

/// Which judgments layout a file uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JudgmentFormat {
    /// `item_id,annotator,answer` (plus the optional `normalized` and `submitted_at` columns
    /// of Quorum's own judgments export).
    Long,
    /// Amazon Mechanical Turk batch results (`HITId`, `WorkerId`, `Answer.*`).
    MechanicalTurk,
}

#[derive(Debug, Clone)]
pub struct ParsedJudgments {
    pub format: JudgmentFormat,
    /// The judgments, with their field names and answer column.
    pub batch: JudgmentBatch,
    /// Mechanical Turk assignments marked `Rejected`, left out.
    pub rejected: u64,
}

struct Csv<R: Read> {
    file: String,
    reader: csv::Reader<R>,
    headers: Vec<String>,
}

impl<R: Read> Csv<R> {
    fn open(file: &str, input: R) -> Result<Csv<R>, ImportError> {
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

    fn column(&self, name: &str) -> Option<usize> {
        self.headers.iter().position(|h| h == name)
    }

    /// The next record with its line number, or `None` at the end.
    fn next(&mut self, record: &mut csv::StringRecord) -> Result<Option<u64>, ImportError> {
        match self.reader.read_record(record) {
            Ok(true) => Ok(Some(record.position().map_or(0, |p| p.line()))),
            Ok(false) => Ok(None),
            Err(e) => Err(csv_error(&self.file, &self.headers, e)),
        }
    }

    fn error(&self, line: u64, column: &str, message: impl Into<String>) -> ImportError {
        ImportError {
            file: self.file.clone(),
            line: Some(line),
            column: Some(column.to_owned()),
            message: message.into(),
        }
    }
}

fn csv_error(file: &str, headers: &[String], e: csv::Error) -> ImportError {
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

/// Parses an items CSV: a header row, an optional `item_id` column, every other column an
/// input field.
pub fn parse_items<R: Read>(file: &str, input: R) -> Result<ParsedItems, ImportError> {
    let mut csv = Csv::open(file, input)?;
    let id_col = csv.column("item_id");
    let field_cols: Vec<usize> = (0..csv.headers.len())
        .filter(|i| Some(*i) != id_col)
        .collect();
    if field_cols.is_empty() {
        return Err(ImportError {
            file: file.to_owned(),
            line: Some(1),
            column: None,
            message: "an items file needs at least one input column besides item_id".into(),
        });
    }
    let field_names: Vec<String> = field_cols.iter().map(|&i| csv.headers[i].clone()).collect();
    let mut records = Vec::new();
    let mut record = csv::StringRecord::new();
    while let Some(line) = csv.next(&mut record)? {
        let external_id = match id_col {
            Some(c) => {
                let id = record.get(c).unwrap_or("").trim();
                check_item_id(&csv, line, "item_id", id)?;
                Some(id.to_owned())
            }
            None => None,
        };
        records.push(ItemRecord {
            line,
            external_id,
            values: field_cols
                .iter()
                .map(|&i| record.get(i).unwrap_or("").to_owned())
                .collect(),
        });
    }
    Ok(ParsedItems {
        field_names,
        records,
    })
}

/// Parses items as JSON lines: one object per line, an optional `"item_id"` string, every other
/// key an input field (strings, numbers and booleans; `null` is an empty value). Fields are
/// ordered by first appearance; a line without a field gets an empty value, as a blank CSV
/// cell would. Blank lines are skipped. The same id rules as the CSV apply.
pub fn parse_items_jsonl(file: &str, input: &[u8]) -> Result<ParsedItems, ImportError> {
    let err = |line: u64, column: Option<&str>, message: String| ImportError {
        file: file.to_owned(),
        line: Some(line),
        column: column.map(str::to_owned),
        message,
    };
    let text = std::str::from_utf8(input).map_err(|e| {
        let line = input[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count() as u64
            + 1;
        err(line, None, "the file is not valid UTF-8".into())
    })?;
    let mut field_names: Vec<String> = Vec::new();
    // (line, item id, (field index, value) pairs) per non-blank line.
    type Row = (u64, Option<String>, Vec<(usize, String)>);
    let mut rows: Vec<Row> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i as u64 + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(raw)
            .map_err(|e| err(line, None, format!("not a JSON object: {e}")))?;
        let mut external_id = None;
        let mut values = Vec::with_capacity(object.len());
        for (key, value) in object {
            let text = match value {
                serde_json::Value::String(s) => s,
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                serde_json::Value::Null => String::new(),
                _ => {
                    return Err(err(
                        line,
                        Some(&key),
                        "values must be strings, numbers, booleans or null".into(),
                    ));
                }
            };
            if key == "item_id" {
                let id = text.trim();
                if id.is_empty() || id.len() > 500 {
                    return Err(err(
                        line,
                        Some("item_id"),
                        "the item id must be 1 to 500 bytes".into(),
                    ));
                }
                if id.contains('\0') {
                    return Err(err(
                        line,
                        Some("item_id"),
                        "the item id contains a NUL character (U+0000)".into(),
                    ));
                }
                external_id = Some(id.to_owned());
                continue;
            }
            let index = match field_names.iter().position(|f| *f == key) {
                Some(i) => i,
                None => {
                    field_names.push(key);
                    field_names.len() - 1
                }
            };
            values.push((index, text));
        }
        rows.push((line, external_id, values));
    }
    if rows.is_empty() {
        return Err(ImportError {
            file: file.to_owned(),
            line: None,
            column: None,
            message: "the file has no items".into(),
        });
    }
    if field_names.is_empty() {
        return Err(err(
            1,
            None,
            "an item needs at least one input field besides item_id".into(),
        ));
    }
    let ids = rows.iter().filter(|r| r.1.is_some()).count();
    if ids != 0 && ids != rows.len() {
        let line = rows.iter().find(|r| r.1.is_none()).map_or(1, |r| r.0);
        return Err(err(
            line,
            Some("item_id"),
            "either every line has an item_id or none does".into(),
        ));
    }
    let width = field_names.len();
    let records = rows
        .into_iter()
        .map(|(line, external_id, values)| {
            let mut row = vec![String::new(); width];
            for (i, v) in values {
                row[i] = v;
            }
            ItemRecord {
                line,
                external_id,
                values: row,
            }
        })
        .collect();
    Ok(ParsedItems {
        field_names,
        records,
    })
}

/// Item ids and annotator names: present, and short enough to index and show.
fn check_key<R: Read>(
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

fn check_item_id<R: Read>(
    csv: &Csv<R>,
    line: u64,
    column: &str,
    id: &str,
) -> Result<(), ImportError> {
    check_key(csv, line, column, "item id", id, 500)
}

/// Parses a judgments CSV in either supported layout, detected from its header.
/// `answer_field` picks the answer column of a Mechanical Turk file with several.
pub fn parse_judgments<R: Read>(
    file: &str,
    input: R,
    answer_field: Option<&str>,
) -> Result<ParsedJudgments, ImportError> {
    let csv = Csv::open(file, input)?;
    let is_mturk = csv.column("HITId").is_some()
        && csv.column("WorkerId").is_some()
        && csv.headers.iter().any(|h| h.starts_with("Answer."));
    if is_mturk {
        parse_mturk(csv, answer_field)
    } else {
        if answer_field.is_some() {
            return Err(ImportError {
                file: file.to_owned(),
                line: Some(1),
                column: None,
                message: "--answer-field applies to Mechanical Turk batch results only; \
                          this file has no HITId/WorkerId/Answer.* columns"
                    .into(),
            });
        }
        parse_long(csv)
    }
}

const LONG_COLUMNS: [&str; 5] = [
    "item_id",
    "annotator",
    "answer",
    "normalized",
    "submitted_at",
];

fn parse_long<R: Read>(mut csv: Csv<R>) -> Result<ParsedJudgments, ImportError> {
    let header_error = |message: String| ImportError {
        file: csv.file.clone(),
        line: Some(1),
        column: None,
        message,
    };
    for h in &csv.headers {
        if !LONG_COLUMNS.contains(&h.as_str()) {
            return Err(header_error(format!(
                "unexpected column {h:?}: a judgments file has the columns item_id, annotator, answer \
                 (optionally normalized, submitted_at), or is a Mechanical Turk batch-results file"
            )));
        }
    }
    let need = |name: &str| {
        csv.column(name).ok_or_else(|| {
            header_error(format!(
                "missing column {name:?}; expected item_id,annotator,answer"
            ))
        })
    };
    let (item_c, annot_c, answer_c) = (need("item_id")?, need("annotator")?, need("answer")?);
    let time_c = csv.column("submitted_at");
    let mut batch = JudgmentBatch::new(Vec::new(), "answer");
    let mut record = csv::StringRecord::new();
    while let Some(line) = csv.next(&mut record)? {
        let item_id = record.get(item_c).unwrap_or("").trim();
        check_item_id(&csv, line, "item_id", item_id)?;
        let annotator = record.get(annot_c).unwrap_or("").trim();
        check_annotator(&csv, line, "annotator", annotator)?;
        let submitted_at = match time_c.and_then(|c| record.get(c)).map(str::trim) {
            None | Some("") => None,
            Some(t) => Some(parse_timestamp(t).ok_or_else(|| {
                csv.error(
                    line,
                    "submitted_at",
                    format!("{t:?} is not an RFC 3339 timestamp"),
                )
            })?),
        };
        batch.push(
            line,
            item_id,
            annotator,
            record.get(answer_c).unwrap_or("").to_owned(),
            submitted_at,
            Vec::new,
        );
    }
    Ok(ParsedJudgments {
        format: JudgmentFormat::Long,
        batch,
        rejected: 0,
    })
}

fn check_annotator<R: Read>(
    csv: &Csv<R>,
    line: u64,
    column: &str,
    name: &str,
) -> Result<(), ImportError> {
    check_key(csv, line, column, "annotator", name, 320)
}

fn parse_mturk<R: Read>(
    mut csv: Csv<R>,
    answer_field: Option<&str>,
) -> Result<ParsedJudgments, ImportError> {
    let answers: Vec<&String> = csv
        .headers
        .iter()
        .filter(|h| h.starts_with("Answer."))
        .collect();
    let header_error = |message: String| ImportError {
        file: csv.file.clone(),
        line: Some(1),
        column: None,
        message,
    };
    let answer_column = match answer_field {
        Some(f) => {
            let wanted = if f.starts_with("Answer.") {
                f.to_owned()
            } else {
                format!("Answer.{f}")
            };
            // `--answer-field` may also name a key inside Answer.taskAnswers.
            if answers.iter().any(|h| **h == wanted) {
                wanted
            } else if answers.iter().any(|h| *h == "Answer.taskAnswers") {
                "Answer.taskAnswers".to_owned()
            } else {
                return Err(header_error(format!(
                    "no answer column {wanted:?}; the file has {}",
                    answers
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        None if answers.len() == 1 => answers[0].clone(),
        None => {
            return Err(header_error(format!(
                "the file has several answer columns ({}); choose one with --answer-field NAME",
                answers
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    };
    let task_key = match answer_field {
        Some(f)
            if answer_column == "Answer.taskAnswers"
                && f != "taskAnswers"
                && f != "Answer.taskAnswers" =>
        {
            Some(f.trim_start_matches("Answer.").to_owned())
        }
        _ => None,
    };
    let answer_c = csv.column(&answer_column).unwrap_or(0);
    let hit_c = csv.column("HITId").unwrap_or(0);
    let worker_c = csv.column("WorkerId").unwrap_or(0);
    let status_c = csv.column("AssignmentStatus");
    let time_c = csv.column("SubmitTime");
    let id_c = csv.column("Input.item_id");
    let input_cols: Vec<usize> = (0..csv.headers.len())
        .filter(|&i| csv.headers[i].starts_with("Input.") && Some(i) != id_c)
        .collect();
    let field_names: Vec<String> = input_cols
        .iter()
        .map(|&i| csv.headers[i]["Input.".len()..].to_owned())
        .collect();
    let mut batch = JudgmentBatch::new(field_names, answer_column.clone());
    let mut rejected = 0;
    let mut record = csv::StringRecord::new();
    while let Some(line) = csv.next(&mut record)? {
        if status_c.and_then(|c| record.get(c)).map(str::trim) == Some("Rejected") {
            rejected += 1;
            continue;
        }
        let (item_col, item_id) = match id_c {
            Some(c) => ("Input.item_id", record.get(c).unwrap_or("").trim()),
            None => ("HITId", record.get(hit_c).unwrap_or("").trim()),
        };
        check_item_id(&csv, line, item_col, item_id)?;
        let worker = record.get(worker_c).unwrap_or("").trim();
        check_annotator(&csv, line, "WorkerId", worker)?;
        let raw = record.get(answer_c).unwrap_or("");
        let answer = if answer_column == "Answer.taskAnswers" {
            task_answer(raw, task_key.as_deref()).map_err(|m| csv.error(line, &answer_column, m))?
        } else {
            raw.to_owned()
        };
        let submitted_at = time_c
            .and_then(|c| record.get(c))
            .and_then(|t| parse_mturk_time(t.trim()));
        batch.push(line, item_id, worker, answer, submitted_at, || {
            input_cols
                .iter()
                .map(|&i| record.get(i).unwrap_or("").to_owned())
                .collect()
        });
    }
    Ok(ParsedJudgments {
        format: JudgmentFormat::MechanicalTurk,
        batch,
        rejected,
    })
}

/// Reads the answer out of a crowd-html-elements `Answer.taskAnswers` cell, e.g.
/// `[{"handle":"kingjames"}]`, `[{"league":{"label":"nba"}}]` or radio buttons
/// `[{"nba":{"on":true},"nfl":{"on":false}}]`.
fn task_answer(raw: &str, key: Option<&str>) -> Result<String, String> {
    let value: serde_json::Value = serde_json::from_str(raw)
        .map_err(|e| format!("Answer.taskAnswers is not valid JSON: {e}"))?;
    let obj = match &value {
        serde_json::Value::Array(list) if list.len() == 1 => list[0].as_object(),
        serde_json::Value::Object(o) => Some(o),
        _ => None,
    }
    .ok_or("Answer.taskAnswers should hold one object per assignment")?;
    let radio = |o: &serde_json::Map<String, serde_json::Value>| {
        let on: Vec<&String> = o
            .iter()
            .filter(|(_, v)| v.get("on").and_then(|b| b.as_bool()) == Some(true))
            .map(|(k, _)| k)
            .collect();
        (on.len() == 1).then(|| on[0].clone())
    };
    let pick = |v: &serde_json::Value| -> Option<String> {
        match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            serde_json::Value::Object(o) => o
                .get("label")
                .and_then(|l| l.as_str().map(str::to_owned))
                .or_else(|| radio(o)),
            _ => None,
        }
    };
    match key {
        Some(k) => obj
            .get(k)
            .and_then(pick)
            .ok_or_else(|| format!("Answer.taskAnswers has no usable answer under {k:?}")),
        None => {
            if let Some(r) = radio(obj) {
                return Ok(r);
            }
            if obj.len() == 1 {
                obj.values()
                    .next()
                    .and_then(pick)
                    .ok_or_else(|| "Answer.taskAnswers holds no usable answer".to_owned())
            } else {
                Err(format!(
                    "Answer.taskAnswers holds several answers ({}); choose one with --answer-field NAME",
                    obj.keys().cloned().collect::<Vec<_>>().join(", ")
                ))
            }
        }
    }
}

/// RFC 3339 (what the judgments export writes) or unix milliseconds.
fn parse_timestamp(t: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(t)
        .map(|d| d.timestamp_millis())
        .ok()
        .or_else(|| t.parse::<i64>().ok())
}

/// Mechanical Turk writes times like `Wed Jul 20 22:05:03 PDT 2016`: a zone abbreviation
/// chrono cannot resolve, so the common ones are mapped by hand. Unknown zones give `None`.
fn parse_mturk_time(t: &str) -> Option<i64> {
    let parts: Vec<&str> = t.split_whitespace().collect();
    if parts.len() != 6 {
        return parse_timestamp(t);
    }
    let hours = match parts[4] {
        "UTC" | "GMT" => 0,
        "PST" => -8,
        "PDT" => -7,
        "MST" => -7,
        "MDT" => -6,
        "CST" => -6,
        "CDT" => -5,
        "EST" => -5,
        "EDT" => -4,
        _ => return None,
    };
    let naive = format!(
        "{} {} {} {} {}",
        parts[0], parts[1], parts[2], parts[3], parts[5]
    );
    let local = NaiveDateTime::parse_from_str(&naive, "%a %b %d %H:%M:%S %Y").ok()?;
    let zone = FixedOffset::east_opt(hours * 3600)?;
    zone.from_local_datetime(&local)
        .single()
        .map(|d| d.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_with_and_without_ids() {
        let p = parse_items(
            "a.csv",
            "item_id,name,sport\n1,Anthony Davis,NBA\n2,\"Davis, Anthony\",NFL\n".as_bytes(),
        )
        .expect("valid");
        assert_eq!(p.field_names, ["name", "sport"]);
        assert_eq!(p.records[1].external_id.as_deref(), Some("2"));
        assert_eq!(p.records[1].values, ["Davis, Anthony", "NFL"]);
        assert_eq!(p.records[1].line, 3);
        let p = parse_items("a.csv", "\u{feff}name\nx\n".as_bytes()).expect("valid");
        assert_eq!(p.field_names, ["name"]);
        assert_eq!(p.records[0].external_id, None);
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let e = parse_items("a.csv", "item_id,name\n1,x\n2,y,z\n".as_bytes()).unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("a.csv", Some(3)));
        assert!(e.to_string().starts_with("a.csv:3: "), "{e}");
        let e = parse_items("a.csv", b"item_id,name\n1,ok\n2,caf\xe9\n".as_slice()).unwrap_err();
        assert_eq!(e.line, Some(3));
        assert_eq!(e.column.as_deref(), Some("name"));
        assert!(e.to_string().contains("UTF-8"), "{e}");
        let e = parse_items("a.csv", "item_id,name\n,x\n".as_bytes()).unwrap_err();
        assert_eq!((e.line, e.column.as_deref()), (Some(2), Some("item_id")));
        let e = parse_items("a.csv", "item_id,name\nok,x\na\0b,y\n".as_bytes()).unwrap_err();
        assert_eq!((e.line, e.column.as_deref()), (Some(3), Some("item_id")));
        assert!(e.to_string().contains("NUL"), "{e}");
        let e = parse_items_jsonl("a.jsonl", b"{\"item_id\": \"a\\u0000b\"}\n").unwrap_err();
        assert_eq!((e.line, e.column.as_deref()), (Some(1), Some("item_id")));
        let e = parse_judgments(
            "j.csv",
            "item_id,annotator,answer\n1,w\0x,a\n".as_bytes(),
            None,
        )
        .unwrap_err();
        assert_eq!((e.line, e.column.as_deref()), (Some(2), Some("annotator")));
        let e = parse_items("a.csv", "item_id,name,name\n".as_bytes()).unwrap_err();
        assert_eq!(e.column.as_deref(), Some("name"));
        assert!(parse_items("a.csv", "".as_bytes()).is_err());
        assert!(parse_items("a.csv", "item_id\n1\n".as_bytes()).is_err());
    }

    #[test]
    fn long_format() {
        let p = parse_judgments(
            "j.csv",
            "item_id,annotator,answer\n1,w1,\"@KingJames, maybe\"\n1,w2,\"multi\nline\"\n"
                .as_bytes(),
            None,
        )
        .expect("valid");
        assert_eq!(p.format, JudgmentFormat::Long);
        assert_eq!(p.batch.records.len(), 2);
        assert_eq!(p.batch.records[0].answer, "@KingJames, maybe");
        assert_eq!(p.batch.records[1].answer, "multi\nline");
        let e = parse_judgments("j.csv", "item_id,who,answer\n".as_bytes(), None).unwrap_err();
        assert!(e.to_string().contains("who"), "{e}");
        let e = parse_judgments(
            "j.csv",
            "item_id,annotator,answer,submitted_at\n1,w,a,yesterday\n".as_bytes(),
            None,
        )
        .unwrap_err();
        assert_eq!(
            (e.line, e.column.as_deref()),
            (Some(2), Some("submitted_at"))
        );
    }

    #[test]
    fn judgments_export_round_trips_its_timestamp() {
        let p = parse_judgments(
            "j.csv",
            "item_id,annotator,answer,normalized,submitted_at\n1,w,A,a,2026-11-23T10:00:00.123Z\n"
                .as_bytes(),
            None,
        )
        .expect("valid");
        assert_eq!(p.batch.records[0].submitted_at, Some(1_795_428_000_123));
    }

    const MTURK: &str = "HITId,HITTypeId,AssignmentId,WorkerId,AssignmentStatus,SubmitTime,Input.item_id,Input.name,Input.sport,Answer.handle\n\
        H1,T,A1,W1,Approved,Wed Jul 20 22:05:03 PDT 2016,ad-nba,Anthony Davis,NBA,@AntDavis23\n\
        H1,T,A2,W2,Rejected,Wed Jul 20 22:06:03 PDT 2016,ad-nba,Anthony Davis,NBA,spam\n\
        H1,T,A3,W3,Submitted,,ad-nba,Anthony Davis,NBA,antdavis23\n";

    #[test]
    fn mechanical_turk_batch_results() {
        let p = parse_judgments("b.csv", MTURK.as_bytes(), None).expect("valid");
        assert_eq!(p.format, JudgmentFormat::MechanicalTurk);
        assert_eq!(p.batch.field_names, ["name", "sport"]);
        assert_eq!(p.rejected, 1);
        assert_eq!(p.batch.records.len(), 2);
        assert_eq!(p.batch.item_id(&p.batch.records[0]), "ad-nba");
        assert_eq!(p.batch.annotator(&p.batch.records[0]), "W1");
        assert_eq!(p.batch.items[0].values, ["Anthony Davis", "NBA"]);
        assert_eq!(p.batch.records[0].submitted_at, Some(1_469_077_503_000));
        assert_eq!(p.batch.records[1].submitted_at, None);
        assert_eq!(p.batch.answer_column, "Answer.handle");
    }

    #[test]
    fn mechanical_turk_item_id_falls_back_to_hit_id() {
        let csv = "HITId,WorkerId,Input.name,Answer.a,Answer.b\nH9,W1,x,1,2\n";
        let e = parse_judgments("b.csv", csv.as_bytes(), None).unwrap_err();
        assert!(e.to_string().contains("--answer-field"), "{e}");
        let p = parse_judgments("b.csv", csv.as_bytes(), Some("b")).expect("valid");
        assert_eq!(p.batch.item_id(&p.batch.records[0]), "H9");
        assert_eq!(p.batch.records[0].answer, "2");
        assert!(parse_judgments("b.csv", csv.as_bytes(), Some("c")).is_err());
    }

    #[test]
    fn mechanical_turk_task_answers_json() {
        let csv = "HITId,WorkerId,Answer.taskAnswers\nH1,W1,\"[{\"\"league\"\":{\"\"label\"\":\"\"nba\"\"}}]\"\n\
                   H2,W1,\"[{\"\"nba\"\":{\"\"on\"\":false},\"\"nfl\"\":{\"\"on\"\":true}}]\"\n";
        let p = parse_judgments("b.csv", csv.as_bytes(), None).expect("valid");
        assert_eq!(p.batch.records[0].answer, "nba");
        assert_eq!(p.batch.records[1].answer, "nfl");
        let csv = "HITId,WorkerId,Answer.taskAnswers\nH1,W1,\"[{\"\"a\"\":\"\"x\"\",\"\"b\"\":\"\"y\"\"}]\"\n";
        assert!(parse_judgments("b.csv", csv.as_bytes(), None).is_err());
        let p = parse_judgments("b.csv", csv.as_bytes(), Some("b")).expect("valid");
        assert_eq!(p.batch.records[0].answer, "y");
    }
}
