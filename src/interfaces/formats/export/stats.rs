//! The stats JSON and the annotators CSV, both finished from the labels pass and one pass
//! over the judgments: counts, agreement among annotators, and each annotator against the
//! consensus.

use std::io::Write;

use futures_util::TryStreamExt;
use serde::Serialize;

use super::error::ExportError;
use super::labels::{LabelsPass, write_labels};
use super::out::ExportOut;
use super::shape::{Cells, Shape};
use crate::domain::consensus_stats::{AnnotatorCounts, ConsensusAccumulator};
use crate::domain::stats::{AgreementStats, cohen_kappa_from_counts};
use crate::store::{ExportSnapshot, Project, Store};

/// The columns of the annotators CSV: the `per_annotator` table of the stats.
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

/// Finishes the statistics after [`write_labels`].
pub async fn finish_stats(
    snapshot: &mut ExportSnapshot,
    project: &Project,
    mut pass: LabelsPass,
) -> Result<ProjectStats, ExportError> {
    if !pass.whole_project {
        return Err(ExportError::Filtered);
    }
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
        &mut ExportOut::writer(&mut std::io::sink()),
        Shape::CSV,
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
