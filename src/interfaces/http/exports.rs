//! Exports over HTTP, shared by the owner's downloads and the API: the file is written by a
//! background task into a bounded channel that the response body drains, so memory stays flat
//! however large the project and a slow client slows the export instead of filling memory.

use actix_web::HttpResponse;
use actix_web::web::Bytes;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::{OwnedSemaphorePermit, mpsc};

use crate::interfaces::formats::export::{self, Cells, ExportOut, Format, Shape};
use crate::store::{ExportSnapshot, ItemFilter, NoProgress, Project, Store, StoreError};

/// The files of the export contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFile {
    Labels(Format),
    Judgments(Format),
    Annotators,
    Stats,
}

impl ExportFile {
    /// The file by its download name, e.g. `labels.csv` or `judgments.jsonl`.
    pub fn parse(name: &str) -> Option<ExportFile> {
        Some(match name {
            "labels.csv" => ExportFile::Labels(Format::Csv),
            "labels.jsonl" => ExportFile::Labels(Format::Jsonl),
            "judgments.csv" => ExportFile::Judgments(Format::Csv),
            "judgments.jsonl" => ExportFile::Judgments(Format::Jsonl),
            "annotators.csv" => ExportFile::Annotators,
            "stats.json" => ExportFile::Stats,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            ExportFile::Labels(Format::Csv) => "labels.csv",
            ExportFile::Labels(Format::Jsonl) => "labels.jsonl",
            ExportFile::Judgments(Format::Csv) => "judgments.csv",
            ExportFile::Judgments(Format::Jsonl) => "judgments.jsonl",
            ExportFile::Annotators => "annotators.csv",
            ExportFile::Stats => "stats.json",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ExportFile::Labels(Format::Csv)
            | ExportFile::Judgments(Format::Csv)
            | ExportFile::Annotators => "text/csv; charset=utf-8",
            ExportFile::Labels(Format::Jsonl) | ExportFile::Judgments(Format::Jsonl) => {
                "application/x-ndjson"
            }
            ExportFile::Stats => "application/json",
        }
    }

    /// Whether `status` and `since` filters apply (row files only; statistics describe the
    /// whole project).
    pub fn filterable(self) -> bool {
        matches!(self, ExportFile::Labels(_) | ExportFile::Judgments(_))
    }
}

/// How long a client may stop reading before its export is abandoned (and its connection freed).
const STALLED_CLIENT: Duration = Duration::from_secs(60);

/// Why an export could not start.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("too many exports are streaming right now; try again in a moment")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An export about to be streamed: its consistent read view and what identifies its content.
pub struct PreparedExport {
    snapshot: ExportSnapshot,
    _slot: OwnedSemaphorePermit,
    /// The last change visible in the read view: the `since` cursor for the next pull.
    pub cursor: i64,
    /// Changes whenever the bytes could: the project's configuration, its change counter, the
    /// file and its filter. Same value, same bytes.
    pub etag: String,
}

/// Opens the read view for an export of `file` and works out its cursor and ETag.
pub async fn prepare(
    store: &Store,
    project: &Project,
    file: ExportFile,
    cells: Cells,
    filter: ItemFilter,
) -> Result<PreparedExport, PrepareError> {
    let slot = store.try_export_slot().ok_or(PrepareError::Busy)?;
    let mut snapshot = store.export_snapshot().await?;
    let cursor = snapshot.change_cursor(project.id).await?;
    let version = snapshot.config_version(project.id).await?;
    let identity = format!(
        "p{}-v{}-c{}-{}-{}-{}-{}",
        project.id,
        version,
        cursor,
        file.name(),
        match cells {
            Cells::Exact => "exact",
            Cells::SpreadsheetSafe => "safe",
        },
        filter.status.map_or("all", |s| s.as_str()),
        filter
            .since
            .map_or_else(|| "full".to_owned(), |s| s.to_string()),
    );
    // Opaque to clients: a digest of what determines the bytes.
    let digest = crate::auth::sha256_hex(identity.as_bytes());
    let etag = format!("\"{}\"", &digest[..32]);
    Ok(PreparedExport {
        snapshot,
        _slot: slot,
        cursor,
        etag,
    })
}

impl PreparedExport {
    /// Ends the read view without exporting (e.g. the client's copy is current).
    pub async fn close(self) -> Result<(), StoreError> {
        self.snapshot.close().await
    }

