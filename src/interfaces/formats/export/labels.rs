//! The labels file: one row an item with its status, label, votes, the crowd model's belief
//! and input fields, as CSV or JSON lines. Its pass also gathers the item counts, agreement
//! sums and model the stats finish.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde::Serialize;
use tokio::sync::mpsc;

use super::error::ExportError;
use super::model::{ModelPass, model_pass};
use super::out::ExportOut;
use super::shape::{Format, Shape};
use crate::domain::consensus_stats::ConsensusAccumulator;
use crate::domain::crowd::project_model::{FitSummary, ModelCells};
use crate::domain::stats::Agreement;
use crate::domain::{Status, Tally};
use crate::store::{ExportSnapshot, Progress, Project};

/// The leading columns of the labels CSV; `input.<field>` columns follow.
pub const LABEL_COLUMNS: [&str; 10] = [
    "item_id",
    "status",
    "label",
    "votes",
    "judgments",
    "agreement",
    "answers",
    "confidence",
    "model_label",
    "model_confidence",
];

/// How many items where the model and the label disagree a pass keeps for display.
pub const DISAGREEMENTS_KEPT: usize = 50;

/// An item whose label (resolved or adjudicated) is not the crowd model's most probable answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelDisagreement {
    pub item_id: String,
    pub status: Status,
    pub label: String,
    /// The label's posterior under the model.
    pub confidence: f64,
    pub model_label: Option<String>,
    pub model_confidence: Option<f64>,
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
    /// Items written whose label is not the model's label.
    pub model_disagrees: u64,
    /// The first [`DISAGREEMENTS_KEPT`] of them, for the dashboard.
    pub disagreements: Vec<ModelDisagreement>,
    pub(super) agreement: Agreement,
    /// Whether every item was seen (no filter): only then are statistics possible.
    pub(super) whole_project: bool,
    /// What the crowd model (of the whole project, whatever the filter) concluded, and the
    /// consensus counts when the model pass gathered them (`None`: the stats gather them).
    pub(super) model: Option<FitSummary>,
    pub(super) consensus: Option<ConsensusAccumulator>,
    pub(super) project_id: i64,
}

/// A labels line of the JSON-lines export.
#[derive(Serialize)]
struct LabelLine<'a> {
    item_id: &'a str,
    status: &'a str,
    label: Option<&'a str>,
    votes: i64,
    judgments: i64,
    agreement: Option<f64>,
    answers: &'a serde_json::value::RawValue,
    confidence: Option<f64>,
    model_label: Option<&'a str>,
    model_confidence: Option<f64>,
    input: &'a serde_json::value::RawValue,
}

/// A JSON string, borrowed from the document when it has no escapes.
#[derive(serde::Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

/// A JSON object read as its list of (key, raw value) pairs, in stored order: an item's input
/// fields without building a map per item.
struct PairList<'a>(Vec<(Text<'a>, &'a serde_json::value::RawValue)>);

impl<'de> serde::Deserialize<'de> for PairList<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Pairs;
        impl<'de> serde::de::Visitor<'de> for Pairs {
            type Value = PairList<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of input fields")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<PairList<'de>, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry()? {
                    pairs.push(pair);
                }
                Ok(PairList(pairs))
            }
        }
        d.deserialize_map(Pairs)
    }
}

/// An input field's cell: a string's text, anything else as compact JSON.
fn field_text(value: &serde_json::value::RawValue) -> Result<Cow<'_, str>, serde_json::Error> {
    if value.get().starts_with('"') {
        Ok(serde_json::from_str::<Text<'_>>(value.get())?.0)
    } else {
        Ok(Cow::Owned(
            serde_json::from_str::<serde_json::Value>(value.get())?.to_string(),
        ))
    }
}

/// Writes an optional probability as a CSV field: shortest round-trip digits, or empty.
fn write_probability<W: std::io::Write>(
    w: &mut csv::Writer<W>,
    number: &mut String,
    p: Option<f64>,
) -> Result<(), ExportError> {
    match p {
        Some(p) => {
            number.clear();
            write!(number, "{p}").map_err(std::io::Error::other)?;
            w.write_field(&*number)?;
        }
        None => w.write_field("")?,
    }
    Ok(())
}

/// Formats an integer into `buf` and returns it.
fn itoa(buf: &mut String, n: i64) -> &str {
    buf.clear();
    // Writing to a String cannot fail.
    let _ = write!(buf, "{n}");
    buf
}

fn raw_json<'a>(text: &'a str, what: &str) -> Result<&'a serde_json::value::RawValue, String> {
    serde_json::from_str(text).map_err(|e| format!("{what}: {e}"))
}

