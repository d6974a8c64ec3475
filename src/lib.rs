//! Quorum: crowd-sourced data labeling where an item is accepted only when a quorum agrees.
//!
//! Three layers, each in its own folder:
//! - [`domain`]: pure rules — quorum decisions, normalisation, tallies, agreement statistics;
//! - [`store`]: the database (SQLite or PostgreSQL), the only place with SQL;
//! - [`interfaces`]: the CLI (and later the web app and HTTP API), kept thin.

pub mod auth;
pub mod domain;
pub mod interfaces;
pub mod store;
