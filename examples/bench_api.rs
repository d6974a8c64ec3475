//! The HTTP API under load: streamed exports and the worker endpoints. See `bench/api.sh` and
//! `docs/benchmarks.md`.
//!
//! ```text
//! cargo build --release --bin quorum --example bench_api
//! target/release/examples/bench_api export          # --help for the knobs of each mode
//! target/release/examples/bench_api worker
//! ```
//!
//! Both modes prepare a fresh database through the library (`quorum::store`), start the release
//! binary as a child process as in production (`quorum --database … serve --bind
//! 127.0.0.1:PORT`, `QUORUM_LOG=warn` by default, output to a log file in a temporary work
//! directory) and talk to it over loopback HTTP with awc, on the same machine. With
//! `--wait-quiet SECS` every measurement first waits for the machine to be idle; each one reports
//! the CPU other processes used meanwhile.
//!
//! **export**, once per `--items` size (default 100,000 and 1,000,000):
//!
//! 1. A SQLite database with one text project (`handle` normaliser, 2 of at most 3 must agree)
//!    and N items with two input fields, each judged by `--per-item` (default 3) distinct
//!    annotators out of a pool of 200, with messy handle answers generated as in
//!    `examples/bench_data.rs`. The judgments go in through the store's real import
//!    (`Store::import_judgments`: normalised, validated, items decided), in batches of
//!    `--batch` items (one transaction each) so the generator's memory stays small. An owner
//!    gets an export token (`Store::create_token` with `quorum::auth::new_token`).
//! 2. The CLI export `quorum export --out labels.csv`, timed, and its SHA-256.
//! 3. Unless `--no-probe`, where a labels export's time goes, in this process on the same
//!    database: the export's items query read row by row through sqlx, the same rows in rowid
//!    order (no sort), the same columns packed 1,000 items to a row by SQLite, and
//!    `write_labels` into a byte counter.
//! 4. `quorum serve`; then for each of `--files` (default labels.csv, labels.jsonl,
//!    judgments.csv) `--runs` times: reset the server's peak-RSS counter (`5` to
//!    `/proc/PID/clear_refs`), `GET /api/v1/projects/{slug}/exports/{file}` with the bearer
//!    token, count the bytes of the chunked body without keeping them, and read the server's
//!    `VmHWM` afterwards (its VmRSS is also sampled every 10 ms, as a cross-check). Reports bytes,
//!    seconds from request to last byte, MB/s (10^6 bytes), peak RSS, and the CPU the server
//!    and this client used.
//! 5. One more (untimed) download of labels.csv hashed with SHA-256: it must equal the CLI's file
//!    byte for byte.
//!
//! **worker**, once per backend (SQLite; PostgreSQL too when `QUORUM_BENCH_POSTGRES_URL` names an
//! admin database to create a fresh database from, which is dropped afterwards unless `--keep`):
//!
//! 1. One multiple-choice project (7 of at most 9 must agree, `stop = "early"`) with `--items`
//!    items, and `--clients` (default 200) annotator accounts, members of it, each with an
//!    `annotate` token limited to the project. On PostgreSQL, then `VACUUM ANALYZE` (what
//!    autovacuum does soon after a bulk import; `--no-vacuum` skips it).
//! 2. `quorum serve`; every client has its own awc client (one keep-alive connection) and loops
//!    without think time for `--warmup` + `--duration` seconds: `POST
//!    /api/v1/projects/{slug}/next`, then `POST …/leases/{id}/submit` with `{"answer": …}` (the
//!    item's true option with probability `--accuracy`). One round trip = next + submit.
//! 3. Reports round trips/s over the measured window and p50/p90/p99/max of the round trip, of
//!    next and of submit, plus CPU used by the server, this client and PostgreSQL.
//! 4. Stops the server (SIGTERM) and checks the database: the API judgments stored equal the
//!    submits acknowledged with 200 (warm-up included), no item holds more than `max`
//!    judgments (by rows and by its counter), and the counters match the rows. Exits non-zero
//!    otherwise, or when a request failed.
//!
//! All clients run on one thread (actix's single-threaded runtime), on the same machine as the
//! server. Lines starting with `export-row:` and `worker-row:` are Markdown table rows for
//! `bench/api.sh` to collect.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use anyhow::{Context, Result, anyhow, bail, ensure};
use clap::{Parser, Subcommand};
use futures_util::StreamExt;
use quorum::domain::ProjectConfig;
use quorum::store::{
    ItemRecord, JudgmentBatch, NewToken, NewUser, NoProgress, Role, Scopes, Store, StoreOptions,
};
use sha2::{Digest, Sha256};
use sqlx::Row;

#[path = "bench_support/mod.rs"]
mod support;

use support::{
    Rng, Samples, Server, TEAMS, answer_index, client_seed, cores, cpu_seconds, finish_work_dir,
    free_port, machine_busy_seconds, micros, print_latency, print_latency_header, quorum_binary,
    wait_ready, work_dir,
};

// The server's allocator, so the in-process probe matches it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// HTTP API benchmark: streamed exports, and next + submit under concurrent workers.
#[derive(Debug, Parser)]
#[command(name = "bench_api")]
struct Args {
    #[command(subcommand)]
    mode: Mode,
    /// The quorum binary to serve with [default: target/release/quorum, next to examples/].
    #[arg(long, global = true, value_name = "PATH")]
    quorum: Option<PathBuf>,
    /// QUORUM_LOG for the server; `default` leaves the server's own default (info: one line
    /// per request).
    #[arg(long, global = true, env = "BENCH_SERVER_LOG", default_value = "warn")]
    server_log: String,
    /// Directory to make the work directory in (databases, exports, server log)
    /// [default: $TMPDIR].
    #[arg(long, global = true, env = "BENCH_DIR", value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Keep the work directory (and a PostgreSQL benchmark database) afterwards.
    #[arg(long, global = true)]
    keep: bool,
    /// Seed of the generated data and answers.
    #[arg(long, global = true, default_value_t = 42)]
    seed: u64,
    /// Before each measurement, wait up to this many seconds for the machine to be idle
    /// (other processes using under a tenth of a core for 2 s); 0 measures at once.
    #[arg(long, global = true, env = "BENCH_WAIT_QUIET", default_value_t = 0)]
    wait_quiet: u64,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Streamed exports over HTTP: MB/s and the server's peak RSS at each size.
    Export(ExportArgs),
    /// Worker clients looping next + submit: round trips/s and latency percentiles.
    Worker(WorkerArgs),
}

#[derive(Debug, clap::Args)]
struct ExportArgs {
    /// Project sizes in items, comma-separated; one fresh database each.
    #[arg(
        long,
        env = "BENCH_EXPORT_ITEMS",
        value_delimiter = ',',
        default_values_t = [100_000usize, 1_000_000]
    )]
    items: Vec<usize>,
    /// Judgments per item (distinct annotators; the rule allows at most 3).
    #[arg(long, env = "BENCH_PER_ITEM", default_value_t = 3)]
    per_item: usize,
    /// Export files to download, comma-separated.
    #[arg(
        long,
        env = "BENCH_FILES",
        value_delimiter = ',',
        default_values = ["labels.csv", "labels.jsonl", "judgments.csv"]
    )]
    files: Vec<String>,
    /// Timed downloads of each file.
    #[arg(long, env = "BENCH_RUNS", default_value_t = 1)]
    runs: usize,
    /// Items per import transaction while preparing.
    #[arg(long, default_value_t = 100_000)]
    batch: usize,
    /// Skip the in-process probe of where a labels export's time goes.
    #[arg(long)]
    no_probe: bool,
}

