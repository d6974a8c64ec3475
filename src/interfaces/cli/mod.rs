//! The `quorum` command line.

mod demo;
mod progress;
pub mod settings;

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use crate::domain::ProjectConfig;
use crate::interfaces::formats::export::{self, ProjectStats};
use crate::interfaces::formats::import_csv;
use crate::store::{ImportSummary, NewUser, Project, Role, Store, StoreOptions};
use progress::Bar;
pub use settings::Settings;

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
}

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

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a login user. The password is read from standard input, or prompted for on a terminal.
    Add {
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = ["admin", "owner", "annotator"])]
        role: String,
    },
    /// List users.
    List,
}

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

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print its secret once on standard output. Only its SHA-256 hash is
    /// stored: the secret cannot be shown again.
    Create {
        /// Email of the token's user (a login user who is not disabled).
        #[arg(long, value_name = "EMAIL")]
        user: String,
        /// `export` (read a project's data; owners and admins), `import` (add items to projects
        /// the user manages; owners and admins), `annotate` (label as the user), or several:
        /// `export,import` or the flag repeated.
        #[arg(long = "scope", value_name = "SCOPES", required = true)]
        scopes: Vec<String>,
        /// Limit the token to this project (the user must manage it for `export` and `import`,
        /// be a member, its owner or an admin for `annotate`).
        #[arg(long, value_name = "SLUG")]
        project: Option<String>,
        /// A name to recognise the token by [default: "token YYYY-MM-DD"].
        #[arg(long)]
        name: Option<String>,
    },
    /// List tokens (never their secrets): id, user, name, prefix, scopes, project, created,
    /// last used, status.
    List {
        /// Only this user's tokens.
        #[arg(long, value_name = "EMAIL")]
        user: Option<String>,
    },
    /// Revoke a token: it stops working at once.
    Revoke { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum ItemsCommand {
    /// Import items from a CSV with a header row: an optional `item_id` column, every other
    /// column an input field.
    Import {
        #[arg(long)]
        project: String,
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum JudgmentsCommand {
    /// Import judgments: long format `item_id,annotator,answer` or Mechanical Turk batch results.
    Import {
        #[arg(long)]
        project: String,
        /// Answer column of a Mechanical Turk file with several (`NAME` or `Answer.NAME`).
        #[arg(long, value_name = "NAME")]
        answer_field: Option<String>,
        file: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct WebArgs {
    /// Settings file (TOML), as `quorum --config FILE serve`.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "QUORUM_BIND", value_name = "ADDR")]
    bind: Option<String>,
    /// Mark the session cookie Secure (when served over HTTPS); `--secure-cookies=false`
    /// overrides a configuration file.
    #[arg(
        long,
        env = "QUORUM_SECURE_COOKIES",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    secure_cookies: Option<bool>,
    /// Base64 of at least 64 random bytes that sign session cookies; give every instance the
    /// same key. Without it a key is generated and sessions end when the process does.
    #[arg(
        long,
        env = "QUORUM_SESSION_KEY",
        hide_env_values = true,
        value_name = "B64"
    )]
    session_key: Option<String>,
    /// A file holding the session key (base64), instead of --session-key.
    #[arg(long, env = "QUORUM_SESSION_KEY_FILE", value_name = "FILE")]
    session_key_file: Option<PathBuf>,
    /// Minutes without a request after which a browser session ends [default: 120].
    #[arg(long, env = "QUORUM_SESSION_IDLE_MINUTES", value_name = "MINUTES")]
    session_idle_minutes: Option<u64>,
    /// Minutes after login after which a browser session ends, however active [default: 720].
    #[arg(long, env = "QUORUM_SESSION_LIFETIME_MINUTES", value_name = "MINUTES")]
    session_lifetime_minutes: Option<u64>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[arg(long)]
    project: String,
    /// Labels file (`-` for standard output).
    #[arg(long, value_name = "FILE", required_unless_present = "snapshot")]
    out: Option<PathBuf>,
    /// Also pin every export file as an immutable snapshot with this name, downloadable later
    /// byte for byte (`quorum snapshot download`, or the API).
    #[arg(long, value_name = "NAME")]
    snapshot: Option<String>,
    /// Format of the labels and judgments files: `csv` or `jsonl` (one JSON object per line).
    #[arg(long, value_parser = ["csv", "jsonl"], default_value = "csv")]
    format: String,
    /// Only items with this status in the labels and judgments files (statistics always
    /// cover the whole project).
    #[arg(long, value_parser = ["pending", "resolved", "unresolved", "adjudicated"])]
    status: Option<String>,
    /// Statistics JSON.
    #[arg(long, value_name = "FILE")]
    stats: Option<PathBuf>,
    /// Judgments CSV (long format, re-importable).
    #[arg(long, value_name = "FILE")]
    judgments: Option<PathBuf>,
    /// Per-annotator agreement CSV.
    #[arg(long, value_name = "FILE")]
    annotators: Option<PathBuf>,
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
    let database = settings.database.as_str();
    match command {
        Command::Migrate => {
            println!("database is up to date");
            Ok(())
        }
        Command::Demo { no_serve, .. } => {
            demo::run(store, database).await?;
            if no_serve {
                return Ok(());
            }
            serve(store, settings, true).await
        }
        Command::Serve { .. } => serve(store, settings, false).await,
        Command::User(UserCommand::Add { email, role }) => user_add(store, &email, &role).await,
        Command::User(UserCommand::List) => {
            for u in store.list_users().await? {
                println!(
                    "{:<6} {:<10} {}{}{}",
                    u.id,
                    u.role.as_str(),
                    u.name,
                    if u.external { " (external)" } else { "" },
                    if u.disabled { " (disabled)" } else { "" }
                );
            }
            Ok(())
        }
        Command::Project(ProjectCommand::Create { config, owner }) => {
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
                "created project {} ({}): {} of at most {} must agree, stop {}",
                project.slug(),
                project.config.name,
                project.rule().agree(),
                project.rule().max(),
                project.rule().stop()
            );
            Ok(())
        }
        Command::Project(ProjectCommand::List) => {
            let projects = store.list_projects().await?;
            if projects.is_empty() {
                println!("no projects yet: create one with `quorum project create --config FILE`");
            }
            for p in projects {
                let c = store.project_counts(p.id).await?;
                println!(
                    "{:<24} {:>3}/{:<3} {:<6} items {:>8}  resolved {:>8}  unresolved {:>8}  pending {:>8}  judgments {:>9}",
                    p.slug(),
                    p.rule().agree(),
                    p.rule().max(),
                    p.rule().stop().as_str(),
                    c.items,
                    c.resolved,
                    c.unresolved,
                    c.pending,
                    c.judgments
                );
            }
            Ok(())
        }
        Command::Project(ProjectCommand::Update { config }) => {
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
        Command::Project(ProjectCommand::Show { slug }) => {
            let p = store.project_by_slug(&slug).await?;
            let c = store.project_counts(p.id).await?;
            print!("{}", p.config.to_toml());
            println!(
                "\n# items {}: resolved {}, unresolved {}, pending {}; judgments {}",
                c.items, c.resolved, c.unresolved, c.pending, c.judgments
            );
            Ok(())
        }
        Command::Items(ItemsCommand::Import { project, file }) => {
            let project = store.project_by_slug(&project).await?;
            let parsed = import_csv::parse_items(&file.display().to_string(), open(&file)?)?;
            let bar = Bar::new();
            let summary = store
                .import_items(&project, &parsed.field_names, parsed.records, &bar)
                .await
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            bar.finish();
            let filled = if summary.items_updated > 0 {
                format!(
                    ", {} existing items given their fields",
                    summary.items_updated
                )
            } else {
                String::new()
            };
            println!(
                "{}: {} rows read, {} items added, {} skipped as already present{filled}",
                file.display(),
                summary.rows_read,
                summary.items_created,
                summary.skipped_present
            );
            Ok(())
        }
        Command::Judgments(JudgmentsCommand::Import {
            project,
            answer_field,
            file,
        }) => {
            let project = store.project_by_slug(&project).await?;
            let parsed = import_csv::parse_judgments(
                &file.display().to_string(),
                open(&file)?,
                answer_field.as_deref(),
            )?;
            let bar = Bar::new();
            let rejected = parsed.rejected;
            let rows = parsed.batch.records.len() as u64 + rejected;
            let mut summary = store
                .import_judgments(&project, &parsed.batch, &bar)
                .await
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            bar.finish();
            summary.rows_read = rows;
            summary.skipped_rejected = rejected;
            println!("{}: {}", file.display(), judgment_summary(&summary));
            Ok(())
        }
        Command::Export(args) => export_command(store, args).await,
        Command::Token(command) => token_command(store, command).await,
        Command::Snapshot(command) => snapshot_command(store, command).await,
    }
}

async fn token_command(store: &Store, command: TokenCommand) -> Result<()> {
    use crate::interfaces::tokens;
    let now = crate::store::now_ms();
    match command {
        TokenCommand::Create {
            user,
            scopes,
            project,
            name,
        } => {
            let scopes = crate::store::Scopes::parse(&scopes.join(","))
                .map_err(|e| anyhow::anyhow!("--scope: {e}"))?;
            let user = tokens::user_by_email(store, &user).await?;
            let issued = tokens::issue(
                store,
                &user,
                scopes,
                project.as_deref(),
                name.as_deref(),
                now,
            )
            .await?;
            let t = &issued.token;
            eprintln!(
                "created token {} {:?} for {} (scopes {}, {}); it is shown only this once: store it now",
                t.id,
                t.name,
                user.name,
                t.scopes.as_string(),
                match &project {
                    Some(slug) => format!("project {}", slug.trim()),
                    None => "all projects".into(),
                }
            );
            println!("{}", issued.secret);
            Ok(())
        }
        TokenCommand::List { user } => {
            let filter = match user {
                Some(email) => Some(tokens::user_by_email(store, &email).await?),
                None => None,
            };
            let list = store.list_tokens(filter.as_ref().map(|u| u.id)).await?;
            if list.is_empty() {
                println!(
                    "no tokens yet: create one with `quorum token create --user EMAIL --scope SCOPES`"
                );
                return Ok(());
            }
            let users: std::collections::HashMap<i64, String> = store
                .list_users()
                .await?
                .into_iter()
                .map(|u| (u.id, u.name))
                .collect();
            let projects: std::collections::HashMap<i64, String> = store
                .list_projects()
                .await?
                .into_iter()
                .map(|p| (p.id, p.config.slug))
                .collect();
            println!(
                "{:<5} {:<24} {:<20} {:<15} {:<22} {:<20} {:<20} {:<20} STATUS",
                "ID", "USER", "NAME", "PREFIX", "SCOPES", "PROJECT", "CREATED", "LAST USED"
            );
            for t in list {
                println!(
                    "{:<5} {:<24} {:<20} {:<15} {:<22} {:<20} {:<20} {:<20} {}",
                    t.id,
                    users.get(&t.user_id).map_or("?", String::as_str),
                    t.name,
                    format!("{}…", t.prefix),
                    t.scopes.as_string(),
                    match t.project_id {
                        Some(id) => projects.get(&id).map_or("?", String::as_str),
                        None => "all projects",
                    },
                    tokens::format_time(t.created_at),
                    t.last_used_at
                        .map_or_else(|| "never".into(), tokens::format_time),
                    match t.revoked_at {
                        Some(at) => format!("revoked {}", tokens::format_time(at)),
                        None => "active".into(),
                    }
                );
            }
            Ok(())
        }
        TokenCommand::Revoke { id } => {
            store.revoke_token(id, None, now).await?;
            println!("revoked token {id}");
            Ok(())
        }
    }
}

async fn serve(store: &Store, settings: &Settings, demo: bool) -> Result<()> {
    let session_key = match &settings.session_key {
        Some(key) => {
            let bytes = key.bytes()?;
            actix_web::cookie::Key::try_from(bytes.as_slice())
                .map_err(|_| anyhow::anyhow!("the session key must hold at least 64 bytes"))?
        }
        None => {
            if !demo {
                tracing::warn!(
                    "no session key (QUORUM_SESSION_KEY or server.session_key_file): sessions use a per-process key and end on restart"
                );
            }
            actix_web::cookie::Key::generate()
        }
    };
    if let Some(file) = &settings.file {
        tracing::info!(file = %file.display(), "configuration file read");
    }
    let bind = settings.bind.as_str();
    let listener = std::net::TcpListener::bind(bind).with_context(|| format!("binding {bind}"))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    println!("Quorum is serving on http://{addr}/  (Ctrl-C to stop)");
    crate::interfaces::server::serve(
        store.clone(),
        crate::interfaces::http::WebConfig {
            session_key,
            secure_cookies: settings.secure_cookies,
            demo,
            sessions: settings.sessions,
        },
        listener,
    )
    .await
    .context("serving")
}

/// The one-line summary every judgments import ends with.
pub fn judgment_summary(s: &ImportSummary) -> String {
    let mut line = format!(
        "{} rows read, {} judgments added, {} skipped as already present, {} items created, {} annotators created",
        s.rows_read, s.judgments_added, s.skipped_present, s.items_created, s.annotators_created
    );
    if s.skipped_rejected > 0 {
        line.push_str(&format!(
            ", {} rejected assignments skipped",
            s.skipped_rejected
        ));
    }
    line
}

fn open(path: &Path) -> Result<std::io::BufReader<File>> {
    let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    Ok(std::io::BufReader::with_capacity(1 << 16, f))
}

async fn user_add(store: &Store, email: &str, role: &str) -> Result<()> {
    let email = email.trim().to_lowercase();
    if !email.contains('@') || email.len() > 320 {
        bail!("--email {email:?} is not an email address");
    }
    let role = Role::parse(role).context("unknown role")?;
    let password = read_password()?;
    if password.chars().count() < 8 {
        bail!("the password must be at least 8 characters long");
    }
    let hash = tokio::task::spawn_blocking(move || crate::auth::hash_password(&password))
        .await
        .context("hashing the password")??;
    let user = store
        .create_user(&NewUser {
            email,
            role,
            password_hash: hash,
        })
        .await?;
    println!(
        "added {} {} (id {})",
        user.role.as_str(),
        user.name,
        user.id
    );
    Ok(())
}

/// A password from a no-echo prompt on a terminal, else the first line of standard input.
fn read_password() -> Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").context("reading the password")?;
        let again =
            rpassword::prompt_password("Repeat password: ").context("reading the password")?;
        if first != again {
            bail!("the passwords do not match");
        }
        Ok(first)
    } else {
        let mut input = String::new();
        std::io::stdin()
            .take(4096)
            .read_to_string(&mut input)
            .context("reading the password from standard input")?;
        Ok(input.lines().next().unwrap_or("").to_owned())
    }
}

/// A file written under a temporary name and renamed into place once complete, so a failed
/// export never leaves a truncated file where a pipeline expects a good one. Paths that are not
/// regular files (`/dev/null`, a named pipe, `/dev/stdout`) are written directly: renaming over
/// them would replace the device or pipe with a plain file.
struct Output {
    path: Option<PathBuf>,
    tmp: Option<PathBuf>,
    writer: Box<dyn Write>,
}

impl Output {
    fn create(path: &Path) -> Result<Output> {
        if path.as_os_str() == "-" {
            return Ok(Output {
                path: None,
                tmp: None,
                writer: Box::new(BufWriter::new(std::io::stdout())),
            });
        }
        if std::fs::metadata(path).is_ok_and(|m| !m.file_type().is_file()) {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .with_context(|| format!("opening {}", path.display()))?;
            return Ok(Output {
                path: None,
                tmp: None,
                writer: Box::new(BufWriter::with_capacity(1 << 16, file)),
            });
        }
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".partial");
        let tmp = PathBuf::from(tmp);
        let file = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        Ok(Output {
            path: Some(path.to_owned()),
            tmp: Some(tmp),
            writer: Box::new(BufWriter::with_capacity(1 << 16, file)),
        })
    }

    fn commit(mut self) -> Result<()> {
        self.writer.flush().context("writing the export")?;
        drop(std::mem::replace(
            &mut self.writer,
            Box::new(std::io::sink()),
        ));
        if let (Some(tmp), Some(path)) = (self.tmp.take(), &self.path) {
            std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(())
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if let Some(tmp) = &self.tmp {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

async fn export_command(store: &Store, args: ExportArgs) -> Result<()> {
    let project: Project = store.project_by_slug(&args.project).await?;
    if let Some(out) = args.out.clone() {
        export_files(store, &project, &args, &out).await?;
    } else if args.stats.is_some() || args.judgments.is_some() || args.annotators.is_some() {
        bail!("--stats, --judgments and --annotators go with --out");
    }
    if let Some(name) = &args.snapshot {
        let manifest = crate::interfaces::formats::snapshot::create_snapshot(
            store,
            &project,
            name,
            None,
            crate::store::now_ms(),
        )
        .await?;
        eprintln!(
            "snapshot {} of {}: {} items, cursor {}",
            manifest.name, manifest.project, manifest.stats["items"], manifest.cursor
        );
        for f in &manifest.files {
            eprintln!(
                "  {:<16} {:>12} bytes  sha256 {}",
                f.name, f.bytes, f.sha256
            );
        }
    }
    Ok(())
}

async fn snapshot_command(store: &Store, command: SnapshotCommand) -> Result<()> {
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

/// The files named by `--out`, `--stats`, `--judgments` and `--annotators`.
async fn export_files(
    store: &Store,
    project: &Project,
    args: &ExportArgs,
    out_path: &std::path::Path,
) -> Result<()> {
    let project = project.clone();
    let counts = store.project_counts(project.id).await?;
    let bar = Bar::new();
    bar.phase_labels(counts.items);
    let format = if args.format == "jsonl" {
        export::Format::Jsonl
    } else {
        export::Format::Csv
    };
    let filter = crate::store::ItemFilter {
        status: args
            .status
            .as_deref()
            .and_then(crate::domain::Status::parse),
        since: None,
    };
    let shape = export::Shape::CSV.with_format(format).with_filter(filter);
    let mut snapshot = store.export_snapshot().await?;
    let mut labels = Output::create(out_path)?;
    let pass = export::write_labels(
        &mut snapshot,
        &project,
        &mut export::ExportOut::writer(&mut labels.writer),
        shape,
        &bar,
    )
    .await?;
    labels.commit()?;
    let need_stats = args.stats.is_some() || args.annotators.is_some();
    let stats: Option<ProjectStats> = if need_stats {
        let pass = if filter == crate::store::ItemFilter::default() {
            pass
        } else {
            // The labels were filtered: statistics need one more pass over every item.
            export::write_labels(
                &mut snapshot,
                &project,
                &mut export::ExportOut::writer(&mut std::io::sink()),
                export::Shape::CSV,
                &crate::store::NoProgress,
            )
            .await?
        };
        Some(export::finish_stats(&mut snapshot, &project, pass).await?)
    } else {
        None
    };
    if let (Some(path), Some(stats)) = (&args.stats, &stats) {
        let mut out = Output::create(path)?;
        export::write_stats(stats, &mut out.writer)?;
        out.commit()?;
    }
    if let (Some(path), Some(stats)) = (&args.annotators, &stats) {
        let mut out = Output::create(path)?;
        export::write_annotators(stats, &mut out.writer, export::Cells::Exact)?;
        out.commit()?;
    }
    if let Some(path) = &args.judgments {
        crate::store::Progress::phase(&bar, "judgments", counts.judgments);
        let mut out = Output::create(path)?;
        export::write_judgments(
            &mut snapshot,
            &project,
            &mut export::ExportOut::writer(&mut out.writer),
            shape,
            &bar,
        )
        .await?;
        out.commit()?;
    }
    snapshot.close().await?;
    bar.finish();
    if out_path.as_os_str() != "-" {
        println!(
            "exported {} items ({} resolved, {} unresolved, {} pending) to {}",
            counts.items,
            counts.resolved,
            counts.unresolved,
            counts.pending,
            out_path.display()
        );
    }
    Ok(())
}
