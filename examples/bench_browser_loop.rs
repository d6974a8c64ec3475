//! The annotator loop through the browser routes, under load: see `bench/browser_loop.sh` and
//! `docs/benchmarks.md`.
//!
//! ```text
//! cargo build --release --bin quorum --example bench_browser_loop
//! target/release/examples/bench_browser_loop            # --help for the knobs
//! ```
//!
//! 1. Prepares a fresh SQLite database in a temporary directory through the library
//!    (`quorum::store`): `--annotators` login accounts (default 50), all members of one
//!    multiple-choice project where 7 of at most 9 must agree (`stop = "early"`, five options),
//!    with `--items` items (default 30,000: even 3,000 judgments/s for 23 s would use under a
//!    third of them, so nobody runs out). `--rule confidence` makes the same project stop on
//!    confidence instead (`stop = "confidence"`, `target = 0.999`, `min = 2`, `max = 9`); the
//!    server then re-fits its crowd model in the background every 30 s when due.
//! 2. Starts the release binary as a child process, as in production:
//!    `quorum --database sqlite://… serve --bind 127.0.0.1:PORT` with `QUORUM_SESSION_KEY` set
//!    and `QUORUM_LOG` from `--server-log` (default `warn`; `default` keeps the server's own
//!    default, one info line per request). Its output goes to `server.log` in the work directory.
//! 3. Every annotator gets their own HTTP client (awc, one keep-alive connection, like a browser
//!    tab) and logs in: `GET /login` for the session cookie and CSRF token, `POST /login`.
//! 4. Then each loops without think time for `--warmup` + `--duration` seconds: read the CSRF
//!    token, lease id, item id and answer options out of the labeling page's form, `POST
//!    /p/{slug}/label` the answer (the item's true option with probability `--accuracy`, else
//!    another one), expect `303 See Other` to the labeling page and follow it (`GET`), which
//!    serves the next item. One judgment = that POST + GET.
//! 5. Reports judgments/s over the measured window, and p50/p90/p99/max of the loop (POST +
//!    following GET), of the GETs and of the POSTs, plus the CPU time the server, this client
//!    and every other process used in the window, and what the hypervisor stole: on a shared
//!    machine the last two say how much to trust the figures.
//! 6. Stops the server (SIGTERM), then counts the judgments stored in the database and checks
//!    they equal the POSTs the clients saw acknowledged with the redirect (warm-up included):
//!    nothing acknowledged was lost and nothing unacknowledged was stored. Exits non-zero
//!    otherwise, or when a request failed. Also reports, from the database, what the rule
//!    bought: judgments per decided item, the share of resolved items whose label is the true
//!    option the annotators drew from, and how often the crowd model was re-fitted.
//!
//! All clients run on one thread (actix's single-threaded runtime), on the same 2-core machine
//! as the server.

use std::cell::Cell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use actix_web::http::{StatusCode, header};
use anyhow::{Context, Result, ensure};
use clap::Parser;
use quorum::domain::crowd::annotator_model::AnnotatorModel;
use quorum::domain::{Outcome, ProjectConfig, Status, Tally};
use quorum::store::{ItemRecord, NewUser, NoProgress, Role, Store, StoreOptions};

#[path = "bench_support/mod.rs"]
mod support;

use support::{
    Rng, Samples, Server, TEAMS, answer_index, client_seed, cores, cpu_seconds, finish_work_dir,
    fnv1a, free_port, micros, print_latency, print_latency_header, quorum_binary, steal_seconds,
    wait_ready, work_dir,
};

/// The project's stopping rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Rule {
    /// `agree = 7`, `max = 9`, `stop = "early"`.
    Early,
    /// `stop = "confidence"`, `target = 0.999`, `min = 2`, `max = 9`.
    Confidence,
}

impl Rule {
    fn name(self) -> &'static str {
        match self {
            Rule::Early => "early",
            Rule::Confidence => "confidence",
        }
    }

    /// The `[quorum]` table's body.
    fn quorum_toml(self) -> &'static str {
        match self {
            Rule::Early => "agree = 7\nmax = 9\nstop = \"early\"\n",
            Rule::Confidence => "stop = \"confidence\"\ntarget = 0.999\nmin = 2\nmax = 9\n",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Rule::Early => "7 of 9, early",
            Rule::Confidence => "confidence 0.999, min 2, max 9",
        }
    }
}

