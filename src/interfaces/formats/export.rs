//! The export contract: labels CSV, stats JSON, judgments CSV and annotators CSV. Every
//! interface writes exports through these functions, so the bytes are the same everywhere.
//! Streams: memory does not grow with the number of items.

use std::io::Write;

use futures_util::TryStreamExt;
use serde::Serialize;

use crate::domain::consensus_stats::{AnnotatorCounts, ConsensusAccumulator};
use crate::domain::stats::{Agreement, AgreementStats, cohen_kappa_from_counts};
use crate::domain::{Status, Tally};
use crate::store::{ExportSnapshot, Progress, Project, Store, StoreError};

/// Errors while exporting.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the export")]
    Io(#[from] std::io::Error),
    #[error("cannot write CSV")]
    Csv(#[from] csv::Error),
    #[error("stored item {item} is corrupt: {message}")]
    Corrupt { item: String, message: String },
}

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
    pub fn apply<'a>(self, cell: &'a str) -> std::borrow::Cow<'a, str> {
        let risky = matches!(
            cell.as_bytes().first(),
            Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
        );
        if self == Cells::SpreadsheetSafe && risky && cell.parse::<f64>().is_err() {
            std::borrow::Cow::Owned(format!("'{cell}"))
        } else {
            std::borrow::Cow::Borrowed(cell)
        }
    }
}

/// The leading columns of the labels CSV; `input.<field>` columns follow.
pub const LABEL_COLUMNS: [&str; 7] = [
    "item_id",
    "status",
    "label",
    "votes",
    "judgments",
    "agreement",
    "answers",
];
pub const JUDGMENT_COLUMNS: [&str; 5] = [
    "item_id",
    "annotator",
    "answer",
    "normalized",
    "submitted_at",
];
pub const ANNOTATOR_COLUMNS: [&str; 4] = [
    "annotator",
    "judgments",
    "agreement_with_consensus",
    "cohen_kappa_vs_consensus",
];

/// The stats JSON of the export contract.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProjectStats {
    pub items: u64,
    pub resolved: u64,
    pub unresolved: u64,
    pub pending: u64,
    /// Items an owner labelled after the crowd could not settle them.
    pub adjudicated: u64,
    pub judgments: u64,
    pub annotators: u64,
    pub percent_agreement: Option<f64>,
    pub fleiss_kappa: Option<f64>,
    pub krippendorff_alpha: Option<f64>,
    pub per_annotator: Vec<AnnotatorStats>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnnotatorStats {
    pub annotator: String,
    pub judgments: u64,
    /// Share of their judgments on resolved items that match the label; null without any.
    pub agreement_with_consensus: Option<f64>,
    pub cohen_kappa_vs_consensus: Option<f64>,
}

/// What one pass over the items learned, from which the stats are finished.
#[derive(Debug, Default)]
pub struct LabelsPass {
    pub items: u64,
    pub resolved: u64,
    pub unresolved: u64,
    pub pending: u64,
    pub adjudicated: u64,
    pub judgments: u64,
    agreement: Agreement,
}

/// Writes the labels CSV (one row per item, in import order) and gathers what the stats need.
pub async fn write_labels(
    snapshot: &mut ExportSnapshot,
    project: &Project,
    out: &mut dyn Write,
    cells: Cells,
    progress: &dyn Progress,
) -> Result<LabelsPass, ExportError> {
    let fields = snapshot.project_fields(project.id).await?;
    let mut w = csv::WriterBuilder::new().from_writer(out);
    let mut header: Vec<String> = LABEL_COLUMNS.iter().map(|s| (*s).to_owned()).collect();
    header.extend(fields.iter().map(|f| format!("input.{f}")));
    w.write_record(&header)?;
    let mut pass = LabelsPass::default();
    let mut rows = Box::pin(snapshot.stream_items(project.id));
    let mut record: Vec<String> = Vec::with_capacity(header.len());
    let mut counts: Vec<u64> = Vec::new();
    while let Some(row) = rows.try_next().await? {
        let corrupt = |message: String| ExportError::Corrupt {
            item: row.external_id.clone(),
            message,
        };
        let status = Status::parse(&row.status)
            .ok_or_else(|| corrupt(format!("status {:?}", row.status)))?;
        match status {
            Status::Pending => pass.pending += 1,
            Status::Resolved => pass.resolved += 1,
            Status::Unresolved => pass.unresolved += 1,
            Status::Adjudicated => pass.adjudicated += 1,
        }
        pass.items += 1;
        let judgments =
            u64::try_from(row.judgments).map_err(|_| corrupt("negative judgments".into()))?;
        pass.judgments += judgments;
        let tally = Tally::from_json(&row.answers).map_err(|e| corrupt(format!("answers: {e}")))?;
        counts.clear();
        counts.extend(tally.iter().map(|(_, c)| u64::from(c)));
        pass.agreement.add_item(&counts);

        record.clear();
        record.push(row.external_id.clone());
        record.push(status.as_str().to_owned());
        record.push(if status.has_label() {
            row.label.clone().unwrap_or_default()
        } else {
            String::new()
        });
        record.push(row.votes.to_string());
        record.push(row.judgments.to_string());
        record.push(if row.judgments > 0 {
            (row.votes as f64 / row.judgments as f64).to_string()
        } else {
            String::new()
        });
        record.push(row.answers.clone());
        if !fields.is_empty() {
            let map: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&row.fields).map_err(|e| corrupt(format!("fields: {e}")))?;
            for f in &fields {
                record.push(match map.get(f) {
                    Some(serde_json::Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                    None => String::new(),
                });
            }
        }
        w.write_record(record.iter().map(|c| cells.apply(c).into_owned()))?;
        progress.advance(1);
    }
    w.flush()?;
    Ok(pass)
}

