//! `quorum snapshot`: list a project's pinned exports and download one, checksums verified.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Subcommand;

use super::output::Output;
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// A project's snapshots, newest first.
    List {
        #[arg(long)]
        project: String,
    },
    /// Writes every file of a snapshot and its manifest.json into a directory, checking each
    /// file's SHA-256 against the manifest.
    Download {
        #[arg(long)]
        project: String,
        #[arg(long)]
        name: String,
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
}

pub(super) async fn run(store: &Store, command: SnapshotCommand) -> Result<()> {
    use crate::interfaces::formats::snapshot::parse_manifest;
    use futures_util::TryStreamExt;
    use sha2::{Digest, Sha256};
    match command {
        SnapshotCommand::List { project } => {
            let p = store.project_by_slug(&project).await?;
            let snapshots = store.list_snapshots(p.id).await?;
            if snapshots.is_empty() {
                println!(
                    "no snapshots yet: create one with `quorum export --project {project} --snapshot NAME`"
                );
            }
            for s in snapshots {
                let m = parse_manifest(s.manifest.as_deref().unwrap_or(""))?;
                let bytes: u64 = m.files.iter().map(|f| f.bytes).sum();
                println!(
                    "{:<28} {}  items {:>8}  cursor {:>8}  {:>12} bytes",
                    m.name, m.generated_at, m.stats["items"], m.cursor, bytes
                );
            }
            Ok(())
        }
        SnapshotCommand::Download { project, name, dir } => {
            let p = store.project_by_slug(&project).await?;
            let s = store.snapshot_by_name(p.id, &name).await?;
            let json = s.manifest.unwrap_or_default();
            let m = parse_manifest(&json)?;
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            for f in &m.files {
                let path = dir.join(&f.name);
                let mut out = Output::create(&path)?;
                let mut hasher = Sha256::new();
                let mut chunks = Box::pin(store.stream_snapshot_file(s.id, &f.name));
                while let Some(chunk) = chunks.try_next().await? {
                    hasher.update(&chunk);
                    std::io::Write::write_all(&mut out.writer, &chunk)
                        .with_context(|| format!("writing {}", path.display()))?;
                }
                let sha: String = hasher
                    .finalize()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                if sha != f.sha256 {
                    bail!(
                        "{}: SHA-256 {sha} does not match the manifest's {}",
                        f.name,
                        f.sha256
                    );
                }
                out.commit()?;
            }
            let path = dir.join("manifest.json");
            std::fs::write(&path, format!("{json}\n"))
                .with_context(|| format!("writing {}", path.display()))?;
            println!(
                "snapshot {} written to {} ({} files, checksums verified)",
                m.name,
                dir.display(),
                m.files.len()
            );
            Ok(())
        }
    }
}