/// Browser-loop benchmark: concurrent logged-in annotators label through the HTML routes.
#[derive(Debug, Parser)]
#[command(name = "bench_browser_loop")]
struct Args {
    /// Concurrent logged-in annotators (one HTTP client and connection each).
    #[arg(long, env = "BENCH_ANNOTATORS", default_value_t = 50)]
    annotators: usize,
    /// Items in the project (7 of at most 9 must agree: about 8 judgments an item).
    #[arg(long, env = "BENCH_ITEMS", default_value_t = 30_000)]
    items: usize,
    /// Measured seconds.
    #[arg(long, env = "BENCH_DURATION", default_value_t = 20.0)]
    duration: f64,
    /// Seconds of load before measuring (not in the figures, but in the lost-judgment check).
    #[arg(long, env = "BENCH_WARMUP", default_value_t = 3.0)]
    warmup: f64,
    /// Probability that an annotator answers an item's true option.
    #[arg(long, default_value_t = 0.9)]
    accuracy: f64,
    /// The quorum binary to serve with [default: target/release/quorum, next to examples/].
    #[arg(long, value_name = "PATH")]
    quorum: Option<PathBuf>,
    /// QUORUM_LOG for the server; `default` leaves the server's own default (info: one line
    /// per request, as in production).
    #[arg(long, env = "BENCH_SERVER_LOG", default_value = "warn")]
    server_log: String,
    /// Directory to make the work directory in (database and server log) [default: $TMPDIR].
    #[arg(long, env = "BENCH_DIR", value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Keep the work directory afterwards.
    #[arg(long)]
    keep: bool,
    /// Seed of the answers.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// The project's stopping rule: `early` (7 of at most 9) or `confidence` (target 0.999,
    /// min 2, max 9); everything else is the same.
    #[arg(long, env = "BENCH_RULE", value_enum, default_value_t = Rule::Early)]
    rule: Rule,
}

const SLUG: &str = "bench-leagues";
const PASSWORD: &str = "bench-password";
/// The answer options, in the order of the project's `options` (and of the labeling form).
const OPTIONS: [&str; 5] = ["nba", "nfl", "mlb", "nhl", "mls"];

fn project_toml(rule: Rule) -> String {
    let quorum = rule.quorum_toml();
    format!(
        r#"name = "Which league? (benchmark)"
slug = "{SLUG}"
instructions = """
Which league does this player play in? Use the **keys 1-5**.

- Look at the *team*, not only the name: namesakes play in different sports.
- When in doubt, [skip](https://example.com/guide) the item.
"""

[answer]
kind = "choice"
options = ["nba", "nfl", "mlb", "nhl", "mls"]

[quorum]
{quorum}"#
    )
}

fn main() -> Result<()> {
    let args = Args::parse();
    ensure!(args.annotators > 0, "--annotators must be positive");
    ensure!(
        args.duration > 0.0 && args.warmup >= 0.0,
        "--duration must be positive and --warmup not negative"
    );
    actix_web::rt::System::new().block_on(run(args))
}

