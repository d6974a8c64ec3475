//! `quorum model`: the crowd model behind confidence stopping, fitted on demand and shown.

use anyhow::Result;
use clap::Subcommand;

use crate::store::{RefitSummary, Store};

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Fit the project's crowd model to every judgment now and apply it: pending items that
    /// reach the target resolve, and resolved items the new model no longer supports are
    /// flagged for review (never changed). `quorum serve` also re-fits by itself as
    /// judgments arrive.
    Fit {
        #[arg(long, value_name = "SLUG")]
        project: String,
    },
    /// The stored model's version and fit, and the resolved items flagged for review.
    Show {
        #[arg(long, value_name = "SLUG")]
        project: String,
    },
}

pub(super) async fn run(store: &Store, command: ModelCommand) -> Result<()> {
    match command {
        ModelCommand::Fit { project } => {
            let project = store.project_by_slug(&project).await?;
            let s = store.refit_model(&project).await?;
            println!("{}", refit_line(&s));
            Ok(())
        }
        ModelCommand::Show { project } => {
            let project = store.project_by_slug(&project).await?;
            println!("rule: {}", project.rule());
            match store.model_info(&project).await? {
                None => println!(
                    "no model fitted yet: confidence stopping uses the cold-start estimates"
                ),
                Some(info) => println!(
                    "model v{}: {} judgments, {} iterations{}, fitted {}",
                    info.version,
                    info.judgments,
                    info.iterations,
                    if info.converged {
                        ", converged"
                    } else {
                        ", not converged"
                    },
                    chrono::DateTime::from_timestamp_millis(info.fitted_at)
                        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                        .unwrap_or_default()
                ),
            }
            let reviews = store.model_reviews(&project).await?;
            println!("{} resolved item(s) flagged for review", reviews.len());
            for r in reviews {
                println!(
                    "  {}: label {} at {:.6}, model says {} at {:.6} (v{})",
                    r.item_id,
                    r.label,
                    r.label_posterior,
                    r.model_label,
                    r.model_posterior,
                    r.model_version
                );
            }
            Ok(())
        }
    }
}

/// What a re-fit did, in one line (`quorum model fit`, and the end of a judgments import).
pub(super) fn refit_line(s: &RefitSummary) -> String {
    format!(
        "crowd model v{} fitted to {} judgments of {} annotators in {} iterations{}: {} pending items resolved, {} resolved items flagged for review",
        s.version,
        s.judgments,
        s.annotators,
        s.iterations,
        if s.converged { "" } else { " (not converged)" },
        s.resolved,
        s.flagged
    )
}
