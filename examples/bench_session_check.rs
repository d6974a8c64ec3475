//! The per-request session check on its own, beside the lookup it replaced: see
//! docs/benchmarks.md ("Server-side sessions").
//!
//! ```text
//! cargo run --release --example bench_session_check                  # SQLite in a temp dir
//! cargo run --release --example bench_session_check -- --database postgres://postgres@127.0.0.1/postgres
//! ```
//!
//! Before issue 10 every logged-in request read its user by the id in the cookie
//! (`Store::user_by_id`); now it hashes the session id from the cookie, reads the session row
//! with its user (`Store::session`) and checks idle and absolute expiry. The browser-loop
//! benchmark measures the whole request, where the machine's run-to-run noise (±10%) hides a
//! difference this small; this measures the two checks alone, alternating A B A B in the same
//! process, on 50 users with one session each. Prints µs per check for each round.

use std::time::Instant;

use anyhow::Result;
use clap::Parser;
use quorum::auth::{SessionCheck, SessionPolicy, new_session_id, session_hash};
use quorum::store::{NewUser, Role, Store, StoreOptions, now_ms};

#[derive(Debug, Parser)]
struct Args {
    /// Database URL [default: a fresh SQLite file in a temporary directory].
    #[arg(long)]
    database: Option<String>,
    /// Alternating rounds of each check.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Checks per round.
    #[arg(long, default_value_t = 20_000)]
    checks: usize,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let url = args
        .database
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}/bench.db", dir.path().display()));
    let store = Store::open(&StoreOptions::new(url)).await?;
    let policy = SessionPolicy::default();
    let tag = std::process::id();
    let (mut ids, mut secrets) = (Vec::new(), Vec::new());
    for i in 0..50 {
        let user = store
            .create_user(&NewUser {
                email: format!("session-bench-{tag}-{i}@example.org"),
                role: Role::Annotator,
                password_hash: "unused".into(),
            })
            .await?;
        let (secret, hash) = new_session_id();
        store
            .create_session(user.id, &hash, now_ms(), &policy)
            .await?;
        ids.push(user.id);
        secrets.push(secret);
    }
    println!("round | user by id (before) µs | session check (now) µs | difference µs");
    let (mut before_all, mut now_all) = (Vec::new(), Vec::new());
    for round in 1..=args.rounds {
        let start = Instant::now();
        for i in 0..args.checks {
            let user = store.user_by_id(ids[i % ids.len()]).await?;
            anyhow::ensure!(user.is_some_and(|u| !u.disabled), "user lookup failed");
        }
        let before = start.elapsed().as_secs_f64() * 1e6 / args.checks as f64;
        let start = Instant::now();
        for i in 0..args.checks {
            let hash = session_hash(&secrets[i % secrets.len()]);
            let record = store.session(&hash).await?;
            let live = record.is_some_and(|r| {
                !r.user.disabled
                    && matches!(
                        policy.check(r.created_at, r.last_seen_at, now_ms()),
                        SessionCheck::Live { .. }
                    )
            });
            anyhow::ensure!(live, "session check failed");
        }
        let now = start.elapsed().as_secs_f64() * 1e6 / args.checks as f64;
        println!("{round} | {before:.1} | {now:.1} | {:+.1}", now - before);
        before_all.push(before);
        now_all.push(now);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "mean | {:.1} | {:.1} | {:+.1}",
        mean(&before_all),
        mean(&now_all),
        mean(&now_all) - mean(&before_all)
    );
    if args.database.is_some() {
        for id in ids {
            store.end_sessions_of(id, None).await?;
        }
    }
    Ok(())
}