async fn run(args: Args) -> Result<()> {
    let quorum_bin = quorum_binary(args.quorum.as_deref())?;
    let work = work_dir(args.dir.as_deref(), "quorum-browser-bench.")?;
    let db_path = work.path().join("bench.db");
    let url = format!("sqlite://{}", db_path.display());

    let t = Instant::now();
    let project_id = prepare(&url, &args).await?;
    eprintln!(
        "prepared {} annotators and {} items in {:.1} s ({})",
        args.annotators,
        args.items,
        t.elapsed().as_secs_f64(),
        db_path.display()
    );

    let log_path = work.path().join("server.log");
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let mut server = Server::start(&quorum_bin, &url, port, &args.server_log, &log_path)?;
    wait_ready(&base, &mut server).await?;
    eprintln!(
        "server {} ready on {base} (pid {}, QUORUM_LOG {}), log in {}",
        quorum_bin.display(),
        server.pid(),
        args.server_log,
        log_path.display()
    );

    let t = Instant::now();
    let mut logins = Vec::new();
    for n in 1..=args.annotators {
        let base = base.clone();
        logins.push(actix_web::rt::spawn(async move {
            Annotator::log_in(&base, &annotator_email(n)).await
        }));
    }
    let mut annotators = Vec::new();
    for handle in logins {
        annotators.push(handle.await.context("login task")??);
    }
    eprintln!(
        "{} annotators logged in in {:.2} s; warm-up {} s, then measuring {} s ...",
        annotators.len(),
        t.elapsed().as_secs_f64(),
        args.warmup,
        args.duration
    );

    let start = Instant::now();
    let warm_end = start + Duration::from_secs_f64(args.warmup);
    let end = warm_end + Duration::from_secs_f64(args.duration);
    let server_pid = server.pid();
    let cpu_probe = actix_web::rt::spawn(async move {
        actix_web::rt::time::sleep_until(warm_end.into()).await;
        let before = CpuSample::take(server_pid);
        actix_web::rt::time::sleep_until(end.into()).await;
        CpuSample::take(server_pid).since(&before)
    });
    let mut tasks = Vec::new();
    for (i, annotator) in annotators.into_iter().enumerate() {
        let seed = client_seed(args.seed, i);
        let accuracy = args.accuracy;
        tasks.push(actix_web::rt::spawn(
            annotator.label_until(warm_end, end, seed, accuracy),
        ));
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.context("annotator task")?);
    }
    let cpu = cpu_probe.await.context("CPU probe")?;

    let status = server.stop()?;
    let counts = count_stored(&url, project_id).await?;
    let outcomes = count_outcomes(&url, project_id, args.rule).await?;
    let total = Totals::merge(&results);

    println!();
    println!(
        "quorum browser loop: {} annotators, 1 project (choice, {}, {} items), SQLite, server and client on {} cores",
        args.annotators,
        args.rule.describe(),
        args.items,
        cores()
    );
    println!(
        "server QUORUM_LOG={}; warm-up {} s, measured {} s",
        args.server_log, args.warmup, args.duration
    );
    let per_s = total.window_judgments as f64 / args.duration;
    println!(
        "judgments in the measured window: {} = {:.0} judgments/s ({:.0} HTTP requests/s)",
        total.window_judgments,
        per_s,
        per_s * 2.0
    );
    print_latency_header();
    print_latency("loop (POST+GET)", &total.loop_us);
    print_latency("GET label page", &total.get_us);
    print_latency("POST answer", &total.post_us);
    // Where the throughput dipped (a background re-fit, another process) shows here.
    println!(
        "judgments per second of the window: {}",
        total
            .per_second
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "slowest POST per second of the window (ms): {}",
        total
            .slowest_per_second
            .iter()
            .map(|us| format!("{:.0}", f64::from(*us) / 1000.0))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let core_share = |secs: f64| 100.0 * secs / args.duration;
    println!(
        "server CPU {:.1} s in {} s ({:.0}% of one core, {:.0} µs per judgment)",
        cpu.server,
        args.duration,
        core_share(cpu.server),
        1e6 * cpu.server / total.window_judgments.max(1) as f64
    );
    println!(
        "client CPU {:.1} s ({:.0}% of one core)",
        cpu.client,
        core_share(cpu.client)
    );
    // Anything else running skews the figures: say how much there was.
    println!(
        "other processes: {:.1} s of CPU ({:.0}% of one core); hypervisor steal {:.1} s{}",
        cpu.others,
        core_share(cpu.others),
        cpu.steal,
        if cpu.others > 0.05 * args.duration {
            ": the machine was not quiet, figures are pessimistic"
        } else {
            ""
        }
    );
    println!(
        "target (>= 1000 judgments/s, p99 < 100 ms): {}",
        if per_s >= 1000.0 && total.loop_us.p(0.99) < 100_000 {
            "met (loop p99)"
        } else if per_s >= 1000.0 && total.get_us.p(0.99).max(total.post_us.p(0.99)) < 100_000 {
            "met per request; loop p99 over 100 ms"
        } else {
            "MISSED"
        }
    );
    let errors = total.errors.len() + total.out_of_items;
    println!(
        "acknowledged judgments (303 to the labeling page, warm-up included): {}; failed POSTs: {}; \
         POSTs with no answer: {}; other errors: {}; clients out of items: {}",
        total.acked,
        total.post_rejected,
        total.post_unknown,
        total.errors.len(),
        total.out_of_items
    );
    for e in total.errors.iter().take(5) {
        println!("  error: {e}");
    }
    println!(
        "stored judgments: {} rows (web), {} by the items' counters; open leases {} rows, {} by the counters",
        counts.judgment_rows, counts.judgment_counter, counts.lease_rows, counts.lease_counter
    );
    let consistent = counts.judgment_rows == counts.judgment_counter
        && counts.lease_rows == counts.lease_counter;
    let lost_ok = if total.post_unknown == 0 {
        counts.judgment_rows == total.acked
    } else {
        counts.judgment_rows >= total.acked
            && counts.judgment_rows <= total.acked + total.post_unknown
    };
    println!(
        "lost-judgment check: {} (stored {} vs acknowledged {}{}); counters {}",
        if lost_ok { "OK" } else { "FAILED" },
        counts.judgment_rows,
        total.acked,
        if total.post_unknown > 0 {
            format!(" + up to {} unanswered", total.post_unknown)
        } else {
            String::new()
        },
        if consistent {
            "consistent"
        } else {
            "INCONSISTENT"
        }
    );
    println!("server exit: {status}");
    outcomes.print();
    // One Markdown table row for bench/browser_loop.sh to collect.
    let ms = |s: &Samples, q: f64| f64::from(s.p(q)) / 1000.0;
    println!(
        "row: | {} | {} | {:.0} | {:.1} / {:.1} | {:.1} / {:.1} | {:.1} / {:.1} | {:.0} | {:.0}% | {} = {} {} |",
        args.server_log,
        total.window_judgments,
        per_s,
        ms(&total.loop_us, 0.5),
        ms(&total.loop_us, 0.99),
        ms(&total.get_us, 0.5),
        ms(&total.get_us, 0.99),
        ms(&total.post_us, 0.5),
        ms(&total.post_us, 0.99),
        1e6 * cpu.server / total.window_judgments.max(1) as f64,
        core_share(cpu.others),
        counts.judgment_rows,
        total.acked,
        if lost_ok && consistent {
            "ok"
        } else {
            "MISMATCH"
        }
    );
    // Machine-readable figures, for the pair ratios in bench/browser_loop.sh.
    println!(
        "figures: rule={} judgments_per_s={:.1} post_p50_ms={:.2} post_p99_ms={:.2} loop_p50_ms={:.2} loop_p99_ms={:.2}",
        args.rule.name(),
        per_s,
        ms(&total.post_us, 0.5),
        ms(&total.post_us, 0.99),
        ms(&total.loop_us, 0.5),
        ms(&total.loop_us, 0.99)
    );
    println!("outcomes: {}", outcomes.row(args.rule));
    finish_work_dir(work, args.keep);
    ensure!(lost_ok && consistent, "stored judgments do not match");
    ensure!(errors == 0, "{errors} requests failed");
    Ok(())
}

