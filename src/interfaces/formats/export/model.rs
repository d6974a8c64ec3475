//! The crowd-model pass of an export: every judgment of the project read once, fitted by
//! Dawid–Skene (`domain::crowd`), and gathered for the per-annotator statistics on the way.
//! The model always covers the whole project, so a filtered or incremental labels export
//! reports the same confidence for an item as a full one from the same data.

use futures_util::TryStreamExt;

use super::error::ExportError;
use crate::domain::Status;
use crate::domain::consensus_stats::ConsensusAccumulator;
use crate::domain::crowd::dawid_skene::Options;
use crate::domain::crowd::project_model::{CrowdModel, ModelBuilder};
use crate::store::{ExportSnapshot, Project};

/// The fitted model and the consensus counts of the same pass.
pub(super) struct ModelPass {
    pub model: CrowdModel,
    pub consensus: ConsensusAccumulator,
}

/// Reads the project's judgments in `snapshot` and fits its model. Adjudicated items are taken
/// as known answers: the owner's decision is the strongest evidence the project has.
pub(super) async fn model_pass(
    snapshot: &mut ExportSnapshot,
    project: &Project,
) -> Result<ModelPass, ExportError> {
    let mut builder = ModelBuilder::new(project.answer());
    let mut consensus = ConsensusAccumulator::new();
    {
        let mut rows = Box::pin(snapshot.stream_judgment_outcomes(project.id));
        while let Some(item) = rows.try_next().await? {
            let resolved = (item.status == Status::Resolved)
                .then_some(item.label.as_deref())
                .flatten();
            for (annotator, answer) in &item.judgments {
                consensus.add(*annotator, answer, resolved, item.item_judgments);
            }
            let known = (item.status == Status::Adjudicated)
                .then_some(item.label.as_deref())
                .flatten();
            builder.add_item(
                item.item_id,
                item.judgments.iter().map(|(a, s)| (*a, s.as_str())),
                known,
            );
        }
    }
    let model = builder
        .fit(&Options::default())
        .map_err(|e| ExportError::Corrupt {
            item: "(crowd model)".into(),
            message: e.to_string(),
        })?;
    Ok(ModelPass { model, consensus })
}
