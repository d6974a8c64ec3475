//! The pure core: quorum rules, answer normalisation, tallies, agreement statistics and the
//! model of the crowd (Dawid–Skene, the quorum planner).
//! Nothing here does I/O, reads the clock or draws random numbers; everything is a function of
//! its arguments, so it is tested exhaustively in isolation.

pub mod chart;
pub mod config;
pub mod consensus_stats;
pub mod crowd;
pub mod normalize;
pub mod rule;
pub mod stats;
pub mod tally;

pub use config::{AnswerError, AnswerSpec, ConfigError, ProjectConfig, ProjectDraft};
pub use rule::{Outcome, QuorumRule, Status, StopMode, UsefulLeases};
pub use tally::Tally;
