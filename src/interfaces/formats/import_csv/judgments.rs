//! Judgments files: the layout is detected from the header, Quorum's own long format is read
//! here, and a Mechanical Turk batch is handed to its reader.

use std::io::Read;

use super::mturk::parse_mturk;
use super::reader::{Csv, ImportError, check_annotator, check_item_id, parse_timestamp};
use crate::store::JudgmentBatch;

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
        let (batch, rejected) = parse_mturk(csv, answer_field)?;
        Ok(ParsedJudgments {
            format: JudgmentFormat::MechanicalTurk,
            batch,
            rejected,
        })
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn errors_name_line_and_column() {
        let e = parse_judgments(
            "j.csv",
            "item_id,annotator,answer\n1,w\0x,a\n".as_bytes(),
            None,
        )
        .unwrap_err();
        assert_eq!((e.line, e.column.as_deref()), (Some(2), Some("annotator")));
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

    #[test]
    fn mechanical_turk_batch_results_are_detected() {
        let csv =
            "HITId,WorkerId,AssignmentStatus,Answer.handle\nH1,W1,Approved,a\nH1,W2,Rejected,b\n";
        let p = parse_judgments("b.csv", csv.as_bytes(), None).expect("valid");
        assert_eq!(p.format, JudgmentFormat::MechanicalTurk);
        assert_eq!((p.batch.records.len(), p.rejected), (1, 1));
    }
}