fn annotator_email(n: usize) -> String {
    format!("annotator{n:03}@bench.example")
}

/// Creates the accounts, the project, the memberships and the items; the project's id.
async fn prepare(url: &str, args: &Args) -> Result<i64> {
    let store = Store::open(&StoreOptions::new(url))
        .await
        .context("creating the database")?;
    let hash = quorum::auth::hash_password(PASSWORD).context("hashing the password")?;
    let config = ProjectConfig::from_toml(&project_toml(args.rule))
        .map_err(|e| anyhow::anyhow!("project config: {e}"))?;
    let project = store.create_project(&config, None).await?;
    for n in 1..=args.annotators {
        let user = store
            .create_user(&NewUser {
                email: annotator_email(n),
                role: Role::Annotator,
                password_hash: hash.clone(),
            })
            .await?;
        store.add_member(project.id, user.id).await?;
    }
    let records = (0..args.items)
        .map(|i| ItemRecord {
            line: i as u64 + 2,
            external_id: Some(item_id(i)),
            values: vec![
                format!("Player {}", i + 1),
                TEAMS[i % TEAMS.len()].to_owned(),
            ],
        })
        .collect();
    let fields = ["player".to_owned(), "team".to_owned()];
    store
        .import_items(&project, &fields, records, &NoProgress)
        .await?;
    store.close().await;
    Ok(project.id)
}

fn item_id(i: usize) -> String {
    format!("b{:06}", i + 1)
}

/// CPU seconds used by this client, the server and every other process, and stolen by the
/// hypervisor, at one moment (from /proc; zero where it cannot be read).
struct CpuSample {
    client: f64,
    server: f64,
    /// Per process id, every process but these two.
    others: HashMap<u32, f64>,
    steal: f64,
}

/// What the same quantities grew by between two samples.
struct CpuUsed {
    client: f64,
    server: f64,
    /// Processes that both started and ended inside the window are missed.
    others: f64,
    steal: f64,
}

impl CpuSample {
    fn take(server_pid: u32) -> CpuSample {
        let own_pid = std::process::id();
        let mut others = HashMap::new();
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for entry in entries.flatten() {
                let Some(pid) = entry
                    .file_name()
                    .to_str()
                    .and_then(|n| n.parse::<u32>().ok())
                else {
                    continue;
                };
                if pid != own_pid && pid != server_pid {
                    others.insert(pid, cpu_seconds(pid).unwrap_or(0.0));
                }
            }
        }
        CpuSample {
            client: cpu_seconds(own_pid).unwrap_or(0.0),
            server: cpu_seconds(server_pid).unwrap_or(0.0),
            others,
            steal: steal_seconds().unwrap_or(0.0),
        }
    }

    fn since(&self, before: &CpuSample) -> CpuUsed {
        CpuUsed {
            client: self.client - before.client,
            server: self.server - before.server,
            others: self
                .others
                .iter()
                .map(|(pid, secs)| (secs - before.others.get(pid).copied().unwrap_or(0.0)).max(0.0))
                .sum(),
            steal: self.steal - before.steal,
        }
    }
}

/// One logged-in annotator: their own client (connection pool) and session cookie.
struct Annotator {
    client: awc::Client,
    base: String,
    cookie: Cell<Option<String>>,
}

/// The labeling form, as read out of the page.
struct LabelForm {
    csrf: String,
    lease_id: String,
    item_id: String,
    options: Vec<String>,
}

/// What one annotator measured.
#[derive(Default)]
struct Results {
    /// Microseconds, iterations started in the measured window.
    loop_us: Vec<u32>,
    get_us: Vec<u32>,
    post_us: Vec<u32>,
    /// POSTs acknowledged with the redirect, warm-up included.
    acked: u64,
    /// Of those, answered within the measured window.
    window_judgments: u64,
    /// Those again, per second of the window, and the slowest of each second's POSTs (µs).
    per_second: Vec<u32>,
    slowest_per_second: Vec<u32>,
    /// POSTs answered with something other than the redirect (nothing stored).
    post_rejected: u64,
    /// POSTs that got no response (stored or not: unknown).
    post_unknown: u64,
    out_of_items: usize,
    errors: Vec<String>,
}

impl Annotator {
    async fn log_in(base: &str, email: &str) -> Result<Annotator> {
        let annotator = Annotator {
            client: awc::Client::builder()
                .timeout(Duration::from_secs(60))
                .disable_redirects()
                .finish(),
            base: base.to_owned(),
            cookie: Cell::new(None),
        };
        let (status, page) = annotator.get("/login").await?;
        ensure!(status == StatusCode::OK, "GET /login: {status}");
        let csrf = hidden(&page, "csrf").context("no CSRF token on the login page")?;
        let (status, location) = annotator
            .post(
                "/login",
                &[("email", email), ("password", PASSWORD), ("csrf", &csrf)],
            )
            .await?;
        ensure!(
            status == StatusCode::SEE_OTHER && location.as_deref() == Some("/"),
            "POST /login for {email}: {status}"
        );
        Ok(annotator)
    }

