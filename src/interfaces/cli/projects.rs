//! `quorum project`: create, list, show and update projects from their TOML configuration.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;

use crate::domain::ProjectConfig;
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Create a project from a TOML configuration file.
    Create {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Email of the owning user.
        #[arg(long)]
        owner: Option<String>,
    },
    /// List projects with their progress.
    List,
    /// Show a project's configuration and progress.
    Show { slug: String },
    /// Change a project's settings from a TOML file (the slug in the file picks the project).
    /// A new answer schema or quorum rule re-evaluates every item at once.
    Update {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
}

pub(super) async fn run(store: &Store, command: ProjectCommand) -> Result<()> {
    match command {
        ProjectCommand::Create { config, owner } => {
            let text = std::fs::read_to_string(&config)
                .with_context(|| format!("reading {}", config.display()))?;
            let parsed = ProjectConfig::from_toml(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", config.display()))?;
            let owner_id = match owner {
                Some(email) => Some(
                    store
                        .user_by_name(&email.trim().to_lowercase())
                        .await?
                        .with_context(|| format!("no user {email}"))?
                        .id,
                ),
                None => None,
            };
            let project = store.create_project(&parsed, owner_id).await?;
            println!(
                "created project {} ({}): {}",
                project.slug(),
                project.config.name,
                project.rule().describe()
            );
            Ok(())
        }
        ProjectCommand::List => {
            let projects = store.list_projects().await?;
            if projects.is_empty() {
                println!("no projects yet: create one with `quorum project create --config FILE`");
            }
            for p in projects {
                let c = store.project_counts(p.id).await?;
                println!(
                    "{:<24} {:<12} items {:>8}  resolved {:>8}  unresolved {:>8}  pending {:>8}  judgments {:>9}",
                    p.slug(),
                    match p.rule().target() {
                        Some(t) => format!("p≥{t} {}..{}", p.rule().min(), p.rule().max()),
                        None => format!(
                            "{}/{} {}",
                            p.rule().agree(),
                            p.rule().max(),
                            p.rule().stop()
                        ),
                    },
                    c.items,
                    c.resolved,
                    c.unresolved,
                    c.pending,
                    c.judgments
                );
            }
            Ok(())
        }
        ProjectCommand::Update { config } => {
            let text = std::fs::read_to_string(&config)
                .with_context(|| format!("reading {}", config.display()))?;
            let parsed = ProjectConfig::from_toml(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", config.display()))?;
            let project = store.project_by_slug(&parsed.slug).await?;
            let (_, s) = store
                .reconfigure_project(&project, &parsed, crate::store::now_ms())
                .await
                .map_err(|e| anyhow::anyhow!("{}: {e}", config.display()))?;
            println!("updated project {}", parsed.slug);
            if s.rule_changed {
                println!(
                    "re-evaluated {} items with judgments: resolved {} -> {}, unresolved {} -> {}, \
                     pending {} -> {}, adjudicated {} (kept); {} judgments renormalised, {} leases ended",
                    s.reevaluated,
                    s.before.resolved,
                    s.after.resolved,
                    s.before.unresolved,
                    s.after.unresolved,
                    s.before.pending,
                    s.after.pending,
                    s.after.adjudicated,
                    s.renormalized,
                    s.leases_released
                );
            }
            Ok(())
        }
        ProjectCommand::Show { slug } => {
            let p = store.project_by_slug(&slug).await?;
            let c = store.project_counts(p.id).await?;
            print!("{}", p.config.to_toml());
            println!(
                "\n# items {}: resolved {}, unresolved {}, pending {}; judgments {}",
                c.items, c.resolved, c.unresolved, c.pending, c.judgments
            );
            Ok(())
        }
    }
}
