//! `quorum export`: labels, statistics, judgments and annotators files from one consistent
//! read of the project, optionally pinned as a snapshot.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;

use super::output::Output;
use super::progress::Bar;
use crate::interfaces::formats::export::{self, ProjectStats};
use crate::store::{Project, Store};

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[arg(long)]
    project: String,
    /// Labels file (`-` for standard output).
    #[arg(long, value_name = "FILE", required_unless_present = "snapshot")]
    out: Option<PathBuf>,
    /// Also pin every export file as an immutable snapshot with this name, downloadable later
    /// byte for byte (`quorum snapshot download`, or the API).
    #[arg(long, value_name = "NAME")]
    snapshot: Option<String>,
    /// Format of the labels and judgments files: `csv` or `jsonl` (one JSON object per line).
    #[arg(long, value_parser = ["csv", "jsonl"], default_value = "csv")]
    format: String,
    /// Only items with this status in the labels and judgments files (statistics always
    /// cover the whole project).
    #[arg(long, value_parser = ["pending", "resolved", "unresolved", "adjudicated"])]
    status: Option<String>,
    /// Statistics JSON.
    #[arg(long, value_name = "FILE")]
    stats: Option<PathBuf>,
    /// Judgments CSV (long format, re-importable).
    #[arg(long, value_name = "FILE")]
    judgments: Option<PathBuf>,
    /// Per-annotator agreement CSV.
    #[arg(long, value_name = "FILE")]
    annotators: Option<PathBuf>,
}

pub(super) async fn run(store: &Store, args: ExportArgs) -> Result<()> {
    let project: Project = store.project_by_slug(&args.project).await?;
    if let Some(out) = args.out.clone() {
        export_files(store, &project, &args, &out).await?;
    } else if args.stats.is_some() || args.judgments.is_some() || args.annotators.is_some() {
        bail!("--stats, --judgments and --annotators go with --out");
    }
    if let Some(name) = &args.snapshot {
        let manifest = crate::interfaces::formats::snapshot::create_snapshot(
            store,
            &project,
            name,
            None,
            crate::store::now_ms(),
        )
        .await?;
        eprintln!(
            "snapshot {} of {}: {} items, cursor {}",
            manifest.name, manifest.project, manifest.stats["items"], manifest.cursor
        );
        for f in &manifest.files {
            eprintln!(
                "  {:<16} {:>12} bytes  sha256 {}",
                f.name, f.bytes, f.sha256
            );
        }
    }
    Ok(())
}

/// The files named by `--out`, `--stats`, `--judgments` and `--annotators`.
async fn export_files(
    store: &Store,
    project: &Project,
    args: &ExportArgs,
    out_path: &std::path::Path,
) -> Result<()> {
    let project = project.clone();
    let counts = store.project_counts(project.id).await?;
    let bar = Bar::new();
    bar.phase_labels(counts.items);
    let format = if args.format == "jsonl" {
        export::Format::Jsonl
    } else {
        export::Format::Csv
    };
    let filter = crate::store::ItemFilter {
        status: args
            .status
            .as_deref()
            .and_then(crate::domain::Status::parse),
        since: None,
    };
    let shape = export::Shape::CSV.with_format(format).with_filter(filter);
    let mut snapshot = store.export_snapshot().await?;
    let mut labels = Output::create(out_path)?;
    let pass = export::write_labels(
        &mut snapshot,
        &project,
        &mut export::ExportOut::writer(&mut labels.writer),
        shape,
        &bar,
    )
    .await?;
    labels.commit()?;
    let need_stats = args.stats.is_some() || args.annotators.is_some();
    let stats: Option<ProjectStats> = if need_stats {
        let pass = if filter == crate::store::ItemFilter::default() {
            pass
        } else {
            // The labels were filtered: statistics need one more pass over every item.
            export::write_labels(
                &mut snapshot,
                &project,
                &mut export::ExportOut::writer(&mut std::io::sink()),
                export::Shape::CSV,
                &crate::store::NoProgress,
            )
            .await?
        };
        Some(export::finish_stats(&mut snapshot, pass).await?)
    } else {
        None
    };
    if let (Some(path), Some(stats)) = (&args.stats, &stats) {
        let mut out = Output::create(path)?;
        export::write_stats(stats, &mut out.writer)?;
        out.commit()?;
    }
    if let (Some(path), Some(stats)) = (&args.annotators, &stats) {
        let mut out = Output::create(path)?;
        export::write_annotators(stats, &mut out.writer, export::Cells::Exact)?;
        out.commit()?;
    }
    if let Some(path) = &args.judgments {
        crate::store::Progress::phase(&bar, "judgments", counts.judgments);
        let mut out = Output::create(path)?;
        export::write_judgments(
            &mut snapshot,
            &project,
            &mut export::ExportOut::writer(&mut out.writer),
            shape,
            &bar,
        )
        .await?;
        out.commit()?;
    }
    snapshot.close().await?;
    bar.finish();
    if out_path.as_os_str() != "-" {
        println!(
            "exported {} items ({} resolved, {} unresolved, {} pending) to {}",
            counts.items,
            counts.resolved,
            counts.unresolved,
            counts.pending,
            out_path.display()
        );
    }
    Ok(())
}
