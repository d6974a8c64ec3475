//! Amazon Mechanical Turk batch results: `HITId`, `WorkerId`, `Input.*` and `Answer.*`
//! columns, rejected assignments, crowd-html `taskAnswers` JSON and Turk's own time format.

use std::io::Read;

use chrono::{FixedOffset, NaiveDateTime, TimeZone};

use super::reader::{Csv, ImportError, check_annotator, check_item_id, parse_timestamp};
use crate::store::JudgmentBatch;

/// The judgments, and how many assignments marked `Rejected` were left out.
pub(super) fn parse_mturk<R: Read>(
    mut csv: Csv<R>,
    answer_field: Option<&str>,
) -> Result<(JudgmentBatch, u64), ImportError> {
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
    Ok((batch, rejected))
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

    fn parse(csv: &str, answer_field: Option<&str>) -> Result<(JudgmentBatch, u64), ImportError> {
        parse_mturk(Csv::open("b.csv", csv.as_bytes())?, answer_field)
    }

    const MTURK: &str = "HITId,HITTypeId,AssignmentId,WorkerId,AssignmentStatus,SubmitTime,Input.item_id,Input.name,Input.sport,Answer.handle\n\
        H1,T,A1,W1,Approved,Wed Jul 20 22:05:03 PDT 2016,ad-nba,Anthony Davis,NBA,@AntDavis23\n\
        H1,T,A2,W2,Rejected,Wed Jul 20 22:06:03 PDT 2016,ad-nba,Anthony Davis,NBA,spam\n\
        H1,T,A3,W3,Submitted,,ad-nba,Anthony Davis,NBA,antdavis23\n";

    #[test]
    fn mechanical_turk_batch_results() {
        let (batch, rejected) = parse(MTURK, None).expect("valid");
        assert_eq!(batch.field_names, ["name", "sport"]);
        assert_eq!(rejected, 1);
        assert_eq!(batch.records.len(), 2);
        assert_eq!(batch.item_id(&batch.records[0]), "ad-nba");
        assert_eq!(batch.annotator(&batch.records[0]), "W1");
        assert_eq!(batch.items[0].values, ["Anthony Davis", "NBA"]);
        assert_eq!(batch.records[0].submitted_at, Some(1_469_077_503_000));
        assert_eq!(batch.records[1].submitted_at, None);
        assert_eq!(batch.answer_column, "Answer.handle");
    }

    #[test]
    fn mechanical_turk_item_id_falls_back_to_hit_id() {
        let csv = "HITId,WorkerId,Input.name,Answer.a,Answer.b\nH9,W1,x,1,2\n";
        let e = parse(csv, None).unwrap_err();
        assert!(e.to_string().contains("--answer-field"), "{e}");
        let (batch, _) = parse(csv, Some("b")).expect("valid");
        assert_eq!(batch.item_id(&batch.records[0]), "H9");
        assert_eq!(batch.records[0].answer, "2");
        assert!(parse(csv, Some("c")).is_err());
    }

    #[test]
    fn mechanical_turk_task_answers_json() {
        let csv = "HITId,WorkerId,Answer.taskAnswers\nH1,W1,\"[{\"\"league\"\":{\"\"label\"\":\"\"nba\"\"}}]\"\n\
                   H2,W1,\"[{\"\"nba\"\":{\"\"on\"\":false},\"\"nfl\"\":{\"\"on\"\":true}}]\"\n";
        let (batch, _) = parse(csv, None).expect("valid");
        assert_eq!(batch.records[0].answer, "nba");
        assert_eq!(batch.records[1].answer, "nfl");
        let csv = "HITId,WorkerId,Answer.taskAnswers\nH1,W1,\"[{\"\"a\"\":\"\"x\"\",\"\"b\"\":\"\"y\"\"}]\"\n";
        assert!(parse(csv, None).is_err());
        let (batch, _) = parse(csv, Some("b")).expect("valid");
        assert_eq!(batch.records[0].answer, "y");
    }
}