#[derive(Debug, clap::Args)]
struct WorkerArgs {
    /// Concurrent worker clients (one account, token, HTTP client and connection each).
    #[arg(long, env = "BENCH_CLIENTS", default_value_t = 200)]
    clients: usize,
    /// Items in the project (7 of at most 9 must agree: about 8 judgments an item).
    #[arg(long, env = "BENCH_WORKER_ITEMS", default_value_t = 50_000)]
    items: usize,
    /// Measured seconds.
    #[arg(long, env = "BENCH_DURATION", default_value_t = 20.0)]
    duration: f64,
    /// Seconds of load before measuring (not in the figures, but in the lost-judgment check).
    #[arg(long, env = "BENCH_WARMUP", default_value_t = 3.0)]
    warmup: f64,
    /// Probability that a worker answers an item's true option.
    #[arg(long, default_value_t = 0.9)]
    accuracy: f64,
    /// Backends, comma-separated: sqlite, postgres; `auto` is sqlite, plus postgres when
    /// --postgres-url is given.
    #[arg(long, env = "BENCH_BACKENDS", value_delimiter = ',', default_values = ["auto"])]
    backends: Vec<String>,
    /// PostgreSQL admin URL to create (and afterwards drop) a fresh database from, e.g.
    /// postgres://postgres@127.0.0.1:5432/postgres.
    #[arg(
        long,
        env = "QUORUM_BENCH_POSTGRES_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    postgres_url: Option<String>,
    /// PostgreSQL: skip the `VACUUM ANALYZE` after preparing (which stands in for the
    /// autovacuum that follows a bulk import within a minute or so in production).
    #[arg(long)]
    no_vacuum: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    actix_web::rt::System::new().block_on(async move {
        match &args.mode {
            Mode::Export(e) => export_mode(&args, e).await,
            Mode::Worker(w) => worker_mode(&args, w).await,
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Export mode
// ---------------------------------------------------------------------------------------------

const EXPORT_SLUG: &str = "bench-handles";

const EXPORT_PROJECT: &str = r#"name = "Athlete handles (export benchmark)"
slug = "bench-handles"
instructions = "Which Twitter handle belongs to this athlete?"

[answer]
kind = "text"
normalize = ["trim", "nfkc", "casefold", "handle"]

[quorum]
agree = 2
max = 3
stop = "fixed"
"#;

/// One timed download.
struct Download {
    bytes: u64,
    secs: f64,
    first_byte_secs: f64,
    sha256: Option<String>,
}

/// One row of the export table.
struct ExportRow {
    items: usize,
    file: String,
    bytes: u64,
    secs: f64,
    peak_rss_kib: Option<u64>,
    sampled_rss_kib: u64,
    server_cpu: Option<f64>,
    client_cpu: Option<f64>,
}

async fn export_mode(args: &Args, e: &ExportArgs) -> Result<()> {
    ensure!(!e.items.is_empty(), "--items needs at least one size");
    ensure!(
        (1..=3).contains(&e.per_item),
        "--per-item must be 1 to 3 (the rule allows at most 3)"
    );
    ensure!(
        e.runs > 0 && e.batch > 0,
        "--runs and --batch must be positive"
    );
    for f in &e.files {
        ensure!(
            matches!(
                f.as_str(),
                "labels.csv"
                    | "labels.jsonl"
                    | "judgments.csv"
                    | "judgments.jsonl"
                    | "annotators.csv"
                    | "stats.json"
            ),
            "unknown export file {f:?}"
        );
    }
    let quorum_bin = quorum_binary(args.quorum.as_deref())?;
    let work = work_dir(args.dir.as_deref(), "quorum-api-export-bench.")?;
    let mut rows = Vec::new();
    let mut summaries = Vec::new();
    let mut probes = Vec::new();
    let mut all_ok = true;
    for &n in &e.items {
        let db_path = work.path().join(format!("export-{n}.db"));
        let url = format!("sqlite://{}", db_path.display());
        println!();
        println!(
            "== {n} items x {} judgments, SQLite ({})",
            e.per_item,
            db_path.display()
        );
        let t = Instant::now();
        let token = prepare_export(&url, n, e, args.seed).await?;
        let db_bytes = file_size(&db_path) + file_size(&db_path.with_extension("db-wal"));
        println!(
            "prepared in {:.1} s: {} items, {} judgments through Store::import_judgments; database {:.0} MB",
            t.elapsed().as_secs_f64(),
            n,
            n * e.per_item,
            db_bytes as f64 / 1e6
        );

        // The CLI's labels.csv: the reference bytes (and a yardstick without HTTP).
        let cli_out = work.path().join(format!("cli-labels-{n}.csv"));
        let t = Instant::now();
        let out = Command::new(&quorum_bin)
            .args([
                "--database",
                &url,
                "export",
                "--project",
                EXPORT_SLUG,
                "--out",
            ])
            .arg(&cli_out)
            .env("QUORUM_LOG", "warn")
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {}", quorum_bin.display()))?;
        let cli_secs = t.elapsed().as_secs_f64();
        ensure!(
            out.status.success(),
            "quorum export failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let (cli_bytes, cli_sha) = sha256_file(&cli_out)?;
        std::fs::remove_file(&cli_out)
            .with_context(|| format!("removing {}", cli_out.display()))?;
        println!(
            "CLI `quorum export --out labels.csv`: {} bytes in {:.2} s ({:.0} MB/s, process start included), sha256 {}",
            cli_bytes,
            cli_secs,
            cli_bytes as f64 / 1e6 / cli_secs,
            &cli_sha[..16]
        );

        if !e.no_probe {
            for p in probe(&url, cli_bytes, Duration::from_secs(args.wait_quiet)).await? {
                println!(
                    "probe: {:<66} {:>6.2} s {:>6.2} µs/item (labels.csv at {:>4.0} MB/s), other CPU {} s",
                    p.what,
                    p.secs,
                    1e6 * p.secs / p.rows.max(1) as f64,
                    cli_bytes as f64 / 1e6 / p.secs,
                    secs_opt(p.other_cpu)
                );
                probes.push(format!(
                    "export-probe: | {n} | {} | {:.2} | {:.2} | {:.0} |",
                    p.what,
                    p.secs,
                    1e6 * p.secs / p.rows.max(1) as f64,
                    cli_bytes as f64 / 1e6 / p.secs
                ));
            }
        }

        let log_path = work.path().join(format!("server-export-{n}.log"));
        let port = free_port()?;
        let base = format!("http://127.0.0.1:{port}");
        let mut server = Server::start(&quorum_bin, &url, port, &args.server_log, &log_path)?;
        wait_ready(&base, &mut server).await?;
        let pid = server.pid();
        let idle = proc_status_kib(pid, "VmRSS").unwrap_or(0);
        println!(
            "server pid {pid} ready on {base} (QUORUM_LOG {}), idle RSS {:.1} MiB",
            args.server_log,
            idle as f64 / 1024.0
        );
        let client = awc::Client::builder()
            .timeout(Duration::from_secs(3600))
            .finish();
        println!(
            "{:<16} {:>12} {:>8} {:>8} {:>9} {:>9} {:>9} {:>9} {:>7} {:>9}",
            "file",
            "bytes",
            "s",
            "MB/s",
            "peak MiB",
            "sampled",
            "srv CPU",
            "cli CPU",
            "TTFB ms",
            "other CPU"
        );
        for file in &e.files {
            let url = format!("{base}/api/v1/projects/{EXPORT_SLUG}/exports/{file}");
            for _ in 0..e.runs {
                wait_quiet(Duration::from_secs(args.wait_quiet)).await;
                let hwm_reset = reset_peak_rss(pid);
                let sampler = RssSampler::start(pid);
                let (srv0, cli0, mach0) = (
                    cpu_seconds(pid),
                    cpu_seconds("self"),
                    machine_busy_seconds(),
                );
                let d = download(&client, &url, &token, false).await?;
                let (srv1, cli1, mach1) = (
                    cpu_seconds(pid),
                    cpu_seconds("self"),
                    machine_busy_seconds(),
                );
                let sampled = sampler.stop();
                let hwm = if hwm_reset {
                    proc_status_kib(pid, "VmHWM")
                } else {
                    None
                };
                let row = ExportRow {
                    items: n,
                    file: file.clone(),
                    bytes: d.bytes,
                    secs: d.secs,
                    peak_rss_kib: hwm,
                    sampled_rss_kib: sampled,
                    server_cpu: srv0.zip(srv1).map(|(a, b)| b - a),
                    client_cpu: cli0.zip(cli1).map(|(a, b)| b - a),
                };
                // Anything else running skews the figures: say how much there was.
                let other = match (mach0.zip(mach1), row.server_cpu, row.client_cpu) {
                    (Some((a, b)), Some(s), Some(c)) => Some((b - a - s - c).max(0.0)),
                    _ => None,
                };
                println!(
                    "{:<16} {:>12} {:>8.2} {:>8.1} {:>9} {:>9.1} {:>9} {:>9} {:>7.1} {:>9}",
                    file,
                    row.bytes,
                    row.secs,
                    row.bytes as f64 / 1e6 / row.secs,
                    row.peak_rss_kib
                        .map_or("?".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0)),
                    row.sampled_rss_kib as f64 / 1024.0,
                    secs_opt(row.server_cpu),
                    secs_opt(row.client_cpu),
                    d.first_byte_secs * 1000.0,
                    secs_opt(other)
                );
                rows.push(row);
            }
        }

        // Byte-for-byte check of the HTTP labels.csv against the CLI's.
        let url = format!("{base}/api/v1/projects/{EXPORT_SLUG}/exports/labels.csv");
        let d = download(&client, &url, &token, true).await?;
        let http_sha = d.sha256.unwrap_or_default();
        let same = http_sha == cli_sha && d.bytes == cli_bytes;
        all_ok &= same;
        println!(
            "labels.csv over HTTP vs `quorum export --out`: {} bytes sha256 {} vs {} bytes sha256 {}: {}",
            d.bytes,
            &http_sha[..16.min(http_sha.len())],
            cli_bytes,
            &cli_sha[..16],
            if same { "identical" } else { "DIFFERENT" }
        );
        let status = server.stop()?;
        println!("server exit: {status}");
        summaries.push(format!(
            "export-summary: | {n} | {} | {} | {:.2} | {:.0} | {:.1} | {} |",
            n * e.per_item,
            cli_bytes,
            cli_secs,
            cli_bytes as f64 / 1e6 / cli_secs,
            idle as f64 / 1024.0,
            if same { "identical" } else { "DIFFERENT" }
        ));
        if !args.keep {
            for suffix in ["db", "db-wal", "db-shm"] {
                let _ = std::fs::remove_file(db_path.with_extension(suffix));
            }
        }
    }

    println!();
    println!(
        "quorum API export: SQLite, server and client on {} cores, server QUORUM_LOG={}",
        cores(),
        args.server_log
    );
    for row in &rows {
        println!(
            "export-row: | {} | {} | {} | {:.2} | {:.1} | {} | {:.1} | {} | {} |",
            row.items,
            row.file,
            row.bytes,
            row.secs,
            row.bytes as f64 / 1e6 / row.secs,
            row.peak_rss_kib
                .map_or("?".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0)),
            row.sampled_rss_kib as f64 / 1024.0,
            secs_opt(row.server_cpu),
            secs_opt(row.client_cpu)
        );
    }
    for s in summaries.iter().chain(&probes) {
        println!("{s}");
    }
    // Flat memory: the peak of each file at the largest size against the smallest.
    if let (Some(&small), Some(&large)) = (e.items.iter().min(), e.items.iter().max())
        && small != large
    {
        for file in &e.files {
            let peak = |n: usize| {
                rows.iter()
                    .filter(|r| r.items == n && &r.file == file)
                    .filter_map(|r| r.peak_rss_kib)
                    .max()
            };
            if let (Some(a), Some(b)) = (peak(small), peak(large)) {
                println!(
                    "memory: {file} peak RSS {:.1} MiB at {small} items, {:.1} MiB at {large} items ({:+.1} MiB for {}x the items)",
                    a as f64 / 1024.0,
                    b as f64 / 1024.0,
                    (b as f64 - a as f64) / 1024.0,
                    large / small.max(1)
                );
            }
        }
    }
    let slowest = rows
        .iter()
        .map(|r| r.bytes as f64 / 1e6 / r.secs)
        .fold(f64::INFINITY, f64::min);
    println!(
        "target (>= 100 MB/s): {} (slowest download {:.1} MB/s)",
        if slowest >= 100.0 { "met" } else { "MISSED" },
        slowest
    );
    finish_work_dir(work, args.keep);
    ensure!(all_ok, "the HTTP labels.csv differs from the CLI's");
    Ok(())
}

fn secs_opt(v: Option<f64>) -> String {
    v.map_or("?".to_owned(), |s| format!("{s:.2}"))
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Creates the owner, the project and its items and judgments; returns the export token.
async fn prepare_export(url: &str, n: usize, e: &ExportArgs, seed: u64) -> Result<String> {
    let store = Store::open(&StoreOptions::new(url))
        .await
        .context("creating the database")?;
    let hash = quorum::auth::hash_password("bench-password").context("hashing a password")?;
    let owner = store
        .create_user(&NewUser {
            email: "owner@bench.example".into(),
            role: Role::Owner,
            password_hash: hash,
        })
        .await?;
    let config =
        ProjectConfig::from_toml(EXPORT_PROJECT).map_err(|e| anyhow!("project config: {e}"))?;
    let project = store.create_project(&config, Some(owner.id)).await?;

    let mut generator = Generator::new(seed, 200);
    let width = n.to_string().len().max(7);
    let fields = vec!["athlete".to_owned(), "team".to_owned()];
    let mut start = 0;
    while start < n {
        let end = (start + e.batch).min(n);
        let mut batch = JudgmentBatch::new(fields.clone(), "answer");
        for item in start..end {
            let id = format!("item-{:0width$}", item + 1);
            let athlete = format!(
                "{} {}",
                SECOND[item % SECOND.len()],
                SURNAMES[(item / SECOND.len()) % SURNAMES.len()]
            );
            let team = TEAMS[(item * 7) % TEAMS.len()];
            for (k, (annotator, answer)) in generator.item(item, e.per_item).into_iter().enumerate()
            {
                let values = || vec![athlete.clone(), team.to_owned()];
                batch.push(
                    (item * e.per_item + k) as u64 + 2,
                    &id,
                    &annotator,
                    answer,
                    None,
                    values,
                );
            }
        }
        store
            .import_judgments(&project, &batch, &NoProgress)
            .await
            .with_context(|| format!("importing items {}..{end}", start + 1))?;
        start = end;
    }

    let secret = quorum::auth::new_token();
    store
        .create_token(
            &NewToken {
                user_id: owner.id,
                name: "export benchmark",
                scopes: Scopes {
                    export: true,
                    annotate: false,
                    import: false,
                },
                project_id: Some(project.id),
                prefix: &secret.prefix,
                secret_hash: &secret.hash,
            },
            quorum::store::now_ms(),
        )
        .await?;
    store.close().await;
    Ok(secret.secret)
}

/// Waits up to `max` until other processes have used under a tenth of a core for 2 s: anything
/// else running skews the figures. Whether the machine is quiet.
async fn wait_quiet(max: Duration) -> bool {
    if max.is_zero() {
        return true;
    }
    let deadline = Instant::now() + max;
    let mut told = false;
    loop {
        let before = machine_busy_seconds();
        actix_web::rt::time::sleep(Duration::from_secs(2)).await;
        if let (Some(a), Some(b)) = (before, machine_busy_seconds())
            && b - a < 0.2
        {
            return true;
        }
        if Instant::now() >= deadline {
            eprintln!("warning: the machine is still busy; measuring anyway");
            return false;
        }
        if !told {
            eprintln!(
                "waiting for other processes to quieten down (up to {} s) ...",
                max.as_secs()
            );
            told = true;
        }
        actix_web::rt::time::sleep(Duration::from_secs(8)).await;
    }
}

/// One measurement of the probe.
struct Probe {
    what: &'static str,
    rows: u64,
    secs: f64,
    /// CPU seconds other processes used meanwhile (anything else running skews the figure).
    other_cpu: Option<f64>,
}

/// Wall clock plus this process's and the machine's CPU, for an in-process measurement.
struct Clock {
    start: Instant,
    own: Option<f64>,
    machine: Option<f64>,
}

impl Clock {
    fn start() -> Clock {
        Clock {
            start: Instant::now(),
            own: cpu_seconds("self"),
            machine: machine_busy_seconds(),
        }
    }

    fn probe(&self, what: &'static str, rows: u64) -> Probe {
        let secs = self.start.elapsed().as_secs_f64();
        let other = match (
            self.own,
            cpu_seconds("self"),
            self.machine,
            machine_busy_seconds(),
        ) {
            (Some(o0), Some(o1), Some(m0), Some(m1)) => Some(((m1 - m0) - (o1 - o0)).max(0.0)),
            _ => None,
        };
        Probe {
            what,
            rows,
            secs,
            other_cpu: other,
        }
    }
}

/// Where the time of a labels export goes, measured in this process on the same database
/// (page cache warm): reading the items row by row through sqlx as the export does, reading
/// them packed a thousand to a row, and the whole export core (`write_labels`) into a sink.
async fn probe(url: &str, labels_bytes: u64, quiet: Duration) -> Result<Vec<Probe>> {
    let store = Store::connect(&StoreOptions::new(url)).await?;
    let project = store.project_by_slug(EXPORT_SLUG).await?;
    let mut out = Vec::new();

    // 1. The export's query, one row per item: sqlx hands each row from its SQLite worker
    //    thread to this one through a channel. SQLite plans it as a search of the
    //    (project_id, change_seq) index plus a temporary B-tree to sort by id.
    // 1b. The same rows in rowid order (`+project_id` keeps SQLite off that index): no sort.
    let mut n = 0;
    let mut chars = 0;
    for (what, sql) in [
        (
            "read items one row each (sqlx, the export's query)",
            "SELECT i.id, i.external_id, i.status, i.label, i.votes, i.judgment_count, \
             i.answers, i.fields FROM items i WHERE i.project_id = $1 ORDER BY i.id",
        ),
        (
            "read items one row each, rowid order (no sort)",
            "SELECT i.id, i.external_id, i.status, i.label, i.votes, i.judgment_count, \
             i.answers, i.fields FROM items i WHERE +i.project_id = $1 ORDER BY i.id",
        ),
    ] {
        wait_quiet(quiet).await;
        let t = Clock::start();
        let mut rows = sqlx::query(sql).bind(project.id).fetch(store.pool());
        (n, chars) = (0u64, 0usize);
        while let Some(row) = rows.next().await {
            let row = row?;
            let _: i64 = row.try_get(0)?;
            let external_id: String = row.try_get(1)?;
            let status: String = row.try_get(2)?;
            let label: Option<String> = row.try_get(3)?;
            let _: i64 = row.try_get(4)?;
            let _: i64 = row.try_get(5)?;
            let answers: String = row.try_get(6)?;
            let fields: String = row.try_get(7)?;
            chars += external_id.len()
                + status.len()
                + label.map_or(0, |l| l.len())
                + answers.len()
                + fields.len();
            n += 1;
        }
        drop(rows);
        out.push(t.probe(what, n));
    }

    // 2. The same columns packed by SQLite, 1000 items to a row (keyset pages in rowid order).
    type Packed = (
        i64,
        String,
        String,
        Option<String>,
        i64,
        i64,
        String,
        String,
    );
    wait_quiet(quiet).await;
    let t = Clock::start();
    let (mut n2, mut chars2, mut last) = (0u64, 0usize, i64::MIN);
    loop {
        let page: Option<String> = sqlx::query_scalar(
            "SELECT json_group_array(json_array(id, external_id, status, label, votes, \
             judgment_count, answers, fields)) FROM (SELECT * FROM items \
             WHERE +project_id = $1 AND id > $2 ORDER BY id LIMIT 1000) HAVING COUNT(*) > 0",
        )
        .bind(project.id)
        .bind(last)
        .fetch_optional(store.pool())
        .await?;
        let Some(page) = page else { break };
        let items: Vec<Packed> = serde_json::from_str(&page).context("packed page")?;
        for (id, external_id, status, label, _, _, answers, fields) in &items {
            chars2 += external_id.len()
                + status.len()
                + label.as_ref().map_or(0, |l| l.len())
                + answers.len()
                + fields.len();
            last = *id;
            n2 += 1;
        }
    }
    ensure!(
        n2 == n && chars2 == chars,
        "packed read differs: {n2} rows / {chars2} chars vs {n} / {chars}"
    );
    out.push(t.probe(
        "read items packed 1000 to a row (json_group_array), rowid order",
        n2,
    ));

    // 3. The export core as the CLI and the server run it, into a byte counter.
    wait_quiet(quiet).await;
    let t = Clock::start();
    let mut sink = CountingSink(0);
    let mut snapshot = store.export_snapshot().await?;
    let pass = quorum::interfaces::formats::export::write_labels(
        &mut snapshot,
        &project,
        &mut quorum::interfaces::formats::export::ExportOut::writer(&mut sink),
        quorum::interfaces::formats::export::Shape::CSV,
        &NoProgress,
    )
    .await?;
    snapshot.close().await?;
    ensure!(
        sink.0 == labels_bytes,
        "write_labels wrote {} bytes, the CLI {labels_bytes}",
        sink.0
    );
    out.push(t.probe(
        "write_labels into a sink (read + CSV + stats pass)",
        pass.items,
    ));
    store.close().await;
    Ok(out)
}

/// Counts bytes and drops them.
struct CountingSink(u64);

impl std::io::Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// GETs `url` with the token, counting the body's bytes (and hashing them when asked) without
/// keeping them.
async fn download(client: &awc::Client, url: &str, token: &str, hash: bool) -> Result<Download> {
    let t0 = Instant::now();
    let mut res = client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| anyhow!("GET {url}: {e}"))?;
    ensure!(
        res.status() == StatusCode::OK,
        "GET {url}: {}",
        res.status()
    );
    let mut hasher = hash.then(Sha256::new);
    let mut bytes = 0u64;
    let mut first_byte = None;
    while let Some(chunk) = res.next().await {
        let chunk = chunk.map_err(|e| anyhow!("GET {url}: body: {e}"))?;
        first_byte.get_or_insert_with(|| t0.elapsed());
        bytes += chunk.len() as u64;
        if let Some(h) = hasher.as_mut() {
            h.update(&chunk);
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    Ok(Download {
        bytes,
        secs,
        first_byte_secs: first_byte.map_or(secs, |d| d.as_secs_f64()),
        sha256: hasher.map(|h| hex(&h.finalize())),
    })
}

fn sha256_file(path: &Path) -> Result<(u64, String)> {
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        total += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((total, hex(&hasher.finalize())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Asks the kernel to reset the process's peak RSS (`VmHWM`) to its current RSS.
fn reset_peak_rss(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// A `kB` field of /proc/PID/status, e.g. `VmRSS` or `VmHWM`.
fn proc_status_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(key)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// Samples a process's VmRSS every 10 ms on its own thread; `stop` gives the largest.
struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl RssSampler {
    fn start(pid: u32) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut max = 0;
            loop {
                max = max.max(proc_status_kib(pid, "VmRSS").unwrap_or(0));
                if flag.load(Ordering::Relaxed) {
                    return max;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        RssSampler { stop, thread }
    }

    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or(0)
    }
}

// The answer generator of examples/bench_data.rs, condensed: every item has a true handle;
// each judgment comes from a distinct annotator of the pool, who writes the true handle in one
// of many messy forms or, at their own error rate, a near miss or somebody else's handle.

const FIRST: [&str; 16] = [
    "King", "Real", "The", "Its", "Just", "Official", "Big", "Lil", "Team", "Daily", "Super",
    "Captain", "Golden", "Iron", "Neon", "Mega",
];
const SECOND: [&str; 20] = [
    "James", "Maria", "Chen", "Olu", "Priya", "Sven", "Aiko", "Diego", "Fatima", "Ivan", "Lena",
    "Noah", "Omar", "Rosa", "Tariq", "Yuki", "Zara", "Bruno", "Chloe", "Dmitri",
];
const SURNAMES: [&str; 16] = [
    "Davis", "Smith", "Okafor", "Nakamura", "Silva", "Novak", "Haddad", "Kowalski", "Moreau",
    "Rossi", "Jensen", "Mensah", "Ortiz", "Ivanova", "Khan", "Larsen",
];

struct Generator {
    rng: Rng,
    error_rate: Vec<f64>,
    names: Vec<String>,
    pool: Vec<usize>,
    previous: String,
}

impl Generator {
    fn new(seed: u64, annotators: usize) -> Generator {
        let mut rng = Rng::new(seed);
        let error_rate = (0..annotators)
            .map(|_| {
                if rng.below(10) == 0 {
                    0.25 + 0.25 * rng.unit()
                } else {
                    0.02 + 0.10 * rng.unit()
                }
            })
            .collect();
        Generator {
            rng,
            error_rate,
            names: (1..=annotators).map(|i| format!("worker-{i:04}")).collect(),
            pool: (0..annotators).collect(),
            previous: "NobodyHome".into(),
        }
    }

    /// (annotator, answer) of `k` distinct annotators for item number `item`.
    fn item(&mut self, item: usize, k: usize) -> Vec<(String, String)> {
        let truth = self.handle(item);
        let n = self.pool.len();
        let mut out = Vec::with_capacity(k);
        for slot in 0..k {
            let j = slot + self.rng.below(n - slot);
            self.pool.swap(slot, j);
            let a = self.pool[slot];
            let answer = if self.rng.unit() < self.error_rate[a] {
                let previous = std::mem::take(&mut self.previous);
                let wrong = match self.rng.below(3) {
                    0 => format!("@{}", &truth[..truth.len() - 1]),
                    1 => format!("@{truth}_"),
                    _ => messy(&mut self.rng, &previous),
                };
                self.previous = previous;
                wrong
            } else {
                messy(&mut self.rng, &truth)
            };
            out.push((self.names[a].clone(), answer));
        }
        self.previous = truth;
        out
    }

    /// A plausible handle of at most 15 characters (Twitter's limit).
    fn handle(&mut self, item: usize) -> String {
        let mut h = String::with_capacity(16);
        h.push_str(FIRST[self.rng.below(FIRST.len())]);
        h.push_str(SECOND[self.rng.below(SECOND.len())]);
        let suffix = match self.rng.below(4) {
            0 => String::new(),
            1 => format!("{}", item % 1000),
            2 => format!("_{}", item % 100),
            _ => format!("{}", 1960 + item % 60),
        };
        if h.len() + suffix.len() <= 15 {
            h.push_str(&suffix);
        }
        h
    }
}

/// The true handle written the way a crowd worker might type or paste it.
fn messy(rng: &mut Rng, h: &str) -> String {
    match rng.below(14) {
        0..=3 => format!("@{h}"),
        4 => h.to_owned(),
        5 => h.to_lowercase(),
        6 => format!(" {} ", h.to_lowercase()),
        7 => format!("https://twitter.com/{h}"),
        8 => format!("https://x.com/{h}"),
        9 => format!("twitter.com/{}", h.to_lowercase()),
        10 => format!("http://www.twitter.com/{h}/"),
        11 => format!("@{}", h.to_uppercase()),
        12 => format!("https://mobile.twitter.com/{h}?lang=en"),
        _ => format!("@ {h}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Worker mode
// ---------------------------------------------------------------------------------------------

const WORKER_SLUG: &str = "bench-leagues";
const OPTIONS: [&str; 5] = ["nba", "nfl", "mlb", "nhl", "mls"];
const MAX_JUDGMENTS: i64 = 9;

const WORKER_PROJECT: &str = r#"name = "Which league? (API benchmark)"
slug = "bench-leagues"
instructions = "Which league does this player play in?"

[answer]
kind = "choice"
options = ["nba", "nfl", "mlb", "nhl", "mls"]

[quorum]
agree = 7
max = 9
stop = "early"
"#;

async fn worker_mode(args: &Args, w: &WorkerArgs) -> Result<()> {
    ensure!(w.clients > 0, "--clients must be positive");
    ensure!(
        w.duration > 0.0 && w.warmup >= 0.0,
        "--duration must be positive and --warmup not negative"
    );
    let mut backends = Vec::new();
    for b in &w.backends {
        match b.as_str() {
            "auto" => {
                backends.push("sqlite");
                if w.postgres_url.is_some() {
                    backends.push("postgres");
                } else {
                    eprintln!(
                        "PostgreSQL skipped: set QUORUM_BENCH_POSTGRES_URL (or --postgres-url)"
                    );
                }
            }
            "sqlite" => backends.push("sqlite"),
            "postgres" => backends.push("postgres"),
            other => bail!("unknown backend {other:?}; use sqlite, postgres or auto"),
        }
    }
    let quorum_bin = quorum_binary(args.quorum.as_deref())?;
    let work = work_dir(args.dir.as_deref(), "quorum-api-worker-bench.")?;
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for backend in backends {
        println!();
        println!("== worker endpoints on {backend}");
        let result = match backend {
            "postgres" => {
                let admin = w
                    .postgres_url
                    .clone()
                    .context("postgres needs --postgres-url or QUORUM_BENCH_POSTGRES_URL")?;
                let db = PgDatabase::create(&admin).await?;
                let result = worker_run(args, w, &quorum_bin, work.path(), &db.url, backend).await;
                if args.keep {
                    println!("kept PostgreSQL database {}", db.name);
                } else {
                    db.drop_database().await;
                }
                result
            }
            _ => {
                let url = format!("sqlite://{}", work.path().join("worker.db").display());
                worker_run(args, w, &quorum_bin, work.path(), &url, backend).await
            }
        };
        match result {
            Ok((row, problems)) => {
                rows.push(row);
                failures.extend(problems.into_iter().map(|p| format!("{backend}: {p}")));
            }
            Err(e) => failures.push(format!("{backend}: {e:#}")),
        }
    }
    println!();
    for row in &rows {
        println!("{row}");
    }
    finish_work_dir(work, args.keep);
    ensure!(failures.is_empty(), "{}", failures.join("; "));
    Ok(())
}

/// One backend's run: the table row and the problems found.
async fn worker_run(
    args: &Args,
    w: &WorkerArgs,
    quorum_bin: &Path,
    work: &Path,
    url: &str,
    backend: &str,
) -> Result<(String, Vec<String>)> {
    let t = Instant::now();
    let (project_id, tokens) = prepare_worker(url, w).await?;
    println!(
        "prepared {} workers (members with annotate tokens) and {} items in {:.1} s",
        w.clients,
        w.items,
        t.elapsed().as_secs_f64()
    );
    if backend == "postgres" {
        if w.no_vacuum {
            println!("no VACUUM ANALYZE after the import (--no-vacuum): the cold state");
        } else {
            // A bulk import leaves the items indexes full of dead entries and the planner
            // without statistics until autovacuum comes by; measure the steady state.
            let t = Instant::now();
            let store = Store::connect(&StoreOptions::new(url)).await?;
            sqlx::Executor::execute(store.pool(), "VACUUM ANALYZE")
                .await
                .context("VACUUM ANALYZE")?;
            store.close().await;
            println!(
                "VACUUM ANALYZE in {:.1} s (what autovacuum does shortly after a bulk import)",
                t.elapsed().as_secs_f64()
            );
        }
    }
    let log_path = work.join(format!("server-worker-{backend}.log"));
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let mut server = Server::start(quorum_bin, url, port, &args.server_log, &log_path)?;
    wait_ready(&base, &mut server).await?;
    let server_pid = server.pid();
    println!(
        "server pid {server_pid} ready on {base} (QUORUM_LOG {}); {} clients, warm-up {} s, measuring {} s ...",
        args.server_log, w.clients, w.warmup, w.duration
    );

    wait_quiet(Duration::from_secs(args.wait_quiet)).await;
    let start = Instant::now();
    let warm_end = start + Duration::from_secs_f64(w.warmup);
    let end = warm_end + Duration::from_secs_f64(w.duration);
    let cpu_probe = actix_web::rt::spawn(async move {
        actix_web::rt::time::sleep_until(warm_end.into()).await;
        let sample = || {
            (
                cpu_seconds("self"),
                cpu_seconds(server_pid),
                machine_busy_seconds(),
                postgres_cpu_seconds(),
            )
        };
        let before = sample();
        actix_web::rt::time::sleep_until(end.into()).await;
        (before, sample())
    });
    let mut tasks = Vec::new();
    for (i, token) in tokens.into_iter().enumerate() {
        let client = WorkerClient {
            client: awc::Client::builder()
                .timeout(Duration::from_secs(60))
                .finish(),
            base: base.clone(),
            token,
        };
        let seed = client_seed(args.seed, i);
        tasks.push(actix_web::rt::spawn(
            client.work(warm_end, end, seed, w.accuracy),
        ));
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.context("worker task")?);
    }
    let ((cli0, srv0, mach0, pg0), (cli1, srv1, mach1, pg1)) =
        cpu_probe.await.context("CPU probe")?;
    let status = server.stop()?;
    let stored = count_stored(url, project_id).await?;
    let total = Totals::merge(&results);

    let per_s = total.window as f64 / w.duration;
    println!();
    println!(
        "quorum API worker loop on {backend}: {} clients, 1 project (choice, 7 of 9, {} items), server and client on {} cores",
        w.clients,
        w.items,
        cores()
    );
    println!(
        "round trips (next + submit acknowledged) in the measured window: {} = {:.0}/s ({:.0} HTTP requests/s)",
        total.window,
        per_s,
        per_s * 2.0
    );
    print_latency_header();
    print_latency("round trip", &total.rt_us);
    print_latency("next", &total.next_us);
    print_latency("submit", &total.submit_us);
    let window = w.duration;
    if let (Some(sb), Some(sa)) = (srv0, srv1) {
        let s = sa - sb;
        println!(
            "server CPU {:.1} s in {window} s ({:.0}% of one core, {:.0} µs per round trip)",
            s,
            100.0 * s / window,
            1e6 * s / total.window.max(1) as f64
        );
    }
    if let (Some(cb), Some(ca)) = (cli0, cli1) {
        let c = ca - cb;
        println!(
            "client CPU {:.1} s in {window} s ({:.0}% of one core)",
            c,
            100.0 * c / window
        );
    }
    if let (Some(mb), Some(ma), Some(sb), Some(sa), Some(cb), Some(ca)) =
        (mach0, mach1, srv0, srv1, cli0, cli1)
    {
        let other = ((ma - mb) - (sa - sb) - (ca - cb)).max(0.0);
        let pg = pg0.zip(pg1).map(|(a, b)| (b - a).max(0.0));
        println!(
            "other processes: {:.1} s of CPU in the window ({:.0}% of one core){}",
            other,
            100.0 * other / window,
            match pg {
                Some(p) if backend == "postgres" => format!(
                    ", of which PostgreSQL {p:.1} s ({:.0}% of one core, {:.0} µs per round trip)",
                    100.0 * p / window,
                    1e6 * p / total.window.max(1) as f64
                ),
                _ => String::new(),
            }
        );
    }
    println!(
        "acknowledged submits (200, warm-up included): {}; lease conflicts (409): {}; other failed submits: {}; \
         submits with no answer: {}; failed nexts: {}; clients out of items: {}",
        total.acked,
        total.conflicts,
        total.rejected,
        total.unknown,
        total.next_failed,
        total.out_of_items
    );
    for e in total.errors.iter().take(5) {
        println!("  error: {e}");
    }
    println!(
        "stored: {} API judgments ({} by the items' counters); open leases {} ({} by the counters); \
         items over max = {MAX_JUDGMENTS}: {} by rows, {} by counters",
        stored.judgment_rows,
        stored.judgment_counter,
        stored.lease_rows,
        stored.lease_counter,
        stored.over_max_rows,
        stored.over_max_counter
    );
    let lost_ok = if total.unknown == 0 {
        stored.judgment_rows == total.acked
    } else {
        stored.judgment_rows >= total.acked && stored.judgment_rows <= total.acked + total.unknown
    };
    let consistent = stored.judgment_rows == stored.judgment_counter
        && stored.lease_rows == stored.lease_counter;
    let within_max = stored.over_max_rows == 0 && stored.over_max_counter == 0;
    println!(
        "lost-judgment check: {} (stored {} vs acknowledged {}); max check: {}; counters: {}",
        if lost_ok { "OK" } else { "FAILED" },
        stored.judgment_rows,
        total.acked,
        if within_max { "OK" } else { "FAILED" },
        if consistent {
            "consistent"
        } else {
            "INCONSISTENT"
        }
    );
    println!("server exit: {status}");
    let ms = |s: &Samples, q: f64| f64::from(s.p(q)) / 1000.0;
    let row = format!(
        "worker-row: | {backend} | {} | {} | {:.0} | {:.1} / {:.1} / {:.1} / {:.1} | {:.1} / {:.1} | {:.1} / {:.1} | {} = {} {} | {} |",
        w.clients,
        total.window,
        per_s,
        ms(&total.rt_us, 0.5),
        ms(&total.rt_us, 0.9),
        ms(&total.rt_us, 0.99),
        f64::from(total.rt_us.max()) / 1000.0,
        ms(&total.next_us, 0.5),
        ms(&total.next_us, 0.99),
        ms(&total.submit_us, 0.5),
        ms(&total.submit_us, 0.99),
        stored.judgment_rows,
        total.acked,
        if lost_ok && consistent {
            "ok"
        } else {
            "MISMATCH"
        },
        stored.over_max_rows + stored.over_max_counter,
    );
    let mut problems = Vec::new();
    if !(lost_ok && consistent) {
        problems.push("stored judgments do not match the acknowledged submits".to_owned());
    }
    if !within_max {
        problems.push("an item holds more than max judgments".to_owned());
    }
    let errors = total.errors.len() + total.out_of_items;
    if errors > 0 {
        problems.push(format!(
            "{errors} requests failed or clients ran out of items"
        ));
    }
    if url.starts_with("sqlite:") && !args.keep {
        let path = url.trim_start_matches("sqlite://");
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{path}{suffix}"));
        }
    }
    Ok((row, problems))
}

fn worker_email(n: usize) -> String {
    format!("worker{n:03}@bench.example")
}

/// Creates the project, its items, the workers, their memberships and tokens; the project's id
/// and the token secrets.
async fn prepare_worker(url: &str, w: &WorkerArgs) -> Result<(i64, Vec<String>)> {
    let store = Store::open(&StoreOptions::new(url))
        .await
        .context("creating the database")?;
    let config =
        ProjectConfig::from_toml(WORKER_PROJECT).map_err(|e| anyhow!("project config: {e}"))?;
    let project = store.create_project(&config, None).await?;
    let records = (0..w.items)
        .map(|i| ItemRecord {
            line: i as u64 + 2,
            external_id: Some(format!("w{:07}", i + 1)),
            values: vec![
                format!(
                    "{} {}",
                    SECOND[i % SECOND.len()],
                    SURNAMES[(i / SECOND.len()) % SURNAMES.len()]
                ),
                TEAMS[i % TEAMS.len()].to_owned(),
            ],
        })
        .collect();
    let fields = ["player".to_owned(), "team".to_owned()];
    store
        .import_items(&project, &fields, records, &NoProgress)
        .await?;
    // The workers use tokens only; one hash serves every account.
    let hash = quorum::auth::hash_password("bench-password").context("hashing a password")?;
    let now = quorum::store::now_ms();
    let mut tokens = Vec::with_capacity(w.clients);
    for n in 1..=w.clients {
        let user = store
            .create_user(&NewUser {
                email: worker_email(n),
                role: Role::Annotator,
                password_hash: hash.clone(),
            })
            .await?;
        store.add_member(project.id, user.id).await?;
        let secret = quorum::auth::new_token();
        store
            .create_token(
                &NewToken {
                    user_id: user.id,
                    name: "worker benchmark",
                    scopes: Scopes {
                        export: false,
                        annotate: true,
                        import: false,
                    },
                    project_id: Some(project.id),
                    prefix: &secret.prefix,
                    secret_hash: &secret.hash,
                },
                now,
            )
            .await?;
        tokens.push(secret.secret);
    }
    store.close().await;
    Ok((project.id, tokens))
}

#[derive(serde::Deserialize)]
struct LeaseBody {
    lease_id: i64,
    item_id: String,
}

/// One worker client: its own HTTP client (connection) and token.
struct WorkerClient {
    client: awc::Client,
    base: String,
    token: String,
}

/// What one worker measured.
#[derive(Default)]
struct WorkerResults {
    /// Microseconds, round trips started in the measured window.
    rt_us: Vec<u32>,
    next_us: Vec<u32>,
    submit_us: Vec<u32>,
    /// Submits acknowledged with 200, warm-up included.
    acked: u64,
    /// Of those, acknowledged within the measured window.
    window: u64,
    /// Submits answered 409 (nothing stored).
    conflicts: u64,
    /// Submits answered otherwise (nothing stored).
    rejected: u64,
    /// Submits that got no response (stored or not: unknown).
    unknown: u64,
    next_failed: u64,
    out_of_items: usize,
    errors: Vec<String>,
}

enum NextOutcome {
    Lease(LeaseBody),
    Empty,
}

impl WorkerClient {
    async fn next(&self, path: &str) -> Result<NextOutcome> {
        let mut res = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| anyhow!("POST {path}: {e}"))?;
        match res.status() {
            StatusCode::OK => {
                let lease = res
                    .json::<LeaseBody>()
                    .limit(1 << 20)
                    .await
                    .map_err(|e| anyhow!("POST {path}: body: {e}"))?;
                Ok(NextOutcome::Lease(lease))
            }
            StatusCode::NO_CONTENT => Ok(NextOutcome::Empty),
            status => {
                let body = res.body().limit(1 << 20).await.unwrap_or_default();
                bail!("POST {path}: {status}: {}", String::from_utf8_lossy(&body))
            }
        }
    }

    /// Submits; the status and body, or an error when no response came.
    async fn submit(&self, path: &str, answer: &str) -> Result<(StatusCode, String)> {
        let mut res = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send_json(&serde_json::json!({ "answer": answer }))
            .await
            .map_err(|e| anyhow!("POST {path}: {e}"))?;
        let body = res
            .body()
            .limit(1 << 20)
            .await
            .map_err(|e| anyhow!("POST {path}: body: {e}"))?;
        Ok((res.status(), String::from_utf8_lossy(&body).into_owned()))
    }

    /// Loops next + submit until `end`; measures what starts after `warm_end`.
    async fn work(
        self,
        warm_end: Instant,
        end: Instant,
        seed: u64,
        accuracy: f64,
    ) -> WorkerResults {
        let mut r = WorkerResults::default();
        let mut rng = Rng::new(seed);
        let next_path = format!("/api/v1/projects/{WORKER_SLUG}/next");
        let mut failures_in_a_row = 0;
        while Instant::now() < end {
            if failures_in_a_row >= 10 {
                r.errors
                    .push("10 failures in a row; this client stops".into());
                break;
            }
            let t0 = Instant::now();
            let lease = match self.next(&next_path).await {
                Ok(NextOutcome::Lease(l)) => l,
                Ok(NextOutcome::Empty) => {
                    r.out_of_items += 1;
                    break;
                }
                Err(e) => {
                    r.next_failed += 1;
                    r.errors.push(format!("{e:#}"));
                    failures_in_a_row += 1;
                    continue;
                }
            };
            let t1 = Instant::now();
            let answer = choose(&lease.item_id, &mut rng, accuracy);
            let submit_path = format!(
                "/api/v1/projects/{WORKER_SLUG}/leases/{}/submit",
                lease.lease_id
            );
            let submitted = self.submit(&submit_path, answer).await;
            let t2 = Instant::now();
            match submitted {
                Ok((StatusCode::OK, _)) => {
                    r.acked += 1;
                    failures_in_a_row = 0;
                    if t2 > warm_end && t2 <= end {
                        r.window += 1;
                    }
                }
                Ok((StatusCode::CONFLICT, body)) => {
                    r.conflicts += 1;
                    failures_in_a_row += 1;
                    r.errors.push(format!("POST {submit_path}: 409: {body}"));
                }
                Ok((status, body)) => {
                    r.rejected += 1;
                    failures_in_a_row += 1;
                    r.errors
                        .push(format!("POST {submit_path}: {status}: {body}"));
                }
                Err(e) => {
                    r.unknown += 1;
                    failures_in_a_row += 1;
                    r.errors.push(format!("{e:#}"));
                }
            }
            if t0 >= warm_end {
                r.next_us.push(micros(t1 - t0));
                r.submit_us.push(micros(t2 - t1));
                r.rt_us.push(micros(t2 - t0));
            }
        }
        r
    }
}

/// The item's true option (fixed by its id) with probability `accuracy`, else another one.
fn choose(item_id: &str, rng: &mut Rng, accuracy: f64) -> &'static str {
    OPTIONS[answer_index(item_id, OPTIONS.len(), rng, accuracy)]
}

/// Everything the workers measured, merged.
struct Totals {
    rt_us: Samples,
    next_us: Samples,
    submit_us: Samples,
    acked: u64,
    window: u64,
    conflicts: u64,
    rejected: u64,
    unknown: u64,
    next_failed: u64,
    out_of_items: usize,
    errors: Vec<String>,
}

impl Totals {
    fn merge(results: &[WorkerResults]) -> Totals {
        Totals {
            rt_us: Samples::merge(results, |r| &r.rt_us),
            next_us: Samples::merge(results, |r| &r.next_us),
            submit_us: Samples::merge(results, |r| &r.submit_us),
            acked: results.iter().map(|r| r.acked).sum(),
            window: results.iter().map(|r| r.window).sum(),
            conflicts: results.iter().map(|r| r.conflicts).sum(),
            rejected: results.iter().map(|r| r.rejected).sum(),
            unknown: results.iter().map(|r| r.unknown).sum(),
            next_failed: results.iter().map(|r| r.next_failed).sum(),
            out_of_items: results.iter().map(|r| r.out_of_items).sum(),
            errors: results.iter().flat_map(|r| r.errors.clone()).collect(),
        }
    }
}

/// What the database holds after a worker run.
struct Stored {
    judgment_rows: u64,
    judgment_counter: u64,
    lease_rows: u64,
    lease_counter: u64,
    over_max_rows: u64,
    over_max_counter: u64,
}

async fn count_stored(url: &str, project_id: i64) -> Result<Stored> {
    let store = Store::open(&StoreOptions::new(url))
        .await
        .context("reopening the database")?;
    let pool = store.pool();
    // $1 is the project; the over-max queries compare with $2, the rule's max.
    let scalar = |sql: &'static str, with_max: bool| async move {
        let mut q = sqlx::query_scalar::<_, i64>(sql).bind(project_id);
        if with_max {
            q = q.bind(MAX_JUDGMENTS);
        }
        let v = q
            .fetch_one(pool)
            .await
            .with_context(|| format!("counting: {sql}"))?;
        Ok::<u64, anyhow::Error>(v.max(0) as u64)
    };
    let stored = Stored {
        judgment_rows: scalar(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM judgments \
             WHERE project_id = $1 AND source = 'api'",
            false,
        )
        .await?,
        judgment_counter: scalar(
            "SELECT CAST(COALESCE(SUM(judgment_count), 0) AS BIGINT) FROM items \
             WHERE project_id = $1",
            false,
        )
        .await?,
        lease_rows: scalar(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM leases WHERE project_id = $1",
            false,
        )
        .await?,
        lease_counter: scalar(
            "SELECT CAST(COALESCE(SUM(lease_count), 0) AS BIGINT) FROM items \
             WHERE project_id = $1",
            false,
        )
        .await?,
        over_max_rows: scalar(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM (SELECT item_id FROM judgments \
             WHERE project_id = $1 GROUP BY item_id HAVING COUNT(*) > $2) t",
            true,
        )
        .await?,
        over_max_counter: scalar(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM items \
             WHERE project_id = $1 AND judgment_count > $2",
            true,
        )
        .await?,
    };
    store.close().await;
    Ok(stored)
}

/// A fresh PostgreSQL database for one run, dropped afterwards.
struct PgDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl PgDatabase {
    async fn create(admin_url: &str) -> Result<PgDatabase> {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let name = format!(
            "quorum_bench_api_{}_{}",
            std::process::id(),
            quorum::store::now_ms() % 1_000_000
        );
        let mut admin = sqlx::AnyConnection::connect(admin_url)
            .await
            .with_context(|| {
                format!(
                    "connecting to PostgreSQL at {}",
                    quorum::store::redact(admin_url)
                )
            })?;
        sqlx::Executor::execute(
            &mut admin,
            sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")),
        )
        .await
        .with_context(|| format!("creating database {name}"))?;
        admin.close().await.ok();
        let url = replace_db(admin_url, &name);
        println!("created PostgreSQL database {name}");
        Ok(PgDatabase {
            admin_url: admin_url.to_owned(),
            name,
            url,
        })
    }

    async fn drop_database(self) {
        use sqlx::Connection;
        match sqlx::AnyConnection::connect(&self.admin_url).await {
            Ok(mut conn) => {
                let dropped = sqlx::Executor::execute(
                    &mut conn,
                    sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                        self.name
                    )),
                )
                .await;
                match dropped {
                    Ok(_) => println!("dropped PostgreSQL database {}", self.name),
                    Err(e) => eprintln!("warning: could not drop database {}: {e}", self.name),
                }
            }
            Err(e) => eprintln!("warning: could not drop database {}: {e}", self.name),
        }
    }
}

/// `url` with its database name replaced.
fn replace_db(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let base = match base.rfind('/') {
        Some(i) if i > "postgres://".len() => &base[..i],
        _ => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// CPU seconds of every process named `postgres` (the server's backends), from /proc.
fn postgres_cpu_seconds() -> Option<f64> {
    let mut total = 0.0;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if stat.contains("(postgres)") {
            total += cpu_seconds(pid).unwrap_or(0.0);
        }
    }
    Some(total)
}
