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

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::{Parser, Subcommand};

#[path = "../bench_support/mod.rs"]
mod support;

mod export;
mod generator;
mod postgres;
mod probe;
mod rss;
mod worker;

use export::export_mode;
use worker::worker_mode;

use support::machine_busy_seconds;

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
