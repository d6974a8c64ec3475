//! Export mode: a large judged text project, the CLI export beside streamed HTTP downloads.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use anyhow::{Context, Result, anyhow, ensure};
use futures_util::StreamExt;
use quorum::domain::ProjectConfig;
use quorum::store::{
    JudgmentBatch, NewToken, NewUser, NoProgress, Role, Scopes, Store, StoreOptions,
};
use sha2::{Digest, Sha256};

use crate::generator::*;
use crate::probe::*;
use crate::rss::*;
use crate::support::{
    Server, TEAMS, cores, cpu_seconds, finish_work_dir, free_port, machine_busy_seconds,
    quorum_binary, wait_ready, work_dir,
};
use crate::{Args, ExportArgs, wait_quiet};

pub(crate) const EXPORT_SLUG: &str = "bench-handles";

pub(crate) const EXPORT_PROJECT: &str = r#"name = "Athlete handles (export benchmark)"
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
pub(crate) struct Download {
    bytes: u64,
    secs: f64,
    first_byte_secs: f64,
    sha256: Option<String>,
}

/// One row of the export table.
pub(crate) struct ExportRow {
    items: usize,
    file: String,
    bytes: u64,
    secs: f64,
    peak_rss_kib: Option<u64>,
    sampled_rss_kib: u64,
    server_cpu: Option<f64>,
    client_cpu: Option<f64>,
}

pub(crate) async fn export_mode(args: &Args, e: &ExportArgs) -> Result<()> {
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
                    mib_opt(row.peak_rss_kib),
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
            mib_opt(row.peak_rss_kib),
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

pub(crate) fn secs_opt(v: Option<f64>) -> String {
    v.map_or("?".to_owned(), |s| format!("{s:.2}"))
}

/// KiB as MiB with one decimal; `?` where /proc could not say.
pub(crate) fn mib_opt(kib: Option<u64>) -> String {
    kib.map_or("?".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0))
}

pub(crate) fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Creates the owner, the project and its items and judgments; returns the export token.
pub(crate) async fn prepare_export(
    url: &str,
    n: usize,
    e: &ExportArgs,
    seed: u64,
) -> Result<String> {
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

/// GETs `url` with the token, counting the body's bytes (and hashing them when asked) without
/// keeping them.
pub(crate) async fn download(
    client: &awc::Client,
    url: &str,
    token: &str,
    hash: bool,
) -> Result<Download> {
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

pub(crate) fn sha256_file(path: &Path) -> Result<(u64, String)> {
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

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