    fn with_cookie(&self, req: awc::ClientRequest) -> awc::ClientRequest {
        let cookie = self.cookie.take();
        let req = match &cookie {
            Some(c) => req.insert_header((header::COOKIE, format!("quorum_session={c}"))),
            None => req,
        };
        self.cookie.set(cookie);
        req
    }

    fn remember_cookie(&self, headers: &header::HeaderMap) {
        for value in headers.get_all(header::SET_COOKIE) {
            let Ok(v) = value.to_str() else { continue };
            if let Some(rest) = v.strip_prefix("quorum_session=") {
                let value = rest.split(';').next().unwrap_or_default();
                self.cookie
                    .set((!value.is_empty()).then(|| value.to_owned()));
            }
        }
    }

    /// GET `path`: status and body.
    async fn get(&self, path: &str) -> Result<(StatusCode, String)> {
        let req = self.with_cookie(self.client.get(format!("{}{path}", self.base)));
        let mut res = req
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("GET {path}: {e}"))?;
        self.remember_cookie(res.headers());
        let body = res
            .body()
            .limit(1 << 20)
            .await
            .map_err(|e| anyhow::anyhow!("GET {path}: body: {e}"))?;
        Ok((res.status(), String::from_utf8_lossy(&body).into_owned()))
    }

    /// POST a form to `path`: status and `Location`.
    async fn post(
        &self,
        path: &str,
        form: &[(&str, &str)],
    ) -> Result<(StatusCode, Option<String>)> {
        let req = self.with_cookie(self.client.post(format!("{}{path}", self.base)));
        let mut res = req
            .send_form(&form)
            .await
            .map_err(|e| anyhow::anyhow!("POST {path}: {e}"))?;
        self.remember_cookie(res.headers());
        res.body()
            .limit(1 << 20)
            .await
            .map_err(|e| anyhow::anyhow!("POST {path}: body: {e}"))?;
        let location = res
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok((res.status(), location))
    }

    /// Labels until `end`; measures what starts after `warm_end`.
    async fn label_until(
        self,
        warm_end: Instant,
        end: Instant,
        seed: u64,
        accuracy: f64,
    ) -> Results {
        let mut r = Results::default();
        let mut rng = Rng::new(seed);
        let label_path = format!("/p/{SLUG}/label");
        let mut page = match self.get(&label_path).await {
            Ok((StatusCode::OK, body)) => body,
            Ok((status, _)) => {
                r.errors.push(format!("GET {label_path}: {status}"));
                return r;
            }
            Err(e) => {
                r.errors.push(format!("{e:#}"));
                return r;
            }
        };
        while Instant::now() < end {
            let Some(form) = label_form(&page) else {
                if page.contains("id=\"answer-form\"") {
                    r.errors.push("could not read the labeling form".into());
                } else {
                    r.out_of_items += 1;
                }
                return r;
            };
            let answer = choose(&form, &mut rng, accuracy);
            let t0 = Instant::now();
            let posted = self
                .post(
                    &label_path,
                    &[
                        ("csrf", form.csrf.as_str()),
                        ("lease_id", form.lease_id.as_str()),
                        ("answer", answer),
                    ],
                )
                .await;
            let t1 = Instant::now();
            let next = match posted {
                Ok((StatusCode::SEE_OTHER, Some(location))) if location == label_path => {
                    r.acked += 1;
                    if t1 > warm_end && t1 <= end {
                        r.window_judgments += 1;
                        let second = (t1 - warm_end).as_secs() as usize;
                        if r.per_second.len() <= second {
                            r.per_second.resize(second + 1, 0);
                            r.slowest_per_second.resize(second + 1, 0);
                        }
                        r.per_second[second] += 1;
                        let us = micros(t1 - t0);
                        r.slowest_per_second[second] = r.slowest_per_second[second].max(us);
                    }
                    location
                }
                Ok((status, location)) => {
                    r.post_rejected += 1;
                    r.errors
                        .push(format!("POST {label_path}: {status} to {location:?}"));
                    label_path.clone()
                }
                Err(e) => {
                    r.post_unknown += 1;
                    r.errors.push(format!("{e:#}"));
                    label_path.clone()
                }
            };
            match self.get(&next).await {
                Ok((StatusCode::OK, body)) => page = body,
                Ok((status, _)) => {
                    r.errors.push(format!("GET {next}: {status}"));
                    return r;
                }
                Err(e) => {
                    r.errors.push(format!("{e:#}"));
                    return r;
                }
            }
            let t2 = Instant::now();
            if t0 >= warm_end {
                r.post_us.push(micros(t1 - t0));
                r.get_us.push(micros(t2 - t1));
                r.loop_us.push(micros(t2 - t0));
            }
        }
        r
    }
}

