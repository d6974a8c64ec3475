//! The crowd-model pass of an export: every judgment of the project read once, fitted by
//! Dawid–Skene (`domain::crowd`), and gathered for the per-annotator statistics on the way.
//! The model always covers the whole project, so a filtered or incremental labels export
//! reports the same confidence for an item as a full one from the same data. When nothing the
//! fit reads changed since the last re-fit, the export reads the cells that re-fit stored
//! instead (the same bytes: the fit is deterministic) and skips this pass.

use tokio::sync::mpsc;

use super::error::ExportError;
use crate::domain::Status;
use crate::domain::consensus_stats::ConsensusAccumulator;
use crate::domain::crowd::dawid_skene::Options;
use crate::domain::crowd::project_model::{CrowdModel, ModelBuilder};
use crate::store::{ExportSnapshot, JudgedItem, Project};

/// The fitted model and the consensus counts of the same pass.
pub(super) struct ModelPass {
    pub model: CrowdModel,
    pub consensus: ConsensusAccumulator,
}

/// Counts the item's judgments against its label when it is resolved.
fn add_consensus(consensus: &mut ConsensusAccumulator, item: &JudgedItem<'_>) {
    let resolved = item.label.filter(|_| item.status == Status::Resolved);
    for (annotator, answer) in item.judgments() {
        consensus.add(annotator, answer, resolved, item.item_judgments);
    }
}

/// The consensus counts alone, for the stats of an export that read the model cells stored
/// by the last re-fit instead of fitting.
pub(super) async fn consensus_pass(
    snapshot: &mut ExportSnapshot,
    project_id: i64,
) -> Result<ConsensusAccumulator, ExportError> {
    let (page_tx, mut page_rx) = mpsc::channel(1);
    let produce = async {
        snapshot
            .send_judged_pages(project_id, page_tx)
            .await
            .map_err(ExportError::from)
    };
    let consume = async {
        let mut consensus = ConsensusAccumulator::new();
        while let Some(page) = page_rx.recv().await {
            for item in page.items() {
                add_consensus(&mut consensus, &item);
            }
        }
        Ok::<_, ExportError>(consensus)
    };
    let ((), consensus) = tokio::try_join!(produce, consume)?;
    Ok(consensus)
}

/// Reads the project's judgments in `snapshot` and fits its model. Adjudicated items are taken
/// as known answers: the owner's decision is the strongest evidence the project has.
pub(super) async fn model_pass(
    snapshot: &mut ExportSnapshot,
    project: &Project,
) -> Result<ModelPass, ExportError> {
    // The next page is read while this one is added.
    let (page_tx, mut page_rx) = mpsc::channel(1);
    let produce = async {
        snapshot
            .send_judged_pages(project.id, page_tx)
            .await
            .map_err(ExportError::from)
    };
    let consume = async {
        let mut builder = ModelBuilder::new(project.answer());
        let mut consensus = ConsensusAccumulator::new();
        while let Some(page) = page_rx.recv().await {
            for item in page.items() {
                if item.add_to(&mut builder) {
                    add_consensus(&mut consensus, &item);
                }
            }
        }
        Ok::<_, ExportError>((builder, consensus))
    };
    let ((), (builder, consensus)) = tokio::try_join!(produce, consume)?;
    let model = builder
        .fit(&Options::default())
        .map_err(|e| ExportError::Corrupt {
            item: "(crowd model)".into(),
            message: e.to_string(),
        })?;
    Ok(ModelPass { model, consensus })
}
