//! The export contract: labels CSV, stats JSON, judgments CSV and annotators CSV. Every
//! interface writes exports through these functions, so the bytes are the same everywhere.
//! Streams: memory does not grow with the number of items.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::Write;
use std::sync::{Arc, Mutex};

use futures_util::TryStreamExt;
use serde::Serialize;

use crate::domain::consensus_stats::{AnnotatorCounts, ConsensusAccumulator};
use crate::domain::stats::{Agreement, AgreementStats, cohen_kappa_from_counts};
use crate::domain::{Status, Tally};
use crate::store::{ExportSnapshot, ItemFilter, Progress, Project, Store, StoreError};
use tokio::sync::mpsc;

/// Errors while exporting.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the export")]
    Io(#[from] std::io::Error),
    #[error("cannot write CSV")]
    Csv(#[from] csv::Error),
    #[error("{0}")]
    Busy(String),
    #[error("statistics need every item: the labels pass was filtered")]
    Filtered,
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
    /// Whether every item was seen (no filter): only then are statistics possible.
    whole_project: bool,
}

/// Bytes are handed on in pieces of about this size: big enough to keep per-chunk overhead
/// negligible, small enough that a streamed download starts at once and memory stays flat.
const CHUNK_BYTES: usize = 64 * 1024;

/// A buffer the CSV writer fills and [`ExportOut`] drains.
#[derive(Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl SharedBuf {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        // A poisoned lock only means a writer panicked mid-write; the bytes are still bytes.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.lock().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Where an export's bytes go: a writer (a file, standard output, memory), or a channel that
/// feeds a streamed HTTP response and pushes back when the client reads slowly. Either way the
/// bytes are the same.
pub struct ExportOut<'a> {
    buf: SharedBuf,
    target: Target<'a>,
}

enum Target<'a> {
    Writer(&'a mut dyn Write),
    Channel {
        tx: mpsc::Sender<std::io::Result<Vec<u8>>>,
        /// Give up when the receiver takes no chunk for this long.
        stall_limit: Option<std::time::Duration>,
    },
}

impl<'a> ExportOut<'a> {
    pub fn writer(out: &'a mut dyn Write) -> ExportOut<'a> {
        ExportOut {
            buf: SharedBuf::default(),
            target: Target::Writer(out),
        }
    }

    /// Sends the bytes in chunks down `tx`; fails with `BrokenPipe` once the receiver is gone
    /// (the client disconnected), which stops the export.
    pub fn channel(tx: mpsc::Sender<std::io::Result<Vec<u8>>>) -> ExportOut<'static> {
        ExportOut {
            buf: SharedBuf::default(),
            target: Target::Channel {
                tx,
                stall_limit: None,
            },
        }
    }

    /// Fails with `TimedOut` when the receiver takes no chunk for `limit` (a client that stopped
    /// reading), so the export ends and frees what it holds.
    pub fn with_stall_limit(mut self, limit: std::time::Duration) -> ExportOut<'a> {
        if let Target::Channel { stall_limit, .. } = &mut self.target {
            *stall_limit = Some(limit);
        }
        self
    }

    fn pending(&self) -> usize {
        self.buf.lock().len()
    }

    /// Hands on what is buffered when there is at least `at_least` bytes of it.
    async fn drain(&mut self, at_least: usize) -> std::io::Result<()> {
        let chunk = {
            let mut buf = self.buf.lock();
            if buf.is_empty() || buf.len() < at_least {
                return Ok(());
            }
            std::mem::replace(&mut *buf, Vec::with_capacity(CHUNK_BYTES + 4096))
        };
        match &mut self.target {
            Target::Writer(w) => w.write_all(&chunk),
            Target::Channel { tx, stall_limit } => {
                let gone =
                    |_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away");
                match stall_limit {
                    None => tx.send(Ok(chunk)).await.map_err(gone),
                    Some(limit) => match tokio::time::timeout(*limit, tx.send(Ok(chunk))).await {
                        Ok(sent) => sent.map_err(gone),
                        Err(_) => Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "the client stopped reading",
                        )),
                    },
                }
            }
        }
    }

    /// Writes bytes made in memory (the stats JSON, the annotators CSV).
    pub async fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.buf.lock().extend_from_slice(bytes);
        self.drain(CHUNK_BYTES).await
    }

    /// After a row that `w` (writing into this output's buffer) wrote: hands on a chunk once
    /// one is full.
    async fn row_written(&mut self, w: &mut csv::Writer<SharedBuf>) -> std::io::Result<()> {
        if self.pending() >= CHUNK_BYTES {
            w.flush()?;
            self.drain(CHUNK_BYTES).await?;
        }
        Ok(())
    }

    /// [`ExportOut::finish`] for a file written through `w`.
    async fn finish_rows(&mut self, w: &mut csv::Writer<SharedBuf>) -> std::io::Result<()> {
        w.flush()?;
        self.finish().await
    }

    /// Hands on everything still buffered; call once at the end.
    pub async fn finish(&mut self) -> std::io::Result<()> {
        self.drain(1).await?;
        if let Target::Writer(w) = &mut self.target {
            w.flush()?;
        }
        Ok(())
    }
}

/// The file formats of row exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    /// One JSON object per line.
    Jsonl,
}

/// What a labels or judgments export contains and how it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub format: Format,
    /// CSV only: JSON lines are for machines and always exact.
    pub cells: Cells,
    pub filter: ItemFilter,
}

impl Shape {
    /// The whole project as exact CSV: the CLI's export.
    pub const CSV: Shape = Shape {
        format: Format::Csv,
        cells: Cells::Exact,
        filter: ItemFilter {
            status: None,
            since: None,
        },
    };

    pub fn with_cells(self, cells: Cells) -> Shape {
        Shape { cells, ..self }
    }

    pub fn with_format(self, format: Format) -> Shape {
        Shape { format, ..self }
    }

    pub fn with_filter(self, filter: ItemFilter) -> Shape {
        Shape { filter, ..self }
    }

    fn is_whole_project(&self) -> bool {
        self.filter == ItemFilter::default()
    }
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
    input: &'a serde_json::value::RawValue,
}

/// A judgments line of the JSON-lines export.
#[derive(Serialize)]
struct JudgmentLine<'a> {
    item_id: &'a str,
    annotator: &'a str,
    answer: &'a str,
    normalized: &'a str,
    submitted_at: &'a str,
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
    let mut pass = LabelsPass {
        whole_project: shape.is_whole_project(),
        ..LabelsPass::default()
    };
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
                        match agreement {
                            Some(a) => {
                                number.clear();
                                write!(number, "{a}").map_err(std::io::Error::other)?;
                                w.write_field(&number)?;
                            }
                            None => w.write_field("")?,
                        }
                        w.write_field(cells.apply(&row.answers).as_ref())?;
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
    let ((), pass) = tokio::try_join!(produce, consume)?;
    Ok(pass)
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