/// The value of the hidden input `name` (the first one: the answer form's).
fn hidden(page: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker)? + marker.len();
    let len = page[start..].find('"')?;
    Some(page[start..start + len].to_owned())
}

fn label_form(page: &str) -> Option<LabelForm> {
    let form_start = page.find("id=\"answer-form\"")?;
    let form = &page[form_start..];
    let item_start = page.find("<span class=\"mono\">")? + "<span class=\"mono\">".len();
    let item_len = page[item_start..].find("</span>")?;
    let marker = "name=\"answer\" value=\"";
    let mut options = Vec::new();
    let mut rest = form;
    while let Some(i) = rest.find(marker) {
        rest = &rest[i + marker.len()..];
        let len = rest.find('"')?;
        options.push(rest[..len].to_owned());
        rest = &rest[len..];
    }
    if options.is_empty() {
        return None;
    }
    Some(LabelForm {
        csrf: hidden(form, "csrf")?,
        lease_id: hidden(form, "lease_id")?,
        item_id: page[item_start..item_start + item_len].to_owned(),
        options,
    })
}

/// The item's true option (fixed by its id) with probability `accuracy`, else another one.
fn choose<'a>(form: &'a LabelForm, rng: &mut Rng, accuracy: f64) -> &'a str {
    &form.options[answer_index(&form.item_id, form.options.len(), rng, accuracy)]
}

/// Everything the annotators measured, merged.
struct Totals {
    loop_us: Samples,
    get_us: Samples,
    post_us: Samples,
    acked: u64,
    window_judgments: u64,
    per_second: Vec<u32>,
    slowest_per_second: Vec<u32>,
    post_rejected: u64,
    post_unknown: u64,
    out_of_items: usize,
    errors: Vec<String>,
}

impl Totals {
    fn merge(results: &[Results]) -> Totals {
        Totals {
            loop_us: Samples::merge(results, |r| &r.loop_us),
            get_us: Samples::merge(results, |r| &r.get_us),
            post_us: Samples::merge(results, |r| &r.post_us),
            acked: results.iter().map(|r| r.acked).sum(),
            window_judgments: results.iter().map(|r| r.window_judgments).sum(),
            per_second: per_second(results, |r| &r.per_second, |a, b| a + b),
            slowest_per_second: per_second(results, |r| &r.slowest_per_second, u32::max),
            post_rejected: results.iter().map(|r| r.post_rejected).sum(),
            post_unknown: results.iter().map(|r| r.post_unknown).sum(),
            out_of_items: results.iter().map(|r| r.out_of_items).sum(),
            errors: results.iter().flat_map(|r| r.errors.clone()).collect(),
        }
    }
}

/// The clients' per-second series combined element by element.
fn per_second(
    results: &[Results],
    series: impl Fn(&Results) -> &[u32],
    combine: impl Fn(u32, u32) -> u32,
) -> Vec<u32> {
    let len = results.iter().map(|r| series(r).len()).max().unwrap_or(0);
    let mut all = vec![0; len];
    for r in results {
        for (a, v) in all.iter_mut().zip(series(r)) {
            *a = combine(*a, *v);
        }
    }
    all
}

/// What the database holds after the run.
struct Stored {
    judgment_rows: u64,
    judgment_counter: u64,
    lease_rows: u64,
    lease_counter: u64,
}

async fn count_stored(url: &str, project_id: i64) -> Result<Stored> {
    let store = Store::open(&StoreOptions::new(url))
        .await
        .context("reopening the database")?;
    let judgment_rows: i64 = sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM judgments WHERE project_id = $1 AND source = 'web'",
    )
    .bind(project_id)
    .fetch_one(store.pool())
    .await?;
    let judgment_counter = store.project_counts(project_id).await?.judgments;
    let lease_rows: i64 =
        sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM leases WHERE project_id = $1")
            .bind(project_id)
            .fetch_one(store.pool())
            .await?;
    let lease_counter: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(lease_count), 0) AS BIGINT) FROM items WHERE project_id = $1",
    )
    .bind(project_id)
    .fetch_one(store.pool())
    .await?;
    store.close().await;
    Ok(Stored {
        judgment_rows: judgment_rows.max(0) as u64,
        judgment_counter,
        lease_rows: lease_rows.max(0) as u64,
        lease_counter: lease_counter.max(0) as u64,
    })
}

/// What the rule decided, from the database after the run.
struct Outcomes {
    resolved: u64,
    unresolved: u64,
    /// Pending items that have judgments (in progress when the run ended).
    pending_started: u64,
    /// Judgments on resolved and on unresolved items.
    resolved_judgments: u64,
    unresolved_judgments: u64,
    /// Resolved items whose label is the item's true option.
    resolved_correct: u64,
    /// Judgments that are the item's true option (should be about `--accuracy`: checks that
    /// the true option is computed as the annotators computed it).
    judgments_correct: u64,
    judgments: u64,
    /// `projects.model_version`: the number of re-fits of the crowd model (no rule change
    /// happens here), and the judgments the last fit saw (0 before any).
    model_version: i64,
    fitted_judgments: i64,
    /// Resolved items a re-fit no longer supports (`model_reviews`).
    flagged: u64,
    /// Resolved items by the model version that decided them (confidence stopping), with
    /// their judgments: (version, items, judgments).
    by_version: Vec<(i64, u64, u64)>,
    /// The decided items' judgments replayed in order through the rule.
    replays: Vec<Replay>,
}