/// Writes the labels (one row per item the filter selects, in import order) and gathers what
/// the stats need. The pass is complete only for a whole-project export; [`finish_stats`]
/// refuses a filtered one.
pub async fn write_labels(
    snapshot: &mut ExportSnapshot,
    project: &Project,
    out: &mut ExportOut<'_>,
    shape: Shape,
    progress: &dyn Progress,
) -> Result<LabelsPass, ExportError> {
    let fields = snapshot.project_fields(project.id).await?;
    let mut w = csv::WriterBuilder::new().from_writer(out.buf.clone());
    let mut header: Vec<String> = LABEL_COLUMNS.iter().map(|s| (*s).to_owned()).collect();
    header.extend(fields.iter().map(|f| format!("input.{f}")));
    if shape.format == Format::Csv {
        w.write_record(&header)?;
    }
    // The cells the last re-fit stored when they are current, else a fit now.
    let (fitted, summary, consensus) = match snapshot.stored_model(project.id).await? {
        Some(summary) => (None, summary, None),
        None => {
            let ModelPass { model, consensus } = model_pass(snapshot, project).await?;
            let summary = model.summary();
            (Some(model), summary, Some(consensus))
        }
    };
    let mut pass = LabelsPass {
        whole_project: shape.is_whole_project(),
        consensus,
        project_id: project.id,
        ..LabelsPass::default()
    };
    let fitted = fitted.as_ref();
    // The next page is read (on PostgreSQL, on the server; on SQLite, on sqlx's thread for the
    // connection) while this one is written.
    let (page_tx, mut page_rx) = mpsc::channel(1);
    let produce = async move {
        snapshot
            .send_item_pages(project.id, shape.filter, page_tx)
            .await
            .map_err(ExportError::from)
    };
    let consume = async move {
        let mut counts: Vec<u64> = Vec::new();
        let mut number = String::new();
        let mut line = Vec::with_capacity(512);
        while let Some(page) = page_rx.recv().await {
            for row in page {
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
                let judgments = u64::try_from(row.judgments)
                    .map_err(|_| corrupt("negative judgments".into()))?;
                pass.judgments += judgments;
                counts.clear();
                Tally::counts_from_json(&row.answers, &mut counts)
                    .map_err(|e| corrupt(format!("answers: {e}")))?;
                pass.agreement.add_item(&counts);
                let label = if status.has_label() {
                    row.label.as_deref()
                } else {
                    None
                };
                let agreement =
                    (row.judgments > 0).then(|| row.votes as f64 / row.judgments as f64);
                let adjudicated = status == Status::Adjudicated;
                let ModelCells {
                    confidence,
                    model_label,
                } = match (fitted, &row.model_cells) {
                    (Some(model), _) => model.cells(row.item_id, adjudicated, label),
                    (None, Some(cells)) if row.judgments > 0 => ModelCells::decode(cells)
                        .map_err(|e| corrupt(format!("model cells: {e}")))?,
                    (None, _) => ModelCells::unjudged(adjudicated, label),
                };
                if let Some(l) = label
                    && Some(l) != model_label.map(|m| m.0)
                {
                    pass.model_disagrees += 1;
                    if pass.disagreements.len() < DISAGREEMENTS_KEPT {
                        pass.disagreements.push(ModelDisagreement {
                            item_id: row.external_id.clone(),
                            status,
                            label: l.to_owned(),
                            confidence: confidence.unwrap_or(0.0),
                            model_label: model_label.map(|m| m.0.to_owned()),
                            model_confidence: model_label.map(|m| m.1),
                        });
                    }
                }

                match shape.format {
                    Format::Jsonl => {
                        line.clear();
                        serde_json::to_writer(
                            &mut line,
                            &LabelLine {
                                item_id: &row.external_id,
                                status: status.as_str(),
                                label,
                                votes: row.votes,
                                judgments: row.judgments,
                                agreement,
                                answers: raw_json(&row.answers, "answers").map_err(corrupt)?,
                                confidence,
                                model_label: model_label.map(|m| m.0),
                                model_confidence: model_label.map(|m| m.1),
                                input: raw_json(&row.fields, "fields").map_err(corrupt)?,
                            },
                        )
                        .map_err(std::io::Error::from)?;
                        line.push(b'\n');
                        out.buf.lock().extend_from_slice(&line);
                    }
                    Format::Csv => {
                        let cells = shape.cells;
                        w.write_field(cells.apply(&row.external_id).as_ref())?;
                        w.write_field(status.as_str())?;
                        w.write_field(cells.apply(label.unwrap_or_default()).as_ref())?;
                        w.write_field(itoa(&mut number, row.votes))?;
                        w.write_field(itoa(&mut number, row.judgments))?;
                        write_probability(&mut w, &mut number, agreement)?;
                        w.write_field(cells.apply(&row.answers).as_ref())?;
                        write_probability(&mut w, &mut number, confidence)?;
                        w.write_field(cells.apply(model_label.map_or("", |m| m.0)).as_ref())?;
                        write_probability(&mut w, &mut number, model_label.map(|m| m.1))?;
                        if !fields.is_empty() {
                            let input = serde_json::from_str::<PairList<'_>>(&row.fields)
                                .map_err(|e| corrupt(format!("fields: {e}")))?
                                .0;
                            for f in &fields {
                                let cell = match input.iter().find(|(k, _)| k.0 == f.as_str()) {
                                    Some((_, value)) => field_text(value)
                                        .map_err(|e| corrupt(format!("fields: {e}")))?,
                                    None => Cow::Borrowed(""),
                                };
                                w.write_field(cells.apply(&cell).as_ref())?;
                            }
                        }
                        w.write_record(None::<&[u8]>)?;
                    }
                }
                progress.advance(1);
                out.row_written(&mut w).await?;
            }
        }
        out.finish_rows(&mut w).await?;
        Ok(pass)
    };
    let ((), mut pass) = tokio::try_join!(produce, consume)?;
    pass.model = Some(summary);
    Ok(pass)
}
