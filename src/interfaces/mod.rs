//! Thin interfaces over the domain and the store: parse input, call, render.

pub mod api;
pub mod cli;
pub mod formats;
pub mod http;
pub mod server;
pub mod tokens;
pub mod web;
