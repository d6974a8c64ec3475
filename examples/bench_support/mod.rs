//! What the HTTP benchmarks (`bench_api`, `bench_browser_loop`) share: the server child process,
//! the work directory, CPU accounting from /proc, seeded answers and latency percentiles. Each
//! includes it with `#[path = "bench_support/mod.rs"] mod support;`; as a `mod.rs` in a
//! subfolder Cargo does not build it as an example of its own.

// Each example uses only part of this module; the rest would warn as dead code in it.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use anyhow::{Context, Result, bail, ensure};
use base64::Engine;

pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(0, |n| n.get())
}

// ---------------------------------------------------------------------------------------------
// The server child process and the work directory
// ---------------------------------------------------------------------------------------------

/// `explicit` (`--quorum`), else `target/release/quorum` next to `target/release/examples/`,
/// where this benchmark runs from; an error if it is not there.
pub fn quorum_binary(explicit: Option<&Path>) -> Result<PathBuf> {
    let bin = match explicit {
        Some(p) => p.to_owned(),
        None => {
            let exe = std::env::current_exe().context("locating this executable")?;
            let dir = exe
                .parent()
                .and_then(Path::parent)
                .context("locating the target directory")?;
            dir.join(format!("quorum{}", std::env::consts::EXE_SUFFIX))
        }
    };
    ensure!(
        bin.is_file(),
        "{} not found: build it first (cargo build --release --bin quorum) or pass --quorum",
        bin.display()
    );
    Ok(bin)
}

/// A fresh temporary directory named `prefix…` in `parent` (`--dir`, default $TMPDIR).
pub fn work_dir(parent: Option<&Path>, prefix: &str) -> Result<tempfile::TempDir> {
    let parent = parent.map_or_else(std::env::temp_dir, Path::to_owned);
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(&parent)
        .with_context(|| format!("making a work directory in {}", parent.display()))
}

/// Removes the work directory, or with `keep` (`--keep`) says where it stays.
pub fn finish_work_dir(work: tempfile::TempDir, keep: bool) {
    if keep {
        println!("kept {}", work.keep().display());
    }
}

/// A loopback port free right now (the server binds it a moment later).
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// The server child process; killed if the benchmark fails before stopping it.
pub struct Server {
    child: Option<Child>,
}

impl Server {
    /// `quorum --database URL serve` on 127.0.0.1:`port`, as in production: a random session
    /// key, `QUORUM_LOG` = `log_filter` (`default`: the server's own), output to `log`.
    pub fn start(bin: &Path, url: &str, port: u16, log_filter: &str, log: &Path) -> Result<Server> {
        let log_file =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        // 96 random bytes (the server wants at least 64).
        let key: Vec<u8> = (0..3).flat_map(|_| rand::random::<[u8; 32]>()).collect();
        let mut cmd = Command::new(bin);
        cmd.args(["--database", url, "serve", "--bind"])
            .arg(format!("127.0.0.1:{port}"))
            .env(
                "QUORUM_SESSION_KEY",
                base64::engine::general_purpose::STANDARD.encode(key),
            )
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file);
        if log_filter == "default" {
            cmd.env_remove("QUORUM_LOG");
        } else {
            cmd.env("QUORUM_LOG", log_filter);
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        Ok(Server { child: Some(child) })
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Graceful stop: SIGTERM, as a process manager would send; waits for the exit.
    pub fn stop(&mut self) -> Result<std::process::ExitStatus> {
        let mut child = self.child.take().context("server already stopped")?;
        let pid = libc::pid_t::try_from(child.id()).context("server pid")?;
        // SAFETY: plain kill(2) on our own child, which has not been waited for yet, so its pid
        // cannot have been reused.
        let sent = unsafe { libc::kill(pid, libc::SIGTERM) };
        ensure!(sent == 0, "could not signal the server");
        child.wait().context("waiting for the server to exit")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `GET /healthz` until it answers 200 (at most 60 s); fails at once if the server exits.
pub async fn wait_ready(base: &str, server: &mut Server) -> Result<()> {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(2))
        .finish();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = server.exited() {
            bail!("the server exited during start-up ({status}); see its log");
        }
        if let Ok(res) = client.get(format!("{base}/healthz")).send().await
            && res.status() == StatusCode::OK
        {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "the server did not become ready in 60 s"
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// CPU accounting from /proc (Linux)
// ---------------------------------------------------------------------------------------------

/// Clock ticks per second, the unit of /proc's CPU times.
fn clock_ticks() -> Option<f64> {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (ticks > 0).then_some(ticks as f64)
}

/// User + system CPU seconds of a process (a pid, or `self`), all its threads included.
pub fn cpu_seconds(pid: impl std::fmt::Display) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name in parentheses; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks()?)
}

/// The `cpu` line of /proc/stat: the whole machine's clock ticks by state, all cores (user nice
/// system idle iowait irq softirq steal …).
fn machine_cpu_ticks() -> Option<Vec<f64>> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    Some(
        line.split_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect(),
    )
}

/// Busy CPU seconds of the whole machine (all cores): all states but idle and iowait.
pub fn machine_busy_seconds() -> Option<f64> {
    let v = machine_cpu_ticks()?;
    let busy = v.get(..8)?.iter().sum::<f64>() - v[3] - v[4];
    Some(busy / clock_ticks()?)
}

/// CPU seconds the hypervisor has taken from this virtual machine (all cores).
pub fn steal_seconds() -> Option<f64> {
    Some(*machine_cpu_ticks()?.get(7)? / clock_ticks()?)
}

// ---------------------------------------------------------------------------------------------
// The items and the seeded answers
// ---------------------------------------------------------------------------------------------

pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// xorshift64*: tiny, fast and deterministic, so the same seed gives the same data and answers.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(fnv1a(&seed.to_le_bytes()) | 1)
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0); the modulo bias is irrelevant here.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The items' `team` field: one list, so that the benchmarks label alike items.
pub const TEAMS: [&str; 10] = [
    "Los Angeles Lakers",
    "San Francisco 49ers",
    "New York Yankees",
    "Toronto Maple Leafs",
    "LA Galaxy",
    "Boston Celtics",
    "Green Bay Packers",
    "Chicago Cubs",
    "Montreal Canadiens",
    "Seattle Sounders",
];

