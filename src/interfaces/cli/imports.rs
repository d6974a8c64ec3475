//! `quorum items import` and `quorum judgments import`: CSV files into a project, with a
//! progress bar and a one-line summary.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;

use super::progress::Bar;
use crate::interfaces::formats::import_csv;
use crate::store::{ImportSummary, Store};

#[derive(Debug, Subcommand)]
pub enum ItemsCommand {
    /// Import items from a CSV with a header row: an optional `item_id` column, every other
    /// column an input field.
    Import {
        #[arg(long)]
        project: String,
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum JudgmentsCommand {
    /// Import judgments: long format `item_id,annotator,answer` or Mechanical Turk batch results.
    Import {
        #[arg(long)]
        project: String,
        /// Answer column of a Mechanical Turk file with several (`NAME` or `Answer.NAME`).
        #[arg(long, value_name = "NAME")]
        answer_field: Option<String>,
        /// Do not re-fit the crowd model afterwards (by default an import that added
        /// judgments ends with `quorum model fit`, so exports read the stored model cells).
        #[arg(long)]
        no_fit: bool,
        file: PathBuf,
    },
}

pub(super) async fn items(store: &Store, command: ItemsCommand) -> Result<()> {
    match command {
        ItemsCommand::Import { project, file } => {
            let project = store.project_by_slug(&project).await?;
            let parsed = import_csv::parse_items(&file.display().to_string(), open(&file)?)?;
            let bar = Bar::new();
            let summary = store
                .import_items(&project, &parsed.field_names, parsed.records, &bar)
                .await
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            bar.finish();
            let filled = if summary.items_updated > 0 {
                format!(
                    ", {} existing items given their fields",
                    summary.items_updated
                )
            } else {
                String::new()
            };
            println!(
                "{}: {} rows read, {} items added, {} skipped as already present{filled}",
                file.display(),
                summary.rows_read,
                summary.items_created,
                summary.skipped_present
            );
            Ok(())
        }
    }
}

pub(super) async fn judgments(store: &Store, command: JudgmentsCommand) -> Result<()> {
    match command {
        JudgmentsCommand::Import {
            project,
            answer_field,
            no_fit,
            file,
        } => {
            let project = store.project_by_slug(&project).await?;
            let parsed = import_csv::parse_judgments(
                &file.display().to_string(),
                open(&file)?,
                answer_field.as_deref(),
            )?;
            let bar = Bar::new();
            let rejected = parsed.rejected;
            let rows = parsed.batch.records.len() as u64 + rejected;
            let mut summary = store
                .import_judgments(&project, &parsed.batch, &bar)
                .await
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            bar.finish();
            summary.rows_read = rows;
            summary.skipped_rejected = rejected;
            println!("{}: {}", file.display(), judgment_summary(&summary));
            if summary.judgments_added > 0 && !no_fit {
                eprint!("fitting the crowd model…");
                let s = store.refit_model(&project).await?;
                eprintln!();
                println!("{}", super::model::refit_line(&s));
            }
            Ok(())
        }
    }
}

/// The one-line summary every judgments import ends with.
fn judgment_summary(s: &ImportSummary) -> String {
    let mut line = format!(
        "{} rows read, {} judgments added, {} skipped as already present, {} items created, {} annotators created",
        s.rows_read, s.judgments_added, s.skipped_present, s.items_created, s.annotators_created
    );
    if s.skipped_rejected > 0 {
        line.push_str(&format!(
            ", {} rejected assignments skipped",
            s.skipped_rejected
        ));
    }
    line
}

fn open(path: &Path) -> Result<std::io::BufReader<File>> {
    let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    Ok(std::io::BufReader::with_capacity(1 << 16, f))
}
