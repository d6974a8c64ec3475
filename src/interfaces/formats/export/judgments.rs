//! The judgments file: every judgment in the long import format plus its normalised answer
//! and time, so an export re-imports losslessly.

use serde::Serialize;
use tokio::sync::mpsc;

use super::error::ExportError;
use super::out::ExportOut;
use super::shape::{Format, Shape};
use crate::store::{ExportSnapshot, Progress, Project};

/// The columns of the judgments CSV: the long import format plus what re-imports need.
pub const JUDGMENT_COLUMNS: [&str; 5] = [
    "item_id",
    "annotator",
    "answer",
    "normalized",
    "submitted_at",
];

/// A judgments line of the JSON-lines export.
#[derive(Serialize)]
struct JudgmentLine<'a> {
    item_id: &'a str,
    annotator: &'a str,
    answer: &'a str,
    normalized: &'a str,
    submitted_at: &'a str,
}

/// Writes the judgments (of the items the filter selects): the long import format plus the
/// normalised answer and time, so it re-imports losslessly.
pub async fn write_judgments(
    snapshot: &mut ExportSnapshot,
    project: &Project,
    out: &mut ExportOut<'_>,
    shape: Shape,
    progress: &dyn Progress,
) -> Result<u64, ExportError> {
    let mut w = csv::Writer::from_writer(out.buf.clone());
    if shape.format == Format::Csv {
        w.write_record(JUDGMENT_COLUMNS)?;
    }
    let (page_tx, mut page_rx) = mpsc::channel(1);
    let produce = async move {
        snapshot
            .send_judgment_pages(project.id, shape.filter, page_tx)
            .await
            .map_err(ExportError::from)
    };
    let consume = async move {
        let mut n = 0;
        let mut line = Vec::with_capacity(256);
        while let Some(page) = page_rx.recv().await {
            for j in page {
                let time = format_timestamp(j.created_at);
                match shape.format {
                    Format::Csv => {
                        let cells = shape.cells;
                        w.write_record([
                            cells.apply(&j.item_id).as_bytes(),
                            cells.apply(&j.annotator).as_bytes(),
                            cells.apply(&j.answer).as_bytes(),
                            cells.apply(&j.normalized).as_bytes(),
                            cells.apply(&time).as_bytes(),
                        ])?;
                    }
                    Format::Jsonl => {
                        line.clear();
                        serde_json::to_writer(
                            &mut line,
                            &JudgmentLine {
                                item_id: &j.item_id,
                                annotator: &j.annotator,
                                answer: &j.answer,
                                normalized: &j.normalized,
                                submitted_at: &time,
                            },
                        )
                        .map_err(std::io::Error::from)?;
                        line.push(b'\n');
                        out.buf.lock().extend_from_slice(&line);
                    }
                }
                n += 1;
                progress.advance(1);
                out.row_written(&mut w).await?;
            }
        }
        out.finish_rows(&mut w).await?;
        Ok(n)
    };
    let ((), n) = tokio::try_join!(produce, consume)?;
    Ok(n)
}

/// Unix ms as RFC 3339 UTC with milliseconds, e.g. `2026-11-23T10:00:00.123Z`.
pub fn format_timestamp(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
}
