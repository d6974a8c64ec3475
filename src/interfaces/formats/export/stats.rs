//! The stats JSON and the annotators CSV, both finished from the labels pass (which read the
//! judgments once for the crowd model): counts, agreement among annotators, each annotator
//! against the consensus, and the Dawid–Skene estimates.

use std::io::Write;

use std::collections::BTreeMap;

use serde::Serialize;

use super::error::ExportError;
use super::labels::{LabelsPass, write_labels};
use super::out::ExportOut;
use super::shape::{Cells, Shape};
use crate::domain::consensus_stats::AnnotatorCounts;
use crate::domain::crowd::dawid_skene::Options;
use crate::domain::stats::{AgreementStats, cohen_kappa_from_counts};
use crate::store::{ExportSnapshot, Project, Store};

/// The columns of the annotators CSV: the `per_annotator` table of the stats.
pub const ANNOTATOR_COLUMNS: [&str; 5] = [
    "annotator",
    "judgments",
    "agreement_with_consensus",
    "cohen_kappa_vs_consensus",
    "estimated_accuracy",
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
    pub dawid_skene: DawidSkeneStats,
    /// The first items whose label the model disagrees with (not part of the stats JSON).
    #[serde(skip)]
    pub disagreements: Vec<super::labels::ModelDisagreement>,
}

impl ProjectStats {
    /// The crowd's accuracy as the model estimates it: annotators' estimated accuracies
    /// weighted by their judgments; `None` without judgments. What the planner assumes of
    /// "this project's crowd".
    pub fn crowd_accuracy(&self) -> Option<f64> {
        let (mut sum, mut n) = (0.0, 0u64);
        for a in &self.per_annotator {
            if let Some(e) = a.estimated_accuracy {
                sum += e * a.judgments as f64;
                n += a.judgments;
            }
        }
        (n > 0).then(|| sum / n as f64)
    }
}

/// The `dawid_skene` section: how the crowd model was fitted and what it concluded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DawidSkeneStats {
    /// `confusion` (a confusion matrix per annotator: choice projects) or `one_coin` (one
    /// accuracy per annotator: text projects).
    pub model: &'static str,
    pub iterations: u32,
    pub converged: bool,
    pub max_iterations: u32,
    pub tolerance: f64,
    pub smoothing: f64,
    pub log_likelihood: f64,
    /// Items the model saw (judged, or adjudicated and taken as known).
    pub items: u64,
    /// Judged items whose `model_label` is not among their most-voted answers.
    pub model_label_differs_from_plurality: u64,
    /// Items with a label (resolved or adjudicated) whose `model_label` differs from it.
    pub model_label_differs_from_label: u64,
    /// Annotator name -> estimated probability that their judgment is right.
    pub estimated_accuracy: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnnotatorStats {
    pub annotator: String,
    pub judgments: u64,
    /// Share of their judgments on resolved items that match the label; null without any.
    pub agreement_with_consensus: Option<f64>,
    pub cohen_kappa_vs_consensus: Option<f64>,
    /// Dawid–Skene's estimate of the probability their judgment is right.
    pub estimated_accuracy: Option<f64>,
}

/// Finishes the statistics after [`write_labels`].
pub async fn finish_stats(
    snapshot: &mut ExportSnapshot,
    mut pass: LabelsPass,
) -> Result<ProjectStats, ExportError> {
    if !pass.whole_project {
        return Err(ExportError::Filtered);
    }
    let Some(model) = pass.model.take() else {
        return Err(ExportError::Filtered);
    };
    let consensus = match pass.consensus.take() {
        Some(c) => c,
        None => super::model::consensus_pass(snapshot, pass.project_id).await?,
    };
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
    let estimates: std::collections::HashMap<i64, f64> = model
        .annotators
        .iter()
        .map(|&(id, _, accuracy)| (id, accuracy))
        .collect();
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
            estimated_accuracy: estimates.get(&id).copied(),
        })
        .collect();
    let options = Options::default();
    let dawid_skene = DawidSkeneStats {
        model: if model.kind == "one_coin" {
            "one_coin"
        } else {
            "confusion"
        },
        iterations: model.iterations,
        converged: model.converged,
        max_iterations: options.max_iterations,
        tolerance: options.tolerance,
        smoothing: options.smoothing,
        log_likelihood: model.log_likelihood,
        items: model.items,
        model_label_differs_from_plurality: model.differs_from_plurality,
        model_label_differs_from_label: pass.model_disagrees,
        estimated_accuracy: per_annotator
            .iter()
            .filter_map(|a| a.estimated_accuracy.map(|e| (a.annotator.clone(), e)))
            .collect(),
    };
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
        dawid_skene,
        disagreements: pass.disagreements,
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
    let stats = finish_stats(&mut snapshot, pass).await?;
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
            opt(a.estimated_accuracy),
        ])?;
    }
    w.flush()?;
    Ok(())
}
