//! A model of the crowd: how reliable each annotator is and how sure each label is
//! ([`dawid_skene`]), and what a quorum rule will cost and deliver before any money is spent
//! ([`planner`]); [`annotator_model`] keeps a fit's estimates for confidence stopping.

pub mod annotator_model;
pub mod dawid_skene;
pub mod planner;
pub mod project_model;
