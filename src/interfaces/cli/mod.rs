//! The `quorum` command line: the argument tree and the dispatch to one module per command
//! group (`serve`, `user`, `project`, `items`/`judgments`, `export`, `snapshot`, `token`,
//! `plan`).

mod demo;
mod exports;
mod imports;
mod model;
mod output;
mod plan;
mod progress;
mod projects;
mod serve;
pub mod settings;
mod snapshots;
mod tokens;
mod users;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::store::{Store, StoreOptions};
pub use exports::ExportArgs;
pub use imports::{ItemsCommand, JudgmentsCommand};
pub use model::ModelCommand;
pub use plan::PlanArgs;
pub use projects::ProjectCommand;
pub use serve::WebArgs;
pub use settings::Settings;
pub use snapshots::SnapshotCommand;
pub use tokens::TokenCommand;
pub use users::UserCommand;

/// Crowd-sourced data labeling: an item is accepted only when a quorum of annotators agrees.
#[derive(Debug, Parser)]
#[command(name = "quorum", version, about, long_about = None)]
pub struct Cli {
    /// Settings file (TOML): `database`, `log` and a `[server]` table. Flags and QUORUM_*
    /// variables override it. Goes before the command (`quorum --config FILE project list`;
    /// `serve` and `demo` take it after theirs too).
    #[arg(long, env = "QUORUM_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Database URL: sqlite://FILE (created when missing) or postgres://USER@HOST/DB
    /// [default: sqlite://quorum.db].
    #[arg(long, global = true, env = "QUORUM_DATABASE_URL", value_name = "URL")]
    pub database: Option<String>,

    /// Log filter, e.g. `debug` or `info,quorum::store=debug` [default: info for serve and
    /// demo, warn otherwise].
    #[arg(long, global = true, env = "QUORUM_LOG", value_name = "FILTER")]
    pub log: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or upgrade the database schema (every command also does this first).
    Migrate,
    /// Load the demo projects and accounts, then serve the app (demo mode: loopback by default).
    Demo {
        #[command(flatten)]
        web: WebArgs,
        /// Load the demo data and exit without serving.
        #[arg(long)]
        no_serve: bool,
    },
    /// Serve the browser app.
    Serve {
        #[command(flatten)]
        web: WebArgs,
    },
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage projects.
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Import items.
    #[command(subcommand)]
    Items(ItemsCommand),
    /// Import judgments.
    #[command(subcommand)]
    Judgments(JudgmentsCommand),
    /// Export resolved labels, statistics, judgments and annotators.
    Export(ExportArgs),
    /// Manage API tokens (`Authorization: Bearer <token>`).
    #[command(subcommand)]
    Token(TokenCommand),
    /// List and download snapshots (create them with `quorum export --snapshot NAME`).
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// What each quorum rule costs and delivers for a crowd of given accuracy (exact, no
    /// database needed), and the cheapest one that reaches a target accuracy.
    Plan(PlanArgs),
    /// The crowd model behind confidence stopping: fit it now, or show it.
    #[command(subcommand)]
    Model(ModelCommand),
}

/// The settings of this run: flags, then environment, then the `--config` file, then defaults.
pub fn settings(cli: &Cli) -> Result<Settings> {
    let web = match &cli.command {
        Command::Serve { web } | Command::Demo { web, .. } => Some(web),
        _ => None,
    };
    let overrides = settings::Overrides {
        database: cli.database.clone(),
        log: cli.log.clone(),
        bind: web.and_then(|w| w.bind.clone()),
        secure_cookies: web.and_then(|w| w.secure_cookies),
        session_key: web.and_then(|w| w.session_key.clone()),
        session_key_file: web.and_then(|w| w.session_key_file.clone()),
        session_idle_minutes: web.and_then(|w| w.session_idle_minutes),
        session_lifetime_minutes: web.and_then(|w| w.session_lifetime_minutes),
    }
    .session_key_flag_over_env(|var| std::env::var_os(var));
    let config = web
        .and_then(|w| w.config.as_deref())
        .or(cli.config.as_deref());
    settings::resolve(overrides, config)
}

/// Runs the CLI with the settings from [`settings`]; the process exit code follows the result.
pub async fn run(cli: Cli, settings: Settings) -> Result<()> {
    if let Command::Plan(args) = &cli.command
        && args.project.is_none()
    {
        // Pure arithmetic: no database is opened (or created).
        return plan::run(args, &mut std::io::stdout().lock());
    }
    let database = settings.database.as_str();
    let options = StoreOptions::new(database);
    let store = Store::open(&options)
        .await
        .with_context(|| format!("opening {}", crate::store::redact(database)))?;
    let result = dispatch(&store, &settings, cli.command).await;
    store.close().await;
    result
}

async fn dispatch(store: &Store, settings: &Settings, command: Command) -> Result<()> {
    match command {
        Command::Migrate => {
            println!("database is up to date");
            Ok(())
        }
        Command::Demo { no_serve, .. } => {
            demo::run(store, settings.database.as_str()).await?;
            if no_serve {
                return Ok(());
            }
            serve::serve(store, settings, true).await
        }
        Command::Serve { .. } => serve::serve(store, settings, false).await,
        Command::User(command) => users::run(store, command).await,
        Command::Project(command) => projects::run(store, command).await,
        Command::Items(command) => imports::items(store, command).await,
        Command::Judgments(command) => imports::judgments(store, command).await,
        Command::Export(args) => exports::run(store, args).await,
        Command::Token(command) => tokens::run(store, command).await,
        Command::Snapshot(command) => snapshots::run(store, command).await,
        Command::Plan(args) => {
            plan::run_for_project(store, &args, &mut std::io::stdout().lock()).await
        }
        Command::Model(command) => model::run(store, command).await,
    }
}