    /// Starts writing the file in a background task; returns a response builder's body: a
    /// stream of chunks. A failure mid-way ends the stream with an error, so the client sees
    /// a truncated transfer rather than a file that looks complete.
    pub fn stream(
        self,
        project: Project,
        file: ExportFile,
        cells: Cells,
        filter: ItemFilter,
    ) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + 'static {
        let (tx, rx) = mpsc::channel::<std::io::Result<Vec<u8>>>(8);
        let PreparedExport {
            mut snapshot,
            _slot: slot,
            ..
        } = self;
        actix_web::rt::spawn(async move {
            let mut out = ExportOut::channel(tx.clone()).with_stall_limit(STALLED_CLIENT);
            // A panic must not end the body as if the file were complete.
            let result = std::panic::AssertUnwindSafe(write(
                &mut snapshot,
                &project,
                file,
                cells,
                filter,
                &mut out,
            ))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| {
                Err(export::ExportError::Io(std::io::Error::other(
                    "the export panicked",
                )))
            });
            if let Err(e) = result {
                let gone = matches!(&e, export::ExportError::Io(io)
                    if io.kind() == std::io::ErrorKind::BrokenPipe);
                if gone {
                    tracing::info!(project = %project.slug(), file = file.name(), "client left during export");
                } else {
                    tracing::error!(project = %project.slug(), file = file.name(), error = ?e, "export failed");
                    let _ = tx
                        .send(Err(std::io::Error::other(
                            "the export failed; see the server log",
                        )))
                        .await;
                }
            }
            if let Err(e) = snapshot.close().await {
                tracing::warn!(error = %e, "closing an export's read view");
            }
            drop(slot);
        });
        futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|chunk| (chunk.map(Bytes::from), rx))
        })
    }
}

async fn write(
    snapshot: &mut ExportSnapshot,
    project: &Project,
    file: ExportFile,
    cells: Cells,
    filter: ItemFilter,
    out: &mut ExportOut<'_>,
) -> Result<(), export::ExportError> {
    let shape = Shape::CSV.with_cells(cells).with_filter(filter);
    match file {
        ExportFile::Labels(format) => {
            export::write_labels(
                snapshot,
                project,
                out,
                shape.with_format(format),
                &NoProgress,
            )
            .await?;
        }
        ExportFile::Judgments(format) => {
            export::write_judgments(
                snapshot,
                project,
                out,
                shape.with_format(format),
                &NoProgress,
            )
            .await?;
        }
        ExportFile::Annotators | ExportFile::Stats => {
            let mut sink = std::io::sink();
            let pass = export::write_labels(
                snapshot,
                project,
                &mut ExportOut::writer(&mut sink),
                Shape::CSV,
                &NoProgress,
            )
            .await?;
            let stats = export::finish_stats(snapshot, pass).await?;
            let mut bytes = Vec::new();
            if file == ExportFile::Stats {
                export::write_stats(&stats, &mut bytes)?;
            } else {
                export::write_annotators(&stats, &mut bytes, cells)?;
            }
            out.write_all(&bytes).await?;
            out.finish().await?;
        }
    }
    Ok(())
}

/// A streamed download response for a prepared export.
pub fn response(
    prepared: PreparedExport,
    project: &Project,
    file: ExportFile,
    cells: Cells,
    filter: ItemFilter,
    attachment: bool,
) -> HttpResponse {
    let mut builder = HttpResponse::Ok();
    builder
        .content_type(file.content_type())
        .insert_header(("ETag", prepared.etag.clone()))
        .insert_header(("Quorum-Cursor", prepared.cursor.to_string()));
    if attachment {
        builder.insert_header((
            "Content-Disposition",
            format!(
                "attachment; filename=\"{}-{}\"",
                project.config.slug,
                file.name()
            ),
        ));
    }
    builder.streaming(prepared.stream(project.clone(), file, cells, filter))
}