/// The seed of client number `i` (from 0): distinct per client, fixed by `--seed`. Wrapping, as
/// a release build computes it anyway, so that a debug build does not panic on the overflow.
pub fn client_seed(seed: u64, i: usize) -> u64 {
    seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Which of `n` options to answer for `item_id`: its true one (fixed by the id, the same in
/// every benchmark) with probability `accuracy`, else another one.
pub fn answer_index(item_id: &str, n: usize, rng: &mut Rng, accuracy: f64) -> usize {
    let truth = (fnv1a(item_id.as_bytes()) % n as u64) as usize;
    if n == 1 || rng.unit() < accuracy {
        truth
    } else {
        (truth + 1 + rng.below(n - 1)) % n
    }
}

// ---------------------------------------------------------------------------------------------
// Latency
// ---------------------------------------------------------------------------------------------

/// A duration in whole microseconds, saturating: the unit of the latency samples.
pub fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// Sorted latency samples in microseconds.
pub struct Samples(Vec<u32>);

impl Samples {
    /// One measurement of every client, merged and sorted.
    pub fn merge<R>(results: &[R], f: impl Fn(&R) -> &[u32]) -> Samples {
        let mut all: Vec<u32> = results.iter().flat_map(|r| f(r).iter().copied()).collect();
        all.sort_unstable();
        Samples(all)
    }

    /// The `q` quantile (nearest rank); 0 without samples.
    pub fn p(&self, q: f64) -> u32 {
        if self.0.is_empty() {
            return 0;
        }
        let rank = ((q * self.0.len() as f64).ceil() as usize).clamp(1, self.0.len());
        self.0[rank - 1]
    }

    pub fn max(&self) -> u32 {
        self.0.last().copied().unwrap_or(0)
    }
}

/// The header of the table `print_latency` prints the rows of (their columns line up).
pub fn print_latency_header() {
    println!("latency (ms)        n       p50     p90     p99     max");
}

pub fn print_latency(name: &str, s: &Samples) {
    let ms = |us: u32| f64::from(us) / 1000.0;
    println!(
        "{name:<16} {:>8} {:>8.1} {:>7.1} {:>7.1} {:>7.1}",
        s.0.len(),
        ms(s.p(0.5)),
        ms(s.p(0.9)),
        ms(s.p(0.99)),
        ms(s.max())
    );
}
