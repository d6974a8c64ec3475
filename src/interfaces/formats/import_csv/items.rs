//! Items files, as CSV or JSON lines: one row or line an item, its input fields and an
//! optional id.

use std::io::Read;

use super::reader::{Csv, ImportError, check_item_id};
use crate::store::ItemRecord;

/// Items parsed from a CSV file.
#[derive(Debug, Clone)]
pub struct ParsedItems {
    pub field_names: Vec<String>,
    pub records: Vec<ItemRecord>,
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
        let e = parse_items("a.csv", "item_id,name,name\n".as_bytes()).unwrap_err();
        assert_eq!(e.column.as_deref(), Some("name"));
        assert!(parse_items("a.csv", "".as_bytes()).is_err());
        assert!(parse_items("a.csv", "item_id\n1\n".as_bytes()).is_err());
    }
}
