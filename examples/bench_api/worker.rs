//! Worker mode: concurrent clients looping next + submit, then a check that nothing was lost.

use std::path::Path;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use anyhow::{Context, Result, anyhow, bail, ensure};
use quorum::domain::ProjectConfig;
use quorum::store::{ItemRecord, NewToken, NewUser, NoProgress, Role, Scopes, Store, StoreOptions};

use crate::generator::*;
use crate::postgres::*;
use crate::support::{
    Rng, Samples, Server, TEAMS, answer_index, client_seed, cores, cpu_seconds, finish_work_dir,
    free_port, machine_busy_seconds, micros, print_latency, print_latency_header, quorum_binary,
    wait_ready, work_dir,
};
use crate::{Args, WorkerArgs, wait_quiet};

pub(crate) const WORKER_SLUG: &str = "bench-leagues";
pub(crate) const OPTIONS: [&str; 5] = ["nba", "nfl", "mlb", "nhl", "mls"];
pub(crate) const MAX_JUDGMENTS: i64 = 9;

pub(crate) const WORKER_PROJECT: &str = r#"name = "Which league? (API benchmark)"
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

pub(crate) async fn worker_mode(args: &Args, w: &WorkerArgs) -> Result<()> {
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
pub(crate) async fn worker_run(
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

pub(crate) fn worker_email(n: usize) -> String {
    format!("worker{n:03}@bench.example")
}

/// Creates the project, its items, the workers, their memberships and tokens; the project's id
/// and the token secrets.
pub(crate) async fn prepare_worker(url: &str, w: &WorkerArgs) -> Result<(i64, Vec<String>)> {
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
pub(crate) struct LeaseBody {
    lease_id: i64,
    item_id: String,
}

/// One worker client: its own HTTP client (connection) and token.
pub(crate) struct WorkerClient {
    client: awc::Client,
    base: String,
    token: String,
}

/// What one worker measured.
#[derive(Default)]
pub(crate) struct WorkerResults {
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

pub(crate) enum NextOutcome {
    Lease(LeaseBody),
    Empty,
}

impl WorkerClient {
    pub(crate) async fn next(&self, path: &str) -> Result<NextOutcome> {
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
    pub(crate) async fn submit(&self, path: &str, answer: &str) -> Result<(StatusCode, String)> {
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
    pub(crate) async fn work(
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
pub(crate) fn choose(item_id: &str, rng: &mut Rng, accuracy: f64) -> &'static str {
    OPTIONS[answer_index(item_id, OPTIONS.len(), rng, accuracy)]
}

/// Everything the workers measured, merged.
pub(crate) struct Totals {
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
    pub(crate) fn merge(results: &[WorkerResults]) -> Totals {
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
pub(crate) struct Stored {
    judgment_rows: u64,
    judgment_counter: u64,
    lease_rows: u64,
    lease_counter: u64,
    over_max_rows: u64,
    over_max_counter: u64,
}

pub(crate) async fn count_stored(url: &str, project_id: i64) -> Result<Stored> {
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