/// The decided items' judgments replayed in the order they were stored: at which judgment the
/// rule first decides (what it would have cost had no more leases been out), and what the
/// judgments after that point did to the outcome under the same estimates.
struct Replay {
    /// The estimates replayed with: "votes" (K of N), "cold start" or "last fit".
    model: &'static str,
    items: u64,
    needed: u64,
    /// Resolved at the decision point; with all the judgments: unresolved, another label, or
    /// pending again (fewer than `max` judgments, none above the target).
    to_unresolved: u64,
    relabeled: u64,
    to_pending: u64,
    /// The decision point's outcome differs from the one stored (also counts decisions the
    /// server made under other estimates than these).
    differs_from_stored: u64,
}

/// An item's external id, status, label, judgment count and deciding model version.
type ItemOutcome = (String, String, Option<String>, i64, Option<i64>);

/// The item's true option, as `answer_index` draws it.
fn truth(external_id: &str) -> &'static str {
    OPTIONS[(fnv1a(external_id.as_bytes()) % OPTIONS.len() as u64) as usize]
}

async fn count_outcomes(url: &str, project_id: i64, rule: Rule) -> Result<Outcomes> {
    let config = ProjectConfig::from_toml(&project_toml(rule))
        .map_err(|e| anyhow::anyhow!("project config: {e}"))?;
    let store = Store::open(&StoreOptions::new(url))
        .await
        .context("reopening the database")?;
    let pool = store.pool();
    let mut o = Outcomes {
        resolved: 0,
        unresolved: 0,
        pending_started: 0,
        resolved_judgments: 0,
        unresolved_judgments: 0,
        resolved_correct: 0,
        judgments_correct: 0,
        judgments: 0,
        model_version: 0,
        fitted_judgments: 0,
        flagged: 0,
        by_version: Vec::new(),
        replays: Vec::new(),
    };
    let rows: Vec<ItemOutcome> = sqlx::query_as(
        "SELECT external_id, status, label, judgment_count, decided_model_version FROM items \
         WHERE project_id = $1 AND judgment_count > 0",
    )
    .bind(project_id)
    .fetch_all(pool)
    .await?;
    let mut by_version: std::collections::BTreeMap<i64, (u64, u64)> = Default::default();
    let mut finals: HashMap<String, Outcome> = HashMap::new();
    for (external_id, status, label, count, version) in &rows {
        let count = (*count).max(0) as u64;
        match status.as_str() {
            "resolved" => {
                o.resolved += 1;
                o.resolved_judgments += count;
                if label.as_deref() == Some(truth(external_id)) {
                    o.resolved_correct += 1;
                }
                if let Some(v) = version {
                    let e = by_version.entry(*v).or_default();
                    e.0 += 1;
                    e.1 += count;
                }
                let label = label.clone().unwrap_or_default();
                finals.insert(external_id.clone(), Outcome::Resolved { label, votes: 0 });
            }
            "unresolved" => {
                o.unresolved += 1;
                o.unresolved_judgments += count;
                finals.insert(external_id.clone(), Outcome::Unresolved);
            }
            _ => o.pending_started += 1,
        }
    }
    o.by_version = by_version
        .into_iter()
        .map(|(v, (n, j))| (v, n, j))
        .collect();
    let judged: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT i.external_id, j.annotator_id, j.normalized FROM judgments j \
         JOIN items i ON i.id = j.item_id WHERE j.project_id = $1 ORDER BY j.item_id, j.id",
    )
    .bind(project_id)
    .fetch_all(pool)
    .await?;
    o.judgments = judged.len() as u64;
    o.judgments_correct = judged
        .iter()
        .filter(|(id, _, answer)| answer == truth(id))
        .count() as u64;
    o.model_version =
        sqlx::query_scalar("SELECT CAST(model_version AS BIGINT) FROM projects WHERE id = $1")
            .bind(project_id)
            .fetch_one(pool)
            .await?;
    o.fitted_judgments = sqlx::query_scalar(
        "SELECT CAST(COALESCE(MAX(judgments), 0) AS BIGINT) FROM crowd_models WHERE project_id = $1",
    )
    .bind(project_id)
    .fetch_one(pool)
    .await?;
    let flagged: i64 = sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM model_reviews WHERE project_id = $1",
    )
    .bind(project_id)
    .fetch_one(pool)
    .await?;
    o.flagged = flagged.max(0) as u64;
    let body: Option<String> =
        sqlx::query_scalar("SELECT body FROM crowd_models WHERE project_id = $1")
            .bind(project_id)
            .fetch_optional(pool)
            .await?;
    store.close().await;

    // Each decided item's judgments, in order.
    let mut items: Vec<(&str, Vec<(i64, &str)>)> = Vec::new();
    for (id, annotator, answer) in &judged {
        if !finals.contains_key(id) {
            continue;
        }
        match items.last_mut() {
            Some((last, list)) if last == id => list.push((*annotator, answer.as_str())),
            _ => items.push((id.as_str(), vec![(*annotator, answer.as_str())])),
        }
    }
    let mut models: Vec<(&'static str, Option<AnnotatorModel>)> = Vec::new();
    match rule {
        Rule::Early => models.push(("votes", None)),
        Rule::Confidence => {
            models.push((
                "cold start",
                Some(AnnotatorModel::cold_start(&config.answer)),
            ));
            if let Some(body) = body {
                let fitted = serde_json::from_str(&body).context("reading the crowd model")?;
                models.push(("last fit", Some(fitted)));
            }
        }
    }
    for (name, model) in &models {
        let mut replay = Replay {
            model: name,
            items: 0,
            needed: 0,
            to_unresolved: 0,
            relabeled: 0,
            to_pending: 0,
            differs_from_stored: 0,
        };
        for (id, judgments) in &items {
            let decide = |n: usize| {
                let prefix = &judgments[..n];
                let tally = Tally::from_answers(prefix.iter().map(|(_, a)| *a));
                let best = model.as_ref().and_then(|m| m.best(prefix));
                config
                    .rule
                    .decide_with(&tally, best.as_ref().map(|(a, p)| (a.as_str(), *p)))
            };
            let Some(n) = (1..=judgments.len()).find(|&n| decide(n).status() != Status::Pending)
            else {
                continue;
            };
            replay.items += 1;
            replay.needed += n as u64;
            let first = decide(n);
            let all = decide(judgments.len());
            if first.status() == Status::Resolved {
                match all.status() {
                    Status::Unresolved => replay.to_unresolved += 1,
                    Status::Pending => replay.to_pending += 1,
                    _ if all.label() != first.label() => replay.relabeled += 1,
                    _ => {}
                }
            }
            let stored = &finals[*id];
            if first.status() != stored.status() || first.label() != stored.label() {
                replay.differs_from_stored += 1;
            }
        }
        o.replays.push(replay);
    }
    Ok(o)
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        f64::NAN
    } else {
        a as f64 / b as f64
    }
}