/// Finishes the statistics after [`write_labels`].
pub async fn finish_stats(
    snapshot: &mut ExportSnapshot,
    project: &Project,
    mut pass: LabelsPass,
) -> Result<ProjectStats, ExportError> {
    let mut consensus = ConsensusAccumulator::new();
    {
        let mut rows = Box::pin(snapshot.stream_judgment_outcomes(project.id));
        while let Some(item) = rows.try_next().await? {
            for (annotator, answer) in &item.judgments {
                consensus.add(
                    *annotator,
                    answer,
                    item.label.as_deref(),
                    item.item_judgments,
                );
            }
        }
    }
    for n in consensus.pairable_totals() {
        pass.agreement.add_category_total(n);
    }
    let AgreementStats {
        percent_agreement,
        fleiss_kappa,
        krippendorff_alpha,
    } = pass.agreement.finish();
    let counts: Vec<(i64, AnnotatorCounts)> = consensus.annotators().collect();
    let ids: Vec<i64> = counts.iter().map(|(id, _)| *id).collect();
    let names = snapshot.annotator_names(&ids).await?;
    let mut per_annotator: Vec<AnnotatorStats> = counts
        .into_iter()
        .map(|(id, a)| AnnotatorStats {
            annotator: names.get(&id).cloned().unwrap_or_else(|| format!("#{id}")),
            judgments: a.judgments,
            agreement_with_consensus: (a.on_resolved > 0)
                .then(|| a.matches as f64 / a.on_resolved as f64),
            cohen_kappa_vs_consensus: cohen_kappa_from_counts(
                a.on_resolved,
                a.matches,
                a.sum_products,
            ),
        })
        .collect();
    per_annotator.sort_by(|x, y| x.annotator.cmp(&y.annotator));
    Ok(ProjectStats {
        items: pass.items,
        resolved: pass.resolved,
        unresolved: pass.unresolved,
        pending: pass.pending,
        adjudicated: pass.adjudicated,
        judgments: pass.judgments,
        annotators: per_annotator.len() as u64,
        percent_agreement,
        fleiss_kappa,
        krippendorff_alpha,
        per_annotator,
    })
}

/// The stats alone, without keeping the labels.
pub async fn project_stats(store: &Store, project: &Project) -> Result<ProjectStats, ExportError> {
    let mut snapshot = store.export_snapshot().await?;
    let pass = write_labels(
        &mut snapshot,
        project,
        &mut std::io::sink(),
        Cells::Exact,
        &crate::store::NoProgress,
    )
    .await?;
    let stats = finish_stats(&mut snapshot, project, pass).await?;
    snapshot.close().await?;
    Ok(stats)
}

/// Writes the stats JSON (pretty-printed, numbers at full f64 precision, trailing newline).
pub fn write_stats(stats: &ProjectStats, out: &mut dyn Write) -> Result<(), ExportError> {
    serde_json::to_writer_pretty(&mut *out, stats).map_err(std::io::Error::from)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// Writes the annotators CSV: the `per_annotator` table of the stats.
pub fn write_annotators(
    stats: &ProjectStats,
    out: &mut dyn Write,
    cells: Cells,
) -> Result<(), ExportError> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(ANNOTATOR_COLUMNS)?;
    let opt = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
    for a in &stats.per_annotator {
        w.write_record([
            cells.apply(&a.annotator).into_owned(),
            a.judgments.to_string(),
            opt(a.agreement_with_consensus),
            opt(a.cohen_kappa_vs_consensus),
        ])?;
    }
    w.flush()?;
    Ok(())
}

/// Writes the judgments CSV: the long import format plus the normalised answer and time,
/// so it re-imports losslessly.
pub async fn write_judgments(
    snapshot: &mut ExportSnapshot,
    project: &Project,
    out: &mut dyn Write,
    cells: Cells,
    progress: &dyn Progress,
) -> Result<u64, ExportError> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(JUDGMENT_COLUMNS)?;
    let mut rows = Box::pin(snapshot.stream_judgments(project.id));
    let mut n = 0;
    while let Some(j) = rows.try_next().await? {
        let time = format_timestamp(j.created_at);
        w.write_record([
            cells.apply(&j.item_id).as_bytes(),
            cells.apply(&j.annotator).as_bytes(),
            cells.apply(&j.answer).as_bytes(),
            cells.apply(&j.normalized).as_bytes(),
            cells.apply(&time).as_bytes(),
        ])?;
        n += 1;
        progress.advance(1);
    }
    w.flush()?;
    Ok(n)
}

/// Unix ms as RFC 3339 UTC with milliseconds, e.g. `2026-11-23T10:00:00.123Z`.
pub fn format_timestamp(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
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
