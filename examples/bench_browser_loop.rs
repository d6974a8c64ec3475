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
//!    third of them, so nobody runs out).
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
//!    otherwise, or when a request failed.
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
use quorum::domain::ProjectConfig;
use quorum::store::{ItemRecord, NewUser, NoProgress, Role, Store, StoreOptions};

#[path = "bench_support/mod.rs"]
mod support;

use support::{
    Rng, Samples, Server, TEAMS, answer_index, client_seed, cores, cpu_seconds, finish_work_dir,
    free_port, micros, print_latency, print_latency_header, quorum_binary, steal_seconds,
    wait_ready, work_dir,
};

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
}

const SLUG: &str = "bench-leagues";
const PASSWORD: &str = "bench-password";

fn project_toml() -> String {
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
agree = 7
max = 9
stop = "early"
"#
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
    let total = Totals::merge(&results);

    println!();
    println!(
        "quorum browser loop: {} annotators, 1 project (choice, 7 of 9, {} items), SQLite, server and client on {} cores",
        args.annotators,
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
    let config = ProjectConfig::from_toml(&project_toml())
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
            post_rejected: results.iter().map(|r| r.post_rejected).sum(),
            post_unknown: results.iter().map(|r| r.post_unknown).sum(),
            out_of_items: results.iter().map(|r| r.out_of_items).sum(),
            errors: results.iter().flat_map(|r| r.errors.clone()).collect(),
        }
    }
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