impl Outcomes {
    fn decided(&self) -> u64 {
        self.resolved + self.unresolved
    }

    fn per_decided(&self) -> f64 {
        ratio(
            self.resolved_judgments + self.unresolved_judgments,
            self.decided(),
        )
    }

    fn print(&self) {
        println!(
            "decided items: {} ({} resolved, {} unresolved; {} pending with judgments): {:.2} judgments per decided item, {:.2} per resolved, {:.2} per unresolved",
            self.decided(),
            self.resolved,
            self.unresolved,
            self.pending_started,
            self.per_decided(),
            ratio(self.resolved_judgments, self.resolved),
            ratio(self.unresolved_judgments, self.unresolved)
        );
        println!(
            "resolved {:.2}% of decided items; labels equal to the true option: {} of {} resolved ({:.3}%); judgments equal to it: {:.2}%",
            100.0 * ratio(self.resolved, self.decided()),
            self.resolved_correct,
            self.resolved,
            100.0 * ratio(self.resolved_correct, self.resolved),
            100.0 * ratio(self.judgments_correct, self.judgments)
        );
        println!(
            "crowd model: version {} (re-fits), last fit over {} judgments; {} resolved items flagged for review",
            self.model_version, self.fitted_judgments, self.flagged
        );
        for (v, n, j) in &self.by_version {
            println!(
                "  resolved under model version {v}: {n} items, {:.2} judgments each",
                ratio(*j, *n)
            );
        }
        for r in &self.replays {
            println!(
                "replayed in stored order ({}): {} items decide at judgment {:.2} on average; then the later judgments make {} of them unresolved, {} pending again, {} relabeled; {} differ from the stored outcome",
                r.model,
                r.items,
                ratio(r.needed, r.items),
                r.to_unresolved,
                r.to_pending,
                r.relabeled,
                r.differs_from_stored
            );
        }
    }

    /// One Markdown table row (after the run and rule columns) for bench/browser_loop.sh.
    fn row(&self, rule: Rule) -> String {
        let refits = match rule {
            Rule::Early => "–".to_owned(),
            Rule::Confidence => format!(
                "{} (last over {} judgments)",
                self.model_version, self.fitted_judgments
            ),
        };
        let replays = self
            .replays
            .iter()
            .map(|r| {
                format!(
                    "{}: {:.2} (later: {} unresolved, {} pending, {} relabeled)",
                    r.model,
                    ratio(r.needed, r.items),
                    r.to_unresolved,
                    r.to_pending,
                    r.relabeled
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        format!(
            "| {} | {:.2} | {} | {:.2}% | {:.3}% ({} wrong) | {:.2}% | {} | {} |",
            self.decided(),
            self.per_decided(),
            replays,
            100.0 * ratio(self.resolved, self.decided()),
            100.0 * ratio(self.resolved_correct, self.resolved),
            self.resolved - self.resolved_correct,
            100.0 * ratio(self.judgments_correct, self.judgments),
            refits,
            self.flagged
        )
    }
}
