//! Snapshots: every file of the export contract, written from one consistent read view and
//! stored immutably under a name with a manifest (project, rule, statistics, time, cursor,
//! size and SHA-256 of each file), so an ML pipeline can pin its training data and fetch it
//! again byte for byte whatever happened to the project since.

use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::export::{
    self, Cells, ExportError, ExportOut, Format, LabelsPass, Shape, format_timestamp,
};
use crate::store::{NoProgress, Project, Store};

/// The files of a snapshot, in the order they are written.
pub const SNAPSHOT_FILES: [&str; 6] = [
    "labels.csv",
    "labels.jsonl",
    "judgments.csv",
    "judgments.jsonl",
    "annotators.csv",
    "stats.json",
];

/// Stored chunks are about this size.
const CHUNK_BYTES: usize = 1024 * 1024;

/// What a snapshot holds; stored as its manifest JSON.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Manifest {
    /// `quorum-snapshot/1`.
    pub format: String,
    pub name: String,
    pub project: String,
    pub project_name: String,
    /// RFC 3339, UTC.
    pub generated_at: String,
    /// The change cursor of the read view: pass it as `since` to pull what changed after.
    pub cursor: i64,
    /// The project's configuration at the time, as TOML.
    pub config: String,
    /// The stats JSON of the export contract.
    pub stats: serde_json::Value,
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct FileEntry {
    pub name: String,
    pub bytes: u64,
    /// Lowercase hex.
    pub sha256: String,
}

/// Writes a snapshot named `name` of `project`; returns its manifest. Annotators keep working
/// meanwhile; the snapshot shows the project as of the moment it started. On failure nothing
/// is left behind.
pub async fn create_snapshot(
    store: &Store,
    project: &Project,
    name: &str,
    created_by: Option<i64>,
    now: i64,
) -> Result<Manifest, ExportError> {
    let _slot = store.try_snapshot_slot().ok_or_else(|| {
        ExportError::Busy("another snapshot is being written; try again when it is done".into())
    })?;
    let id = store
        .begin_snapshot(project.id, name, created_by, now)
        .await?;
    let built = match build(store, project, name, id, now).await {
        Ok(manifest) => match serde_json::to_string_pretty(&manifest) {
            Ok(json) => store
                .complete_snapshot(id, &json)
                .await
                .map(|()| manifest)
                .map_err(ExportError::from),
            Err(e) => Err(ExportError::Io(e.into())),
        },
        Err(e) => Err(e),
    };
    match built {
        Ok(manifest) => Ok(manifest),
        Err(e) => {
            if let Err(cleanup) = store.abandon_snapshot(id).await {
                tracing::warn!(error = %cleanup, snapshot = id, "removing a failed snapshot");
            }
            Err(e)
        }
    }
}

async fn build(
    store: &Store,
    project: &Project,
    name: &str,
    id: i64,
    now: i64,
) -> Result<Manifest, ExportError> {
    let mut snapshot = store.export_snapshot().await?;
    let cursor = snapshot.change_cursor(project.id).await?;
    // The manifest's configuration must be the one the files were decided by.
    if snapshot.config_version(project.id).await? != project.config_version {
        snapshot.close().await?;
        return Err(ExportError::Store(crate::store::StoreError::Conflict(
            "the project's settings changed while the snapshot started; try again".into(),
        )));
    }
    let mut files = Vec::new();
    let mut pass: Option<LabelsPass> = None;
    for (file, judgments, format) in [
        ("labels.csv", false, Format::Csv),
        ("labels.jsonl", false, Format::Jsonl),
        ("judgments.csv", true, Format::Csv),
        ("judgments.jsonl", true, Format::Jsonl),
    ] {
        let (tx, rx) = mpsc::channel(4);
        let shape = Shape::CSV.with_format(format);
        let snap = &mut snapshot;
        let produce = async move {
            let mut out = ExportOut::channel(tx);
            if judgments {
                export::write_judgments(snap, project, &mut out, shape, &NoProgress)
                    .await
                    .map(|_| None)
            } else {
                export::write_labels(snap, project, &mut out, shape, &NoProgress)
                    .await
                    .map(Some)
            }
        };
        let (produced, stored) =
            futures_util::future::join(produce, store_file(store, id, file, rx)).await;
        if let Some(p) = produced?
            && format == Format::Csv
        {
            pass = Some(p);
        }
        files.push(stored?);
    }
    let pass = pass.ok_or_else(|| ExportError::Io(std::io::Error::other("no labels pass")))?;
    let stats = export::finish_stats(&mut snapshot, pass).await?;
    snapshot.close().await?;
    let mut annotators = Vec::new();
    export::write_annotators(&stats, &mut annotators, Cells::Exact)?;
    let mut stats_json = Vec::new();
    export::write_stats(&stats, &mut stats_json)?;
    for (file, bytes) in [("annotators.csv", annotators), ("stats.json", stats_json)] {
        let mut stored = StoredFile::new(store, id, file);
        stored.push(&bytes).await?;
        files.push(stored.finish().await?);
    }
    Ok(Manifest {
        format: "quorum-snapshot/1".into(),
        name: name.to_owned(),
        project: project.config.slug.clone(),
        project_name: project.config.name.clone(),
        generated_at: format_timestamp(now),
        cursor,
        config: project.config.to_toml(),
        stats: serde_json::to_value(&stats).map_err(std::io::Error::from)?,
        files,
    })
}

/// Stores what arrives on `rx` as `file`.
async fn store_file(
    store: &Store,
    snapshot_id: i64,
    file: &str,
    mut rx: mpsc::Receiver<std::io::Result<Vec<u8>>>,
) -> Result<FileEntry, ExportError> {
    let mut stored = StoredFile::new(store, snapshot_id, file);
    while let Some(chunk) = rx.recv().await {
        stored.push(&chunk?).await?;
    }
    stored.finish().await
}

/// A snapshot file being stored in chunks of about [`CHUNK_BYTES`], hashed as it goes.
struct StoredFile<'a> {
    store: &'a Store,
    snapshot_id: i64,
    file: &'a str,
    hasher: Sha256,
    total: u64,
    seq: i64,
    buf: Vec<u8>,
}

impl<'a> StoredFile<'a> {
    fn new(store: &'a Store, snapshot_id: i64, file: &'a str) -> StoredFile<'a> {
        StoredFile {
            store,
            snapshot_id,
            file,
            hasher: Sha256::new(),
            total: 0,
            seq: 0,
            buf: Vec::with_capacity(CHUNK_BYTES + 64 * 1024),
        }
    }

    async fn push(&mut self, data: &[u8]) -> Result<(), ExportError> {
        self.hasher.update(data);
        self.total += data.len() as u64;
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK_BYTES {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), ExportError> {
        if !self.buf.is_empty() {
            self.store
                .add_snapshot_chunk(self.snapshot_id, self.file, self.seq, &self.buf)
                .await?;
            self.seq += 1;
            self.buf.clear();
        }
        Ok(())
    }

    async fn finish(mut self) -> Result<FileEntry, ExportError> {
        self.flush().await?;
        Ok(FileEntry {
            name: self.file.to_owned(),
            bytes: self.total,
            sha256: crate::auth::hex(&self.hasher.finalize()),
        })
    }
}

/// Reads a stored manifest.
pub fn parse_manifest(json: &str) -> Result<Manifest, ExportError> {
    serde_json::from_str(json).map_err(|e| ExportError::Io(std::io::Error::other(e)))
}
